r"""Reproduce Tables 1 and 3 (MNIST): run the grid, then write the tables.

Examples:
  python -m experiments.tables --epochs=20 --warmup_epochs=10     # reduced budget
  python -m experiments.tables --paper --seeds=0,1,2               # the paper's budget
  python -m experiments.tables --rows=cvae --epochs=20             # refresh one row
  python -m experiments.tables --tables_only                       # re-write tables

Runs live in --root/<row>/seed<N>/ and resume; finished runs are skipped.
"""

from __future__ import annotations

import dataclasses

from absl import app, flags, logging

from jmvae_jax import config as config_lib
from jmvae_jax import tables
from jmvae_jax.errors import UserError

_DEFAULTS = config_lib.Config()

_ROOT = flags.DEFINE_string('root', 'runs/tables', 'Directory of all runs.')
_OUT = flags.DEFINE_string('out_dir', None,
                           'Where the tables go (default: --root).')
_ROWS = flags.DEFINE_list('rows', [row.name for row in tables.ROWS],
                          'Rows to run and tabulate.')
_SEEDS = flags.DEFINE_list('seeds', ['0'], 'Seeds; several give mean ± std.')
_EPOCHS = flags.DEFINE_integer('epochs', 20, 'Training epochs per run.')
_WARMUP = flags.DEFINE_integer('warmup_epochs', 10, 'KL warm-up epochs.')
_PAPER = flags.DEFINE_bool(
    'paper', False, f'The paper\'s budget: {config_lib.PAPER_EPOCHS} epochs, '
    f'warm-up {config_lib.PAPER_WARMUP_EPOCHS}.')
_EVAL_K = flags.DEFINE_integer('eval_k', _DEFAULTS.eval_k,
                               'Importance samples per test example.')
_EVAL_PRIOR = flags.DEFINE_integer(
    'eval_prior_samples', _DEFAULTS.eval_prior_samples,
    'Prior samples for log p(w).')
_DATA_DIR = flags.DEFINE_string('data_dir', _DEFAULTS.data_dir,
                                'Where MNIST is looked for and cached.')
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
    epochs, warmup = _EPOCHS.value, _WARMUP.value
    if _PAPER.value:
      epochs, warmup = config_lib.PAPER_EPOCHS, config_lib.PAPER_WARMUP_EPOCHS
    base = dataclasses.replace(
        _DEFAULTS, epochs=epochs, warmup_epochs=warmup, eval_k=_EVAL_K.value,
        eval_prior_samples=_EVAL_PRIOR.value, data_dir=_DATA_DIR.value)
    tables.reproduce(tables.MNIST, base, rows, seeds, root=_ROOT.value,
                     out_dir=_OUT.value or _ROOT.value,
                     tables_only=_TABLES_ONLY.value)
  except UserError as error:
    raise SystemExit(f'error: {error}') from None


if __name__ == '__main__':
  app.run(main)
