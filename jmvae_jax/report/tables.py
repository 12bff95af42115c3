"""Reproduction of the paper's tables: the grid of runs, and the tables.

A ``TableSet`` holds one data set's rows, tables and paper numbers
(``jmvae_jax.tasks.mnist.tables.MNIST``: Tables 1 and 3,
``jmvae_jax.tasks.celeba.tables.CELEBA``: Table 2). Each (row, seed) is an
ordinary run of the data set's ``train_and_evaluate`` in
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
import math
import os
import time
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from jmvae_jax.errors import UserError
from jmvae_jax.report import targets as targets_lib
from jmvae_jax.training.evaluation import (OUTLIER_FRACTION, TAIL_TOLERANCE,
                                            WITHOUT_OUTLIERS, format_duration)
from jmvae_jax.training.workdir import WorkdirInUse, write_json_atomically

# A run's settings: a data set's config dataclass.
RunConfig = Any
# A data set's ``train_and_evaluate(config, workdir, *, data, log)``.
TrainFn = Callable[..., dict[str, Any]]
# A data set's ``train_grid(configs, workdirs, grid_dir, *, data, log)``,
# training its runs as one program (``jmvae_jax.tasks.mnist.grid``).
TrainGridFn = Callable[..., None]


@dataclasses.dataclass(frozen=True)
class Row:
  """One row of the tables: a model and its alpha."""

  name: str
  label: str
  model: str
  alpha: float = 0.0


@dataclasses.dataclass(frozen=True)
class Table:
  """One table of results.json values, the paper's beside ours.

  Attributes:
    stem: the file name, without .md or .csv.
    title: the heading.
    columns: (column title, results.json key) pairs.
    from_paper: whether the paper reports these numbers (then each column
      shows the paper's, ours and the difference; else ours alone).
    decimals: digits after the point (nats: 2; fractions such as
      coherence: 3).
  """

  stem: str
  title: str
  columns: tuple[tuple[str, str], ...]
  from_paper: bool = True
  decimals: int = 2


def coherence_table(given: str, generated: str) -> Table:
  """The coherence of a two-modality data set's runs (not in the paper).

  Columns: ``generated`` drawn from ``given`` (the paper's conditional
  generation, e.g. label -> image), the reverse, and unconditional; the
  results.json keys of ``jmvae_jax.metrics.coherence``. Runs report them
  when their data set's classifier is cached.
  """
  return Table(
      'coherence', 'Coherence: the fraction of what is generated that an '
      'independent classifier reads as right',
      ((f'{given} -> {generated}', f'coherence/{given}->{generated}'),
       (f'{generated} -> {given}', f'coherence/{generated}->{given}'),
       ('unconditional', 'coherence_unconditional')),
      from_paper=False, decimals=3)


@dataclasses.dataclass(frozen=True)
class TableSet:
  """One data set's tables: what to run, what to tabulate, what to compare with.

  Attributes:
    rows: the models, in table order.
    tables: the tables.
    paper: the paper's numbers, keyed by (row name, results.json key).
    budget_fields: the settings that fix a grid's budget, recorded beside the
      tables.
    paper_budget: the paper's budget, in words, for the tables' note.
    comparable: whether a run's settings (config.json's values) are on the
      paper's footing, so that its numbers may stand beside the paper's.
    more_rows: models the paper does not have (MNIST: the successors of
      JMVAE), run and tabulated only when named (``--rows``).
    targets: how close a reproduction must come to ``paper``
      (``jmvae_jax.report.targets``), checked in targets.md.
    run_settings: a run's config.json as the settings it trained with (a
      setting added after the run was written counts at its default, as on
      resume), for comparing two grids' settings.
  """

  rows: tuple[Row, ...]
  tables: tuple[Table, ...]
  paper: Mapping[tuple[str, str], float]
  budget_fields: tuple[str, ...]
  paper_budget: str
  comparable: Callable[[Mapping[str, Any]], bool] = lambda config: True
  more_rows: tuple[Row, ...] = ()
  targets: tuple[targets_lib.Target, ...] = ()
  run_settings: Callable[[Mapping[str, Any]], Mapping[str, Any]] = (
      lambda config: config)

  @property
  def rows_by_name(self) -> dict[str, Row]:
    """Every row, the paper's and the others, by name."""
    return {row.name: row for row in self.rows + self.more_rows}

  def paper_numbers(self, config: Mapping[str, Any]
                    ) -> tuple[dict[str, float], str]:
    """The paper's numbers for a run: ({results key: nats}, budget in words).

    Empty when the paper has no row for the run's model (or for its alpha:
    JMVAE-kl is reported at alpha 0.01, 0.1 and 1 only), or when the run is
    not ``comparable``.
    """
    if not self.comparable(config):
      return {}, ''
    alpha = config.get('alpha', 0.0)
    for row in self.rows:
      if row.model == config.get('model') and (
          row.alpha == 0.0 or math.isclose(row.alpha, alpha)):
        return ({key: value for (name, key), value in self.paper.items()
                 if name == row.name}, self.paper_budget)
    return {}, ''


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
             base: RunConfig, *, train: TrainFn,
             train_grid: TrainGridFn | None = None, data: Any = None,
             log: Callable[[str], None] = print,
             as_grids: bool = False, skip_busy: bool = False) -> None:
  """Trains and evaluates every (row, seed) not already finished under ``root``.

  A run counts as finished when its results.json has the requested epochs and
  eval_k; an unfinished one resumes from its last checkpoint. ``base`` is the
  data set's run config, ``train`` its ``train_and_evaluate``; ``data``
  defaults to the data set in base.data_dir.
  After each run, ``log`` gets a line with the grid's progress and ETA (see
  ``progress_line``).

  With ``skip_busy``, a run that another process is training (its workdir
  locked: ``WorkdirInUse``) is skipped instead of stopping the grid, so that
  several processes started with the same grid share it: each takes the next
  run that is neither finished nor held. Whether a run is finished is checked
  again just before it starts, since another process may have finished it.

  With ``as_grids`` (and a data set that has a ``train_grid``), the runs not
  yet started are first trained as one program per model type (e.g. the
  three JMVAE-kl alphas x the seeds; see ``jmvae_jax.tasks.mnist.grid``), in
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
    _train_fresh_runs_as_grids(pending, train_grid, root, data, log)
  start, trained = time.perf_counter(), 0
  for number, (row, seed, config, workdir) in enumerate(pending, 1):
    if _finished(workdir, config):
      log(f'{row.label}, seed {seed}: finished by another process, skipped')
      continue
    log(f'{row.label}, seed {seed}: training in {workdir} '
        f'(run {number} of {len(pending)})')
    try:
      train(config, workdir, data=data, log=log)
    except WorkdirInUse as busy:
      if not skip_busy:
        raise
      log(f'{row.label}, seed {seed}: another process is training it '
          f'({busy.holder}), skipped')
      continue
    trained += 1
    finished = sum(_finished(w, c) for _, _, c, w in pending)
    log(progress_line(finished, len(pending), trained,
                      time.perf_counter() - start, shared=skip_busy))


def _train_fresh_runs_as_grids(pending: list[tuple[Row, int, RunConfig, str]],
                               train_grid: TrainGridFn | None, root: str,
                               data: Any,
                               log: Callable[[str], None]) -> None:
  """Trains the pending runs without checkpoints, one grid per model type."""
  groups: dict[str, list[tuple[RunConfig, str]]] = {}
  for _, _, config, workdir in pending:
    if not os.path.isdir(os.path.join(workdir, 'checkpoints')):
      groups.setdefault(config.model, []).append((config, workdir))
  for model, members in groups.items():
    if len(members) < 2 or train_grid is None:
      continue
    configs, workdirs = zip(*members)
    name = hashlib.sha1('\n'.join(workdirs).encode()).hexdigest()[:8]
    log(f'training {len(members)} {model} runs as one program')
    train_grid(list(configs), list(workdirs),
                         os.path.join(root, '_grids', f'{model}-{name}'),
                         data=data, log=log)


def progress_line(finished: int, total: int, trained: int, elapsed: float, *,
                  shared: bool = False) -> str:
  """The grid's progress: ``finished`` of its ``total`` runs are finished (by
  any process), ``trained`` of them by this one in ``elapsed`` seconds.

  The ETA assumes each run left takes the mean time of those this process
  trained. With ``shared`` (several processes started with --skip_busy), the
  others train some of the runs left, so it says that it is for this process
  alone: an upper bound.
  """
  eta = elapsed / trained * (total - finished)
  return (f'grid: {finished} of {total} runs finished, {trained} trained here '
          f'in {format_duration(elapsed)}, ETA {format_duration(eta)}'
          + (' if no other process shared the rest' if shared else ''))


# The importance-weighted bounds of results.json; CelebA runs written before
# CelebA and MNIST shared one schema named them test_<bound>.
_BOUNDS = ('marginal_multiple', 'marginal_single', 'conditional_multiple',
           'conditional_single', 'joint')


def _current_name(key: str) -> str:
  legacy = key.removeprefix('test_')
  return legacy if legacy in _BOUNDS else key


def collect_by_seed(root: str, rows: Sequence[Row], seeds: Sequence[int]
                    ) -> dict[str, dict[int, dict[str, float]]]:
  """{row name: {seed: {results key: value}}} for the runs whose results.json
  exists."""
  found: dict[str, dict[int, dict[str, float]]] = {}
  for row in rows:
    found[row.name] = {}
    for seed in seeds:
      path = os.path.join(run_dir(root, row, seed), 'results.json')
      if not os.path.exists(path):
        continue
      with open(path) as f:
        results = json.load(f)
      found[row.name][seed] = {
          _current_name(key): float(value) for key, value in results.items()
          if isinstance(value, (int, float))}
  return found


def collect(root: str, rows: Sequence[Row], seeds: Sequence[int]
            ) -> dict[str, dict[str, list[float]]]:
  """{row name: {results key: [value per seed found]}} from the runs' results.json."""
  return pool_seeds(collect_by_seed(root, rows, seeds))


