"""Reproduction targets: how close a reproduction must come to the paper.

A data set's ``TableSet`` may list targets (``jmvae_jax.tasks.mnist.tables``:
Tables 1 and 3): a cell whose mean over seeds must lie within so many nats of
the paper's number (``Near(nats=...)``), or within a fraction of its size
(``Near(fraction=...)``, for bounds whose spread grows with their size), or two
cells that must keep the paper's order (``Above``). ``check`` holds our means
against them; ``jmvae_jax.report.tables.write_tables`` writes the outcome as
targets.md beside the tables, so whoever reruns the grid reads which targets
held instead of working it out cell by cell.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping, Sequence

# (row name, results.json key): one cell of the tables.
Cell = tuple[str, str]


@dataclasses.dataclass(frozen=True)
class Near:
  """Our mean of ``cell`` within ``nats`` of the paper's, or within ``fraction``
  of the paper's magnitude (exactly one of the two is given)."""

  cell: Cell
  nats: float | None = None
  fraction: float | None = None

  def __post_init__(self):
    if (self.nats is None) == (self.fraction is None):
      raise ValueError(f'Near{self.cell}: give exactly one of nats= and '
                       f'fraction=, got nats={self.nats}, '
                       f'fraction={self.fraction}')

  @property
  def cells(self) -> tuple[Cell, ...]:
    return (self.cell,)

  def tolerance(self, paper: float) -> float:
    """The largest |ours - paper| that holds, in nats."""
    return self.nats if self.nats is not None else self.fraction * abs(paper)

  def describe_tolerance(self) -> str:
    return (f'within {self.nats:g} nats' if self.nats is not None
            else f'within {100 * self.fraction:g}%')


@dataclasses.dataclass(frozen=True)
class Above:
  """The paper's order of two cells: ``higher`` above ``lower``."""

  higher: Cell
  lower: Cell

  @property
  def cells(self) -> tuple[Cell, ...]:
    return (self.higher, self.lower)


Target = Near | Above


@dataclasses.dataclass(frozen=True)
class Outcome:
  """One target checked.

  Attributes:
    target: the target.
    paper: ``Near``: the paper's number; ``Above``: the paper's gap,
      higher - lower, in nats.
    ours: the same of our means over seeds; None when a cell has no run.
    held: whether ours meets the target; None when a cell has no run.
  """

  target: Target
  paper: float
  ours: float | None
  held: bool | None


def check(targets: Sequence[Target], ours: Mapping[Cell, float],
          paper: Mapping[Cell, float]) -> list[Outcome]:
  """Each target against our means ``ours`` and the paper's numbers ``paper``.

  Raises:
    KeyError: a target names a cell the paper has no number for (a mistake
      in the target list, not in the runs).
  """
  outcomes = []
  for target in targets:
    missing = [cell for cell in target.cells if cell not in paper]
    if missing:
      raise KeyError(f'target {target} names cells without a paper number: '
                     f'{missing}')
    if isinstance(target, Near):
      paper_value = paper[target.cell]
      value = ours.get(target.cell)
      held = (None if value is None else
              abs(value - paper_value) <= target.tolerance(paper_value))
    else:
      paper_value = paper[target.higher] - paper[target.lower]
      run = all(cell in ours for cell in target.cells)
      value = ours[target.higher] - ours[target.lower] if run else None
      held = None if value is None else value > 0
    outcomes.append(Outcome(target, paper_value, value, held))
  return outcomes
