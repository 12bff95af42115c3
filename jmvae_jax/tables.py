"""Reproduction of the paper's MNIST Tables 1 and 3: the grid, and the tables.

Each (row, seed) is an ordinary ``train_and_evaluate`` run in
ROOT/<row>/seed<seed>/, so a grid can be interrupted and resumed, finished runs
are skipped, and one row can be refreshed alone. The tables read only the runs'
results.json files and put the paper's number beside ours in every cell.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
from typing import Any, Callable, Sequence

import numpy as np

from jmvae_jax.config import Config
from jmvae_jax.data import mnist
from jmvae_jax.experiment import train_and_evaluate


@dataclasses.dataclass(frozen=True)
class Row:
  """One row of the tables: a model and its alpha."""

  name: str
  label: str
  model: str
  alpha: float = 0.0


ROWS = (
    Row('vae', 'VAE', 'vae'),
    Row('cvae', 'CVAE', 'cvae'),
    Row('cmma', 'CMMA', 'cmma'),
    Row('jmvae_zero', 'JMVAE-zero', 'jmvae_zero'),
    Row('jmvae_kl_0.01', 'JMVAE-kl, alpha=0.01', 'jmvae_kl', 0.01),
    Row('jmvae_kl_0.1', 'JMVAE-kl, alpha=0.1', 'jmvae_kl', 0.1),
    Row('jmvae_kl_1', 'JMVAE-kl, alpha=1', 'jmvae_kl', 1.0),
)
ROWS_BY_NAME = {row.name: row for row in ROWS}


@dataclasses.dataclass(frozen=True)
class Table:
  """One table: its title, file stem, and (column title, results.json key) pairs."""

  stem: str
  title: str
  columns: tuple[tuple[str, str], ...]


TABLES = (
    Table('table1_marginal', 'Table 1 (left): test marginal log p(x), nats',
          (('multiple', 'marginal_multiple'), ('single', 'marginal_single'))),
    Table('table1_conditional',
          'Table 1 (right): test conditional log p(x|w), nats',
          (('multiple', 'conditional_multiple'),
           ('single', 'conditional_single'))),
    Table('table3_joint', 'Table 3: test joint log p(x,w), nats',
          (('joint', 'joint'),)),
)

# The paper's numbers (NOTES.md), keyed by (row, results.json key). The VAE has
# only q(z|x), so its Table 1 entry is a single bound.
PAPER = {
    ('vae', 'marginal_single'): -86.91,
    ('jmvae_zero', 'marginal_multiple'): -86.89,
    ('jmvae_zero', 'marginal_single'): -86.89,
    ('jmvae_kl_0.01', 'marginal_multiple'): -86.89,
    ('jmvae_kl_0.01', 'marginal_single'): -86.55,
    ('jmvae_kl_0.1', 'marginal_multiple'): -86.86,
    ('jmvae_kl_0.1', 'marginal_single'): -86.73,
    ('jmvae_kl_1', 'marginal_multiple'): -89.20,
    ('jmvae_kl_1', 'marginal_single'): -89.20,
    ('cvae', 'conditional_multiple'): -83.80,
    ('cmma', 'conditional_multiple'): -86.12,
    ('jmvae_zero', 'conditional_multiple'): -84.64,
    ('jmvae_zero', 'conditional_single'): -4838.0,
    ('jmvae_kl_0.01', 'conditional_multiple'): -84.61,
    ('jmvae_kl_0.01', 'conditional_single'): -129.6,
    ('jmvae_kl_0.1', 'conditional_multiple'): -84.72,
    ('jmvae_kl_0.1', 'conditional_single'): -126.0,
    ('jmvae_kl_1', 'conditional_multiple'): -86.97,
    ('jmvae_kl_1', 'conditional_single'): -112.7,
    ('jmvae_zero', 'joint'): -86.96,
    ('jmvae_kl_0.01', 'joint'): -86.94,
    ('jmvae_kl_0.1', 'joint'): -86.93,
    ('jmvae_kl_1', 'joint'): -89.28,
}


def run_dir(root: str, row: Row, seed: int) -> str:
  return os.path.join(root, row.name, f'seed{seed}')


def _finished(workdir: str, config: Config) -> bool:
  path = os.path.join(workdir, 'results.json')
  if not os.path.exists(path):
    return False
  with open(path) as f:
    results = json.load(f)
  return (results.get('epoch') == config.epochs
          and results.get('eval_k') == config.eval_k)


def run_grid(root: str, rows: Sequence[Row], seeds: Sequence[int],
             base: Config, *, data: mnist.LabelledImages | None = None,
             log: Callable[[str], None] = print) -> None:
  """Trains and evaluates every (row, seed) not already finished under ``root``.

  A run counts as finished when its results.json has the requested epochs and
  eval_k; an unfinished one resumes from its last checkpoint. ``data`` defaults
  to MNIST from base.data_dir.
  """
  for row in rows:
    for seed in seeds:
      config = dataclasses.replace(base, model=row.model, alpha=row.alpha,
                                   seed=seed)
      workdir = run_dir(root, row, seed)
      if _finished(workdir, config):
        log(f'{row.label}, seed {seed}: finished, skipped')
        continue
      log(f'{row.label}, seed {seed}: training in {workdir}')
      train_and_evaluate(config, workdir, data=data, log=log)


def collect(root: str, rows: Sequence[Row], seeds: Sequence[int]
            ) -> dict[str, dict[str, list[float]]]:
  """{row name: {results key: [value per seed found]}} from the runs' results.json."""
  found: dict[str, dict[str, list[float]]] = {}
  for row in rows:
    values: dict[str, list[float]] = {}
    for seed in seeds:
      path = os.path.join(run_dir(root, row, seed), 'results.json')
      if not os.path.exists(path):
        continue
      with open(path) as f:
        results = json.load(f)
      for key, value in results.items():
        if isinstance(value, (int, float)):
          values.setdefault(key, []).append(float(value))
    found[row.name] = values
  return found


