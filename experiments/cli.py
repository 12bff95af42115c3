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
import os
from collections.abc import Callable
from typing import Any, Mapping

from absl import app, flags, logging

from jmvae_jax.errors import UserError
from jmvae_jax.report import comparison, tables
from jmvae_jax.training import config_flags, parallel


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


def define_tables_flags(
    table_set: tables.TableSet, config_class: type, *, default_root: str,
    config_defaults: Mapping[str, Any] | None = None,
) -> Callable[..., None]:
  """Defines the flags of a tables binary: where the runs and tables go, which
  rows and seeds, ``--tables_only``, ``--skip_busy``, ``--compare_to``, and one
  flag per setting of ``config_class`` but those each row sets (model, alpha,
  seed).

  Returns:
    ``reproduce(train=..., train_grid=None, presets=None, as_grids=False)``,
    which runs what the flags ask through ``tables.reproduce``; ``presets``
    are settings applied under the explicit flags (e.g. ``--paper``'s).
  """
  root = flags.DEFINE_string('root', default_root, 'Directory of all runs.')
  out_dir = flags.DEFINE_string('out_dir', None,
                                'Where the tables go (default: --root).')
  rows = flags.DEFINE_list(
      'rows', [row.name for row in table_set.rows],
      'Rows to run and tabulate (default: the paper\'s); any of '
      f'{", ".join(table_set.rows_by_name)}.')
  seeds = flags.DEFINE_list('seeds', ['0'],
                            'Seeds; several give mean ± std.')
  settings = config_flags.define_config_flags(
      config_class, skip=('model', 'alpha', 'seed'),
      defaults=config_defaults)
  tables_only = flags.DEFINE_bool('tables_only', False,
                                  'Only write the tables from finished runs.')
  skip_busy = flags.DEFINE_bool(
      'skip_busy', False,
      'Skip a run another process is training instead of stopping, so that '
      'the same command started N times trains N runs at once.')
  compare_to = flags.DEFINE_string(
      'compare_to', None,
      'Directory of a base grid\'s runs (e.g. the reproduction\'s, '
      'results/mnist_paper/runs): also write comparison.md, these runs '
      'against those, bound by bound, and which targets each grid holds.')

  def reproduce(*, train: Callable[..., Any],
                train_grid: Callable[..., Any] | None = None,
                presets: Mapping[str, Any] | None = None,
                as_grids: bool = False) -> None:
    base = config_flags.config_from_flags(config_class(), settings,
                                          presets=presets)
    chosen = tables.select_rows(table_set, rows.value)
    chosen_seeds = tables.parse_seeds(seeds.value)
    out = out_dir.value or root.value
    if compare_to.value and not os.path.isdir(compare_to.value):
      raise UserError(f'--compare_to={compare_to.value} is not a directory; '
                      'give the runs directory of the grid to compare with')
    tables.reproduce(
        table_set, base, chosen, chosen_seeds, train=train,
        train_grid=train_grid, root=root.value, out_dir=out,
        tables_only=tables_only.value, as_grids=as_grids,
        skip_busy=skip_busy.value)
    if compare_to.value:
      for path in comparison.write_comparison(
          table_set, compare_to.value, root.value, out, chosen, chosen_seeds):
        if path.endswith('.md'):
          with open(path) as f:
            print(f.read())
        print(f'wrote {os.path.abspath(path)}')

  return reproduce
