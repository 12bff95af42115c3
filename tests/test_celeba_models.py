"""CelebA models: conv shapes, likelihoods, batch norm, the GAN step, end to end."""

import dataclasses
import functools
import json
import math
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from jmvae_jax.nn import conv as cn
from jmvae_jax.tasks.celeba import (experiment as celeba_experiment,
                                    models as celeba_models,
                                    train as celeba_train)
from jmvae_jax.tasks.celeba.config import CelebAConfig
from jmvae_jax.training.checkpoints import Checkpoints
from tests.celeba_fixture import TINY_RUN, fixture_faces, make_celeba_fixture

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _shapes_of(fn, *inputs):
  """Output shapes of fn(*inputs), without compiling or running it."""
  return jax.tree.map(lambda s: s.shape, jax.eval_shape(fn, *inputs))


def _shapes(module, *inputs, **kwargs):
  """Output shapes of a freshly initialized ``module``, without compiling it."""
  variables = jax.eval_shape(
      functools.partial(module.init, **kwargs), jax.random.key(0), *inputs)
  return _shapes_of(functools.partial(module.apply, **kwargs), variables,
                    *inputs)


def _images(key, *shape):
  return jax.random.normal(key, shape + cn.IMAGE_SHAPE, jnp.float32)


def _attributes(key, *shape):
  return jnp.sign(jax.random.normal(key, shape + (40,), jnp.float32))


@pytest.mark.parametrize('lead', [(), (5,), (3, 5)])
def test_conv_output_shapes(lead):
  x = jax.ShapeDtypeStruct(lead + cn.IMAGE_SHAPE, jnp.float32)
  w = jax.ShapeDtypeStruct(lead + (40,), jnp.float32)
  z = jax.ShapeDtypeStruct(lead + (128,), jnp.float32)
  assert _shapes(cn.ImageTower(), x, train=False) == lead + (4096,)
  encoder = cn.ConvGaussianEncoder(128)
  for inputs in [(x, w), (x, None), (None, w)]:
    assert _shapes(encoder, *inputs, train=False) == (lead + (128,),) * 2
  assert _shapes(cn.ImageDecoder(), z, train=False) == lead + cn.IMAGE_SHAPE
  assert _shapes(cn.AttributeDecoder(40), z, train=False) == lead + (40,)
  assert _shapes(cn.Discriminator(), x) == (lead, lead + (4096,))


@pytest.mark.parametrize('channel_mean', [True, False])
@pytest.mark.parametrize('variance', [1.0, 0.3])
def test_image_log_prob_matches_scipy(channel_mean, variance):
  x = np.asarray(_images(jax.random.key(1), 2))
  mean = np.asarray(_images(jax.random.key(2), 2))
  expected = stats.norm.logpdf(x, mean, math.sqrt(variance)).sum(axis=(1, 2, 3))
  if channel_mean:
    expected /= 3
  actual = celeba_models.image_log_prob(x, mean, channel_mean=channel_mean,
                                        variance=variance)
  np.testing.assert_allclose(actual, expected, rtol=1e-5)


def test_attribute_log_prob_matches_scipy_with_unit_variance():
  w = np.asarray(_attributes(jax.random.key(1), 3))
  mean = np.tanh(np.asarray(_attributes(jax.random.key(2), 3)) * 0.7)
  expected = stats.norm.logpdf(w, mean, 1.0).sum(axis=-1)
  np.testing.assert_allclose(celeba_models.attribute_log_prob(w, mean),
                             expected, rtol=1e-5)


def test_faces_are_standardized_per_pixel_with_training_statistics():
  rng = np.random.default_rng(0)
  pixels = rng.integers(0, 256, (20,) + cn.IMAGE_SHAPE, dtype=np.uint8)
  pixels[:, 0, 0, 0] = 7  # A constant pixel: standard deviation 1.
  images = np.divide(pixels, 255, dtype=np.float32)  # As the loader gives.
  np.testing.assert_array_equal(celeba_train.to_uint8(images), pixels)
  stats = celeba_train.pixel_stats(images)
  np.testing.assert_allclose(stats.mean, images.mean(axis=0), atol=1e-6)
  expected_std = images.std(axis=0)
  expected_std[0, 0, 0] = 1.0
  np.testing.assert_allclose(stats.std, expected_std, rtol=1e-5)
  standardized = celeba_train.standardize(jnp.asarray(pixels), stats)
  np.testing.assert_allclose(
      standardized, (images - images.mean(axis=0)) / expected_std, atol=1e-5)


