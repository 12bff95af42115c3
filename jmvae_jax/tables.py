"""Reproduction of the paper's tables: the grid of runs, and the tables.

A ``TableSet`` holds one data set's rows, tables and paper numbers: ``MNIST``
here (Tables 1 and 3), ``jmvae_jax.celeba_tables.CELEBA`` (Table 2). Each
(row, seed) is an ordinary ``train_and_evaluate`` run of the set's data set in
ROOT/<row>/seed<seed>/, so a grid can be interrupted and resumed, finished runs
are skipped, and one row can be refreshed alone. The tables read only the runs'
results.json files and put the paper's number beside ours in every cell.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import os
import time
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from jmvae_jax import grid
from jmvae_jax.errors import UserError
from jmvae_jax.evaluation import format_duration
from jmvae_jax.experiment import train_and_evaluate
from jmvae_jax.workdir import write_json_atomically

# A run's settings: jmvae_jax.config.Config or celeba_config.CelebAConfig.
RunConfig = Any


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


@dataclasses.dataclass(frozen=True)
class TableSet:
  """One data set's tables: what to run, what to tabulate, what to compare with.

  Attributes:
    rows: the models, in table order.
    tables: the tables.
    paper: the paper's numbers, keyed by (row name, results.json key).
    train: the data set's ``train_and_evaluate(config, workdir, *, data,
      log)``.
    budget_fields: the settings that fix a grid's budget, recorded beside the
      tables.
    paper_budget: the paper's budget, in words, for the tables' note.
    train_grid: the data set's ``grid.train_grid(configs, workdirs, grid_dir,
      *, data, log)``, if its runs can train as one program.
  """

  rows: tuple[Row, ...]
  tables: tuple[Table, ...]
  paper: Mapping[tuple[str, str], float]
  train: Callable[..., dict[str, Any]]
  budget_fields: tuple[str, ...]
  paper_budget: str
  train_grid: Callable[..., None] | None = None

  @property
  def rows_by_name(self) -> dict[str, Row]:
    return {row.name: row for row in self.rows}


MNIST = TableSet(
    ROWS, TABLES, PAPER, train_and_evaluate,
    budget_fields=('epochs', 'warmup_epochs', 'train_examples', 'grad_clip_norm',
                   'adam_eps', 'decoder_layers', 'eval_k', 'eval_prior_samples'),
    paper_budget='Paper: 500 epochs, warm-up 200, k=1000, 5000 prior samples.',
    train_grid=grid.train_grid)
ROWS_BY_NAME = MNIST.rows_by_name


def run_dir(root: str, row: Row, seed: int) -> str:
  return os.path.join(root, row.name, f'seed{seed}')


def _finished(workdir: str, config: RunConfig) -> bool:
  path = os.path.join(workdir, 'results.json')
  if not os.path.exists(path):
    return False
  with open(path) as f:
    results = json.load(f)
  return (results.get('epoch') == config.epochs
          and results.get('eval_k') == config.eval_k)


def run_grid(root: str, rows: Sequence[Row], seeds: Sequence[int],
             base: RunConfig, *, data: Any = None,
             log: Callable[[str], None] = print,
             table_set: TableSet = MNIST, as_grids: bool = False) -> None:
  """Trains and evaluates every (row, seed) not already finished under ``root``.

  A run counts as finished when its results.json has the requested epochs and
  eval_k; an unfinished one resumes from its last checkpoint. ``base`` is the
  table set's run config; ``data`` defaults to the data set in base.data_dir.
  After each run, ``log`` gets a line with the grid's progress and ETA (see
  ``progress_line``).

  With ``as_grids`` (and a table set that has ``train_grid``), the runs not
  yet started are first trained as one program per model type (e.g. the
  three JMVAE-kl alphas x the seeds; see ``jmvae_jax.grid``), in
  ROOT/_grids/; the loop then only evaluates them. Runs already started
  continue on their own.
  """
  pending = []
  for row in rows:
    for seed in seeds:
      config = dataclasses.replace(base, model=row.model, alpha=row.alpha,
                                   seed=seed)
      workdir = run_dir(root, row, seed)
      if _finished(workdir, config):
        log(f'{row.label}, seed {seed}: finished, skipped')
      else:
        pending.append((row, seed, config, workdir))
  if as_grids:
    _train_fresh_runs_as_grids(pending, table_set, root, data, log)
  start = time.perf_counter()
  for done, (row, seed, config, workdir) in enumerate(pending, 1):
    log(f'{row.label}, seed {seed}: training in {workdir} '
        f'(run {done} of {len(pending)})')
    table_set.train(config, workdir, data=data, log=log)
    log(progress_line(done, len(pending), time.perf_counter() - start))


def _train_fresh_runs_as_grids(pending: list[tuple[Row, int, RunConfig, str]],
                               table_set: TableSet, root: str, data: Any,
                               log: Callable[[str], None]) -> None:
  """Trains the pending runs without checkpoints, one grid per model type."""
  groups: dict[str, list[tuple[RunConfig, str]]] = {}
  for _, _, config, workdir in pending:
    if not os.path.isdir(os.path.join(workdir, 'checkpoints')):
      groups.setdefault(config.model, []).append((config, workdir))
  for model, members in groups.items():
    if len(members) < 2 or table_set.train_grid is None:
      continue
    configs, workdirs = zip(*members)
    name = hashlib.sha1('\n'.join(workdirs).encode()).hexdigest()[:8]
    log(f'training {len(members)} {model} runs as one program')
    table_set.train_grid(list(configs), list(workdirs),
                         os.path.join(root, '_grids', f'{model}-{name}'),
                         data=data, log=log)


def progress_line(done: int, total: int, elapsed: float) -> str:
  """The grid's progress after ``done`` of ``total`` runs took ``elapsed`` s.

  The ETA assumes each remaining run takes the mean time of the finished ones.
  """
  eta = elapsed / done * (total - done)
  return (f'grid: {done} of {total} runs done, elapsed '
          f'{format_duration(elapsed)}, ETA {format_duration(eta)}')


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


def _cells(row: Row, key: str, found: dict[str, dict[str, list[float]]],
           paper_numbers: Mapping[tuple[str, str], float]
           ) -> tuple[str, str, str]:
  """(paper, ours, ours - paper) for one cell; '' where there is none."""
  paper = paper_numbers.get((row.name, key))
  values = found.get(row.name, {}).get(key, [])
  difference = (f'{np.mean(values) - paper:+.2f}'
                if values and paper is not None else '')
  return ('' if paper is None else f'{paper:g}', _ours(values), difference)


def table_rows(table: Table, rows: Sequence[Row],
               found: dict[str, dict[str, list[float]]],
               paper: Mapping[tuple[str, str], float] = PAPER
               ) -> list[list[str]]:
  """The header and one line per row that has a paper number or a result."""
  header = ['model']
  for title, _ in table.columns:
    header += [f'{title}: paper', f'{title}: ours', f'{title}: ours - paper']
  lines = [header]
  for row in rows:
    cells = [c for _, key in table.columns
             for c in _cells(row, key, found, paper)]
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
                 seeds: Sequence[int], note: str = '',
                 table_set: TableSet = MNIST) -> list[str]:
  """Writes each table as Markdown and CSV into ``out_dir``; returns the paths."""
  found = collect(root, rows, seeds)
  os.makedirs(out_dir, exist_ok=True)
  paths = []
  for table in table_set.tables:
    lines = table_rows(table, rows, found, table_set.paper)
    for suffix, text in (('md', to_markdown(table.title, lines, note)),
                         ('csv', to_csv(lines))):
      path = os.path.join(out_dir, f'{table.stem}.{suffix}')
      with open(path, 'w') as f:
        f.write(text)
      paths.append(path)
  return paths


def describe_budget(base: RunConfig, seeds: Sequence[int],
                    table_set: TableSet = MNIST) -> dict[str, Any]:
  """The settings that fix a grid's budget, for the record beside the tables."""
  return {**{name: getattr(base, name) for name in table_set.budget_fields},
          'seeds': list(seeds)}


