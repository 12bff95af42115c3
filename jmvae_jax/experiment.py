"""``train_and_evaluate``: the whole MNIST run behind ``python -m experiments.mnist``.

A run owns a working directory:

  WORKDIR/config.json      the resolved Config
  WORKDIR/checkpoints/N/   orbax checkpoints of the whole TrainState after epoch N
  WORKDIR/metrics.jsonl    one JSON line per epoch: every loss term, speed, and
                           every config.curve_every epochs the learning-curve
                           bounds ('curve_*')
  WORKDIR/results.json     test metrics after the last epoch

Re-running with the same WORKDIR resumes from the newest checkpoint; because every
random draw is derived from the seed, the epoch and the step, a resumed run ends
with the same parameters as an uninterrupted one.

The run is data-parallel over every device of every process (see
``jmvae_jax.parallel``). In a multi-process run each process executes this same
function in lockstep on the same data; all take part in checkpointing (orbax
coordinates them), but only process 0 writes config.json, metrics.jsonl and
results.json, and only it logs.
"""

from __future__ import annotations

import functools
import json
import os
import time
from typing import Any, Callable

import jax

from jmvae_jax import evaluation, parallel, train
from jmvae_jax.checkpoints import Checkpoints
from jmvae_jax.config import ARCHITECTURE_FIELDS, Config
from jmvae_jax.data import mnist
from jmvae_jax.workdir import (keep_metrics_up_to, prepare_workdir,
                               write_json_atomically)

_TEST_STREAM, _CURVE_STREAM = 3, 4


def _ignore(_: str) -> None:
  """The log of processes other than 0."""


def _epoch_line(config: Config, epoch: int, metrics: dict[str, float],
                seconds: float, remaining_epochs: int) -> str:
  images_per_s = metrics['images'] / seconds
  terms = ' '.join(f'{name} {metrics[name]:.2f}' for name in sorted(metrics)
                   if name.startswith(('recon_', 'kl_', 'curve_')))
  return (f'epoch {epoch}/{config.epochs}  loss {metrics["loss"]:.2f}  {terms}  '
          f'{seconds:.1f}s ({images_per_s:.0f} img/s)  '
          f'ETA {evaluation.format_duration(seconds * remaining_epochs)}')


def train_and_evaluate(config: Config, workdir: str, *,
                       data: mnist.LabelledImages | None = None,
                       log: Callable[[str], None] = print) -> dict[str, Any]:
  """Trains ``config.model`` on MNIST (resuming if possible) and evaluates it.

  Args:
    config: the run's settings.
    workdir: the run's directory (see the module docstring).
    data: the images to use; by default MNIST is loaded from config.data_dir.
    log: receives progress lines (on process 0; the others log nothing).

  Returns:
    The results also written to WORKDIR/results.json: the model, alpha, the
    number of epochs trained, eval_k and the mean test metrics in nats.

  Raises:
    UserError: bad settings, an unusable workdir, a batch size that does not
      split over the devices, missing data, or a checkpoint of another
      architecture.
  """
  workdir = os.path.abspath(os.path.expanduser(workdir))
  prepare_workdir(config, workdir, resume_fields=ARCHITECTURE_FIELDS)
  mesh = parallel.make_data_mesh()
  parallel.check_divisible('batch_size', config.batch_size, mesh)
  parallel.check_divisible('eval_batch_size', config.eval_batch_size, mesh)
  main_process = jax.process_index() == 0
  if not main_process:
    log = _ignore
  if data is None:
    data = mnist.load_mnist(os.path.expanduser(config.data_dir),
                            num_train=config.train_examples)
  log(f'data: {data.source}: {len(data.train_labels)} training and '
      f'{len(data.test_labels)} test images on {mesh.size} device(s) in '
      f'{jax.process_count()} process(es)')

  model = config.build_model()
  state = jax.jit(functools.partial(train.init_state, model, config),
                  out_shardings=parallel.replicated(mesh))()
  checkpoints = Checkpoints(os.path.join(workdir, 'checkpoints'))
  restored = checkpoints.restore_latest(state)
  if restored is not None:
    state = restored
    log(f'resuming from the checkpoint after epoch {int(state.epoch)}')
  metrics_path = os.path.join(workdir, 'metrics.jsonl')
  if main_process:
    keep_metrics_up_to(metrics_path, int(state.epoch))

  train_epoch = train.make_train_epoch(model, config, mesh)
  images, labels = parallel.replicate(
      (data.train_images, data.train_labels), mesh)
  images_per_epoch = (len(data.train_labels) // config.batch_size
                      * config.batch_size)
  test_images = mnist.binarize_once(data.test_images)
  while int(state.epoch) < config.epochs:
    start = time.perf_counter()
    state, metrics = train_epoch(state, images, labels)
    epoch = int(state.epoch)  # One host sync per epoch.
    seconds = time.perf_counter() - start
    record = {name: float(value) for name, value in metrics.items()}
    record.update(epoch=epoch, seconds=seconds, images=images_per_epoch,
                  images_per_second=images_per_epoch / seconds)
    if config.curve_every and (epoch % config.curve_every == 0
                               or epoch == config.epochs):
      record.update(evaluation.curve_bounds(
          model, state.params, test_images, data.test_labels, config=config,
          mesh=mesh, key=jax.random.fold_in(state.key, _CURVE_STREAM)))
    if main_process:
      with open(metrics_path, 'a') as f:
        f.write(json.dumps(record, sort_keys=True) + '\n')
    checkpoints.save(state)
    log(_epoch_line(config, epoch, record, seconds, config.epochs - epoch))
  checkpoints.close()

  start = time.perf_counter()
  test_metrics = evaluation.evaluate(
      model, state.params, test_images, data.test_labels, config=config,
      mesh=mesh, key=jax.random.fold_in(state.key, _TEST_STREAM), log=log)
  results = {
      'model': config.model,
      'alpha': config.alpha,
      'epoch': int(state.epoch),
      'eval_k': config.eval_k,
      'num_test_examples': int(len(data.test_labels)),
      'eval_seconds': time.perf_counter() - start,
      **test_metrics,
  }
  if main_process:
    write_json_atomically(os.path.join(workdir, 'results.json'),
                           json.dumps(results, indent=2, sort_keys=True))
  return results

