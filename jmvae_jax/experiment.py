"""``train_and_evaluate``: the whole MNIST run behind ``python -m experiments.mnist``.

A run owns a working directory:

  WORKDIR/config.json      the resolved Config
  WORKDIR/checkpoints/N/   orbax checkpoints of the whole TrainState after epoch N
  WORKDIR/metrics.jsonl    one JSON line per epoch: every loss term, speed, and
                           every config.curve_every epochs the learning-curve
                           bounds ('curve_*')
  WORKDIR/results.json     test metrics after the last epoch
  WORKDIR/events.out.tfevents.*  the metrics.jsonl curves for TensorBoard,
                           written as each epoch ends, and the test metrics
                           (``jmvae_jax.summaries``)
  WORKDIR/report.md        settings, test bounds beside the paper's, wall
                           times (``jmvae_jax.run_report``)

Re-running with the same WORKDIR resumes from the newest checkpoint; because every
random draw is derived from the seed, the epoch and the step, a resumed run ends
with the same parameters as an uninterrupted one.

The run is data-parallel over every device of every process (see
``jmvae_jax.parallel``). In a multi-process run each process executes this same
function in lockstep on the same data; all take part in checkpointing (orbax
coordinates them), but only process 0 writes config.json, metrics.jsonl,
results.json, the event files and report.md, and only it logs.
"""

from __future__ import annotations

import functools
import os
import time
from typing import Any, Callable

import jax

from jmvae_jax import (evaluation, models, parallel, run_loop, run_report,
                       summaries, train)
from jmvae_jax.checkpoints import Checkpoints
from jmvae_jax.config import RESUME_FIELDS, Config
from jmvae_jax.data import mnist
from jmvae_jax.workdir import (check_training_data, locked, make_writable_dir,
                               prepare_workdir)

_TEST_STREAM = 3


def _ignore(_: str) -> None:
  """The log of processes other than 0."""


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
  make_writable_dir(workdir)
  with locked(workdir):
    return _train_and_evaluate(config, workdir, data, log)


def _train_and_evaluate(config: Config, workdir: str,
                        data: mnist.LabelledImages | None,
                        log: Callable[[str], None]) -> dict[str, Any]:
  """``train_and_evaluate`` in a locked, existing workdir."""
  prepare_workdir(config, workdir, resume_fields=RESUME_FIELDS)
  mesh = parallel.make_data_mesh()
  parallel.check_divisible('batch_size', config.batch_size, mesh)
  parallel.check_divisible('eval_batch_size', config.eval_batch_size, mesh)
  main_process = jax.process_index() == 0
  if not main_process:
    log = _ignore
  if data is None:
    data = mnist.load_mnist(os.path.expanduser(config.data_dir),
                            num_train=config.train_examples,
                            verify=config.verify_data)
  log(f'data: {data.source}: {len(data.train_labels)} training and '
      f'{len(data.test_labels)} test images on {mesh.size} device(s) in '
      f'{jax.process_count()} process(es)')
  check_training_data(workdir, data.train_images, data.train_labels,
                      data.source)

  model = config.build_model()
  eval_model = config.build_model(training=False)
  state = jax.jit(functools.partial(train.init_state, model, config),
                  out_shardings=parallel.replicated(mesh))()
  checkpoints = Checkpoints(os.path.join(workdir, 'checkpoints'), log=log,
                            legacy_names=models.LEGACY_PARAM_NAMES)
  restored = checkpoints.restore_latest(state)
  if restored is not None:
    state = restored
    log(f'resuming from the checkpoint after epoch {int(state.epoch)}')

  train_epoch = train.make_train_epoch(model, config, mesh)
  images, labels = parallel.replicate(
      (data.train_images, data.train_labels), mesh)
  test_images = mnist.binarize_once(data.test_images)

  def learning_curve(state: train.TrainState, epoch: int) -> dict[str, float]:
    return evaluation.learning_curve(
        eval_model, state.params, test_images, data.test_labels,
        config=config, mesh=mesh, run_key=state.key, epoch=epoch)

  # TensorBoard curves, live: the epochs kept, then each one as it ends.
  scalars = summaries.resume_scalars(workdir, int(state.epoch),
                                    enabled=main_process)
  try:
    state = run_loop.train_epochs(
        state, epochs=config.epochs,
        train_epoch=lambda s: train_epoch(s, images, labels),
        checkpoints=checkpoints,
        metrics_path=os.path.join(workdir, 'metrics.jsonl'),
        images_per_epoch=(len(data.train_labels) // config.batch_size
                          * config.batch_size),
        main_process=main_process,
        logged_prefixes=('recon', 'kl_', 'curve_marginal', 'curve_joint'),
        after_epoch=learning_curve, on_epoch=scalars.add_epochs, log=log)
  finally:
    checkpoints.close()
    scalars.close()

  start = time.perf_counter()
  test_metrics = evaluation.evaluate(
      eval_model, state.params, test_images, data.test_labels, config=config,
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
    run_report.record_results(workdir, results)
  return results
