r"""Reproduce Table 2 (CelebA): run the grid of GAN models, then write the tables.

Rows: VAE-GAN, CVAE-GAN, CMMA-GAN and JMVAE-GAN (alpha 0.1); columns: the
marginal and conditional bounds, multiple and single. Defaults are the
authors' settings (100 epochs, warm-up 20, k = 10); see experiments.celeba for
a single run.

Examples:
  python -m experiments.celeba_tables --data_dir=~/data/celeba       # the paper's budget
  python -m experiments.celeba_tables --epochs=5 --warmup_epochs=2 \
      --max_images=20000                                             # a reduced budget
  python -m experiments.celeba_tables --rows=cmma_gan --epochs=5     # refresh one row
  python -m experiments.celeba_tables --tables_only                  # re-write tables

Runs live in --root/<row>/seed<N>/ and resume; finished runs are skipped.
"""

from __future__ import annotations

from absl import flags

from experiments import cli
from jmvae_jax.report import tables
from jmvae_jax.tasks.celeba import config as celeba_config
from jmvae_jax.tasks.celeba import experiment
from jmvae_jax.tasks.celeba.tables import CELEBA
from jmvae_jax.training import config_flags

_ROOT = flags.DEFINE_string('root', 'runs/celeba_tables',
                            'Directory of all runs.')
_OUT = flags.DEFINE_string('out_dir', None,
                           'Where the tables go (default: --root).')
_ROWS = flags.DEFINE_list('rows', [row.name for row in CELEBA.rows],
                          'Rows to run and tabulate.')
_SEEDS = flags.DEFINE_list('seeds', ['0'], 'Seeds; several give mean ± std.')
# Every run setting but those each row sets.
_CONFIG_FLAGS = config_flags.define_config_flags(
    celeba_config.CelebAConfig, skip=('model', 'alpha', 'seed'))
_TABLES_ONLY = flags.DEFINE_bool('tables_only', False,
                                 'Only write the tables from finished runs.')


def main():
  rows = tables.select_rows(CELEBA, _ROWS.value)
  seeds = tables.parse_seeds(_SEEDS.value)
  base = config_flags.config_from_flags(celeba_config.CelebAConfig(),
                                        _CONFIG_FLAGS)
  tables.reproduce(CELEBA, base, rows, seeds,
                   train=experiment.train_and_evaluate, root=_ROOT.value,
                   out_dir=_OUT.value or _ROOT.value,
                   tables_only=_TABLES_ONLY.value)


if __name__ == '__main__':
  cli.run(main)
