"""One grid against another: which of the paper's targets each holds.

An ablation changes one setting of a reproduction (the training set's size,
the decoder's depth, ...) and trains some of its rows again. Whether the
change brings the tables nearer the paper is a comparison of two grids of
runs, cell by cell: ``write_comparison`` writes it as comparison.md (and .csv)
beside the ablation's tables. Each of the paper's bounds the ablation has
gets the paper's number, the base grid's mean over its seeds, the ablation's,
the ablation minus the base on the seeds both trained (the same seed
removes most of the seed-to-seed spread), and whether the cell's target
(``jmvae_jax.report.targets``) holds in each grid; the paper's orders
follow, and a sentence counts the targets each grid holds among those both
have run, and names the settings in which the two grids differ.
"""

from __future__ import annotations

import json
import os
from typing import Mapping, Sequence

import numpy as np

from jmvae_jax.report import tables
from jmvae_jax.report import targets as targets_lib

# {row name: {seed: {results.json key: value}}}, as ``tables.collect_by_seed``.
BySeed = Mapping[str, Mapping[int, Mapping[str, float]]]

_HEADER = ['model', 'bound', 'paper', 'base', 'ours', 'ours - base, same seeds',
           'ours - paper', 'target', 'held: base', 'held: ours']
_HELD = {True: 'yes', False: 'no', None: ''}


def _values(by_seed: BySeed, row: str, key: str) -> dict[int, float]:
  return {seed: results[key] for seed, results in by_seed.get(row, {}).items()
          if key in results}


def _paired_difference(ours: Mapping[int, float], base: Mapping[int, float]
                       ) -> str:
  """Mean over the seeds both have of ours - base, and which seeds they are."""
  shared = sorted(set(ours) & set(base))
  if not shared:
    return ''
  difference = float(np.mean([ours[seed] - base[seed] for seed in shared]))
  seeds = ', '.join(str(seed) for seed in shared)
  return (f'{tables.format_nats(difference, sign=True)} '
          f'(seed{"s" if len(shared) > 1 else ""} {seeds})')


def comparison_rows(table_set: tables.TableSet, rows: Sequence[tables.Row],
                    base: BySeed, ours: BySeed, num_seeds: int
                    ) -> tuple[list[list[str]], str]:
  """Our grid ``ours`` against the ``base`` grid, on the rows ``rows``.

  Args:
    table_set: the data set's tables, paper numbers and targets.
    rows: the rows to compare (those ``ours`` has, in table order).
    base, ours: each grid's results, seed by seed.
    num_seeds: how many seeds were asked for (a mean of fewer says so).

  Returns:
    The header and one line per bound of the paper's tables that ``ours`` has
    (see the module docstring), then one per order target among ``rows``
    (model 'order': the paper's gap higher - lower and each grid's); and a
    sentence counting the targets each grid holds among those both have run.
  """
  labels = {row.name: row.label for row in rows}
  chosen = [target for target in table_set.targets
            if all(name in labels for name, _ in target.cells)]
  outcomes = {
      grid: {outcome.target: outcome for outcome in targets_lib.check(
          chosen, tables.cell_means(tables.pool_seeds(results)),
          table_set.paper)}
      for grid, results in (('base', base), ('ours', ours))}
  near = {target.cell: target for target in chosen
          if isinstance(target, targets_lib.Near)}
  lines = [list(_HEADER)]
  for row in rows:
    for key in tables.paper_bound_keys(table_set):
      mine = _values(ours, row.name, key)
      if not mine:
        continue
      theirs = _values(base, row.name, key)
      paper = table_set.paper.get((row.name, key))
      target = near.get((row.name, key))
      lines.append([
          row.label, key.replace('_', ' '),
          '' if paper is None else f'{paper:g}',
          tables.format_mean(list(theirs.values()), num_seeds=num_seeds),
          tables.format_mean(list(mine.values()), num_seeds=num_seeds),
          _paired_difference(mine, theirs),
          '' if paper is None else tables.format_nats(
              float(np.mean(list(mine.values()))) - paper, sign=True),
          '' if target is None else target.describe_tolerance(),
          '' if target is None else _HELD[outcomes['base'][target].held],
          '' if target is None else _HELD[outcomes['ours'][target].held]])
  for target in chosen:
    if isinstance(target, targets_lib.Above):
      gaps = [outcomes[grid][target].ours for grid in ('base', 'ours')]
      lines.append(
          ['order', f'{tables.cell_name(target.higher, labels)} above '
           f'{tables.cell_name(target.lower, labels)}',
           tables.format_nats(outcomes['ours'][target].paper, sign=True)]
          + ['' if gap is None else tables.format_nats(gap, sign=True)
             for gap in gaps]
          + ['', '', 'order', _HELD[outcomes['base'][target].held],
             _HELD[outcomes['ours'][target].held]])
  return lines, _count_held(chosen, outcomes)


