"""The resumable training loop: checkpoints, records, determinism, bad input."""

import dataclasses
import json
import os

import jax
import numpy as np
import pytest

from jmvae_jax.data import mnist
from jmvae_jax.errors import UserError
from jmvae_jax.metrics import digit_classifier
from jmvae_jax.tasks.mnist import evaluation
from jmvae_jax.training import elbo
from jmvae_jax.tasks.mnist.config import Config
from jmvae_jax.tasks.mnist.experiment import train_and_evaluate
from jmvae_jax.training import parallel
from jmvae_jax.training.checkpoints import Checkpoints
from tests.synthetic import labelled_blobs

TINY = Config(model='jmvae_kl', epochs=2, warmup_epochs=1, batch_size=50,
              latent_dim=4, hidden_width=32, eval_k=5, eval_prior_samples=20,
              eval_batch_size=50, eval_chunk_size=5)


@pytest.fixture(scope='module')
def data():
  return labelled_blobs(num_train=400, num_test=100)


def _final_state(config, workdir):
  model = config.build_model()
  checkpoints = Checkpoints(os.path.join(workdir, 'checkpoints'))
  state = checkpoints.restore_latest(elbo.init_state(model, config))
  checkpoints.close()
  return state


def _assert_states_equal(a, b):
  assert int(a.step) == int(b.step) and int(a.epoch) == int(b.epoch)
  for x, y in zip(jax.tree.leaves((a.params, a.opt_state)),
                  jax.tree.leaves((b.params, b.opt_state))):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def test_run_writes_config_metrics_results_and_checkpoints(tmp_path, data):
  results = train_and_evaluate(TINY, str(tmp_path), data=data, log=lambda _: None)
  assert json.loads((tmp_path / 'config.json').read_text()) == (
      dataclasses.asdict(TINY))
  lines = [json.loads(l) for l in (tmp_path / 'metrics.jsonl').read_text()
           .splitlines()]
  assert [l['epoch'] for l in lines] == [1, 2]
  assert {'loss', 'recon/image', 'recon/label', 'kl_prior', 'kl_unimodal/image',
          'kl_unimodal/label', 'kl_weight', 'images_per_second'} <= set(lines[0])
  assert json.loads((tmp_path / 'results.json').read_text()) == results
  assert results['model'] == 'jmvae_kl' and results['epoch'] == 2
  assert results['eval_k'] == 5 and results['alpha'] == 0.1
  assert np.isfinite(results['test_elbo']) and results['test_elbo'] < 0
  assert _final_state(TINY, str(tmp_path)).epoch == 2


def test_resumed_run_ends_bit_for_bit_like_an_uninterrupted_one(tmp_path, data):
  straight, resumed = tmp_path / 'straight', tmp_path / 'resumed'
  train_and_evaluate(TINY, str(straight), data=data, log=lambda _: None)
  train_and_evaluate(dataclasses.replace(TINY, epochs=1), str(resumed),
                     data=data, log=lambda _: None)
  messages = []
  train_and_evaluate(TINY, str(resumed), data=data, log=messages.append)
  assert any('resuming from the checkpoint after epoch 1' in m for m in messages)
  _assert_states_equal(_final_state(TINY, str(straight)),
                       _final_state(TINY, str(resumed)))
  epochs = [json.loads(l)['epoch']
            for l in (resumed / 'metrics.jsonl').read_text().splitlines()]
  assert epochs == [1, 2]


def test_finished_run_is_not_retrained(tmp_path, data):
  train_and_evaluate(TINY, str(tmp_path), data=data, log=lambda _: None)
  messages = []
  train_and_evaluate(TINY, str(tmp_path), data=data, log=messages.append)
  assert not any(m.startswith('epoch') for m in messages)


def test_training_lowers_the_loss(tmp_path, data):
  config = dataclasses.replace(TINY, epochs=6, warmup_epochs=0)
  train_and_evaluate(config, str(tmp_path), data=data, log=lambda _: None)
  losses = [json.loads(l)['loss']
            for l in (tmp_path / 'metrics.jsonl').read_text().splitlines()]
  # 48 Adam steps on 400 images: a model that learns nothing stays near 550.
  assert losses[-1] < losses[0] - 50 and losses == sorted(losses, reverse=True)


def test_other_architecture_in_workdir_is_refused(tmp_path, data):
  train_and_evaluate(dataclasses.replace(TINY, epochs=1), str(tmp_path),
                     data=data, log=lambda _: None)
  wider = dataclasses.replace(TINY, hidden_width=64)
  with pytest.raises(UserError, match='--hidden_width differs from the run'):
    train_and_evaluate(wider, str(tmp_path), data=data, log=lambda _: None)
  # Without config.json the checkpoint itself is checked.
  (tmp_path / 'config.json').unlink()
  with pytest.raises(UserError, match='does not fit this model'):
    train_and_evaluate(wider, str(tmp_path), data=data, log=lambda _: None)


def test_run_reads_mnist_at_its_pixel_scale_and_keeps_it(tmp_path, data,
                                                           monkeypatch):
  loaded = []

  def load_mnist(data_dir, **kwargs):
    loaded.append(kwargs['pixel_scale'])
    return data

  monkeypatch.setattr(mnist, 'load_mnist', load_mnist)
  config = dataclasses.replace(TINY, epochs=1, pixel_scale=255,
                               train_examples=400)
  train_and_evaluate(config, str(tmp_path), log=lambda _: None)
  assert loaded == [255]
  # Resuming with the other scale would train on other data: refused.
  with pytest.raises(UserError, match='--pixel_scale differs from the run'):
    train_and_evaluate(dataclasses.replace(config, epochs=2, pixel_scale=256),
                       str(tmp_path), log=lambda _: None)


