"""A run's directory: locked, checked and claimed before training; its files
written atomically and repaired on resume."""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import math
import os
import socket
import tempfile
import time
from typing import Any, Callable, Iterator

import jax
import numpy as np

from jmvae_jax.errors import UserError

LOCK_FILE = '.lock'


class WorkdirInUse(UserError):
  """Another live process holds the run directory's lock.

  Attributes:
    holder: who holds it, as the holder wrote it ('process 123 on host,
      since 2026-12-05 13:05:41'), or 'unknown process'.
  """

  def __init__(self, workdir: str, holder: str):
    super().__init__(f'--workdir={workdir} is in use by another run ({holder}); '
                     'wait for it to end or use another --workdir')
    self.holder = holder


def write_json_atomically(path: str, text: str) -> None:
  """Writes ``text`` through a temporary file that replaces ``path`` when complete."""
  tmp = f'{path}.tmp'
  with open(tmp, 'w') as f:
    f.write(text)
  os.replace(tmp, path)


def write_results(path: str, results: dict[str, Any]) -> None:
  """Writes ``results`` as strict JSON (no NaN or Infinity tokens), atomically.

  Raises:
    UserError: a value is not finite; the message names it.
  """
  try:
    text = json.dumps(results, indent=2, sort_keys=True, allow_nan=False)
  except ValueError:
    bad = sorted(name for name, value in results.items()
                 if isinstance(value, float) and not math.isfinite(value))
    raise UserError(f'the results {bad} are not finite numbers, so {path} was '
                    'not written; the model has diverged: retrain it with a '
                    'lower --learning_rate in a new --workdir') from None
  write_json_atomically(path, text)


@contextlib.contextmanager
def locked(workdir: str) -> Iterator[None]:
  """Holds WORKDIR/.lock for the block; refuses a workdir another process holds.

  The lock is an ``fcntl.flock`` on the file, which the kernel drops when its
  process ends in any way, so a killed run leaves no stale lock: the file stays
  behind with the dead process's id and the next run takes it over. In a
  multi-process run only process 0 locks.

  Raises:
    WorkdirInUse: another live process holds the lock; the message names it.
  """
  if jax.process_index() != 0:
    yield
    return
  path = os.path.join(workdir, LOCK_FILE)
  fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
  try:
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      holder = os.pread(fd, 200, 0).decode(errors='replace').strip()
      raise WorkdirInUse(workdir, holder or 'unknown process') from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f'process {os.getpid()} on {socket.gethostname()}, since '
              f'{time.strftime("%Y-%m-%d %H:%M:%S")}'.encode(), 0)
    yield
  finally:
    os.close(fd)  # Releases the lock.


def prepare_workdir(config: Any, workdir: str, *,
                    resume_fields: tuple[str, ...]) -> None:
  """Creates ``workdir``, checks it is writable and fits ``config``, writes config.json.

  Every process of a multi-process run checks; only process 0 writes.

  Args:
    config: the run's settings: a dataclass with ``to_json()``.
    workdir: the run's directory.
    resume_fields: the fields of ``config`` a run already in ``workdir`` must
      share: every setting that changes the trained parameters. Others (the
      number of epochs, evaluation settings) may change on resume.

  Raises:
    UserError: the directory cannot be written, or holds a run that differs
      from ``config`` in a resume field; the message names the first such flag,
      its old and new values, and the way out.
  """
  make_writable_dir(workdir)
  config_path = os.path.join(workdir, 'config.json')
  if os.path.exists(config_path):
    try:
      with open(config_path) as f:
        previous = json.load(f)
    except (OSError, ValueError) as error:
      raise UserError(f'{config_path} is unreadable ({error}); restore it, or '
                      'use a new --workdir') from None
    # A setting added after the run was written is recorded at its default,
    # which is how that run trained.
    defaults = {field.name: field.default for field in dataclasses.fields(config)
                if field.default is not dataclasses.MISSING}
    previous = {**{name: defaults[name] for name in resume_fields
                   if name in defaults}, **previous}
    changed = [name for name in resume_fields
               if name in previous and previous[name] != getattr(config, name)]
    if changed:
      name = changed[0]
      raise UserError(
          f'--{name} differs from the run in --workdir={workdir} (it was '
          f'{previous[name]!r}, now {getattr(config, name)!r}'
          + (f'; also {", ".join("--" + n for n in changed[1:])}'
             if changed[1:] else '')
          + '); resume with the same settings (only --epochs and the '
          'evaluation settings may change) or use a new --workdir')
  if jax.process_index() == 0:
    write_json_atomically(config_path, config.to_json())


