"""What every experiments binary does around its work.

``run(main)`` parses the flags with absl and calls ``main()``; around it, the
same conventions for every binary:

- logs at WARNING unless ``--verbosity`` is given (Orbax logs every save at
  INFO);
- a stray positional argument is a usage error;
- a ``jmvae_jax.errors.UserError`` ends the program with one line,
  ``error: ...``, and exit status 1, instead of a traceback;
- what ``main`` returns, if not None, is printed as indented JSON.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from absl import app, flags, logging

from jmvae_jax.errors import UserError
from jmvae_jax.training import parallel


def run(main: Callable[[], Any]) -> None:
  """Runs a binary's ``main()`` (no arguments) under absl with the conventions above."""

  def absl_main(argv: list[str]) -> None:
    if not flags.FLAGS['verbosity'].present:
      logging.set_verbosity(logging.WARNING)
    if len(argv) > 1:
      raise app.UsageError(f'unexpected arguments: {" ".join(argv[1:])}')
    try:
      result = main()
    except UserError as error:
      raise SystemExit(f'error: {error}') from None
    if result is not None:
      print(json.dumps(result, indent=2, sort_keys=True))

  app.run(absl_main)


def define_distributed_flags() -> Callable[[], None]:
  """Defines the flags of a multi-process run; returns the function that
  joins one when they describe it (call it first in ``main``, before anything
  touches the devices; see ``parallel.maybe_initialize_distributed``)."""
  coordinator = flags.DEFINE_string(
      'coordinator_address', None,
      'Multi-process runs: HOST:PORT of process 0, the same in every process.')
  num_processes = flags.DEFINE_integer(
      'num_processes', None, 'Multi-process runs: how many processes take part.')
  process_id = flags.DEFINE_integer(
      'process_id', None,
      "Multi-process runs: this process's rank, 0 .. P-1.")
  distributed = flags.DEFINE_bool(
      'distributed', False,
      'Join a multi-process run whose settings JAX detects (Cloud TPU, SLURM, '
      'Open MPI).')

  def initialize() -> None:
    parallel.maybe_initialize_distributed(
        coordinator.value, num_processes.value, process_id.value,
        auto_detect=distributed.value)

  return initialize
