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

from experiments import cli
from jmvae_jax.tasks.celeba import experiment
from jmvae_jax.tasks.celeba.config import CelebAConfig
from jmvae_jax.tasks.celeba.tables import CELEBA

_REPRODUCE = cli.define_tables_flags(CELEBA, CelebAConfig,
                                     default_root='runs/celeba_tables')


def main():
  _REPRODUCE(train=experiment.train_and_evaluate)


if __name__ == '__main__':
  cli.run(main)
