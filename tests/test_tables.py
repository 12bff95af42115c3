"""The Tables 1/3 runner on a tiny budget: every row and column gets filled."""

import csv
import dataclasses
import json

import pytest

from jmvae_jax import tables
from jmvae_jax.config import Config
from tests.synthetic import labelled_blobs

TINY = Config(epochs=1, warmup_epochs=1, batch_size=50, latent_dim=4,
              hidden_width=16, eval_k=3, eval_prior_samples=5,
              eval_batch_size=50, eval_chunk_size=3)


@pytest.mark.slow  # 14 tiny runs, each compiling its own step: minutes.
def test_tiny_grid_fills_every_cell_and_skips_finished_runs(tmp_path):
  data = labelled_blobs(num_train=100, num_test=50)
  messages = []
  tables.run_grid(str(tmp_path), tables.ROWS, [0, 1], TINY, data=data,
                  log=messages.append)
  paths = tables.write_tables(str(tmp_path), str(tmp_path / 'out'), tables.ROWS,
                              [0, 1], note='tiny budget')
  assert len(paths) == 2 * len(tables.TABLES)

  for table in tables.TABLES:
    with open(tmp_path / 'out' / f'{table.stem}.csv') as f:
      lines = list(csv.reader(f))
    header, body = lines[0], lines[1:]
    # Every row the paper reports for this table is present, every paper cell
    # has ours and a difference beside it, and two seeds give mean ± std.
    expected_rows = {row.label for row in tables.ROWS
                     if any((row.name, key) in tables.PAPER
                            for _, key in table.columns)}
    assert {line[0] for line in body} == expected_rows
    for line in body:
      for i in range(1, len(header), 3):
        paper, ours, difference = line[i:i + 3]
        if paper:
          assert ' ± ' in ours and difference.startswith(('+', '-')), line
    markdown = (tmp_path / 'out' / f'{table.stem}.md').read_text()
    assert markdown.startswith(f'### {table.title}') and 'tiny budget' in markdown

  # A second call finds every run finished and trains nothing.
  messages.clear()
  tables.run_grid(str(tmp_path), tables.ROWS, [0, 1], TINY, data=data,
                  log=messages.append)
  assert len(messages) == 2 * len(tables.ROWS)
  assert all(m.endswith('finished, skipped') for m in messages)

  # A larger budget for one row resumes that row only.
  more = dataclasses.replace(TINY, epochs=2)
  messages.clear()
  tables.run_grid(str(tmp_path), [tables.ROWS_BY_NAME['cvae']], [0], more,
                  data=data, log=messages.append)
  results = json.loads((tmp_path / 'cvae' / 'seed0' / 'results.json').read_text())
  assert results['epoch'] == 2
  assert any('resuming from the checkpoint after epoch 1' in m for m in messages)