@pytest.mark.parametrize('changes, message', [
    ({'alpha': -0.5}, 'alpha must be a finite number >= 0'),
    ({'model': 'cmvae'}, "unknown --model='cmvae'"),
    ({'epochs': 0}, 'epochs must be >= 1'),
    ({'grad_clip_norm': -1.0}, 'grad_clip_norm must be a finite number >= 0'),
    ({'grad_clip_value': -1.0}, 'grad_clip_value must be a finite number >= 0'),
    ({'decoder_layers': 0}, 'decoder_layers must be >= 1'),
    ({'pixel_scale': 100}, 'unknown --pixel_scale=100; choose one of 256, 255'),
    ({'batch_size': 600, 'train_examples': 500},
     'batch_size=600 is larger than the training set'),
])
def test_bad_settings_are_refused(changes, message):
  with pytest.raises(UserError, match=message):
    dataclasses.replace(TINY, **changes)


def test_learning_curve_is_recorded_every_n_epochs_and_at_the_end(tmp_path,
                                                                   data):
  config = dataclasses.replace(TINY, epochs=3, curve_every=2, curve_k=3,
                               curve_examples=40)
  train_and_evaluate(config, str(tmp_path), data=data, log=lambda _: None)
  lines = [json.loads(l)
           for l in (tmp_path / 'metrics.jsonl').read_text().splitlines()]
  with_curve = [l['epoch'] for l in lines if 'curve_joint' in l]
  assert with_curve == [2, 3]
  assert {'curve_marginal_multiple', 'curve_marginal_single', 'curve_joint',
          'curve_conditional_multiple', 'curve_test_elbo'} <= set(lines[-1])
  # The recorded value is the final model's bound on the first 40 test images.
  state = _final_state(config, str(tmp_path))
  again = evaluation.curve_bounds(
      config.build_model(), state.params,
      mnist.binarize_once(data.test_images), data.test_labels, config=config,
      mesh=parallel.make_data_mesh(),
      key=jax.random.fold_in(state.key, evaluation.CURVE_STREAM))
  assert again['curve_joint'] == pytest.approx(lines[-1]['curve_joint'],
                                               rel=1e-6)


def test_a_learning_curve_keeps_the_bounds_but_not_their_outlier_free_means(
    monkeypatch):
  # On a curve's few test images one image moves a mean by 0.3 nats often;
  # the curve records the bounds themselves.
  value = float(np.random.default_rng().normal(-90, 5))
  full = {'joint': value, 'joint/without_outliers': value + 1,
          'test_elbo': value - 7, 'test_recon/image': 80.0}
  monkeypatch.setattr(evaluation, 'evaluate', lambda *a, **k: dict(full))
  curve = evaluation.curve_bounds(
      None, None, np.zeros((4, 784)), np.zeros(4, int), config=Config(),
      mesh=None, key=jax.random.key(0))
  assert curve == {'curve_joint': value, 'curve_test_elbo': value - 7}


def test_unwritable_workdir_is_refused(tmp_path, data):
  blocker = tmp_path / 'file'
  blocker.write_text('not a directory')
  with pytest.raises(UserError, match='cannot write to --workdir'):
    train_and_evaluate(TINY, str(blocker / 'run'), data=data, log=lambda _: None)


def test_every_model_trains_and_evaluates(tmp_path, data):
  for name in ('jmvae_zero', 'mvae', 'mmvae', 'mopoe', 'vae'):
    config = dataclasses.replace(TINY, model=name, epochs=1)
    results = train_and_evaluate(config, str(tmp_path / name), data=data,
                                 log=lambda _: None)
    assert results['model'] == name and np.isfinite(results['test_elbo'])
    if name != 'vae':  # Every bound of the paper, from the model's encoders.
      for bound in ('marginal_multiple', 'marginal_single',
                    'conditional_multiple', 'conditional_single', 'joint'):
        assert np.isfinite(results[bound]), (name, bound)


def test_a_cached_digit_classifier_adds_label_image_coherence(tmp_path, data):
  judge = digit_classifier.load_or_train(data, cache_dir=tmp_path / 'cache',
                                         log=lambda _: None)
  found = {}
  for name in ('jmvae_kl', 'cvae', 'vae'):
    config = dataclasses.replace(TINY, model=name, epochs=1,
                                 data_dir=str(tmp_path / 'cache'))
    found[name] = train_and_evaluate(config, str(tmp_path / name), data=data,
                                     log=lambda _: None)
  jmvae = found['jmvae_kl']
  for key in ('coherence/label->image', 'coherence/image->label',
              'coherence_unconditional'):
    assert 0 <= jmvae[key] <= 1
  # Every test example's label is judged once: a multiple of 1/100.
  assert jmvae['coherence/label->image'] * 100 == pytest.approx(
      round(jmvae['coherence/label->image'] * 100))
  # A CVAE draws images from p(z|w) only; a VAE has nothing to judge.
  assert sorted(k for k in found['cvae'] if k.startswith('coherence')) == [
      'coherence/label->image', 'coherence_given_1']
  assert not any(k.startswith('coherence') for k in found['vae'])
  assert judge.path.startswith(str(tmp_path / 'cache'))