def test_batch_norm_running_averages_follow_lasagne():
  """One training pass: running mean 0.9 * 0 + 0.1 * batch mean, var likewise."""
  tower = cn.AttributeTower()
  w = _attributes(jax.random.key(1), 8)
  variables = tower.init(jax.random.key(0), w, train=False)
  _, updated = tower.apply(variables, w, train=True, mutable=['batch_stats'])
  params = variables['params']
  hidden = jax.nn.relu(w @ params['Dense_0']['kernel']
                       + jnp.broadcast_to(params['Dense_0']['bias'], (8, 512)))
  before_norm = hidden @ params['Dense_1']['kernel']
  running = updated['batch_stats']['BatchNorm_0']
  np.testing.assert_allclose(running['mean'],
                             0.1 * np.mean(before_norm, axis=0), atol=1e-6)
  np.testing.assert_allclose(running['var'],
                             0.9 + 0.1 * np.var(before_norm, axis=0),
                             rtol=1e-5)


@pytest.fixture(scope='module')
def vae_and_variables():
  model = celeba_models.make_model('vae')
  return model, jax.jit(model.init)(jax.random.key(0))


def test_batch_norm_updates_in_training_and_is_only_read_in_evaluation(
    vae_and_variables):
  model, variables = vae_and_variables
  x = _images(jax.random.key(1), 4)

  def train_means(variables, x):
    return model.apply_training(
        variables, lambda networks: model.encode_x(networks, x).mean)

  means, new_stats = jax.jit(train_means)(variables, x)
  changed = jax.tree.map(lambda a, b: bool(jnp.any(a != b)),
                         variables['batch_stats'], new_stats)
  # Every running average of the encoder moved; the decoder did not run.
  assert all(jax.tree.leaves(changed['encoder_x'])), changed
  assert not any(jax.tree.leaves(changed['x_decoder'])), changed
  # Training normalizes with the batch: an example's code depends on the others.
  alone, _ = jax.jit(train_means)(variables, x[:2])
  assert not np.allclose(alone, means[:2], atol=1e-4)

  # Evaluation reads the running averages: per-example, and they matter.
  encode = jax.jit(model.encode_x)
  np.testing.assert_allclose(encode(variables, x[:2]).mean,
                             encode(variables, x).mean[:2], atol=1e-5)
  updated = dict(variables, batch_stats=new_stats)
  assert not np.allclose(encode(updated, x).mean, encode(variables, x).mean,
                         atol=1e-4)


def _changed(before, after):
  return any(bool(jnp.any(a != b))
             for a, b in zip(jax.tree.leaves(before), jax.tree.leaves(after)))


@pytest.mark.parametrize('name', ['cvae', 'cmma'])
def test_conditional_models_condition_where_cvae_and_cmma_do(name):
  """CVAE: p(z) = N(0, I) and p(x|z,w); CMMA: a prior network p(z|w) and p(x|z)."""
  model = celeba_models.make_model(name)
  variables = jax.eval_shape(model.init, jax.random.key(0))
  networks = {'encoder_xw', 'x_decoder'}
  assert set(variables['params']) == (
      networks | {'prior_network'} if name == 'cmma' else networks)
  # The decoder's first dense layer reads z, and w too for CVAE.
  assert variables['params']['x_decoder']['Dense_0']['kernel'].shape == (
      (128 + 40 if name == 'cvae' else 128), 4096)
  z = jax.ShapeDtypeStruct((3, 2, 128), jnp.float32)
  w = jax.ShapeDtypeStruct((3, 2, 40), jnp.float32)
  assert _shapes_of(model.decode_x, variables, z, w) == (3, 2) + cn.IMAGE_SHAPE
  assert _shapes_of(model.conditional_prior, variables, w) == ((3, 2, 128),) * 2
  if name == 'cvae':
    prior = model.conditional_prior(None, jnp.ones((2, 40), jnp.float32))
    np.testing.assert_array_equal(prior.mean, np.zeros((2, 128)))
    np.testing.assert_array_equal(prior.log_var, np.zeros((2, 128)))


