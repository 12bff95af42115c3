"""The shared checks of settings and flag values (jmvae_jax.training.settings)."""

import dataclasses
import math

import numpy as np
import pytest

from jmvae_jax.errors import UserError
from jmvae_jax.training import settings


@dataclasses.dataclass
class _Values:
  count: int = 1
  offset: int = 0
  rate: float = 0.5
  weight: float = 0.0
  limit: int | None = None
  kind: str = 'a'


def _problems(**values):
  return settings.range_problems(
      _Values(**values), at_least_one=('count', 'limit'),
      at_least_zero=('offset',), positive=('rate',),
      finite_nonnegative=('weight',))


def test_good_values_and_none_pass():
  assert _problems() == []
  assert _problems(count=7, offset=3, rate=1e-9, weight=2.5, limit=1) == []


@pytest.mark.parametrize('values, message', [
    ({'count': 0}, '--count must be >= 1, got 0'),
    ({'limit': 0}, '--limit must be >= 1, got 0'),
    ({'offset': -1}, '--offset must be >= 0, got -1'),
    ({'rate': 0.0}, '--rate must be > 0, got 0.0'),
    ({'rate': math.nan}, '--rate must be > 0, got nan'),
    ({'weight': math.inf}, '--weight must be a finite number >= 0, got inf'),
    ({'weight': math.nan}, '--weight must be a finite number >= 0, got nan'),
    ({'weight': -0.5}, '--weight must be a finite number >= 0, got -0.5'),
])
def test_each_broken_rule_gives_its_message(values, message):
  assert _problems(**values) == [message]


def test_every_problem_is_listed_in_one_error():
  problems = _problems(count=0, offset=-2) + settings.choice_problems(
      _Values(kind='z'), 'kind', ('a', 'b'))
  assert len(problems) == 3
  with pytest.raises(UserError) as raised:
    settings.raise_problems(problems)
  assert str(raised.value) == '; '.join(problems)
  assert "unknown --kind='z'; choose one of a, b" in str(raised.value)
  settings.raise_problems([])  # Nothing to raise.


def test_test_indices_are_checked_against_the_set_size():
  rng = np.random.default_rng()
  num = int(rng.integers(5, 50))
  chosen = rng.integers(0, num, size=4).tolist()
  np.testing.assert_array_equal(
      settings.checked_test_indices(chosen, num, 'images'), chosen)
  with pytest.raises(UserError, match=rf'--test_index \[{num}, -1\] out of '
                     rf'range: the test set has {num} faces, 0..{num - 1}'):
    settings.checked_test_indices([0, num, -1], num, 'faces')