def _ours(values: list[float]) -> str:
  if not values:
    return ''
  if len(values) == 1:
    return f'{values[0]:.2f}'
  return f'{np.mean(values):.2f} ± {np.std(values, ddof=1):.2f}'


def _cells(row: Row, key: str, found: dict[str, dict[str, list[float]]]
           ) -> tuple[str, str, str]:
  """(paper, ours, ours - paper) for one cell; '' where there is none."""
  paper = PAPER.get((row.name, key))
  values = found.get(row.name, {}).get(key, [])
  difference = (f'{np.mean(values) - paper:+.2f}'
                if values and paper is not None else '')
  return ('' if paper is None else f'{paper:g}', _ours(values), difference)


def table_rows(table: Table, rows: Sequence[Row],
               found: dict[str, dict[str, list[float]]]) -> list[list[str]]:
  """The header and one line per row that has a paper number or a result."""
  header = ['model']
  for title, _ in table.columns:
    header += [f'{title}: paper', f'{title}: ours', f'{title}: ours - paper']
  lines = [header]
  for row in rows:
    cells = [c for _, key in table.columns for c in _cells(row, key, found)]
    if any(cells):
      lines.append([row.label] + cells)
  return lines


def to_markdown(title: str, lines: list[list[str]], note: str = '') -> str:
  out = [f'### {title}', '', '| ' + ' | '.join(lines[0]) + ' |',
         '|' + '---|' * len(lines[0])]
  out += ['| ' + ' | '.join(line) + ' |' for line in lines[1:]]
  return '\n'.join(out + ([''] + [note] if note else [])) + '\n'


def to_csv(lines: list[list[str]]) -> str:
  buffer = io.StringIO()
  csv.writer(buffer, lineterminator='\n').writerows(lines)
  return buffer.getvalue()


def write_tables(root: str, out_dir: str, rows: Sequence[Row],
                 seeds: Sequence[int], note: str = '') -> list[str]:
  """Writes each table as Markdown and CSV into ``out_dir``; returns the paths."""
  found = collect(root, rows, seeds)
  os.makedirs(out_dir, exist_ok=True)
  paths = []
  for table in TABLES:
    lines = table_rows(table, rows, found)
    for suffix, text in (('md', to_markdown(table.title, lines, note)),
                         ('csv', to_csv(lines))):
      path = os.path.join(out_dir, f'{table.stem}.{suffix}')
      with open(path, 'w') as f:
        f.write(text)
      paths.append(path)
  return paths


def describe_budget(base: Config, seeds: Sequence[int]) -> dict[str, Any]:
  """The settings that fix a grid's budget, for the record beside the tables."""
  return {'epochs': base.epochs, 'warmup_epochs': base.warmup_epochs,
          'eval_k': base.eval_k, 'eval_prior_samples': base.eval_prior_samples,
          'seeds': list(seeds)}