def pool_seeds(by_seed: Mapping[str, Mapping[int, Mapping[str, float]]]
               ) -> dict[str, dict[str, list[float]]]:
  """``collect_by_seed``'s values as {row name: {key: [value per seed]}}."""
  found: dict[str, dict[str, list[float]]] = {}
  for name, runs in by_seed.items():
    found[name] = {}
    for results in runs.values():
      for key, value in results.items():
        found[name].setdefault(key, []).append(value)
  return found


def cell_means(found: Mapping[str, Mapping[str, Sequence[float]]]
               ) -> dict[targets_lib.Cell, float]:
  """{(row name, key): mean over seeds} of ``collect``'s values."""
  return {(name, key): float(np.mean(values))
          for name, by_key in found.items()
          for key, values in by_key.items() if values}


def format_nats(value: float, decimals: int = 2, sign: bool = False) -> str:
  """A bound in nats for a table: fixed point, or in scientific notation from
  a million on (a collapsed bound such as JMVAE-zero's single conditional,
  -1.70e+16, whose digits would otherwise fill the column); ``sign`` writes
  '+' before a value >= 0 (a difference)."""
  spec = f'{"+" if sign else ""}.{decimals}{"f" if abs(value) < 1e6 else "e"}'
  return format(value, spec)


def format_mean(values: Sequence[float], decimals: int = 2,
                num_seeds: int = 1) -> str:
  """A cell of ours: the value, or mean ± standard deviation over seeds, and how
  many seeds it has when fewer than the ``num_seeds`` asked for have finished."""
  if not values:
    return ''
  text = (format_nats(values[0], decimals) if len(values) == 1 else
          f'{format_nats(float(np.mean(values)), decimals)} ± '
          f'{format_nats(float(np.std(values, ddof=1)), decimals)}')
  if len(values) < num_seeds:
    text += f' ({len(values)} of {num_seeds} seeds)'
  return text


