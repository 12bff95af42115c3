"""A run's directory: checked and claimed before training, its JSON written atomically."""

from __future__ import annotations

import json
import os
from typing import Any

import jax

from jmvae_jax.errors import UserError


def write_json_atomically(path: str, text: str) -> None:
  """Writes ``text`` through a temporary file that replaces ``path`` when complete."""
  tmp = f'{path}.tmp'
  with open(tmp, 'w') as f:
    f.write(text)
  os.replace(tmp, path)


def prepare_workdir(config: Any, workdir: str, *,
                    resume_fields: tuple[str, ...]) -> None:
  """Creates ``workdir``, checks it is writable and fits ``config``, writes config.json.

  Every process of a multi-process run checks; only process 0 writes.

  Args:
    config: the run's settings: a dataclass with ``to_json()``.
    workdir: the run's directory.
    resume_fields: the fields of ``config`` a run already in ``workdir`` must
      share (those that fix the checkpoint's shapes and meaning).

  Raises:
    UserError: the directory cannot be written, or holds a run that differs
      from ``config`` in a resume field.
  """
  try:
    os.makedirs(workdir, exist_ok=True)
    probe = os.path.join(workdir, f'.write_test_{jax.process_index()}')
    with open(probe, 'w') as f:
      f.write('ok')
    os.remove(probe)
  except OSError as error:
    raise UserError(f'cannot write to --workdir={workdir} ({error.strerror}); '
                    'choose a directory you can write to') from error
  config_path = os.path.join(workdir, 'config.json')
  if os.path.exists(config_path):
    with open(config_path) as f:
      previous = json.load(f)
    changed = [f'{name}: {previous.get(name)!r} -> {getattr(config, name)!r}'
               for name in resume_fields
               if previous.get(name) != getattr(config, name)]
    if changed:
      raise UserError(
          f'--workdir={workdir} holds a run of a different architecture '
          f'({"; ".join(changed)}); use a new --workdir or the same settings')
  if jax.process_index() == 0:
    write_json_atomically(config_path, config.to_json())


def keep_metrics_up_to(path: str, epoch: int) -> None:
  """Drops the JSON lines of epochs after ``epoch`` (written after the checkpoint
  a run resumes from)."""
  if not os.path.exists(path):
    return
  with open(path) as f:
    lines = [line for line in f if json.loads(line)['epoch'] <= epoch]
  write_json_atomically(path, ''.join(lines))
