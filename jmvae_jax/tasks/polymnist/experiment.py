"""The PolyMNIST task: the run behind ``python -m experiments.polymnist``.

``train_and_evaluate(config, workdir)`` is the shared run
(``jmvae_jax.training.experiment``, which documents the working directory) on
PolyMNIST: the ELBO epoch of ``jmvae_jax.training.elbo`` on the five colour
images scaled to [0, 1]. The test metrics, on the first config.eval_examples
test examples:

* the importance-weighted log p(X_A) of every non-empty subset A of the
  modalities and the conditionals log p(x_m | X_S) averaged by the size of S
  (``jmvae_jax.metrics.subsets``);
* the linear separability of the latent means from each number of inputs
  (a logistic regression fitted on config.separability_examples training
  examples);
* when the five digit classifiers are cached
  (``python -m experiments.classifiers --dataset=polymnist``): conditional coherence
  per subset and by subset size, unconditional coherence, and the
  classifiers' own test accuracies (``jmvae_jax.metrics.coherence``).
"""

from __future__ import annotations

import functools
import os
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from jmvae_jax.data import polymnist
from jmvae_jax.metrics import coherence, digit_classifier, subsets
from jmvae_jax.tasks.polymnist import classifiers
from jmvae_jax.tasks.polymnist.config import RESUME_FIELDS, PolyMNISTConfig
from jmvae_jax.training import elbo, evaluation, experiment, parallel
from jmvae_jax.training.train import TrainState
from jmvae_jax.training.workdir import check_training_data

_TEST_STREAM = 3


def observed(images: jax.Array) -> dict[str, jax.Array]:
  """uint8 [B, 5, 28, 28, 3] -> {'m0': float32 [B, 2352] in [0, 1], ...}."""
  flat = images.reshape(images.shape[:2] + (-1,)).astype(jnp.float32) / 255.0
  return {name: flat[:, m] for m, name in enumerate(polymnist.MODALITY_NAMES)}


def prepare(mesh: jax.sharding.Mesh) -> elbo.Prepare:
  """PolyMNIST's batch -> observations (no randomness: the images are used as they are)."""

  def observe(key, images, batch_indices):
    del key
    return observed(parallel.shard_batch(images[batch_indices], mesh))

  return observe


def _as_arrays(images: np.ndarray) -> dict[str, np.ndarray]:
  """uint8 [N, 5, 28, 28, 3] -> {'m0': float32 [N, 2352] in [0, 1], ...} on the host."""
  return {name: np.asarray(value) for name, value in observed(images).items()}


def evaluate(model: Any, params: Any, data: polymnist.PolyMNISTData, *,
             config: PolyMNISTConfig, mesh: jax.sharding.Mesh, key: jax.Array,
             judges: dict[str, digit_classifier.DigitClassifier] | None,
             log: Callable[[str], None]) -> dict[str, float]:
  """The test metrics of the module docstring."""
  likelihood_key, coherence_key = jax.random.split(key)
  test_images = data.test_images[:config.eval_examples]
  test_labels = data.test_labels[:config.eval_examples]
  results = _likelihoods(model, params, test_images, config=config, mesh=mesh,
                         key=likelihood_key, log=log)
  test = _as_arrays(test_images)
  results.update(subsets.separability_by_size(
      model, params, _as_arrays(data.train_images[:config.separability_examples]),
      data.train_labels[:config.separability_examples], test, test_labels))
  if judges is None:
    log(coherence.missing_judges_line(
        f'digit classifiers for this PolyMNIST in {config.data_dir}/classifiers',
        'python -m experiments.classifiers --dataset=polymnist'))
    return results
  classify = {name: judge.predict for name, judge in judges.items()}
  results.update(coherence.evaluate(
      model, params, test, test_labels, classify, key=coherence_key,
      num_prior_samples=config.eval_examples))
  results.update({f'classifier_accuracy/{name}': judge.test_accuracy
                  for name, judge in judges.items()})
  return results


