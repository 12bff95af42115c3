"""The MNIST task: the run behind ``python -m experiments.mnist``.

``train_and_evaluate(config, workdir)`` is the shared run
(``jmvae_jax.training.experiment``, which documents the working directory) on
MNIST: images binarized afresh at every step, labels one-hot, learning-curve
bounds every config.curve_every epochs, and the test metrics of
``jmvae_jax.tasks.mnist.evaluation`` on the test images binarized once,
with label <-> image coherence when the digit classifier is released or cached
(``digit_judge``; ``python -m experiments.classifiers --dataset=mnist``).
"""

from __future__ import annotations

import functools
import os
from typing import Any, Callable

import jax

from jmvae_jax import models
from jmvae_jax.data import mnist
from jmvae_jax.metrics import coherence
from jmvae_jax.tasks.mnist import digit_judge, evaluation, train
from jmvae_jax.tasks.mnist.config import RESUME_FIELDS, Config
from jmvae_jax.tasks.mnist.tables import MNIST as MNIST_TABLES
from jmvae_jax.training import elbo, experiment, parallel
from jmvae_jax.training.workdir import check_training_data

_TEST_STREAM = 3


class MnistTask:
  """MNIST for ``jmvae_jax.training.experiment`` (see its ``Task``)."""

  resume_fields = RESUME_FIELDS
  logged_prefixes = ('recon', 'kl_', 'curve_marginal', 'curve_joint')
  legacy_param_names = models.LEGACY_PARAM_NAMES
  tables = MNIST_TABLES

  def load_data(self, config: Config,
                log: Callable[[str], None]) -> mnist.LabelledImages:
    del log  # The loader says itself what it fetches.
    return mnist.load_mnist(os.path.expanduser(config.data_dir),
                            num_train=config.train_examples,
                            verify=config.verify_data,
                            pixel_scale=config.pixel_scale)

  def start(self, config: Config, data: mnist.LabelledImages, *, workdir: str,
            mesh: jax.sharding.Mesh, main_process: bool,
            log: Callable[[str], None]) -> experiment.RunParts:
    del main_process  # MNIST writes no files of its own.
    log(f'data: {data.source}: {len(data.train_labels)} training and '
        f'{len(data.test_labels)} test images on {mesh.size} device(s) in '
        f'{jax.process_count()} process(es)')
    check_training_data(workdir, data.train_images, data.train_labels,
                        data.source)
    model = config.build_model()
    eval_model = config.build_model(training=False)
    epoch = train.make_train_epoch(model, config, mesh)
    images, labels = parallel.replicate(
        (data.train_images, data.train_labels), mesh)
    test_images = mnist.binarize_once(data.test_images)
    judge = digit_judge.load_cached(
        data, cache_dir=os.path.expanduser(config.data_dir))

    def learning_curve(state: train.TrainState, epoch: int) -> dict[str, Any]:
      return evaluation.learning_curve(
          eval_model, state.params, test_images, data.test_labels,
          config=config, mesh=mesh, run_key=state.key, epoch=epoch)

    def evaluate(state: train.TrainState,
                 log: Callable[[str], None]) -> dict[str, float]:
      key = jax.random.fold_in(state.key, _TEST_STREAM)
      results = evaluation.evaluate(
          eval_model, state.params, test_images, data.test_labels,
          config=config, mesh=mesh, key=key, log=log)
      if judge is None:
        log(coherence.missing_judges_line(
            'digit classifier for these MNIST training images in '
            f'{config.data_dir}/classifiers',
            digit_judge.train_command(data)))
        return results
      return {**results, **evaluation.label_image_coherence(
          eval_model, state.params, test_images, data.test_labels,
          judge.predict,
          key=jax.random.fold_in(key, evaluation.COHERENCE_STREAM))}

    return experiment.RunParts(
        init_state=functools.partial(elbo.init_state, model, config),
        train_epoch=lambda state: epoch(state, images, labels),
        evaluate=evaluate,
        images_per_epoch=(len(data.train_labels) // config.batch_size
                          * config.batch_size),
        num_test_examples=int(len(data.test_labels)),
        after_epoch=learning_curve)


MNIST = MnistTask()


def train_and_evaluate(config: Config, workdir: str, *,
                       data: mnist.LabelledImages | None = None,
                       log: Callable[[str], None] = print) -> dict[str, Any]:
  """Trains ``config.model`` on MNIST (resuming if possible) and evaluates it.

  See ``jmvae_jax.training.experiment.train_and_evaluate``; ``data`` defaults
  to MNIST from config.data_dir.
  """
  return experiment.train_and_evaluate(MNIST, config, workdir, data=data,
                                       log=log)
