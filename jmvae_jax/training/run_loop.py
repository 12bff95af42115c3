"""The resumable epoch loop every trainer shares, guarded against divergence.

After each epoch the metrics come back to the host once (as they would for the
log line anyway), and:

* a non-finite metric stops the run with a one-line ``UserError`` naming the
  epoch, the first bad optimizer step and the terms, before anything of that
  epoch is written: the latest checkpoint stays the last finite one;
* a loss term far above its recent level (``BLOWUP_FACTOR`` times the median
  of the last ``BLOWUP_WINDOW`` epochs, and at least ``BLOWUP_MIN_NATS`` more)
  is logged as a warning and recorded in the epoch's ``warning`` field, so a
  transient blow-up that training recovers from is not silent;
* the record is appended to metrics.jsonl (process 0), and the state is
  checkpointed every ``checkpoint_every`` epochs and after the last one. A run
  killed between checkpoints resumes from the last one and trains the epochs
  after it again, to the same bits (each epoch's draws depend only on the seed
  and the epoch); their metrics lines are cut and rewritten.

The log line's ETA is the wall time per epoch of this process (checkpoints,
metrics and learning curves included, the compiling first epoch left out once
there are others) times the epochs left.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from typing import Any, Callable, Sequence

import jax
import numpy as np

from jmvae_jax.errors import UserError
from jmvae_jax.training.checkpoints import Checkpoints
from jmvae_jax.training.evaluation import format_duration
from jmvae_jax.training.train import FIRST_NONFINITE_STEP
from jmvae_jax.training.workdir import cut_metrics, is_loss_term, is_number

BLOWUP_FACTOR = 10.0
BLOWUP_WINDOW = 10
BLOWUP_MIN_NATS = 1.0


def blowup_warnings(record: dict[str, Any],
                    history: list[dict[str, Any]]) -> list[str]:
  """The loss terms of ``record`` far above their median over ``history``."""
  warnings = []
  for name, value in sorted(record.items()):
    if not is_loss_term(name) or not is_number(value):
      continue
    recent = [r[name] for r in history[-BLOWUP_WINDOW:] if name in r]
    if len(recent) < 3:
      continue
    median = statistics.median(recent)
    if (value > BLOWUP_FACTOR * abs(median)
        and value - median > BLOWUP_MIN_NATS):
      ratio = value / max(abs(median), 1e-9)
      warnings.append(f'{name} {value:.4g} is {ratio:.3g}x its median '
                      f'{median:.4g} of the last {len(recent)} epochs')
  return warnings


def epoch_line(record: dict[str, Any], *, epochs: int, eta_seconds: float,
               prefixes: tuple[str, ...]) -> str:
  """The log line of an epoch: loss, the terms named by ``prefixes``, the
  epoch's training time and speed, and the ETA of the run."""
  terms = '  '.join(f'{name} {record[name]:.2f}' for name in sorted(record)
                    if name.startswith(prefixes) and name != 'kl_weight')
  return (f'epoch {record["epoch"]}/{epochs}  loss {record["loss"]:.2f}  '
          f'{terms}  {record["seconds"]:.1f}s '
          f'({record["images_per_second"]:.0f} img/s)'
          f'  ETA {format_duration(eta_seconds)}')


def _divergence_message(epoch: int, record: dict[str, Any],
                        first_bad_step: int, last_saved: int) -> str:
  bad = sorted(name for name, value in record.items()
               if isinstance(value, float) and not math.isfinite(value))
  return (f'training diverged in epoch {epoch} (first at optimizer step '
          f'{first_bad_step}): {", ".join(bad) or "a step metric"} not finite; '
          f'nothing of epoch {epoch} was saved, the checkpoint after epoch '
          f'{last_saved} stays the latest; train with a lower --learning_rate '
          'or a --grad_clip_norm in a new --workdir')


def epoch_of(state: Any) -> int:
  """The completed epochs of a state, or of a grid's stacked states."""
  return int(np.max(np.asarray(state.epoch)))


def _member_records(metrics: dict[str, Any], members: int | None
                    ) -> list[dict[str, float]]:
  """Host records of one epoch's metrics: one, or one per grid member."""
  host = {name: np.asarray(value) for name, value in
          jax.device_get(metrics).items()}
  if members is None:
    return [{name: float(value) for name, value in host.items()}]
  return [{name: float(value[i]) for name, value in host.items()}
          for i in range(members)]