def _likelihoods(model: Any, params: Any, images: np.ndarray, *,
                 config: PolyMNISTConfig, mesh: jax.sharding.Mesh,
                 key: jax.Array, log: Callable[[str], None]
                 ) -> dict[str, float]:
  """The subset log-likelihoods and conditionals of ``images`` [N, 5, 28, 28, 3]."""

  @jax.jit
  def batch_metrics(params, batch_images, batch_key):
    return subsets.log_likelihoods(
        model, params, observed(batch_images), key=batch_key, k=config.eval_k,
        chunk_size=min(config.eval_chunk_size, config.eval_k))

  log_p = evaluation.mean_over_batches(
      lambda batch, batch_key: batch_metrics(params, *batch, batch_key),
      (images,), batch_size=config.eval_batch_size, mesh=mesh,
      key=key, log=log, watch_tails=lambda name: True)
  return {**log_p, 'joint': log_p[
      f'log_p/{subsets.name_of(polymnist.MODALITY_NAMES)}'],
          **subsets.conditionals_by_size(log_p, polymnist.MODALITY_NAMES)}


class PolyMNISTTask:
  """PolyMNIST for ``jmvae_jax.training.experiment`` (see its ``Task``)."""

  resume_fields = RESUME_FIELDS
  logged_prefixes = ('recon', 'kl_')
  legacy_param_names: dict[str, str] = {}
  tables = None  # The paper has no PolyMNIST table.

  def load_data(self, config: PolyMNISTConfig,
                log: Callable[[str], None]) -> polymnist.PolyMNISTData:
    del log  # The loader logs what it reads or generates.
    return polymnist.load_polymnist(os.path.expanduser(config.data_dir),
                                    seed=config.data_seed,
                                    verify_mnist=config.verify_data)

  def start(self, config: PolyMNISTConfig, data: polymnist.PolyMNISTData, *,
            workdir: str, mesh: jax.sharding.Mesh, main_process: bool,
            log: Callable[[str], None]) -> experiment.RunParts:
    del main_process  # PolyMNIST writes no files of its own.
    train_images = data.train_images[:config.train_examples]
    train_labels = data.train_labels[:config.train_examples]
    num_test = min(config.eval_examples, len(data.test_labels))
    log(f'data: PolyMNIST ({data.source}): {len(train_images)} training and '
        f'{num_test} evaluated test examples on {mesh.size} device(s)')
    judges = classifiers.load_cached(
        data, cache_dir=os.path.expanduser(config.data_dir),
        config=classifiers.CLASSIFIER)
    check_training_data(workdir, train_images, train_labels, data.source)
    model = config.build_model()
    epoch = elbo.make_train_epoch(model, config, mesh, prepare(mesh))
    images = parallel.replicate(train_images, mesh)

    def run_evaluation(state: TrainState,
                       log: Callable[[str], None]) -> dict[str, float]:
      return evaluate(model, state.params, data, config=config, mesh=mesh,
                      key=jax.random.fold_in(state.key, _TEST_STREAM),
                      judges=judges, log=log)

    return experiment.RunParts(
        init_state=functools.partial(elbo.init_state, model, config),
        train_epoch=lambda state: epoch(state, images),
        evaluate=run_evaluation,
        images_per_epoch=(len(train_images) // config.batch_size
                          * config.batch_size),
        num_test_examples=num_test,
        result_fields={'data': data.source})


POLYMNIST = PolyMNISTTask()


def train_and_evaluate(config: PolyMNISTConfig, workdir: str, *,
                       data: polymnist.PolyMNISTData | None = None,
                       log: Callable[[str], None] = print) -> dict[str, Any]:
  """Trains ``config.model`` on PolyMNIST (resuming if possible) and evaluates it.

  See ``jmvae_jax.training.experiment.train_and_evaluate``; ``data`` defaults
  to PolyMNIST from config.data_dir (read or generated).
  """
  return experiment.train_and_evaluate(POLYMNIST, config, workdir, data=data,
                                       log=log)
