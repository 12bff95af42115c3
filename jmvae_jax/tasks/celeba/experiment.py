"""The CelebA task: the run behind ``python -m experiments.celeba``.

``train_and_evaluate(config, workdir)`` is the shared run
(``jmvae_jax.training.experiment``, which documents the working directory) on
CelebA, which also writes WORKDIR/data_stats.npz: the training faces' pixel
and attribute statistics, for inference (``jmvae_jax.tasks.celeba.stats``).

The test bounds (paper Appendix B, ``jmvae_jax.bounds.evaluate_bounds``) are
computed with the evaluation-mode model (batch norm on its running averages);
for a GAN variant that is its VAE part, as in the paper. Each is an
importance-weighted estimate with ``eval_k`` samples (10 in the authors' code)
of a log-likelihood of standardized pixels, on Table 2's scale when
``image_log_prob='channel_mean'`` (see ``jmvae_jax.tasks.celeba.models``).
When the attribute classifier of the training faces is cached (``python -m
experiments.classifiers --dataset=celeba``), the results add the coherence of
``jmvae_jax.tasks.celeba.attribute_classifier``.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import jax
import numpy as np

from jmvae_jax import bounds
from jmvae_jax.data import celeba
from jmvae_jax.errors import UserError
from jmvae_jax.metrics import coherence
from jmvae_jax.tasks.celeba import attribute_classifier
from jmvae_jax.tasks.celeba import config as celeba_config
from jmvae_jax.tasks.celeba import gan
from jmvae_jax.tasks.celeba import stats as celeba_stats
from jmvae_jax.tasks.celeba import train as celeba_train
from jmvae_jax.tasks.celeba.config import RESUME_FIELDS, CelebAConfig
from jmvae_jax.tasks.celeba.tables import CELEBA as CELEBA_TABLES
from jmvae_jax.tasks.celeba.train import PixelStats
from jmvae_jax.training import experiment, parallel
from jmvae_jax.training.evaluation import mean_over_batches
from jmvae_jax.training.workdir import check_training_data

_TEST_STREAM, _COHERENCE_STREAM = 3, 5


@functools.partial(
    jax.jit, static_argnames=('model', 'k', 'prior_samples', 'chunk_size'))
def _batch_bounds(model: Any, variables: Any, images: jax.Array,
                  attributes: jax.Array, stats: PixelStats, key: jax.Array, *,
                  k: int, prior_samples: int,
                  chunk_size: int) -> dict[str, jax.Array]:
  return bounds.evaluate_bounds(
      model, variables, celeba_train.standardize(images, stats), attributes,
      key=key, k=k, prior_samples=prior_samples, chunk_size=chunk_size)


def evaluate(model: Any, variables: Any, images: np.ndarray,
             attributes: np.ndarray, stats: PixelStats, *,
             config: CelebAConfig, mesh: jax.sharding.Mesh, key: jax.Array,
             log: Callable[[str], None] = print) -> dict[str, float]:
  """Mean test bounds over every test face.

  Args:
    model: an evaluation-mode CelebA model (``gan.evaluation_model``).
    variables: its {'params', 'batch_stats'}.
    images: uint8 test faces [N, 64, 64, 3].
    attributes: float32 [N, W] in {-1, 1}.
    stats: the training set's pixel statistics.
    config: supplies eval_k, eval_prior_samples, eval_batch_size and
      eval_chunk_size.
    mesh: the devices each batch is split over.
    key: typed key; batch i uses fold_in(key, i).
    log: receives a progress line per ~10% of the batches, with an ETA.

  Returns:
    {'marginal_multiple': ..., 'marginal_single': ..., ...}: the means of
    ``bounds.evaluate_bounds`` over all N faces (a VAE has 'marginal_single'
    only, CVAE and CMMA 'conditional_multiple'), named as MNIST's.
  """

  def batch_bounds(batch, batch_key):
    faces, batch_attributes = batch
    return _batch_bounds(
        model, variables, faces, batch_attributes, stats, batch_key,
        k=config.eval_k, prior_samples=config.eval_prior_samples,
        chunk_size=config.eval_chunk_size)

  return mean_over_batches(batch_bounds, (images, attributes),
                           batch_size=config.eval_batch_size, mesh=mesh,
                           key=key, what='test faces', log=log,
                           watch_tails=lambda name: True)


class CelebATask:
  """CelebA for ``jmvae_jax.training.experiment`` (see its ``Task``)."""

  resume_fields = RESUME_FIELDS
  logged_prefixes = ('recon', 'kl_', 'generator_', 'discriminator',
                     'feature_')
  legacy_param_names: dict[str, str] = {}
  tables = CELEBA_TABLES

  def load_data(self, config: CelebAConfig,
                log: Callable[[str], None]) -> celeba.CelebAData:
    """CelebA from config.data_dir (attributes in {-1, 1}, matching tanh means)."""
    log(f'loading CelebA from {config.data_dir} (the first load detects '
        'faces and takes a while; --verbosity=0 shows its progress)')
    return celeba_config.load_data(config)

  def start(self, config: CelebAConfig, data: celeba.CelebAData, *,
            workdir: str, mesh: jax.sharding.Mesh, main_process: bool,
            log: Callable[[str], None]) -> experiment.RunParts:
    num_train = len(data.train_images)
    if num_train < config.batch_size:
      raise UserError(f'only {num_train} training faces, fewer than '
                      f'--batch_size={config.batch_size}; lower --batch_size '
                      'or use more images')
    log(f'data: {data.source}: {num_train} training and '
        f'{len(data.test_images)} test faces on {mesh.size} device(s) in '
        f'{jax.process_count()} process(es)')
    check_training_data(workdir, data.train_images, data.train_attributes,
                        data.source)
    data_stats = celeba_stats.compute(data)
    if main_process:
      celeba_stats.save(workdir, data_stats)
    stats = parallel.replicate(data_stats.pixels, mesh)
    faces, attributes = parallel.replicate(
        (celeba_train.to_uint8(data.train_images), data.train_attributes),
        mesh)
    test_faces = celeba_train.to_uint8(data.test_images)
    judge = attribute_classifier.load_cached(
        data, cache_dir=config.cache_dir or config.data_dir)

    model = config.build_model()
    eval_model = gan.evaluation_model(model)
    trainer = celeba_train.make_trainer(model, config)
    epoch = celeba_train.make_train_epoch(trainer, config, mesh)

    def evaluate_state(state, log):
      results = evaluate(
          eval_model, state.params['model'], test_faces,
          data.test_attributes, stats, config=config, mesh=mesh,
          key=jax.random.fold_in(state.key, _TEST_STREAM), log=log)
      if judge is None:
        log(coherence.missing_judges_line(
            'attribute classifier for these training faces',
            'python -m experiments.classifiers --dataset=celeba '
            f'--data_dir={config.data_dir}'))
        return results
      return {**results, **attribute_classifier.evaluate(
          eval_model, state.params['model'], test_faces,
          data.test_attributes, data_stats.pixels, judge,
          key=jax.random.fold_in(state.key, _COHERENCE_STREAM))}

    return experiment.RunParts(
        init_state=functools.partial(celeba_train.init_state, trainer,
                                     config.seed),
        train_epoch=lambda state: epoch(state, faces, attributes, stats),
        evaluate=evaluate_state,
        images_per_epoch=num_train // config.batch_size * config.batch_size,
        num_test_examples=len(data.test_images),
        result_fields={'eval_prior_samples': config.eval_prior_samples,
                       'image_log_prob': config.image_log_prob})


CELEBA = CelebATask()


def train_and_evaluate(config: CelebAConfig, workdir: str, *,
                       data: celeba.CelebAData | None = None,
                       log: Callable[[str], None] = print) -> dict[str, Any]:
  """Trains ``config.model`` on CelebA (resuming if possible) and evaluates it.

  See ``jmvae_jax.training.experiment.train_and_evaluate``; ``data`` (the
  faces, attributes in {-1, 1}) defaults to ``config.load_data(config)``.
  """
  return experiment.train_and_evaluate(CELEBA, config, workdir, data=data,
                                       log=log)
