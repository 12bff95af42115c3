r"""The report of the paper-budget tables grid: curves, Fig. 7, label accuracy,
released models and both readings of Eq. 9.

Examples:
  python -m experiments.paper_report --root=runs/mnist_paper \
      --out_dir=results/mnist_paper
  python -m experiments.paper_report --root=runs/mnist_paper --seed=1 \
      --out_dir=/tmp/seed1 --storage_dtype=float32

Reads --root/<row>/seed<N>/ (as `python -m experiments.tables` writes it) and
writes learning_curves.png, fig7_generation.png, label_accuracy.{json,md},
models/<row>_seed<N>/, eq9_readings.{json,md} and paper_report.md into
--out_dir; rows not finished yet are skipped with a note (their curves are
drawn so far). See jmvae_jax.tasks.mnist.paper_report.
"""

from __future__ import annotations

from absl import flags

from experiments import cli
from jmvae_jax.report import tables
from jmvae_jax.tasks.mnist import paper_report
from jmvae_jax.tasks.mnist.tables import MNIST
from jmvae_jax.training import config_flags

_ROOT = flags.DEFINE_string('root', 'runs/mnist_paper',
                            'The grid (the --root of experiments.tables).')
_OUT = flags.DEFINE_string('out_dir', 'results/mnist_paper',
                           'Where the report goes.')
_ROWS = flags.DEFINE_list('rows', [row.name for row in MNIST.rows],
                          'Rows to report.')
_DATA_DIR = flags.DEFINE_string(
    'data_dir', '~/.cache/jmvae_jax',
    'Where MNIST is looked for and the digit classifier is cached.')
_VERIFY_DATA = flags.DEFINE_bool(
    'verify_data', True, 'Check the MNIST files against their SHA-256.')
_SETTINGS = config_flags.define_config_flags(paper_report.ReportSettings)


def main():
  rows = tables.select_rows(MNIST, _ROWS.value)
  settings = config_flags.config_from_flags(paper_report.ReportSettings(),
                                            _SETTINGS)
  paper_report.write_paper_report(
      _ROOT.value, _OUT.value, settings=settings, rows=rows,
      data_dir=_DATA_DIR.value, verify_data=_VERIFY_DATA.value)


if __name__ == '__main__':
  cli.run(main)
