"""Live TensorBoard scalars: written per epoch, read by TensorBoard's reader."""

import dataclasses
import functools
import glob
import os

import pytest

from jmvae_jax.report import summaries
from jmvae_jax.tasks.celeba import experiment as celeba_experiment
from jmvae_jax.tasks.celeba.config import CelebAConfig
from jmvae_jax.tasks.mnist import experiment
from jmvae_jax.tasks.mnist.config import Config
from tests.celeba_fixture import TINY_RUN, fixture_faces
from tests.synthetic import labelled_blobs
from tests.tensorboard_events import (assert_shows, metrics_curves, scalars,
                                      training_curves)

TINY = Config(model='jmvae_kl', epochs=1, warmup_epochs=1, batch_size=50,
              latent_dim=4, hidden_width=16, eval_k=2, eval_prior_samples=4,
              eval_batch_size=50, eval_chunk_size=2)
# The test bounds each trainer's report.md must list (results.json keys).
_MNIST_BOUNDS = ('test_elbo', 'marginal_multiple', 'marginal_single',
                 'conditional_multiple', 'conditional_single', 'joint')
_CELEBA_BOUNDS = ('marginal_multiple', 'marginal_single',
                  'conditional_multiple', 'conditional_single', 'joint')


def _scalar_files(logdir):
  return glob.glob(os.path.join(logdir, f'*{summaries.SCALARS_SUFFIX}'))


def test_each_epoch_is_on_disk_when_added(tmp_path):
  writer = summaries.ScalarWriter(tmp_path, [{'epoch': 1, 'loss': 5.0}])
  assert scalars(tmp_path) == {'train/loss': [(1, 5.0)]}
  writer.add_epochs([{'epoch': 2, 'loss': 4.0, 'kl_weight': 0.5,
                      'warning': 'text is not a scalar'}])
  assert scalars(tmp_path) == {'train/loss': [(1, 5.0), (2, 4.0)],
                                'train/kl_weight': [(2, 0.5)]}
  writer.close()
  summaries.write_test_scalars(tmp_path, {'model': 'vae', 'epoch': 2,
                                          'joint': -90.0})
  assert scalars(tmp_path)['test/joint'] == [(2, -90.0)]


def test_reopening_replaces_the_files_so_no_step_repeats(tmp_path):
  writer = summaries.ScalarWriter(tmp_path)
  writer.add_epochs([{'epoch': e, 'loss': 10.0 - e} for e in (1, 2, 3)])
  writer.close()
  summaries.write_test_scalars(tmp_path, {'epoch': 3, 'joint': -90.0})
  # A run resumed from the checkpoint after epoch 2 (epoch 3 was lost).
  writer = summaries.ScalarWriter(
      tmp_path, [{'epoch': e, 'loss': 10.0 - e} for e in (1, 2)])
  writer.add_epochs([{'epoch': 3, 'loss': 6.5}])
  writer.close()
  assert len(_scalar_files(tmp_path)) == 1
  assert scalars(tmp_path) == {'train/loss': [(1, 9.0), (2, 8.0), (3, 6.5)]}


def test_a_disabled_writer_writes_nothing(tmp_path):
  writer = summaries.ScalarWriter(tmp_path, [{'epoch': 1, 'loss': 1.0}],
                                  enabled=False)
  writer.add_epochs([{'epoch': 2, 'loss': 1.0}])
  writer.close()
  assert not os.listdir(tmp_path)


# CelebA's conv nets take minutes to compile on a CPU; MNIST runs the same
# code paths in the quick loop.
@pytest.fixture(
    params=['mnist', pytest.param('celeba', marks=pytest.mark.slow)])
def trainer(request, tmp_path_factory):
  """(train(config, workdir, log=...), tiny config, bound names) of a data set."""
  if request.param == 'mnist':
    return (functools.partial(experiment.train_and_evaluate,
                              data=labelled_blobs(num_train=200, num_test=50)),
            TINY, _MNIST_BOUNDS)
  faces = fixture_faces(tmp_path_factory.mktemp('celeba'))
  return (functools.partial(celeba_experiment.train_and_evaluate, data=faces),
          CelebAConfig(model='jmvae_kl', **TINY_RUN), _CELEBA_BOUNDS)


def _bounds_section(workdir):
  """The '## Test bounds' section of WORKDIR/report.md."""
  text = (workdir / 'report.md').read_text()
  return text.split('## Test bounds\n')[1].split('\n## ')[0]


def _report_row(workdir, key):
  """The cells of the bounds table's row of results key ``key``."""
  (line,) = [l for l in _bounds_section(workdir).splitlines()
             if l.startswith(f'| `{key}`')]
  return [cell.strip() for cell in line.strip('|').split(' | ')]


def test_training_writes_scalars_live_and_a_resumed_run_continues_them(
    trainer, tmp_path, monkeypatch):
  train, config, bound_names = trainer
  # What TensorBoard shows while the run trains: read after each epoch is
  # added, before evaluation starts.
  during = []
  original = summaries.ScalarWriter.add_epochs

  def add_and_read(self, records):
    original(self, records)
    during.append(scalars(tmp_path))

  monkeypatch.setattr(summaries.ScalarWriter, 'add_epochs', add_and_read)
  results = train(config, str(tmp_path), log=lambda _: None)
  # The first call writes the (no) records kept from before; the last, the
  # epoch just trained: each numeric field of its metrics.jsonl record.
  live = during[-1]
  assert_shows(live, metrics_curves(tmp_path))
  assert {'train/loss', 'train/kl_weight', 'train/images_per_second'} <= set(
      live)
  assert any(tag.startswith('train/recon/') for tag in live)
  assert any(tag.startswith('train/kl_') and tag != 'train/kl_weight'
             for tag in live)
  assert not any(tag.startswith('test/') for tag in live)
  # At the end, every numeric result at the last epoch's step, and report.md
  # with each test bound.
  after = scalars(tmp_path)
  for name in bound_names + ('eval_k', 'num_test_examples'):
    assert after[f'test/{name}'] == [(1, pytest.approx(results[name],
                                                       rel=1e-6))]
  for name in bound_names:
    assert _report_row(tmp_path, name)[1] == f'{results[name]:.2f}'
  for not_a_bound in ('eval_k', 'eval_prior_samples', 'num_test_examples'):
    assert f'`{not_a_bound}`' not in _bounds_section(tmp_path)

  # Resumed for a second epoch: one file, each epoch once, the second new.
  results = train(dataclasses.replace(config, epochs=2), str(tmp_path),
                  log=lambda _: None)
  assert len(_scalar_files(tmp_path)) == 1
  resumed = training_curves(tmp_path)
  assert_shows(resumed, metrics_curves(tmp_path))
  assert [step for step, _ in resumed['train/loss']] == [1, 2]
  assert resumed['train/loss'][0] == after['train/loss'][0]
  name = bound_names[0]
  assert scalars(tmp_path)[f'test/{name}'] == [
      (2, pytest.approx(results[name], rel=1e-6))]
  assert '2 of 2 epochs' in (tmp_path / 'report.md').read_text()
  assert _report_row(tmp_path, name)[1] == f'{results[name]:.2f}'
