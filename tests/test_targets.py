"""Reproduction targets: each held or missed exactly where its arithmetic says."""

import numpy as np
import pytest

from jmvae_jax.report import targets
from jmvae_jax.report.targets import Above, Near
from jmvae_jax.tasks.mnist.tables import PAPER, TARGETS


def test_a_cell_holds_within_its_tolerance_in_nats_or_as_a_fraction():
  rng = np.random.default_rng()
  paper_value = -float(rng.uniform(80, 150))
  nats = float(rng.uniform(0.1, 1.0))
  fraction = float(rng.uniform(0.01, 0.1))
  inside, outside = rng.uniform(0.0, 0.99), rng.uniform(1.01, 3.0)
  sign = rng.choice([-1.0, 1.0])
  cell = ('model', 'bound')
  paper = {cell: paper_value}
  for target, tolerance in ((Near(cell, nats=nats), nats),
                            (Near(cell, fraction=fraction),
                             fraction * abs(paper_value))):
    for scale, expected in ((inside, True), (outside, False)):
      ours = paper_value + sign * scale * tolerance
      [outcome] = targets.check([target], {cell: ours}, paper)
      assert (outcome.paper, outcome.ours, outcome.held) == (
          paper_value, ours, expected)
    [outcome] = targets.check([target], {}, paper)  # No run yet.
    assert outcome.ours is None and outcome.held is None


def test_an_order_holds_when_ours_keeps_the_papers_sign():
  rng = np.random.default_rng()
  high, low = ('a', 'bound'), ('b', 'bound')
  paper = {high: -float(rng.uniform(80, 90)), low: -float(rng.uniform(91, 99))}
  first, second = -rng.uniform(80, 100, size=2)
  [outcome] = targets.check([Above(high, low)], {high: first, low: second},
                            paper)
  assert outcome.paper == pytest.approx(paper[high] - paper[low])
  assert outcome.ours == pytest.approx(first - second)
  assert outcome.held == (first > second)
  [outcome] = targets.check([Above(high, low)], {high: first}, paper)
  assert outcome.ours is None and outcome.held is None


def test_a_target_must_name_one_tolerance_and_cells_the_paper_has():
  with pytest.raises(ValueError, match='exactly one of nats= and fraction='):
    Near(('model', 'bound'))
  with pytest.raises(ValueError, match='exactly one of nats= and fraction='):
    Near(('model', 'bound'), nats=0.3, fraction=0.05)
  with pytest.raises(KeyError, match='without a paper number'):
    targets.check([Near(('model', 'bound'), nats=0.3)], {}, {})


def test_mnist_targets_cover_every_paper_cell_but_the_collapsing_ones():
  near = {target.cell: target for target in TARGETS
          if isinstance(target, Near)}
  collapsing = {('jmvae_zero', 'marginal_single'),
                ('jmvae_zero', 'conditional_single')}
  assert set(near) == set(PAPER) - collapsing
  for cell, target in near.items():  # 5% for the single conditional, else 0.3.
    single_conditional = cell[1] == 'conditional_single'
    assert (target.fraction, target.nats) == (
        (0.05, None) if single_conditional else (None, 0.3)), cell
  orders = {(t.higher, t.lower) for t in TARGETS if isinstance(t, Above)}
  # Each order is one the paper's numbers have.
  assert all(PAPER[high] > PAPER[low] for high, low in orders)
  assert orders == {
      *(((row, 'conditional_single'), ('jmvae_zero', 'conditional_single'))
        for row in ('jmvae_kl_0.01', 'jmvae_kl_0.1', 'jmvae_kl_1')),
      (('jmvae_kl_0.1', 'marginal_multiple'), ('jmvae_kl_1', 'marginal_multiple')),
      (('cvae', 'conditional_multiple'), ('cmma', 'conditional_multiple'))}
