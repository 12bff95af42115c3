r"""Reproduce Tables 1 and 3 (MNIST): run the grid, then write the tables.

Examples:
  python -m experiments.tables --epochs=20 --warmup_epochs=10     # reduced budget
  python -m experiments.tables --paper --seeds=0,1,2               # the paper's budget
  python -m experiments.tables --rows=cvae --epochs=20             # refresh one row
  python -m experiments.tables --tables_only                       # re-write tables
  python -m experiments.tables --paper --seeds=1,2 --as_grids      # one program per model

Runs live in --root/<row>/seed<N>/ and resume; finished runs are skipped.
"""

from __future__ import annotations

from absl import flags

from experiments import cli
from jmvae_jax.report import tables
from jmvae_jax.tasks.mnist import config as config_lib
from jmvae_jax.tasks.mnist import experiment, grid
from jmvae_jax.tasks.mnist.tables import MNIST
from jmvae_jax.training import config_flags

_ROOT = flags.DEFINE_string('root', 'runs/tables', 'Directory of all runs.')
_OUT = flags.DEFINE_string('out_dir', None,
                           'Where the tables go (default: --root).')
_ROWS = flags.DEFINE_list('rows', [row.name for row in MNIST.rows],
                          'Rows to run and tabulate.')
_SEEDS = flags.DEFINE_list('seeds', ['0'], 'Seeds; several give mean ± std.')
_PAPER = config_flags.define_preset_flag(
    'paper', config_lib.PAPER_SETTINGS,
    'the settings of our Tables 1/3 reproduction (see jmvae_jax.tasks.mnist.config)')
# Every run setting but those each row sets, with a shorter default budget.
_CONFIG_FLAGS = config_flags.define_config_flags(
    config_lib.Config, skip=('model', 'alpha', 'seed'),
    defaults={'epochs': 20, 'warmup_epochs': 10})
_AS_GRIDS = flags.DEFINE_bool(
    'as_grids', False,
    'Train the runs not yet started as one compiled program per model type '
    '(e.g. JMVAE-kl\'s three alphas x the seeds); see jmvae_jax.tasks.mnist.grid.')
_TABLES_ONLY = flags.DEFINE_bool('tables_only', False,
                                 'Only write the tables from finished runs.')


def main():
  rows = tables.select_rows(MNIST, _ROWS.value)
  seeds = tables.parse_seeds(_SEEDS.value)
  base = config_flags.config_from_flags(
      config_lib.Config(), _CONFIG_FLAGS,
      presets=config_lib.PAPER_SETTINGS if _PAPER.value else None)
  tables.reproduce(MNIST, base, rows, seeds,
                   train=experiment.train_and_evaluate,
                   train_grid=grid.train_grid, root=_ROOT.value,
                   out_dir=_OUT.value or _ROOT.value,
                   tables_only=_TABLES_ONLY.value, as_grids=_AS_GRIDS.value)


if __name__ == '__main__':
  cli.run(main)
