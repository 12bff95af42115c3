"""One grid against another (an ablation against the reproduction)."""

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from jmvae_jax.report import comparison, tables
from jmvae_jax.tasks.mnist.tables import MNIST, ROWS_BY_NAME


def _write_runs(root, runs, config):
  """runs: {row: {seed: results}}; every run gets ``config`` as config.json."""
  for row, by_seed in runs.items():
    for seed, results in by_seed.items():
      workdir = tables.run_dir(str(root), ROWS_BY_NAME[row], seed)
      os.makedirs(workdir)
      for name, content in (('results.json', results), ('config.json', config)):
        with open(os.path.join(workdir, name), 'w') as f:
          json.dump(content, f)


def _held(value, paper, nats):
  return 'yes' if abs(value - paper) <= nats else 'no'


def test_each_bound_and_order_is_compared_with_the_base_seed_by_seed(tmp_path):
  rng = np.random.default_rng()
  # The base has three seeds of CVAE and CMMA; the ablation seeds 0 and 2 of
  # CVAE and seed 1 of CMMA, each near the paper or 1 nat off.
  base = {'cvae': {s: {'conditional_multiple': -83.80 + rng.uniform(-1, 1)}
                   for s in (0, 1, 2)},
          'cmma': {s: {'conditional_multiple': -86.12 + rng.uniform(-1, 1)}
                   for s in (0, 1, 2)}}
  ours = {'cvae': {s: {'conditional_multiple': -83.80 + rng.uniform(-1, 1)}
                   for s in (0, 2)},
          'cmma': {1: {'conditional_multiple': -86.12 + rng.uniform(-1, 1)}}}
  _write_runs(tmp_path / 'base', base, {'train_examples': 60000,
                                        'epochs': 500})
  _write_runs(tmp_path / 'ours', ours, {'train_examples': 50000,
                                        'epochs': 500})
  rows = [ROWS_BY_NAME['vae'], ROWS_BY_NAME['cvae'], ROWS_BY_NAME['cmma']]
  paths = comparison.write_comparison(
      MNIST, str(tmp_path / 'base'), str(tmp_path / 'ours'),
      str(tmp_path / 'out'), rows, [0, 1, 2])
  assert sorted(map(os.path.basename, paths)) == ['comparison.csv',
                                                  'comparison.md']
  with open(tmp_path / 'out' / 'comparison.csv') as f:
    lines = list(csv.reader(f))

  def values(grid, row):
    return [run['conditional_multiple'] for run in grid[row].values()]

  def spread(v):
    text = (f'{np.mean(v):.2f} ± {np.std(v, ddof=1):.2f}' if len(v) > 1 else
            f'{v[0]:.2f}')
    return text + (f' ({len(v)} of 3 seeds)' if len(v) < 3 else '')

  cvae_paired = np.mean([ours['cvae'][s]['conditional_multiple']
                         - base['cvae'][s]['conditional_multiple']
                         for s in (0, 2)])
  cmma_paired = (ours['cmma'][1]['conditional_multiple']
                 - base['cmma'][1]['conditional_multiple'])
  means = {(grid, row): np.mean(values(runs, row))
           for grid, runs in (('base', base), ('ours', ours))
           for row in ('cvae', 'cmma')}
  gaps = {grid: means[grid, 'cvae'] - means[grid, 'cmma']
          for grid in ('base', 'ours')}
  # The VAE has no run in the ablation: no line.
  assert lines == [
      ['model', 'bound', 'paper', 'base', 'ours', 'ours - base, same seeds',
       'ours - paper', 'target', 'held: base', 'held: ours'],
      ['CVAE', 'conditional multiple', '-83.8', spread(values(base, 'cvae')),
       spread(values(ours, 'cvae')), f'{cvae_paired:+.2f} (seeds 0, 2)',
       f'{means["ours", "cvae"] + 83.80:+.2f}', 'within 0.3 nats',
       _held(means['base', 'cvae'], -83.80, 0.3),
       _held(means['ours', 'cvae'], -83.80, 0.3)],
      ['CMMA', 'conditional multiple', '-86.12', spread(values(base, 'cmma')),
       spread(values(ours, 'cmma')), f'{cmma_paired:+.2f} (seed 1)',
       f'{means["ours", "cmma"] + 86.12:+.2f}', 'within 0.3 nats',
       _held(means['base', 'cmma'], -86.12, 0.3),
       _held(means['ours', 'cmma'], -86.12, 0.3)],
      ['order', 'CVAE, conditional multiple above CMMA, conditional multiple',
       '+2.32', f'{gaps["base"]:+.2f}', f'{gaps["ours"]:+.2f}', '', '',
       'order', 'yes' if gaps['base'] > 0 else 'no',
       'yes' if gaps['ours'] > 0 else 'no']]

  held = {grid: [sum(abs(means[grid, row] - paper) <= 0.3
                     for row, paper in (('cvae', -83.80), ('cmma', -86.12))),
                 int(gaps[grid] > 0)] for grid in ('base', 'ours')}
  markdown = (tmp_path / 'out' / 'comparison.md').read_text()
  assert (f'Of the 2 cell and 1 order targets both grids have run, the base '
          f'holds {held["base"][0]} and {held["base"][1]}, these runs '
          f'{held["ours"][0]} and {held["ours"][1]}.') in markdown
  assert ('differ from the base in: train_examples 50000 (base: 60000).'
          in markdown)