_GAN_ENCODERS = {'vae_gan': ('encoder_x',), 'cvae_gan': ('encoder_xw',),
                 'cmma_gan': ('encoder_xw', 'prior_network')}


# Each case compiles a step of the full-size conv networks (~15 s): the quick
# loop keeps one.
@pytest.mark.parametrize('name, feature_weight', [
    ('vae_gan', 0.0),
    pytest.param('cvae_gan', 0.0, marks=pytest.mark.slow),
    pytest.param('cmma_gan', 0.0, marks=pytest.mark.slow),
    pytest.param('vae_gan', 1.0, marks=pytest.mark.slow)])
def test_gan_step_updates_encoder_generator_and_discriminator(name,
                                                              feature_weight):
  config = CelebAConfig(model=name, gan_feature_weight=feature_weight)
  trainer = celeba_train.make_trainer(config.build_model(), config)
  params = jax.jit(trainer.init)(jax.random.key(0))
  opt_state = trainer.init_opt_state(params)
  x = _images(jax.random.key(1), 2)
  w = _attributes(jax.random.key(2), 2)
  step = jax.jit(functools.partial(trainer.step, kl_weight=jnp.float32(1.0)))
  new_params, new_opt_state, metrics = step(params, opt_state, x, w,
                                            key=jax.random.key(3))
  model, new_model = params['model'], new_params['model']
  for encoder in _GAN_ENCODERS[name]:
    assert _changed(model['params'][encoder], new_model['params'][encoder])
  assert _changed(model['params']['x_decoder'],
                  new_model['params']['x_decoder'])
  assert _changed(params['discriminator'], new_params['discriminator'])
  assert _changed(model['batch_stats'], new_model['batch_stats'])
  assert set(new_opt_state) == {'encoder', 'generator', 'discriminator'}
  expected = {'recon/image', 'kl_prior', 'loss', 'generator_pixel',
              'generator_adversarial', 'discriminator'}
  if feature_weight:
    expected.add('feature_recon')
  assert set(metrics) == expected
  assert all(np.isfinite(float(v)) for v in metrics.values())
  # log 4 would be a discriminator that cannot tell: it starts near it.
  assert 1.0 < float(metrics['discriminator']) < 3.0


@pytest.fixture(scope='module')
def faces(tmp_path_factory):
  return fixture_faces(tmp_path_factory.mktemp('celeba'))


# The bounds of results.json, named as an MNIST run's.
_BOUNDS = {'marginal_multiple', 'marginal_single', 'conditional_multiple',
           'conditional_single', 'joint'}


def _expected_bounds(model):
  if model.startswith(('cvae', 'cmma')):
    return {'conditional_multiple'}
  return _BOUNDS if 'jmvae' in model else {'marginal_single'}


def _check_run(results, workdir, model, epochs):
  assert results['model'] == model and results['epoch'] == epochs
  bounds = _BOUNDS & set(results)
  assert bounds == _expected_bounds(model)
  assert all(np.isfinite(results[name]) and results[name] < 0
             for name in bounds)
  assert json.loads((workdir / 'results.json').read_text()) == results
  lines = (workdir / 'metrics.jsonl').read_text().splitlines()
  assert [json.loads(line)['epoch'] for line in lines] == list(
      range(1, epochs + 1))


def test_jmvae_kl_trains_evaluates_and_resumes(faces, tmp_path):
  config = CelebAConfig(model='jmvae_kl', **TINY_RUN)
  logged = []
  results = celeba_experiment.train_and_evaluate(config, tmp_path, data=faces,
                                                 log=logged.append)
  _check_run(results, tmp_path, 'jmvae_kl', epochs=1)
  assert any(line.startswith('epoch 1/1') and 'ETA' in line for line in logged)
  assert any(line.startswith('evaluating:') for line in logged)

  logged.clear()
  results = celeba_experiment.train_and_evaluate(
      dataclasses.replace(config, epochs=2), tmp_path, data=faces,
      log=logged.append)
  assert 'resuming from the checkpoint after epoch 1' in logged
  _check_run(results, tmp_path, 'jmvae_kl', epochs=2)