def make_writable_dir(workdir: str) -> None:
  """Creates ``workdir`` and checks it is writable.

  Raises:
    UserError: it cannot be created or written.
  """
  try:
    os.makedirs(workdir, exist_ok=True)
    # A probe of its own: runners started together on one workdir (one of them
    # then finds it busy) must not remove each other's.
    fd, probe = tempfile.mkstemp(prefix='.write_test_', dir=workdir)
    os.close(fd)
    os.remove(probe)
  except OSError as error:
    raise UserError(f'cannot write to --workdir={workdir} ({error.strerror}); '
                    'choose a directory you can write to') from error


# A run's training curves: one JSON record per line, one line per epoch.
METRICS_FILE = 'metrics.jsonl'
# Fields of a metrics.jsonl record that are not the training loss or a term
# of it: bookkeeping, the warm-up's KL weight and the blow-up warning. Fields
# named 'curve_*' are test bounds recorded every few epochs.
_NOT_LOSS_TERMS = ('epoch', 'seconds', 'images', 'images_per_second',
                   'kl_weight', 'warning')


def is_loss_term(name: str) -> bool:
  """Whether a field of metrics.jsonl is the training loss or one of its
  terms ('loss', 'recon/image', 'kl_unimodal/label', 'elbo_of/x/kl_prior', a
  GAN's 'generator_pixel', ...), whatever the model."""
  return name not in _NOT_LOSS_TERMS and not name.startswith('curve_')


def is_number(value: object) -> bool:
  """Whether a JSON value is a number (not a bool, a string or null)."""
  return isinstance(value, (int, float)) and not isinstance(value, bool)


def _metrics_lines(path: str, up_to_epoch: int | None,
                   log: Callable[[str], None] | None
                   ) -> list[tuple[str, dict[str, Any]]]:
  """Each record of the metrics file ``path`` up to ``up_to_epoch``, with its line."""
  if not os.path.exists(path):
    return []
  kept = []
  with open(path) as f:
    for number, line in enumerate(f, 1):
      try:
        record = json.loads(line)
        epoch = record['epoch']
      except (ValueError, KeyError, TypeError):
        if log is not None:
          log(f'warning: dropped line {number} of {path}, which is cut short '
              'or damaged')
        continue
      if up_to_epoch is None or epoch <= up_to_epoch:
        kept.append((line if line.endswith('\n') else line + '\n', record))
  return kept


def read_metrics(path: str, up_to_epoch: int | None = None, *,
                 log: Callable[[str], None] | None = None
                 ) -> list[dict[str, Any]]:
  """The records of a run's metrics file (METRICS_FILE), one per epoch.

  Args:
    path: the file; none is read when it does not exist.
    up_to_epoch: leave out the records of later epochs; None: keep all.
    log: told of each line that is not a JSON record with an 'epoch' (a
      write cut short by a kill or a full disk); such lines are skipped.
  """
  return [record for _, record in _metrics_lines(path, up_to_epoch, log)]


def cut_metrics(path: str, *, up_to_epoch: int,
                log: Callable[[str], None] = print) -> list[dict[str, Any]]:
  """``read_metrics``, and the file rewritten to hold only the records kept.

  A resumed run calls it with the epoch of the checkpoint it resumes from:
  records of later epochs were written after that checkpoint, and it writes
  them again.
  """
  kept = _metrics_lines(path, up_to_epoch, log)
  if os.path.exists(path):
    write_json_atomically(path, ''.join(line for line, _ in kept))
  return [record for _, record in kept]


def check_training_data(workdir: str, images: Any, labels: Any,
                        source: str) -> None:
  """Records a digest of the training set in WORKDIR/data.json, or checks it.

  A run resumes only on the data it started with; where the files live may
  change.

  Raises:
    UserError: the workdir's run trained on other data.
  """
  digest = hashlib.sha256()
  for array in (images, labels):
    array = np.ascontiguousarray(array)
    digest.update(f'{array.dtype}{array.shape}'.encode())
    digest.update(array.tobytes())
  record = {'sha256': digest.hexdigest(), 'source': source}
  path = os.path.join(workdir, 'data.json')
  if os.path.exists(path):
    with open(path) as f:
      previous = json.load(f)
    if previous['sha256'] != record['sha256']:
      raise UserError(
          f'the training data differs from that of the run in --workdir='
          f'{workdir} (it trained on {previous["source"]}, now {source}); '
          'resume on the same data or use a new --workdir')
  elif jax.process_index() == 0:
    write_json_atomically(path, json.dumps(record, indent=2))
