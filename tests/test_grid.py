"""A grid of models as one program ends where each member's separate run ends."""

import dataclasses
import json
import os

import jax
import numpy as np
import pytest

from jmvae_jax.errors import UserError
from jmvae_jax.report import summaries
from jmvae_jax.tasks.mnist import grid
from jmvae_jax.training import elbo
from jmvae_jax.tasks.mnist.config import Config
from jmvae_jax.tasks.mnist.experiment import train_and_evaluate
from jmvae_jax.training.checkpoints import Checkpoints
from tests.synthetic import labelled_blobs
from tests.tensorboard_events import (assert_shows, metrics_curves, scalars,
                                      training_curves)

TINY = Config(model='jmvae_kl', epochs=3, warmup_epochs=2, batch_size=50,
              latent_dim=4, hidden_width=32, eval_k=5, eval_prior_samples=20,
              eval_batch_size=50, eval_chunk_size=5)
MEMBERS = [dataclasses.replace(TINY, seed=0, alpha=0.1),
           dataclasses.replace(TINY, seed=1, alpha=1.0, warmup_epochs=0),
           dataclasses.replace(TINY, seed=2, alpha=0.01, learning_rate=3e-3)]


def _quiet(_):
  pass


@pytest.fixture(scope='module')
def data():
  return labelled_blobs(num_train=400, num_test=100)


def _state(config, workdir):
  checkpoints = Checkpoints(os.path.join(workdir, 'checkpoints'), log=_quiet)
  state = checkpoints.restore_latest(
      elbo.init_state(config.build_model(), config))
  checkpoints.close()
  return state


def _members(root):
  return [str(root / f'member{i}') for i in range(len(MEMBERS))]


def _bound_rows(workdir):
  """The results keys in the bounds table of WORKDIR/report.md."""
  text = (workdir / 'report.md').read_text()
  section = text.split('## Test bounds\n')[1].split('\n## ')[0]
  return [line.split('`')[1] for line in section.splitlines()
          if line.startswith('| `')]


@pytest.mark.slow  # A grid and three separate 3-epoch runs, each compiled.
def test_members_end_where_their_separate_runs_end(tmp_path, data,
                                                   monkeypatch):
  # What TensorBoard shows of each member after each epoch is added.
  during = []
  original = summaries.ScalarWriter.add_epochs

  def add_and_read(self, records):
    original(self, records)
    during.append([[step for step, _ in
                    training_curves(d).get('train/loss', [])]
                   for d in _members(tmp_path)])

  monkeypatch.setattr(summaries.ScalarWriter, 'add_epochs', add_and_read)
  grid.train_grid(MEMBERS, _members(tmp_path), str(tmp_path / 'grid'),
                  data=data, log=_quiet)
  monkeypatch.undo()
  # Live: every member shows epoch 1 before epoch 2 is trained.
  assert [[1]] * len(MEMBERS) in during
  for member in _members(tmp_path):
    assert_shows(scalars(member), metrics_curves(member))  # No test/ yet.
  for i, config in enumerate(MEMBERS):
    separate = tmp_path / f'separate{i}'
    want = train_and_evaluate(config, str(separate), data=data, log=_quiet)
    got = train_and_evaluate(config, _members(tmp_path)[i], data=data,
                             log=_quiet)
    a, b = _state(config, separate), _state(config, _members(tmp_path)[i])
    assert int(a.step) == int(b.step) and int(b.epoch) == 3
    for x, y in zip(jax.tree.leaves((a.params, a.opt_state)),
                    jax.tree.leaves((b.params, b.opt_state))):
      x, y = np.asarray(x), np.asarray(y)
      assert np.linalg.norm(x - y) <= 1e-5 * max(np.linalg.norm(x), 1e-30)
    for name in ('marginal_multiple', 'marginal_single', 'joint',
                 'conditional_multiple', 'conditional_single'):
      assert abs(got[name] - want[name]) < 0.01, name
    separate_lines = (separate / 'metrics.jsonl').read_text().splitlines()
    member_lines = (tmp_path / f'member{i}' / 'metrics.jsonl').read_text(
        ).splitlines()
    for s, m in zip(separate_lines, member_lines):
      s, m = json.loads(s), json.loads(m)
      assert m['loss'] == pytest.approx(s['loss'], rel=1e-4)
      assert m['kl_weight'] == s['kl_weight']
    # Evaluated, the member shows and reports what its separate run does.
    member = tmp_path / f'member{i}'
    shown, separate_shown = scalars(member), scalars(separate)
    assert sorted(shown) == sorted(separate_shown)
    assert [step for step, _ in shown['train/loss']] == [1, 2, 3]
    assert shown['test/joint'] == [(3, pytest.approx(got['joint'], rel=1e-6))]
    assert _bound_rows(member) == _bound_rows(separate)
    assert 'joint' in _bound_rows(member)


def test_resumed_grid_ends_bit_for_bit_like_an_uninterrupted_one(tmp_path,
                                                                  data):
  grid.train_grid(MEMBERS, _members(tmp_path / 'a'), str(tmp_path / 'a/grid'),
                  data=data, log=_quiet)
  short = [dataclasses.replace(c, epochs=1) for c in MEMBERS]
  grid.train_grid(short, _members(tmp_path / 'b'), str(tmp_path / 'b/grid'),
                  data=data, log=_quiet)
  lines = []
  grid.train_grid(MEMBERS, _members(tmp_path / 'b'), str(tmp_path / 'b/grid'),
                  data=data, log=lines.append)
  assert any('resuming the grid from the checkpoint after epoch 1' in line
             for line in lines)
  for member in _members(tmp_path / 'b'):
    # The resumed curves continue the first ones: one file, each epoch once.
    assert len([name for name in os.listdir(member)
                if name.endswith(summaries.SCALARS_SUFFIX)]) == 1
    assert_shows(scalars(member), metrics_curves(member))
    assert [step for step, _ in scalars(member)['train/loss']] == [1, 2, 3]
  for config, a, b in zip(MEMBERS, _members(tmp_path / 'a'),
                          _members(tmp_path / 'b')):
    for x, y in zip(jax.tree.leaves(_state(config, a).params),
                    jax.tree.leaves(_state(config, b).params)):
      np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_members_that_differ_elsewhere_are_refused():
  with pytest.raises(UserError, match='differ in hidden_width'):
    grid.check_members([TINY, dataclasses.replace(TINY, hidden_width=64)])
