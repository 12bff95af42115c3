"""Test-set evaluation: per-example metrics, averaged over the whole test set,
and the coherence of what a model generates."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from jmvae_jax import bounds, models, objectives
from jmvae_jax.metrics import coherence
from jmvae_jax.tasks.mnist.config import Config
from jmvae_jax.training.evaluation import WITHOUT_OUTLIERS, mean_over_batches

# The stream of a run's root key that its learning-curve bounds draw from.
CURVE_STREAM = 4
# Streams of the evaluation key: per-batch keys, the log p(w) table and the
# coherence draws; and within a batch's key, the ELBO's sample and the bounds'
# draws.
_BATCH_STREAM, _PRIOR_STREAM, COHERENCE_STREAM = 0, 1, 2
_ELBO_STREAM, _BOUNDS_STREAM = 0, 1


def _has_label_marginal(model: Any) -> bool:
  """True for joint models of x and w (JMVAE), which need log p(w)."""
  return hasattr(model, 'log_pw')


def _per_example_metrics(model: Any, params: Any, x: jax.Array, w: jax.Array,
                         key: jax.Array, log_pw_per_class: jax.Array | None, *,
                         config: Config) -> dict[str, jax.Array]:
  """Metrics of one test batch, each [B] in nats.

  The ELBO and its terms (keys prefixed 'test_'), and the importance-weighted
  bounds of ``bounds.evaluate_bounds`` with config.eval_k samples (the keys of
  results.json: 'marginal_multiple', ..., 'joint'). log p(w) comes from the
  per-class table, looked up by the one-hot w.
  """
  terms = objectives.multimodal_loss_terms(
      model, params, models.mnist_observed(model, x, w),
      key=jax.random.fold_in(key, _ELBO_STREAM))
  metrics = {f'test_{name}': value for name, value in terms.items()}
  metrics['test_elbo'] = -objectives.negative_elbo(terms)
  log_pw = None if log_pw_per_class is None else w @ log_pw_per_class
  metrics.update(bounds.evaluate_bounds(
      model, params, x, w, key=jax.random.fold_in(key, _BOUNDS_STREAM),
      k=config.eval_k, chunk_size=config.eval_chunk_size, log_pw=log_pw))
  return metrics


@functools.lru_cache(maxsize=8)
def _jitted_metrics(model: Any, config: Config) -> Callable[..., Any]:
  """One compiled ``_per_example_metrics`` per (model, config), reused across calls."""
  return jax.jit(functools.partial(_per_example_metrics, model, config=config))


def evaluate(model: Any, params: Any, images: np.ndarray, labels: np.ndarray, *,
             config: Config, mesh: jax.sharding.Mesh, key: jax.Array,
             num_classes: int = 10,
             log: Callable[[str], None] = print) -> dict[str, float]:
  """Mean test metrics in nats over every example of a binarized test set.

  Args:
    model: a trained model.
    params: its parameters.
    images: binary test images [N, 784] (binarized once, see
      ``jmvae_jax.data.mnist.binarize_once``).
    labels: int labels [N].
    config: supplies the evaluation batch size, a multiple of the number of
      devices.
    mesh: the devices each batch is split over (``params`` replicated on them).
    key: typed key; batch i draws from its own fold_in of it, so results do not
      depend on how many batches ran before.
    num_classes: width of the one-hot label modality.
    log: receives one progress line per ~10% of the batches, with an ETA,
      and a warning for each bound whose mean a handful of test images set
      (see ``jmvae_jax.training.evaluation.heavy_tail_line``).

  Returns:
    Means over all N examples, in nats: 'test_elbo' and its terms
    ('test_recon/image', ...), and the model's importance-weighted bounds
    ('marginal_multiple', 'marginal_single', 'conditional_multiple',
    'conditional_single', 'joint'; see ``bounds.evaluate_bounds``); for a
    bound whose mean a handful of test images set, also its mean without them
    ('joint/without_outliers', ...; see ``mean_over_batches``).
  """
  metrics_fn = _jitted_metrics(model, config)
  # log p(w) once per class (Eq. 8's prior samples), not once per example.
  log_pw_per_class = None
  if _has_label_marginal(model):
    log_pw_per_class = bounds.iw_prior_marginal(
        model, params, jnp.eye(num_classes), k=config.eval_prior_samples,
        key=jax.random.fold_in(key, _PRIOR_STREAM),
        chunk_size=config.eval_chunk_size)

  def batch_metrics(batch, batch_key):
    x, batch_labels = batch
    w = jax.nn.one_hot(batch_labels, num_classes, dtype=x.dtype)
    return metrics_fn(params, x, w, batch_key, log_pw_per_class)

  return mean_over_batches(
      batch_metrics, (images, labels), batch_size=config.eval_batch_size,
      mesh=mesh, key=jax.random.fold_in(key, _BATCH_STREAM),
      what='test images', log=log,
      watch_tails=lambda name: not name.startswith('test_'))  # The bounds.


def curve_bounds(model: Any, params: Any, images: np.ndarray,
                 labels: np.ndarray, *, config: Config,
                 mesh: jax.sharding.Mesh, key: jax.Array) -> dict[str, float]:
  """The cheap test metrics of a learning curve, keyed 'curve_<metric>'.

  ``evaluate`` on the first config.curve_examples test images with
  config.curve_k importance samples and at most 1,000 prior samples for
  log p(w): every bound of the model and the test ELBO (not the means
  without outliers), for about 1/100 of the cost of the full evaluation.
  With the same ``key`` at every epoch, the curve's changes are the model's,
  not the draws'.
  """
  curve_config = dataclasses.replace(
      config, eval_k=config.curve_k,
      eval_prior_samples=min(1000, config.eval_prior_samples))
  n = config.curve_examples
  metrics = evaluate(model, params, images[:n], labels[:n], config=curve_config,
                     mesh=mesh, key=key, log=lambda _: None)
  return {f'curve_{name}': value for name, value in metrics.items()
          if (not name.startswith('test_') or name == 'test_elbo')
          and not name.endswith(WITHOUT_OUTLIERS)}


def learning_curve(model: Any, params: Any, images: np.ndarray,
                   labels: np.ndarray, *, config: Config,
                   mesh: jax.sharding.Mesh, run_key: jax.Array,
                   epoch: int) -> dict[str, float]:
  """``curve_bounds`` after the epochs config.curve_every divides and the last
  one, drawn from CURVE_STREAM of the run's root key; {} after other epochs."""
  if not config.curve_every or (epoch % config.curve_every
                                and epoch != config.epochs):
    return {}
  return curve_bounds(model, params, images, labels, config=config, mesh=mesh,
                      key=jax.random.fold_in(run_key, CURVE_STREAM))