def select_rows(table_set: TableSet, names: Sequence[str]) -> list[Row]:
  """The rows called ``names``; UserError for a name the set does not have."""
  unknown = [name for name in names if name not in table_set.rows_by_name]
  if unknown:
    raise UserError(f'unknown --rows {unknown}; choose from '
                    f'{", ".join(table_set.rows_by_name)}')
  return [table_set.rows_by_name[name] for name in names]


def parse_seeds(values: Sequence[str]) -> list[int]:
  """--seeds as integers; UserError if one is not."""
  try:
    return [int(value) for value in values]
  except ValueError:
    raise UserError(f'--seeds must be integers, got {list(values)}') from None


def reproduce(table_set: TableSet, base: RunConfig, rows: Sequence[Row],
              seeds: Sequence[int], *, root: str, out_dir: str,
              tables_only: bool = False, as_grids: bool = False,
              data: Any = None,
              log: Callable[[str], None] = print) -> list[str]:
  """What a tables binary does: runs the grid, then writes the tables.

  Writes every table of ``table_set`` as Markdown and CSV, with the budget
  and the paper's in a note, and OUT_DIR/budget.json (the budget and the wall
  time), then logs each table's Markdown and last the paths written.

  Args:
    table_set: the data set's tables.
    base: the settings every run shares; ``run_grid`` sets the model, alpha
      and seed of each.
    rows: the rows to run and tabulate.
    seeds: one run per row and seed; several give mean ± std.
    root: the runs' directory.
    out_dir: where the tables and budget.json go.
    tables_only: only tabulate the runs already in ``root``.
    as_grids: train runs not yet started as one program per model type (see
      ``run_grid``).
    data: passed to every run (default: each loads base.data_dir).
    log: receives progress lines and the tables.

  Returns:
    The paths of the tables.
  """
  start = time.perf_counter()
  if not tables_only:
    run_grid(root, rows, seeds, base, data=data, log=log, table_set=table_set,
             as_grids=as_grids)
  budget = describe_budget(base, seeds, table_set)
  note = f'Budget: {json.dumps(budget)}. {table_set.paper_budget}'
  paths = write_tables(root, out_dir, rows, seeds, note=note,
                       table_set=table_set)
  budget_path = os.path.join(out_dir, 'budget.json')
  write_json_atomically(
      budget_path,
      json.dumps(dict(budget, wall_seconds=time.perf_counter() - start),
                 indent=2))
  for path in paths:
    if path.endswith('.md'):
      with open(path) as f:
        log(f.read())
  log(f'wrote the tables (Markdown and CSV) and the budget into '
      f'{os.path.abspath(out_dir)}:')
  for path in paths + [budget_path]:
    log(f'  {os.path.abspath(path)}')
  return paths
