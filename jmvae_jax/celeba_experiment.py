"""``train_and_evaluate``: the whole CelebA run behind ``python -m experiments.celeba``.

A run owns a working directory:

  WORKDIR/config.json      the resolved CelebAConfig
  WORKDIR/checkpoints/N/   orbax checkpoints of the whole TrainState after epoch N
  WORKDIR/metrics.jsonl    one JSON line per epoch: every loss term, speed
  WORKDIR/results.json     the test bounds of Table 2 after the last epoch
  WORKDIR/data_stats.npz   the training faces' pixel and attribute statistics,
                           for inference (``jmvae_jax.celeba_stats``)
  WORKDIR/events.out.tfevents.*  the metrics.jsonl curves for TensorBoard,
                           written as each epoch ends, and the test bounds
                           (``jmvae_jax.summaries``)
  WORKDIR/report.md        settings, test bounds beside Table 2's, wall times
                           (``jmvae_jax.run_report``)

Re-running with the same WORKDIR resumes from the newest checkpoint; every
random draw derives from the seed, the epoch and the step, so a resumed run
ends with the same parameters as an uninterrupted one.

The test bounds (paper Appendix B, ``jmvae_jax.bounds.evaluate_bounds``) are
computed with the evaluation-mode model (batch norm on its running averages);
for a GAN variant that is its VAE part, as in the paper. Each is an
importance-weighted estimate with ``eval_k`` samples (10 in the authors' code)
of a log-likelihood of standardized pixels, on Table 2's scale when
``image_log_prob='channel_mean'`` (see ``jmvae_jax.celeba_models``).
"""

from __future__ import annotations

import functools
import os
import time
from typing import Any, Callable

import jax
import numpy as np

from jmvae_jax import (bounds, celeba_stats, celeba_train, gan, run_loop,
                       run_report, summaries)
from jmvae_jax.celeba_config import RESUME_FIELDS, CelebAConfig
from jmvae_jax.celeba_train import PixelStats
from jmvae_jax.checkpoints import Checkpoints
from jmvae_jax.data import celeba
from jmvae_jax.errors import UserError
from jmvae_jax.evaluation import format_duration
from jmvae_jax.workdir import (check_training_data, locked, make_writable_dir,
                               prepare_workdir)

_TEST_STREAM = 3
_LOGGED_PREFIXES = ('recon', 'kl_', 'generator_', 'discriminator', 'feature_')