def label_image_coherence(model: Any, params: Any, images: np.ndarray,
                          labels: np.ndarray, classify_image: coherence.Classify,
                          *, key: jax.Array, num_classes: int = 10
                          ) -> dict[str, float]:
  """``coherence.evaluate`` on MNIST's two modalities, over the test set.

  'coherence/label->image': the fraction of images drawn from each test
  example's label (z ~ q(z|w), or p(z|w) for CVAE and CMMA) that
  ``classify_image`` reads as that label (the paper's Fig. 7 as a number);
  'coherence/image->label': the fraction whose label decoded from z ~ q(z|x)
  is the true one (JMVAE only); 'coherence_unconditional': the fraction of
  z ~ p(z) whose decoded image and label agree (JMVAE only).

  Args:
    model: a trained model (a VAE has no pair to judge: {}).
    params: its parameters.
    images: binary test images [N, 784].
    labels: int labels [N].
    classify_image: images [M, 784] in [0, 1] -> digits [M] (e.g. a cached
      ``DigitClassifier.predict``).
    key: typed PRNG key of the draws.
    num_classes: width of the one-hot label modality.
  """
  names = models.names_of(model)
  if len(names) < 2:
    return {}
  image, label = names[:2]
  data = {image: np.asarray(images, np.float32),
          label: np.eye(num_classes, dtype=np.float32)[labels]}
  classifiers = {image: classify_image,
                 label: lambda probabilities: np.argmax(probabilities, -1)}
  return coherence.evaluate(model, params, data, labels, classifiers, key=key,
                            num_prior_samples=len(labels))