# Follows a value that a handful of test examples set (on at least one seed:
# the run's results.json has the bound's mean without them), and the note of
# a page that has one.
TAIL_MARK = ' †'
TAIL_NOTE = (
    f'† The {OUTLIER_FRACTION:.1%} of test examples farthest from the median '
    f'move this mean by more than {TAIL_TOLERANCE:g} nats on at least one seed '
    f'(seeds.md marks which, when there are several); that run\'s results.json '
    f'also has the mean without them (<bound>{WITHOUT_OUTLIERS}).')


def _tail_mark(results: Mapping[str, Any], key: str) -> str:
  """``TAIL_MARK`` if a handful of test examples set ``key``'s value in
  ``results`` (one run's, or {key: [value per seed]}), else ''."""
  return TAIL_MARK if key + WITHOUT_OUTLIERS in results else ''


def _cells(table: Table, row: Row, key: str,
           found: dict[str, dict[str, list[float]]],
           paper_numbers: Mapping[tuple[str, str], float], num_seeds: int
           ) -> tuple[str, ...]:
  """(paper, ours, ours - paper) for one cell, or (ours,) for a table the
  paper does not have; '' where there is none."""
  values = found.get(row.name, {}).get(key, [])
  ours = format_mean(values, table.decimals, num_seeds)
  if ours:
    ours += _tail_mark(found[row.name], key)
  if not table.from_paper:
    return (ours,)
  paper = paper_numbers.get((row.name, key))
  difference = ('' if not values or paper is None else format_nats(
      float(np.mean(values)) - paper, table.decimals, sign=True))
  return ('' if paper is None else f'{paper:g}', ours, difference)