def evaluation_model(model: Any) -> Any:
  """The model whose bounds are reported: a GAN's VAE part, else the model."""
  return model.base if isinstance(model, gan.GAN) else model


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
             config: CelebAConfig, key: jax.Array,
             log: Callable[[str], None] = print) -> dict[str, float]:
  """Mean test bounds over every test face.

  Args:
    model: an evaluation-mode CelebA model (``evaluation_model``).
    variables: its {'params', 'batch_stats'}.
    images: uint8 test faces [N, 64, 64, 3].
    attributes: float32 [N, W] in {-1, 1}.
    stats: the training set's pixel statistics.
    config: supplies eval_k, eval_prior_samples, eval_batch_size and
      eval_chunk_size.
    key: typed key; batch i uses fold_in(key, i).
    log: receives a progress line per ~10% of the batches, with an ETA.

  Returns:
    {'test_marginal_multiple': ..., 'test_marginal_single': ..., ...}: the
    means of ``bounds.evaluate_bounds`` over all N faces (a VAE has
    'test_marginal_single' only, CVAE and CMMA 'test_conditional_multiple').
  """
  batch = config.eval_batch_size
  num = len(images)
  num_batches = -(-num // batch)
  pad = num_batches * batch - num
  images = np.concatenate([images, np.zeros((pad,) + images.shape[1:],
                                            images.dtype)])
  attributes = np.concatenate([attributes, np.zeros(
      (pad,) + attributes.shape[1:], attributes.dtype)])
  sums: dict[str, float] = {}
  start = time.perf_counter()
  report_every = max(1, num_batches // 10)
  for i in range(num_batches):
    rows = slice(i * batch, (i + 1) * batch)
    per_example = _batch_bounds(
        model, variables, images[rows], attributes[rows], stats,
        jax.random.fold_in(key, i), k=config.eval_k,
        prior_samples=config.eval_prior_samples,
        chunk_size=config.eval_chunk_size)
    valid = min(batch, num - i * batch)
    for name, values in per_example.items():
      sums[name] = sums.get(name, 0.0) + float(np.sum(values[:valid]))
    if (i + 1) % report_every == 0 or i + 1 == num_batches:
      elapsed = time.perf_counter() - start
      eta = elapsed / (i + 1) * (num_batches - i - 1)
      log(f'evaluating: {min(num, (i + 1) * batch)}/{num} test faces, '
          f'{elapsed:.0f}s elapsed, ETA {format_duration(eta)}')
  return {f'test_{name}': total / num for name, total in sorted(sums.items())}


def load_data(config: CelebAConfig) -> celeba.CelebAData:
  """CelebA from config.data_dir (attributes in {-1, 1}, matching tanh means)."""
  return celeba.load_celeba(
      os.path.expanduser(config.data_dir),
      cache_dir=(os.path.expanduser(config.cache_dir) if config.cache_dir
                 else None),
      attribute_values='signed', max_images=config.max_images)


def train_and_evaluate(config: CelebAConfig, workdir: str, *,
                       data: celeba.CelebAData | None = None,
                       log: Callable[[str], None] = print) -> dict[str, Any]:
  """Trains ``config.model`` on CelebA (resuming if possible) and evaluates it.

  Args:
    config: the run's settings.
    workdir: the run's directory (see the module docstring).
    data: the faces to use, attributes in {-1, 1}; by default loaded from
      config.data_dir (``load_data``).
    log: receives progress lines.

  Returns:
    The results also written to WORKDIR/results.json: the settings that
    define the numbers, the number of epochs trained and the mean test bounds
    in nats.

  Raises:
    UserError: bad settings, an unusable workdir, missing data, fewer training
      faces than a batch, or a checkpoint of another model.
  """
  workdir = os.path.abspath(os.path.expanduser(workdir))
  make_writable_dir(workdir)
  with locked(workdir):
    return _train_and_evaluate(config, workdir, data, log)


def _train_and_evaluate(config: CelebAConfig, workdir: str,
                        data: celeba.CelebAData | None,
                        log: Callable[[str], None]) -> dict[str, Any]:
  """``train_and_evaluate`` in a locked, existing workdir."""
  prepare_workdir(config, workdir, resume_fields=RESUME_FIELDS)
  if data is None:
    log(f'loading CelebA from {config.data_dir} (the first load detects faces '
        'and takes a while; --verbosity=0 shows its progress)')
    data = load_data(config)
  num_train = len(data.train_images)
  if num_train < config.batch_size:
    raise UserError(f'only {num_train} training faces, fewer than '
                    f'--batch_size={config.batch_size}; lower --batch_size or '
                    'use more images')
  log(f'data: {data.source}: {num_train} training and '
      f'{len(data.test_images)} test faces')
  check_training_data(workdir, data.train_images, data.train_attributes,
                      data.source)
  data_stats = celeba_stats.compute(data)
  main_process = jax.process_index() == 0
  if main_process:
    celeba_stats.save(workdir, data_stats)
  stats = data_stats.pixels
  train_images = jax.device_put(celeba_train.to_uint8(data.train_images))
  train_attributes = jax.device_put(data.train_attributes)

  model = config.build_model()
  trainer = celeba_train.make_trainer(model, config)
  state = jax.jit(functools.partial(celeba_train.init_state, trainer,
                                    config.seed))()
  checkpoints = Checkpoints(os.path.join(workdir, 'checkpoints'), log=log)
  restored = checkpoints.restore_latest(state)
  if restored is not None:
    state = restored
    log(f'resuming from the checkpoint after epoch {int(state.epoch)}')

  train_epoch = celeba_train.make_train_epoch(trainer, config)
  scalars = summaries.resume_scalars(workdir, int(state.epoch),
                                    enabled=main_process)
  try:
    state = run_loop.train_epochs(
        state, epochs=config.epochs,
        train_epoch=lambda s: train_epoch(s, train_images, train_attributes,
                                          stats),
        checkpoints=checkpoints,
        metrics_path=os.path.join(workdir, 'metrics.jsonl'),
        images_per_epoch=num_train // config.batch_size * config.batch_size,
        main_process=main_process, logged_prefixes=_LOGGED_PREFIXES,
        on_epoch=scalars.add_epochs, log=log)
  finally:
    checkpoints.close()
    scalars.close()

  start = time.perf_counter()
  test_metrics = evaluate(
      evaluation_model(model), state.params['model'],
      celeba_train.to_uint8(data.test_images), data.test_attributes, stats,
      config=config, key=jax.random.fold_in(state.key, _TEST_STREAM), log=log)
  results = {
      'model': config.model,
      'alpha': config.alpha,
      'epoch': int(state.epoch),
      'eval_k': config.eval_k,
      'eval_prior_samples': config.eval_prior_samples,
      'image_log_prob': config.image_log_prob,
      'num_test_examples': len(data.test_images),
      'eval_seconds': time.perf_counter() - start,
      **test_metrics,
  }
  if main_process:
    run_report.record_results(workdir, results)
  return results
