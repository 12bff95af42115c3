"""Checks of settings and flag values shared by every task and report.

Each check returns the problems it found as one-line messages named after the
flag (``--epochs must be >= 1, got 0``), so that a settings object can collect
all of them and raise one ``UserError`` that lists every bad flag at once.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from jmvae_jax.errors import UserError

# (rule as the message states it, test of a value)
_RULES: dict[str, tuple[str, Callable[[Any], bool]]] = {
    'at_least_one': ('>= 1', lambda value: value >= 1),
    'at_least_zero': ('>= 0', lambda value: value >= 0),
    'positive': ('> 0', lambda value: value > 0),
    'finite_nonnegative': ('a finite number >= 0',
                           lambda value: value >= 0 and math.isfinite(value)),
}


def range_problems(settings: Any, *, at_least_one: Iterable[str] = (),
                   at_least_zero: Iterable[str] = (),
                   positive: Iterable[str] = (),
                   finite_nonnegative: Iterable[str] = ()) -> list[str]:
  """One message per named field whose value breaks its rule.

  A field set to None (an optional setting left out) passes every rule; NaN
  fails every rule, since no comparison with it holds.
  """
  groups = {'at_least_one': at_least_one, 'at_least_zero': at_least_zero,
            'positive': positive, 'finite_nonnegative': finite_nonnegative}
  problems = []
  for rule_name, names in groups.items():
    rule, holds = _RULES[rule_name]
    for name in names:
      value = getattr(settings, name)
      if value is not None and not holds(value):
        problems.append(f'--{name} must be {rule}, got {value}')
  return problems


def choice_problems(settings: Any, name: str,
                    choices: Sequence[str]) -> list[str]:
  """A message when the field `name` is not one of `choices`."""
  value = getattr(settings, name)
  if value in choices:
    return []
  return [f'unknown --{name}={value!r}; choose one of {", ".join(map(str, choices))}']


def raise_problems(problems: Sequence[str]) -> None:
  """Raises one UserError listing every problem, if there is any."""
  if problems:
    raise UserError('; '.join(problems))



def checked_test_indices(indices: Sequence[int], num: int,
                         what: str) -> np.ndarray:
  """``indices`` (from --test_index) as an int array [N], each in 0..num-1.

  Args:
    indices: positions in a test set.
    num: the size of the test set.
    what: what it holds, for the message ('images', 'faces').

  Raises:
    UserError: an index is out of range.
  """
  bad = [i for i in indices if not 0 <= i < num]
  if bad:
    raise UserError(f'--test_index {bad} out of range: the test set has {num} '
                    f'{what}, 0..{num - 1}')
  return np.asarray(indices, dtype=np.int64)