def test_a_cell_the_base_lacks_counts_for_neither_grid(tmp_path):
  # The ablation trained a row the base never did: its line has no base and
  # its target counts in neither grid's tally.
  value = -89.20 + np.random.default_rng().uniform(-0.2, 0.2)
  _write_runs(tmp_path / 'ours', {'jmvae_kl_1': {0: {'joint': value}}}, {})
  os.makedirs(tmp_path / 'base')
  comparison.write_comparison(MNIST, str(tmp_path / 'base'),
                              str(tmp_path / 'ours'), str(tmp_path / 'out'),
                              [ROWS_BY_NAME['jmvae_kl_1']], [0])
  with open(tmp_path / 'out' / 'comparison.csv') as f:
    lines = list(csv.reader(f))
  assert lines[1] == ['JMVAE-kl, alpha=1', 'joint', '-89.28', '',
                      f'{value:.2f}', '', f'{value + 89.28:+.2f}',
                      'within 0.3 nats', '', 'yes']
  markdown = (tmp_path / 'out' / 'comparison.md').read_text()
  assert 'No target has run in both grids.' in markdown
  assert 'differ from the base in: nothing recorded.' in markdown


def test_no_runs_write_no_comparison(tmp_path):
  os.makedirs(tmp_path / 'base')
  assert comparison.write_comparison(
      MNIST, str(tmp_path / 'base'), str(tmp_path / 'ours'),
      str(tmp_path / 'out'), [ROWS_BY_NAME['cvae']], [0]) == []
  assert not os.path.exists(tmp_path / 'out')


@pytest.mark.parametrize('setting', ['epochs', 'decoder_layers'])
def test_the_settings_that_differ_are_named(tmp_path, setting):
  for name, value in (('base', 2), ('ours', 3)):
    _write_runs(tmp_path / name, {'vae': {0: {'marginal_single': -87.0}}},
                {setting: value, 'eval_k': 1000})
  assert comparison.describe_differences(
      MNIST, str(tmp_path / 'base'), str(tmp_path / 'ours'),
      [ROWS_BY_NAME['vae']], [0]) == f'{setting} 3 (base: 2)'


_ROOT = os.path.join(os.path.dirname(__file__), '..')


def _tables_binary(*flags):
  return subprocess.run(
      [sys.executable, '-m', 'experiments.tables', '--tables_only', *flags],
      cwd=_ROOT, capture_output=True, text=True, timeout=300)


def test_the_tables_binary_writes_the_comparison_it_is_asked_for(tmp_path):
  # The committed joint-encoder ablation against the 60,000-image grid it
  # changes one setting of, as its folder's comparison.md was written.
  ablation = 'results/mnist_paper/ablation_joint_encoder'
  result = _tables_binary(
      f'--root={ablation}/runs', f'--out_dir={tmp_path}',
      '--rows=cvae,jmvae_kl_1',
      '--compare_to=results/mnist_paper/ablation_train60k/runs')
  assert result.returncode == 0, result.stderr
  with open(os.path.join(_ROOT, ablation, 'comparison.md')) as f:
    assert (tmp_path / 'comparison.md').read_text() == f.read()
  assert f'wrote {tmp_path / "comparison.md"}' in result.stdout


def test_a_missing_base_grid_is_a_one_line_error(tmp_path):
  result = _tables_binary(f'--root={tmp_path}', '--rows=cvae',
                          f'--compare_to={tmp_path / "nowhere"}')
  assert result.returncode == 1
  assert result.stderr.strip().splitlines() == [
      f'error: --compare_to={tmp_path / "nowhere"} is not a directory; give '
      'the runs directory of the grid to compare with']