def _count_held(chosen: Sequence[targets_lib.Target],
                outcomes: Mapping[str, Mapping[targets_lib.Target,
                                               targets_lib.Outcome]]) -> str:
  """'Of the N cell targets and M order targets both grids have run, the base
  holds a and b, ours c and d.'"""
  both = [target for target in chosen
          if all(outcomes[grid][target].held is not None
                 for grid in ('base', 'ours'))]
  kinds = {'cell': targets_lib.Near, 'order': targets_lib.Above}
  counts = {grid: {kind: sum(bool(outcomes[grid][target].held)
                             for target in both if isinstance(target, cls))
                   for kind, cls in kinds.items()}
            for grid in ('base', 'ours')}
  totals = {kind: sum(isinstance(target, cls) for target in both)
            for kind, cls in kinds.items()}
  if not any(totals.values()):
    return 'No target has run in both grids.'
  kinds_run = [kind for kind in kinds if totals[kind]]
  held = {grid: ' and '.join(str(counts[grid][kind]) for kind in kinds_run)
          for grid in counts}
  return (f'Of the {" and ".join(f"{totals[k]} {k}" for k in kinds_run)} '
          f'targets both grids have run, the base holds {held["base"]}, '
          f'these runs {held["ours"]}.')


def _settings(table_set: tables.TableSet, root: str,
              rows: Sequence[tables.Row], seeds: Sequence[int]
              ) -> dict[str, set[str]]:
  """{budget field: the values the runs under ``root`` trained with}."""
  fields = table_set.budget_fields
  found: dict[str, set[str]] = {field: set() for field in fields}
  for row in rows:
    for seed in seeds:
      path = os.path.join(tables.run_dir(root, row, seed), 'config.json')
      if not os.path.exists(path):
        continue
      with open(path) as f:
        config = table_set.run_settings(json.load(f))
      for field in fields:
        if field in config:
          found[field].add(json.dumps(config[field]))
  return found


def describe_differences(table_set: tables.TableSet, base_root: str,
                         root: str, rows: Sequence[tables.Row],
                         seeds: Sequence[int]) -> str:
  """The budget settings in which the runs under ``root`` differ from those
  under ``base_root``, e.g. 'train_examples 50000 (base: 60000)'."""
  ours, base = (_settings(table_set, path, rows, seeds)
                for path in (root, base_root))
  return ', '.join(
      f'{field} {" or ".join(sorted(ours[field]))} '
      f'(base: {" or ".join(sorted(base[field]))})'
      for field in table_set.budget_fields
      if ours[field] and base[field] and ours[field] != base[field])


def write_comparison(table_set: tables.TableSet, base_root: str, root: str,
                     out_dir: str, rows: Sequence[tables.Row],
                     seeds: Sequence[int]) -> list[str]:
  """Writes comparison.md and comparison.csv into ``out_dir``: the runs under
  ``root`` against those under ``base_root`` (see ``comparison_rows``), on
  the ``rows`` that ``root`` has. Returns the paths, none when it has none."""
  ours = tables.collect_by_seed(root, rows, seeds)
  rows = [row for row in rows if ours.get(row.name)]
  if not rows:
    return []
  base = tables.collect_by_seed(base_root, rows, seeds)
  lines, summary = comparison_rows(table_set, rows, base, ours, len(seeds))
  differences = describe_differences(table_set, base_root, root, rows, seeds)
  note = (f'{summary} Base and ours are means over seeds; "ours - base, same '
          f'seeds" is the mean of the differences seed by seed. These runs '
          f'differ from the base in: {differences or "nothing recorded"}.')
  os.makedirs(out_dir, exist_ok=True)
  paths = []
  for suffix, text in (
      ('md', tables.to_markdown('Against the base grid', lines, note)),
      ('csv', tables.to_csv(lines))):
    path = os.path.join(out_dir, f'comparison.{suffix}')
    with open(path, 'w') as f:
      f.write(text)
    paths.append(path)
  return paths
