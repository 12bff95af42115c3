r"""Reproduce Tables 1 and 3 (MNIST): run the grid, then write the tables.

Examples:
  python -m experiments.tables --epochs=20 --warmup_epochs=10     # reduced budget
  python -m experiments.tables --paper --seeds=0,1,2               # the paper's budget
  python -m experiments.tables --rows=cvae --epochs=20             # refresh one row
  python -m experiments.tables --tables_only                       # re-write tables

Runs live in --root/<row>/seed<N>/ and resume; finished runs are skipped.
"""

from __future__ import annotations

from absl import app, flags, logging

from jmvae_jax import config as config_lib
from jmvae_jax import config_flags, tables
from jmvae_jax.errors import UserError

_ROOT = flags.DEFINE_string('root', 'runs/tables', 'Directory of all runs.')
_OUT = flags.DEFINE_string('out_dir', None,
                           'Where the tables go (default: --root).')
_ROWS = flags.DEFINE_list('rows', [row.name for row in tables.ROWS],
                          'Rows to run and tabulate.')
_SEEDS = flags.DEFINE_list('seeds', ['0'], 'Seeds; several give mean ± std.')
_PAPER = config_flags.define_preset_flag(
    'paper', config_lib.PAPER_SETTINGS,
    'the settings of our Tables 1/3 reproduction (see jmvae_jax.config)')
# Every run setting but those each row sets, with a shorter default budget.
_CONFIG_FLAGS = config_flags.define_config_flags(
    config_lib.Config, skip=('model', 'alpha', 'seed'),
    defaults={'epochs': 20, 'warmup_epochs': 10})
_TABLES_ONLY = flags.DEFINE_bool('tables_only', False,
                                 'Only write the tables from finished runs.')


def main(argv):
  if not flags.FLAGS['verbosity'].present:
    # Orbax logs every save at INFO: show warnings only unless asked.
    logging.set_verbosity(logging.WARNING)
  if len(argv) > 1:
    raise app.UsageError(f'unexpected arguments: {" ".join(argv[1:])}')
  try:
    rows = tables.select_rows(tables.MNIST, _ROWS.value)
    seeds = tables.parse_seeds(_SEEDS.value)
    base = config_flags.config_from_flags(
        config_lib.Config(), _CONFIG_FLAGS,
        presets=config_lib.PAPER_SETTINGS if _PAPER.value else None)
    tables.reproduce(tables.MNIST, base, rows, seeds, root=_ROOT.value,
                     out_dir=_OUT.value or _ROOT.value,
                     tables_only=_TABLES_ONLY.value)
  except UserError as error:
    raise SystemExit(f'error: {error}') from None


if __name__ == '__main__':
  app.run(main)