@pytest.mark.slow
@pytest.mark.parametrize('model', ['jmvae_zero', 'vae', 'cvae', 'cmma',
                                   'jmvae_gan', 'vae_gan', 'cvae_gan',
                                   'cmma_gan'])
def test_every_model_trains_and_evaluates(model, faces, tmp_path):
  results = celeba_experiment.train_and_evaluate(
      CelebAConfig(model=model, **TINY_RUN), tmp_path, data=faces, log=print)
  _check_run(results, tmp_path, model, epochs=1)


def _final_state(workdir, config):
  trainer = celeba_train.make_trainer(config.build_model(), config)
  checkpoints = Checkpoints(os.path.join(workdir, 'checkpoints'))
  state = checkpoints.restore_latest(
      celeba_train.init_state(trainer, config.seed))
  checkpoints.close()
  return state


@pytest.mark.slow
def test_resumed_gan_run_matches_an_uninterrupted_one(faces, tmp_path):
  config = CelebAConfig(model='vae_gan', **dict(TINY_RUN, epochs=2))
  whole = celeba_experiment.train_and_evaluate(
      config, tmp_path / 'whole', data=faces, log=print)
  celeba_experiment.train_and_evaluate(
      dataclasses.replace(config, epochs=1), tmp_path / 'split', data=faces,
      log=print)
  resumed = celeba_experiment.train_and_evaluate(
      config, tmp_path / 'split', data=faces, log=print)
  for name in _BOUNDS & set(whole):
    assert resumed[name] == whole[name]
  a = _final_state(tmp_path / 'whole', config)
  b = _final_state(tmp_path / 'split', config)
  assert int(a.step) == int(b.step) and int(a.epoch) == int(b.epoch) == 2
  for x, y in zip(jax.tree.leaves((a.params, a.opt_state)),
                  jax.tree.leaves((b.params, b.opt_state))):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def _run_binary(*flags, check=True):
  result = subprocess.run(
      [sys.executable, '-m', 'experiments.celeba', *flags], cwd=ROOT,
      capture_output=True, text=True, timeout=900)
  if check and result.returncode != 0:
    raise AssertionError(f'exit {result.returncode}\n{result.stderr[-3000:]}')
  return result


@pytest.mark.parametrize('flags, message', [
    (['--model=cvae_wgan'], "error: unknown --model='cvae_wgan'"),
    (['--gan_feature_weight=-1'], 'error: --gan_feature_weight must be'),
    (['--image_log_prob=mean'], "error: unknown --image_log_prob='mean'"),
])
def test_binary_reports_bad_input_in_one_line(flags, message, tmp_path):
  result = _run_binary(f'--workdir={tmp_path}', *flags, check=False)
  assert result.returncode != 0
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith(message), result.stderr


def test_binary_reports_missing_data_in_one_line(tmp_path):
  result = _run_binary(f'--workdir={tmp_path / "run"}',
                       f'--data_dir={tmp_path / "nothing"}', '--cache_dir=',
                       check=False)
  assert result.returncode != 0
  # tensorflow-datasets may warn about its own directory first.
  errors = [line for line in result.stderr.splitlines()
            if line.startswith('error:')]
  assert len(errors) == 1 and 'CelebA' in errors[0], result.stderr
  assert result.stderr.strip().splitlines()[-1] == errors[0]


@pytest.mark.slow
def test_binary_trains_a_gan_on_the_fixture(tmp_path):
  make_celeba_fixture(tmp_path / 'data')
  workdir = tmp_path / 'run'
  result = _run_binary(
      '--model=jmvae_gan', '--epochs=1', '--batch_size=4', '--eval_k=2',
      '--eval_prior_samples=4', f'--data_dir={tmp_path / "data"}',
      f'--cache_dir={tmp_path / "cache"}', f'--workdir={workdir}')
  assert 'epoch 1/1' in result.stdout and 'ETA' in result.stdout
  results = json.loads((workdir / 'results.json').read_text())
  printed = json.loads(result.stdout[result.stdout.index('{'):])
  assert printed == results and results['model'] == 'jmvae_gan'
