"""``train_and_evaluate``: one run of any data set, from settings to results.json.

A data set takes part as a ``Task`` (``jmvae_jax.tasks.mnist.experiment.MNIST``,
``jmvae_jax.tasks.celeba.experiment.CELEBA``): it loads its data and builds,
for one run, the fresh train state, the jitted epoch and the test evaluation
(``RunParts``). Everything else is this one loop. A run owns a working
directory:

  WORKDIR/config.json      the resolved settings (the task's config dataclass)
  WORKDIR/checkpoints/N/   orbax checkpoints of the whole TrainState after epoch N
  WORKDIR/metrics.jsonl    one JSON line per epoch: every loss term, speed, and
                           any learning-curve bounds of the task ('curve_*')
  WORKDIR/results.json     the test bounds after the last epoch, in nats
  WORKDIR/events.out.tfevents.*  the metrics.jsonl curves for TensorBoard,
                           written as each epoch ends, and the test bounds
                           (``jmvae_jax.report.summaries``)
  WORKDIR/report.md        settings, test bounds beside the paper's, wall
                           times (``jmvae_jax.report.run_report``)

and whatever the task adds (CelebA: data_stats.npz).

Re-running with the same WORKDIR resumes from the newest checkpoint; because
every random draw is derived from the seed, the epoch and the step, a resumed
run ends with the same parameters as an uninterrupted one.

The run is data-parallel over every device of every process (see
``jmvae_jax.training.parallel``). In a multi-process run each process executes
this same function in lockstep on the same data; all take part in
checkpointing (orbax coordinates them), but only process 0 writes config.json,
metrics.jsonl, results.json, the event files and report.md, and only it logs.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any, Callable, Mapping, Protocol

import jax

from jmvae_jax.report import run_report, summaries
from jmvae_jax.report.tables import TableSet
from jmvae_jax.training import parallel, run_loop
from jmvae_jax.training.checkpoints import Checkpoints
from jmvae_jax.training.train import TrainState
from jmvae_jax.training.workdir import (METRICS_FILE, locked,
                                        make_writable_dir, prepare_workdir)

Log = Callable[[str], None]
Metrics = dict[str, Any]


@dataclasses.dataclass(frozen=True)
class RunParts:
  """What a task builds for one run (``Task.start``).

  Attributes:
    init_state: () -> a fresh ``TrainState`` (jitted here, replicated over
      the mesh); the template a checkpoint is restored into.
    train_epoch: state -> (state, metrics): one jitted epoch over the
      training set (``jmvae_jax.training.train.scan_epoch`` inside).
    evaluate: (state, log) -> {results.json key: mean test value in nats}.
    images_per_epoch: training examples per epoch, for the speed fields.
    num_test_examples: the examples ``evaluate`` averages over.
    after_epoch: (state, epoch) -> extra fields of the epoch's metrics
      record, e.g. learning-curve bounds; None for none.
    result_fields: settings recorded in results.json beside the bounds.
  """

  init_state: Callable[[], TrainState]
  train_epoch: Callable[[TrainState], tuple[TrainState, Metrics]]
  evaluate: Callable[[TrainState, Log], dict[str, float]]
  images_per_epoch: int
  num_test_examples: int
  after_epoch: Callable[[TrainState, int], Metrics] | None = None
  result_fields: Mapping[str, Any] = dataclasses.field(default_factory=dict)


class Task(Protocol):
  """A data set's part in a run (see the module docstring).

  Attributes:
    resume_fields: the config fields a checkpoint only resumes under.
    logged_prefixes: the metrics shown in each epoch's log line.
    legacy_param_names: parameter renames applied to older checkpoints.
    tables: the paper's tables of this data set, for report.md; None when the
      paper has none.
  """

  resume_fields: tuple[str, ...]
  logged_prefixes: tuple[str, ...]
  legacy_param_names: Mapping[str, str]
  tables: TableSet | None

  def load_data(self, config: Any, log: Log) -> Any:
    """The data set ``config`` names, e.g. from config.data_dir."""

  def start(self, config: Any, data: Any, *, workdir: str,
            mesh: jax.sharding.Mesh, main_process: bool,
            log: Log) -> RunParts:
    """Checks and places the data, builds the model and its trainer."""


def _ignore(_: str) -> None:
  """The log of processes other than 0."""


def train_and_evaluate(task: Task, config: Any, workdir: str, *,
                       data: Any = None, log: Log = print) -> dict[str, Any]:
  """Trains ``config.model`` on the task's data (resuming if possible) and
  evaluates it.

  Args:
    task: the data set.
    config: the run's settings; every config has model, alpha, seed, epochs,
      batch_size, eval_batch_size, eval_k and checkpoint_every.
    workdir: the run's directory (see the module docstring).
    data: the data to use; by default ``task.load_data(config)``.
    log: receives progress lines (on process 0; the others log nothing).

  Returns:
    The results also written to WORKDIR/results.json: the model, alpha, the
    number of epochs trained, eval_k, the task's result fields and the mean
    test bounds in nats.

  Raises:
    UserError: bad settings, an unusable workdir, a batch size that does not
      split over the devices, missing data, or a checkpoint of another
      architecture.
  """
  workdir = os.path.abspath(os.path.expanduser(workdir))
  make_writable_dir(workdir)
  with locked(workdir):
    return _train_and_evaluate(task, config, workdir, data, log)


def _train_and_evaluate(task: Task, config: Any, workdir: str, data: Any,
                        log: Log) -> dict[str, Any]:
  """``train_and_evaluate`` in a locked, existing workdir."""
  prepare_workdir(config, workdir, resume_fields=task.resume_fields)
  mesh = parallel.make_data_mesh()
  parallel.check_divisible('batch_size', config.batch_size, mesh)
  parallel.check_divisible('eval_batch_size', config.eval_batch_size, mesh)
  main_process = jax.process_index() == 0
  if not main_process:
    log = _ignore
  if data is None:
    data = task.load_data(config, log)
  parts = task.start(config, data, workdir=workdir, mesh=mesh,
                     main_process=main_process, log=log)

  state = jax.jit(parts.init_state, out_shardings=parallel.replicated(mesh))()
  checkpoints = Checkpoints(os.path.join(workdir, 'checkpoints'), log=log,
                            legacy_names=task.legacy_param_names)
  restored = checkpoints.restore_latest(state)
  if restored is not None:
    state = restored
    log(f'resuming from the checkpoint after epoch {int(state.epoch)}')

  # TensorBoard curves, live: the epochs kept, then each one as it ends.
  scalars = summaries.resume_scalars(workdir, int(state.epoch),
                                    enabled=main_process)
  try:
    state = run_loop.train_epochs(
        state, epochs=config.epochs, train_epoch=parts.train_epoch,
        checkpoints=checkpoints,
        metrics_path=os.path.join(workdir, METRICS_FILE),
        images_per_epoch=parts.images_per_epoch, main_process=main_process,
        logged_prefixes=task.logged_prefixes,
        checkpoint_every=config.checkpoint_every, after_epoch=parts.after_epoch,
        on_epoch=scalars.add_epochs, log=log)
  finally:
    checkpoints.close()
    scalars.close()

  start = time.perf_counter()
  test_metrics = parts.evaluate(state, log)
  results = {
      'model': config.model,
      'alpha': config.alpha,
      'epoch': int(state.epoch),
      'eval_k': config.eval_k,
      **parts.result_fields,
      'num_test_examples': parts.num_test_examples,
      'eval_seconds': time.perf_counter() - start,
      **test_metrics,
  }
  if main_process:
    run_report.record_results(workdir, results, task.tables)
  return results