def table_rows(table: Table, rows: Sequence[Row],
               found: dict[str, dict[str, list[float]]],
               paper: Mapping[tuple[str, str], float], num_seeds: int = 1
               ) -> list[list[str]]:
  """The header and one line per row that has a paper number or a result;
  ``num_seeds``: how many seeds were asked for."""
  header = ['model']
  for title, _ in table.columns:
    header += ([f'{title}: paper', f'{title}: ours', f'{title}: ours - paper']
               if table.from_paper else [title])
  lines = [header]
  for row in rows:
    cells = [c for _, key in table.columns
             for c in _cells(table, row, key, found, paper, num_seeds)]
    if any(cells):
      lines.append([row.label] + cells)
  return lines


def paper_bound_keys(table_set: TableSet) -> list[str]:
  """The results.json keys of the tables the paper has, in table order."""
  return list(dict.fromkeys(key for table in table_set.tables
                            if table.from_paper for _, key in table.columns))


def seed_rows(table_set: TableSet, rows: Sequence[Row],
              by_seed: Mapping[str, Mapping[int, Mapping[str, float]]],
              seeds: Sequence[int]) -> list[list[str]]:
  """Each bound of the paper's tables, seed by seed: the spread behind a mean.

  Returns the header and one line per (row, bound) with a result: the model,
  the bound, the paper's number, the value of each of ``seeds`` ('' for a
  seed not finished), mean ± standard deviation over the seeds found, and
  mean - paper.
  """
  keys = paper_bound_keys(table_set)
  lines = [['model', 'bound', 'paper'] + [f'seed {seed}' for seed in seeds]
           + ['mean ± sd', 'mean - paper']]
  for row in rows:
    runs = by_seed.get(row.name, {})
    for key in keys:
      values = [runs[seed][key] for seed in seeds
                if key in runs.get(seed, {})]
      if not values:
        continue
      paper = table_set.paper.get((row.name, key))
      lines.append(
          [row.label, key.replace('_', ' '),
           '' if paper is None else f'{paper:g}']
          + [format_nats(runs[seed][key]) + _tail_mark(runs[seed], key)
             if key in runs.get(seed, {}) else '' for seed in seeds]
          + [format_mean(values),
             '' if paper is None else
             format_nats(float(np.mean(values)) - paper, sign=True)])
  return lines