def train_epochs(state: Any, *, epochs: int,
                 train_epoch: Callable[[Any], tuple[Any, dict[str, Any]]],
                 checkpoints: Checkpoints, metrics_path: str | Sequence[str],
                 images_per_epoch: int, main_process: bool,
                 logged_prefixes: tuple[str, ...], checkpoint_every: int = 1,
                 after_epoch: Callable[[Any, int], Any] | None = None,
                 member_names: Sequence[str] | None = None,
                 on_epoch: Callable[[list[dict[str, Any]]], None] | None = None,
                 log: Callable[[str], None] = print) -> Any:
  """Trains from ``state`` until ``epochs`` epochs are done; returns the state.

  Args:
    state: the restored or fresh train state (with ``epoch``).
    epochs: the epoch to train up to.
    train_epoch: state -> (state, metrics), one jitted epoch
      (``jmvae_jax.training.train.scan_epoch`` inside), metrics including
      FIRST_NONFINITE_STEP.
    checkpoints: where the state is saved.
    metrics_path: the run's metrics.jsonl (repaired and cut to the state's
      epoch first; see ``workdir.cut_metrics``); for a grid of models
      (``member_names`` given), one path per member.
    images_per_epoch: training images per epoch (per member), for the speed
      fields.
    main_process: only it writes metrics.jsonl.
    logged_prefixes: the metrics shown in the epoch's log line.
    checkpoint_every: save the state after every this many epochs (counted
      from 0) and after the last; 1 saves every epoch.
    after_epoch: (state, epoch) -> extra fields of the epoch's record (a dict),
      or for a grid a list of dicts, one per member; e.g. learning-curve bounds.
    member_names: for a grid (metrics with a leading member axis), each
      member's name, used in log lines and errors; None for one model.
    on_epoch: called on the main process with each epoch's records (one, or
      one per member) once they are written and checkpointed; e.g. to show
      them in TensorBoard while the run trains.
    log: receives the epoch lines and warnings.

  Raises:
    UserError: a metric of an epoch was not finite (for a grid: of any member;
      the error names it).
  """
  paths = [metrics_path] if member_names is None else list(metrics_path)
  names = [''] if member_names is None else [f'{n}: ' for n in member_names]
  histories = [cut_metrics(path, up_to_epoch=epoch_of(state), log=log)
               if main_process else [] for path in paths]
  last_saved = epoch_of(state)
  walls = []  # Wall seconds of each epoch this process trained.
  wall_start = time.perf_counter()
  while epoch_of(state) < epochs:
    epoch = epoch_of(state) + 1
    start = time.perf_counter()
    state, metrics = train_epoch(state)
    records = _member_records(metrics, None if member_names is None
                              else len(paths))  # One host sync per epoch.
    seconds = time.perf_counter() - start
    for name, record in zip(names, records):
      first_bad_step = int(record.pop(FIRST_NONFINITE_STEP))
      if first_bad_step >= 0 or not all(map(math.isfinite, record.values())):
        raise UserError(name + _divergence_message(epoch, record,
                                                   first_bad_step, last_saved))
    extras = after_epoch(state, epoch) if after_epoch is not None else {}
    extras = [extras] if isinstance(extras, dict) else extras
    for name, record, extra, path, history in zip(names, records, extras,
                                                  paths, histories):
      record.update(epoch=epoch, seconds=seconds, images=images_per_epoch,
                    images_per_second=images_per_epoch / seconds, **extra)
      warnings = blowup_warnings(record, history)
      if warnings:
        record['warning'] = '; '.join(warnings)
      if main_process:
        with open(path, 'a') as f:
          f.write(json.dumps(record, sort_keys=True) + '\n')
      history.append(record)
    if epoch % checkpoint_every == 0 or epoch == epochs:
      checkpoints.save(state)
      last_saved = epoch
    if main_process and on_epoch is not None:
      on_epoch(records)
    walls.append(time.perf_counter() - wall_start)
    wall_start = time.perf_counter()
    typical = walls[1:] or walls  # The first epoch compiles.
    eta = sum(typical) / len(typical) * (epochs - epoch)
    for name, record in zip(names, records):
      log(name + epoch_line(record, epochs=epochs, eta_seconds=eta,
                            prefixes=logged_prefixes))
      if 'warning' in record:
        log(f'warning: {name}epoch {epoch}: {record["warning"]}')
  return state
