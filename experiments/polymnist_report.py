r"""PolyMNIST runs side by side: coherence, likelihoods and separability by |S|.

  python -m experiments.polymnist_report \
      --runs=runs/polymnist,runs/polymnist_zero --out=runs/polymnist_report.md

One column per run (named by its model), the tables of
``jmvae_jax.tasks.polymnist.comparison``; printed, and written to --out if given.
"""

from __future__ import annotations

import os

from absl import flags

from experiments import cli
from jmvae_jax import models
from jmvae_jax.errors import UserError
from jmvae_jax.tasks.polymnist import comparison
from jmvae_jax.training.restore import read_config_values
from jmvae_jax.training.workdir import write_json_atomically

_RUNS = flags.DEFINE_list('runs', None, 'The PolyMNIST run directories.',
                          required=True)
_OUT = flags.DEFINE_string('out', None, 'A Markdown file to write them to.')


def _name(workdir: str) -> str:
  values = read_config_values(workdir, flag='--runs')
  return models.display_name(str(values.get('model')), values.get('alpha'))


def main():
  workdirs = [os.path.expanduser(w) for w in _RUNS.value]
  if not workdirs:
    raise UserError('--runs is empty; give one or more PolyMNIST run '
                    'directories, comma-separated')
  text = comparison.compare(workdirs, [_name(w) for w in workdirs])
  print(text)
  if _OUT.value:
    out = os.path.abspath(os.path.expanduser(_OUT.value))
    os.makedirs(os.path.dirname(out), exist_ok=True)
    write_json_atomically(out, text)
    print(f'wrote {out}')


if __name__ == '__main__':
  cli.run(main)
