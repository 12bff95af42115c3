"""The Table 2 runner: every paper number in its cell, a tiny grid fills them."""

import csv
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from jmvae_jax.report import tables
from jmvae_jax.tasks.celeba.config import CelebAConfig
from jmvae_jax.tasks.celeba.experiment import train_and_evaluate
from jmvae_jax.tasks.celeba.tables import CELEBA
from tests.celeba_fixture import TINY_RUN, fixture_faces

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = CelebAConfig(**TINY_RUN)
# The tables with the paper's numbers; coherence is written only when a run
# measured it (no run here has the attribute classifier).
PAPER_TABLES = [table for table in CELEBA.tables if table.from_paper]


def _read_tables(out_dir):
  """{table stem: (header, {row label: cells})} of the paper tables' CSVs."""
  found = {}
  for table in PAPER_TABLES:
    with open(os.path.join(out_dir, f'{table.stem}.csv')) as f:
      header, *body = list(csv.reader(f))
    found[table.stem] = (header, {line[0]: line[1:] for line in body})
  return found


def _paper_cells(table):
  """{(row label, column index of 'paper'): the paper's number} of one table."""
  cells = {}
  for row in CELEBA.rows:
    for i, (_, key) in enumerate(table.columns):
      if (row.name, key) in CELEBA.paper:
        cells[row.label, 3 * i] = CELEBA.paper[row.name, key]
  return cells


def test_tables_only_puts_every_paper_number_of_table_2_in_its_cell(tmp_path):
  logged = []
  paths = tables.reproduce(CELEBA, TINY, CELEBA.rows, [0],
                           train=train_and_evaluate,
                           root=str(tmp_path / 'runs'),
                           out_dir=str(tmp_path / 'out'), tables_only=True,
                           log=logged.append)
  assert len(paths) == 2 * len(PAPER_TABLES) < 2 * len(CELEBA.tables)
  assert not os.path.exists(tmp_path / 'out' / 'coherence.md')
  found = _read_tables(tmp_path / 'out')
  assert set(found['table2_marginal'][1]) == {'VAE-GAN', 'JMVAE-GAN'}
  assert set(found['table2_conditional'][1]) == {'CVAE-GAN', 'CMMA-GAN',
                                                 'JMVAE-GAN'}
  for table in PAPER_TABLES:
    _, body = found[table.stem]
    cells = _paper_cells(table)
    for label, line in body.items():
      papers = {i: float(line[i]) for i in range(0, len(line), 3) if line[i]}
      assert papers == {i: v for (row, i), v in cells.items() if row == label}
      assert not any(line[i] for i in range(len(line)) if i % 3)  # No runs.
  assert sum(len(_paper_cells(table)) for table in PAPER_TABLES) == 6
  budget = json.loads((tmp_path / 'out' / 'budget.json').read_text())
  assert budget['max_images'] is None and budget['seeds'] == [0]
  assert budget['image_log_prob'] == 'channel_mean'
  assert 'wall_seconds' not in budget  # Nothing was trained.
  assert any(m.startswith('### Table 2 (right)') for m in logged)


def test_runs_written_with_the_old_test_prefixed_names_still_tabulate(tmp_path):
  # CelebA's results.json named the bounds test_<bound> before it shared
  # MNIST's schema; such runs still fill their cells.
  value = -float(np.random.default_rng().uniform(5000, 7000))
  row = tables.select_rows(CELEBA, ['jmvae_gan'])[0]
  run = pathlib.Path(tables.run_dir(str(tmp_path), row, 0))
  run.mkdir(parents=True)
  (run / 'results.json').write_text(json.dumps(
      {'test_marginal_multiple': value, 'test_elbo': value - 1.0}))
  found = tables.collect(str(tmp_path), [row], [0])['jmvae_gan']
  assert found == {'marginal_multiple': [value], 'test_elbo': [value - 1.0]}


def test_binary_reports_an_unknown_row_in_one_line(tmp_path):
  result = subprocess.run(
      [sys.executable, '-m', 'experiments.celeba_tables', '--rows=cvae',
       f'--root={tmp_path}'], cwd=ROOT, capture_output=True, text=True,
      timeout=300)
  assert result.returncode != 0
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith(
      "error: unknown --rows ['cvae']; choose from vae_gan"), result.stderr


@pytest.mark.slow  # Four GAN runs on the fixture, each compiling its step.
def test_tiny_grid_fills_table_2_and_skips_finished_runs(tmp_path):
  faces = fixture_faces(tmp_path / 'data')
  root, out = str(tmp_path / 'runs'), str(tmp_path / 'out')
  messages = []
  tables.reproduce(CELEBA, TINY, CELEBA.rows, [0], train=train_and_evaluate,
                   root=root, out_dir=out, data=faces, log=messages.append)
  found = _read_tables(out)
  for table in PAPER_TABLES:
    _, body = found[table.stem]
    for label, i in _paper_cells(table):
      paper, ours, difference = body[label][i:i + 3]
      assert float(ours) < 0, (label, body[label])
      assert float(difference) == pytest.approx(
          float(ours) - float(paper), abs=0.011)
  for row in CELEBA.rows:
    results = json.loads(pathlib.Path(
        tables.run_dir(root, row, 0), 'results.json').read_text())
    assert results['model'] == row.model and results['alpha'] == row.alpha

  messages.clear()
  tables.reproduce(CELEBA, TINY, CELEBA.rows, [0], train=train_and_evaluate,
                   root=root, out_dir=out, data=faces, log=messages.append)
  skipped = [m for m in messages if m.endswith('finished, skipped')]
  assert len(skipped) == len(CELEBA.rows)
  assert _read_tables(out) == found