def cell_name(cell: targets_lib.Cell, labels: Mapping[str, str]) -> str:
  name, key = cell
  return f'{labels[name]}, {key.replace("_", " ")}'


def target_rows(table_set: TableSet, rows: Sequence[Row],
                found: dict[str, dict[str, list[float]]], num_seeds: int = 1
                ) -> tuple[list[list[str]], str]:
  """The targets of ``table_set`` whose cells are all in ``rows``, checked.

  Returns:
    The header and one line per target (the target; the paper's number, or
    for an order the paper's gap higher - lower; ours likewise, from the means
    over seeds; ours - paper; whether it held), and a sentence counting what
    held.
  """
  labels = {row.name: row.label for row in rows}
  chosen = [target for target in table_set.targets
            if all(name in labels for name, _ in target.cells)]
  means = cell_means(found)
  lines = [['target', 'paper', 'ours', 'ours - paper', 'held']]
  counts = {kind: [0, 0, 0] for kind in ('cell', 'order')}  # Held, run, all.
  for outcome in targets_lib.check(chosen, means, table_set.paper):
    target = outcome.target
    if isinstance(target, targets_lib.Near):
      kind = 'cell'
      values = found.get(target.cell[0], {}).get(target.cell[1], [])
      cells = [f'{cell_name(target.cell, labels)} '
               f'{target.describe_tolerance()} of the paper',
               format_nats(outcome.paper),
               format_mean(values, num_seeds=num_seeds),
               '' if outcome.ours is None else
               format_nats(outcome.ours - outcome.paper, sign=True)]
    else:
      kind = 'order'
      cells = [f'{cell_name(target.higher, labels)} above '
               f'{cell_name(target.lower, labels)}',
               format_nats(outcome.paper, sign=True),
               '' if outcome.ours is None else
               format_nats(outcome.ours, sign=True), '']
    held = {True: 'yes', False: 'no', None: 'not run yet'}[outcome.held]
    lines.append(cells + [held])
    counts[kind][0] += bool(outcome.held)
    counts[kind][1] += outcome.held is not None
    counts[kind][2] += 1
  summary = '; '.join(
      f'{held} of {run} {kind} targets held' + (
          f' ({total - run} not run yet)' if total > run else '')
      for kind, (held, run, total) in counts.items() if total)
  return lines, summary


def to_markdown(title: str, lines: list[list[str]], note: str = '') -> str:
  out = [f'### {title}', '', '| ' + ' | '.join(lines[0]) + ' |',
         '|' + '---|' * len(lines[0])]
  out += ['| ' + ' | '.join(line) + ' |' for line in lines[1:]]
  return '\n'.join(out + ([''] + [note] if note else [])) + '\n'


def to_csv(lines: list[list[str]]) -> str:
  buffer = io.StringIO()
  csv.writer(buffer, lineterminator='\n').writerows(lines)
  return buffer.getvalue()


