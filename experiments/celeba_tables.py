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

import dataclasses

from absl import flags

from experiments import cli
from jmvae_jax import celeba_config, tables
from jmvae_jax.celeba_tables import CELEBA

_DEFAULTS = celeba_config.CelebAConfig()

_ROOT = flags.DEFINE_string('root', 'runs/celeba_tables',
                            'Directory of all runs.')
_OUT = flags.DEFINE_string('out_dir', None,
                           'Where the tables go (default: --root).')
_ROWS = flags.DEFINE_list('rows', [row.name for row in CELEBA.rows],
                          'Rows to run and tabulate.')
_SEEDS = flags.DEFINE_list('seeds', ['0'], 'Seeds; several give mean ± std.')
_EPOCHS = flags.DEFINE_integer('epochs', _DEFAULTS.epochs,
                               'Training epochs per run.')
_WARMUP = flags.DEFINE_integer('warmup_epochs', _DEFAULTS.warmup_epochs,
                               'KL warm-up epochs.')
_EVAL_K = flags.DEFINE_integer('eval_k', _DEFAULTS.eval_k,
                               'Importance samples per test face.')
_EVAL_PRIOR = flags.DEFINE_integer(
    'eval_prior_samples', _DEFAULTS.eval_prior_samples,
    'Prior samples for log p(w) (JMVAE-GAN).')
_MAX_IMAGES = flags.DEFINE_integer(
    'max_images', None, 'Use only the first this many CelebA images.')
_DATA_DIR = flags.DEFINE_string('data_dir', _DEFAULTS.data_dir,
                                'CelebA in its own layout.')
_CACHE_DIR = flags.DEFINE_string(
    'cache_dir', _DEFAULTS.cache_dir,
    "Where the detected faces are cached; '' for no cache.")
_TABLES_ONLY = flags.DEFINE_bool('tables_only', False,
                                 'Only write the tables from finished runs.')


def main():
  rows = tables.select_rows(CELEBA, _ROWS.value)
  seeds = tables.parse_seeds(_SEEDS.value)
  base = dataclasses.replace(
      _DEFAULTS, epochs=_EPOCHS.value, warmup_epochs=_WARMUP.value,
      eval_k=_EVAL_K.value, eval_prior_samples=_EVAL_PRIOR.value,
      max_images=_MAX_IMAGES.value, data_dir=_DATA_DIR.value,
      cache_dir=_CACHE_DIR.value)
  tables.reproduce(CELEBA, base, rows, seeds, root=_ROOT.value,
                   out_dir=_OUT.value or _ROOT.value,
                   tables_only=_TABLES_ONLY.value)


if __name__ == '__main__':
  cli.run(main)
