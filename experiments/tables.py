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
from jmvae_jax.tasks.mnist import config as config_lib
from jmvae_jax.tasks.mnist import experiment, grid
from jmvae_jax.tasks.mnist.tables import MNIST
from jmvae_jax.training import config_flags

# The run settings with a shorter default budget than a single run's.
_REPRODUCE = cli.define_tables_flags(
    MNIST, config_lib.Config, default_root='runs/tables',
    config_defaults={'epochs': 20, 'warmup_epochs': 10})
_PAPER = config_flags.define_preset_flag(
    'paper', config_lib.PAPER_SETTINGS,
    'the settings of our Tables 1/3 reproduction (see jmvae_jax.tasks.mnist.config)')
_AS_GRIDS = flags.DEFINE_bool(
    'as_grids', False,
    'Train the runs not yet started as one compiled program per model type '
    '(e.g. JMVAE-kl\'s three alphas x the seeds); see jmvae_jax.tasks.mnist.grid.')


def main():
  _REPRODUCE(train=experiment.train_and_evaluate, train_grid=grid.train_grid,
             presets=config_lib.PAPER_SETTINGS if _PAPER.value else None,
             as_grids=_AS_GRIDS.value)


if __name__ == '__main__':
  cli.run(main)