def write_tables(table_set: TableSet, root: str, out_dir: str,
                 rows: Sequence[Row], seeds: Sequence[int],
                 note: str = '') -> list[str]:
  """Writes each table as Markdown and CSV into ``out_dir``; returns the paths.

  A table without a line for ``rows`` is not written (coherence when no run
  measured it; Table 3 for rows without a joint bound). The set's targets
  among ``rows`` go into targets.md (see ``target_rows``), and with several
  ``seeds`` each bound seed by seed into seeds.md (see ``seed_rows``).
  """
  by_seed = collect_by_seed(root, rows, seeds)
  found = pool_seeds(by_seed)
  os.makedirs(out_dir, exist_ok=True)
  pages = [(table.stem, table.title,
            table_rows(table, rows, found, table_set.paper, len(seeds)), note)
           for table in table_set.tables]
  if table_set.targets:
    lines, summary = target_rows(table_set, rows, found, len(seeds))
    pages.append(('targets', 'Reproduction targets', lines, (
        f'{summary}. Ours are means over seeds; for an order, paper and ours '
        f'are the gap higher - lower in nats. {note}').strip()))
  if len(seeds) > 1:
    pages.append(('seeds', 'Bounds seed by seed',
                  seed_rows(table_set, rows, by_seed, seeds), note))
  paths = []
  for stem, title, lines, page_note in pages:
    if len(lines) == 1:  # The header alone.
      continue
    if any(TAIL_MARK in cell for line in lines for cell in line):
      page_note = f'{TAIL_NOTE} {page_note}'.strip()
    for suffix, text in (('md', to_markdown(title, lines, page_note)),
                         ('csv', to_csv(lines))):
      path = os.path.join(out_dir, f'{stem}.{suffix}')
      with open(path, 'w') as f:
        f.write(text)
      paths.append(path)
  return paths


def describe_budget(table_set: TableSet, base: RunConfig,
                    seeds: Sequence[int]) -> dict[str, Any]:
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
              seeds: Sequence[int], *, train: TrainFn,
              train_grid: TrainGridFn | None = None, root: str, out_dir: str,
              tables_only: bool = False, as_grids: bool = False,
              skip_busy: bool = False, data: Any = None,
              log: Callable[[str], None] = print) -> list[str]:
  """What a tables binary does: runs the grid, then writes the tables.

  Writes every table of ``table_set`` as Markdown and CSV, with the budget
  and the paper's in a note, and OUT_DIR/budget.json (the budget, and the
  wall time when this call trained), then logs each table's Markdown and last
  the paths written.

  Args:
    table_set: the data set's tables.
    base: the settings every run shares; ``run_grid`` sets the model, alpha
      and seed of each.
    train: the data set's ``train_and_evaluate``.
    train_grid: the data set's grid trainer, for ``as_grids``.
    rows: the rows to run and tabulate.
    seeds: one run per row and seed; several give mean ± std.
    root: the runs' directory.
    out_dir: where the tables and budget.json go.
    tables_only: only tabulate the runs already in ``root``.
    as_grids: train runs not yet started as one program per model type (see
      ``run_grid``).
    skip_busy: skip runs another process is training (see ``run_grid``).
    data: passed to every run (default: each loads base.data_dir).
    log: receives progress lines and the tables.

  Returns:
    The paths of the tables.
  """
  start = time.perf_counter()
  if not tables_only:
    run_grid(root, rows, seeds, base, train=train, train_grid=train_grid,
             data=data, log=log, as_grids=as_grids, skip_busy=skip_busy)
  budget = describe_budget(table_set, base, seeds)
  note = f'Budget: {json.dumps(budget)}. {table_set.paper_budget}'
  paths = write_tables(table_set, root, out_dir, rows, seeds, note=note)
  budget_path = os.path.join(out_dir, 'budget.json')
  if not tables_only:  # The wall time of this call's training, when it trained.
    budget['wall_seconds'] = time.perf_counter() - start
  write_json_atomically(budget_path, json.dumps(budget, indent=2))
  for path in paths:
    if path.endswith('.md'):
      with open(path) as f:
        log(f.read())
  log(f'wrote the tables (Markdown and CSV) and the budget into '
      f'{os.path.abspath(out_dir)}:')
  for path in paths + [budget_path]:
    log(f'  {os.path.abspath(path)}')
  return paths
