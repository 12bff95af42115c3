"""Subset likelihoods against exact answers, and the PolyMNIST run end to end on tiny data."""

import dataclasses
import json
import os

import cv2
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jmvae_jax import bounds, generation, models
from jmvae_jax.data import polymnist
from jmvae_jax.distributions import DiagGaussian
from jmvae_jax.errors import UserError
from jmvae_jax.metrics import digit_classifier, subsets
from jmvae_jax.tasks.polymnist import classifiers, comparison
from jmvae_jax.tasks.polymnist import config as config_lib
from jmvae_jax.tasks.polymnist import experiment
from jmvae_jax.tasks.polymnist import figures as polymnist_figures
from jmvae_jax.training.restore import TrainedRun
from tests import binaries
from tests import linear_gaussian_multi as lgm
from tests.synthetic import labelled_blobs


def test_every_subset_is_listed_once_by_size():
  listed = subsets.nonempty_subsets(('a', 'b', 'c', 'd'))
  assert len(listed) == 15 and len(set(listed)) == 15
  assert [len(s) for s in listed] == sorted(len(s) for s in listed)
  assert listed[:5] == [('a',), ('b',), ('c',), ('d',), ('a', 'b')]
  assert subsets.name_of(('a', 'c')) == 'a+c'


def test_subset_likelihoods_with_exact_posteriors_are_exact():
  params = lgm.make_params(int(np.random.default_rng().integers(1 << 20)))
  data = lgm.sample_data(params, 6, seed=1)
  observed = {name: jnp.asarray(v, jnp.float32) for name, v in data.items()}
  got = jax.jit(lambda p, o: subsets.log_likelihoods(
      lgm.LinearGaussianMulti(), p, o, key=jax.random.key(0), k=3))(
          jax.tree.map(jnp.asarray, params), observed)
  for subset in subsets.nonempty_subsets(lgm.NAMES):
    expected = lgm.exact_log_marginal(params, data, subset)
    np.testing.assert_allclose(got[f'log_p/{subsets.name_of(subset)}'],
                               expected, rtol=2e-4, atol=2e-3)
  # The conditionals are then exact differences: check one by hand.
  means = {name: float(np.mean(value)) for name, value in got.items()}
  by_size = subsets.conditionals_by_size(means, lgm.NAMES)
  a, b, c = lgm.NAMES
  expected_given_2 = np.mean([
      means[f'log_p/{a}+{b}+{c}'] - means[f'log_p/{b}+{c}'],
      means[f'log_p/{a}+{b}+{c}'] - means[f'log_p/{a}+{c}'],
      means[f'log_p/{a}+{b}+{c}'] - means[f'log_p/{a}+{b}']])
  assert by_size['conditional_given_2'] == pytest.approx(expected_given_2)
  assert set(by_size) == {'conditional_given_1', 'conditional_given_2'}


def test_two_modality_subsets_are_the_paper_bounds():
  model = models.make_model('jmvae_kl', latent_dim=3, encoder_hidden=(8,),
                            decoder_hidden=(8,))
  params = jax.jit(model.init)(jax.random.key(0))
  rng = np.random.default_rng()
  x = jnp.asarray(rng.integers(0, 2, (4, 784)), jnp.float32)
  w = jax.nn.one_hot(jnp.asarray(rng.integers(0, 10, 4)), 10)
  key = jax.random.key(int(rng.integers(1 << 20)))
  got = subsets.log_likelihoods(model, params, {'image': x, 'label': w},
                                key=key, k=7)
  np.testing.assert_allclose(
      got['log_p/image'], bounds.iw_marginal(model, params, x, w, key=key, k=7,
                                             proposal='single'), rtol=1e-6)
  np.testing.assert_allclose(
      got['log_p/image+label'],
      bounds.iw_joint(model, params, x, w, key=key, k=7), rtol=1e-6)


def _tiny_config(**changes):
  settings = dict(epochs=2, warmup_epochs=1, train_examples=200,
                  hidden_width=16, latent_dim=4, eval_k=3, eval_examples=12,
                  eval_batch_size=6, eval_chunk_size=3,
                  separability_examples=100)
  settings.update(changes)
  return config_lib.PolyMNISTConfig(**settings)


@pytest.fixture(scope='module')
def tiny_data():
  return polymnist.generate(labelled_blobs(num_train=200, num_test=12), seed=0)


# Each run compiles the 31 subset bounds (about a minute on a loaded core).
@pytest.mark.slow
@pytest.mark.parametrize('model', ['jmvae_kl', 'jmvae_zero', 'mvae', 'mmvae',
                                   'mopoe'])
def test_a_run_trains_resumes_and_writes_every_subset(tiny_data, tmp_path,
                                                      model):
  lines = []
  first = experiment.train_and_evaluate(_tiny_config(model=model), tmp_path,
                                        data=tiny_data, log=lines.append)
  assert first['epoch'] == 2 and first['num_test_examples'] == 12
  names = [f'log_p/{subsets.name_of(s)}'
           for s in subsets.nonempty_subsets(polymnist.MODALITY_NAMES)]
  assert len(names) == 31 and all(np.isfinite(first[n]) for n in names)
  assert first['joint'] == first['log_p/m0+m1+m2+m3+m4']
  assert [f'conditional_given_{s}' in first for s in range(1, 5)] == [True] * 4
  for size in range(1, 6):
    assert 0 <= first[f'separability_given_{size}'] <= 1
  assert not any(key.startswith('coherence') for key in first)
  assert any('run python -m experiments.classifiers --dataset=polymnist once' in line
             for line in lines)
  # Every term is named by modality; JMVAE-zero has no unimodal KL.
  logged = json.loads((tmp_path / 'metrics.jsonl').read_text().splitlines()[0])
  assert {f'recon/m{m}' for m in range(5)} <= set(logged)
  assert ('kl_unimodal/m4' in logged) == (model == 'jmvae_kl')
  again = experiment.train_and_evaluate(_tiny_config(model=model, epochs=3),
                                        tmp_path, data=tiny_data,
                                        log=lines.append)
  assert again['epoch'] == 3
  assert any('resuming from the checkpoint after epoch 2' in line
             for line in lines)
  assert json.loads((tmp_path / 'results.json').read_text())['epoch'] == 3


@pytest.mark.slow
def test_cached_classifiers_add_coherence(tiny_data, tmp_path, monkeypatch):
  tiny = digit_classifier.ClassifierConfig(
      epochs=2, batch_size=50, hidden=(8,), conv_channels=(4,),
      image_shape=(28, 28, 3), redraw_each_epoch=True)
  monkeypatch.setattr(classifiers, 'CLASSIFIER', tiny)
  # Two modalities first, as a process on a second core would train them;
  # the call for all five then reads those two from the cache.
  some = classifiers.load_or_train(tiny_data, cache_dir=tmp_path, config=tiny,
                                   log=lambda _: None, modalities=(3, 0))
  assert list(some) == ['m3', 'm0']
  lines = []
  judges = classifiers.load_or_train(tiny_data, cache_dir=tmp_path,
                                     config=tiny, log=lines.append)
  assert sorted(judges) == list(polymnist.MODALITY_NAMES)
  trained = {line.split(':')[0] for line in lines if 'epoch' in line}
  assert trained == {'m1', 'm2', 'm4'}
  for name in ('m0', 'm3'):
    assert judges[name].test_accuracy == some[name].test_accuracy
  with pytest.raises(UserError, match='modality 5 does not exist'):
    classifiers.load_or_train(tiny_data, cache_dir=tmp_path, config=tiny,
                              modalities=(5,))
  results = experiment.train_and_evaluate(
      _tiny_config(data_dir=str(tmp_path)), tmp_path / 'run', data=tiny_data,
      log=lambda _: None)
  # 5 x 4 (one given) + 10 x 3 + 10 x 2 + 5 x 1 = 75 (subset, target) pairs.
  pairs = [key for key in results if key.startswith('coherence/')]
  assert len(pairs) == 75 and 'coherence/m1+m3->m0' in results
  for size in range(1, 5):
    assert 0 <= results[f'coherence_given_{size}'] <= 1
  assert 0 <= results['coherence_unconditional'] <= 1
  assert results['classifier_accuracy/m2'] == judges['m2'].test_accuracy
  # The figures of the trained run: both PNGs, sized as plotting lays them out.
  paths = polymnist_figures.write_polymnist_figures(
      str(tmp_path / 'run'), data=tiny_data, num_examples=3,
      log=lambda _: None)
  cross = cv2.imread(paths[polymnist_figures.CROSS_MODAL])
  # 6 panels of 5 x 3 images at 50 px: 45 + 150 + 5 (150 + 25) wide.
  assert cross.shape[:2] == (5 * 50 + 75, 45 + 150 + 5 * 175)
  by_inputs = cv2.imread(paths[polymnist_figures.BY_INPUTS])
  assert by_inputs.shape[:2] == (325, 1050)  # Three panels in a row.
  assert os.path.isfile(paths['report'])


def test_the_cross_modal_figure_decodes_one_draw_per_source(tiny_data,
                                                            monkeypatch):
  config = _tiny_config()
  model = config.build_model()
  run = TrainedRun(workdir='run', config=config, model=model,
                   params=jax.jit(model.init)(jax.random.key(0)), epoch=0)
  drawn = {}
  monkeypatch.setattr(
      polymnist_figures.plotting, 'image_grids',
      lambda panels, path, **kwargs: drawn.update(panels=panels) or path)
  images = tiny_data.test_images[:4]
  key = jax.random.key(int(np.random.default_rng().integers(1 << 20)))
  polymnist_figures.cross_modal_figure(run, images, 'x.png', key=key)
  titles = [title for title, _ in drawn['panels']]
  assert titles == ['inputs x_s'] + [f'm{t} from x_s' for t in range(5)]
  inputs = drawn['panels'][0][1]
  np.testing.assert_allclose(inputs[2, 1], images[1, 2] / 255.0, rtol=1e-6)
  observed = experiment.observed(images)
  for t, target in enumerate(polymnist.MODALITY_NAMES):
    for s, source in enumerate(polymnist.MODALITY_NAMES):
      expected = generation.reconstruct(
          model, run.params, {source: observed[source]}, target,
          key=jax.random.fold_in(key, s))
      np.testing.assert_allclose(drawn['panels'][1 + t][1][s],
                                 np.reshape(expected, (4, 28, 28, 3)),
                                 rtol=1e-5, atol=1e-6)


def test_metrics_are_drawn_against_the_number_of_inputs(tmp_path, monkeypatch):
  drawn = {}
  monkeypatch.setattr(
      polymnist_figures.plotting, 'curves',
      lambda series, path, **kwargs: drawn.update(series) or path)
  results = {'coherence_given_2': 0.5, 'coherence_given_1': 0.25,
             'separability_given_1': 0.9, 'joint': -3.0}
  assert polymnist_figures.by_inputs_figure(results, 'p.png', title='t')
  x, y = drawn['coherence of x_m decoded from X_S']
  assert list(x) == [1, 2] and list(y) == [0.25, 0.5]
  assert list(drawn['linear separability of q(z | X_S)'][1]) == [0.9]
  assert 'log p(x_m | X_S), nats' not in drawn
  assert polymnist_figures.by_inputs_figure({'joint': -3.0}, 'p.png',
                                            title='t') is None


def test_bad_settings_are_refused_in_one_line():
  with pytest.raises(UserError, match='model') as error:
    config_lib.PolyMNISTConfig(model='vae')
  assert '\n' not in str(error.value)
  with pytest.raises(UserError, match='laplace_scale'):
    config_lib.PolyMNISTConfig(laplace_scale=0.0)


def test_observations_are_the_five_images_scaled():
  images = np.random.default_rng().integers(0, 256, (3, 5, 28, 28, 3),
                                            dtype=np.uint8)
  got = experiment.observed(jnp.asarray(images))
  assert list(got) == ['m0', 'm1', 'm2', 'm3', 'm4']
  for m in range(5):
    np.testing.assert_allclose(got[f'm{m}'],
                               images[:, m].reshape(3, -1) / 255.0, rtol=1e-6)


def test_runs_are_compared_side_by_side(tmp_path):
  rng = np.random.default_rng()
  coherence_1 = float(rng.uniform())
  runs = {'kl': {'coherence_given_1': coherence_1, 'joint': -1234.56,
                 'epoch': 3, 'num_test_examples': 50, 'eval_k': 7,
                 'eval_seconds': 95.0},
          'zero': {'joint': -2000.0}}
  for name, results in runs.items():
    (tmp_path / name).mkdir()
    (tmp_path / name / 'results.json').write_text(json.dumps(results))
  (tmp_path / 'kl' / 'metrics.jsonl').write_text(
      '{"epoch": 1, "seconds": 30.0}\n{"epoch": 2, "seconds": 40.0}\n')
  text = comparison.compare([str(tmp_path / 'kl'), str(tmp_path / 'zero')],
                            ['A', 'B'])
  lines = text.splitlines()
  assert f'| \\|S\\| = 1 | {coherence_1:.3f} |  |' in lines
  assert '| log p(X), all five | -1234.6 | -2000.0 |' in lines
  assert '| training | 1m10s | 0s |' in lines
  assert '| evaluation | 1m35s | 0s |' in lines
  assert '| k | 7 |  |' in lines
  with pytest.raises(UserError, match='train and evaluate the run first'):
    comparison.compare([str(tmp_path / 'missing')], ['C'])


@dataclasses.dataclass(frozen=True)
class _ClassOrNoise:
  """q(z|X_S) is centred on modality 'a' (1e4 x the one-hot class: badly
  scaled) when it is observed, else on 'b' (noise)."""

  modality_names = ('a', 'b')
  latent_dim = 3

  def encode_subset(self, params, observed):
    mean = observed['a'] if 'a' in observed else observed['b']
    return DiagGaussian(mean, jnp.zeros_like(mean))

  def log_likelihood(self, params, name, value, z):
    raise AssertionError('not used')


def test_separability_reads_the_class_wherever_the_latent_holds_it():
  rng = np.random.default_rng()

  def split(n):
    labels = rng.integers(0, 3, n)
    return ({'a': 1e4 * np.eye(3, dtype=np.float32)[labels],
             'b': rng.normal(size=(n, 3)).astype(np.float32)}, labels)

  train, train_labels = split(300)
  test, test_labels = split(300)
  found = subsets.separability_by_size(_ClassOrNoise(), {}, train,
                                       train_labels, test, test_labels)
  assert found['separability_given_2'] == 1.0  # {a, b}: the class.
  # Given one: 'a' reads all, 'b' about a third.
  assert 0.55 < found['separability_given_1'] < 0.8


@pytest.mark.parametrize('flags, error', [
    (['--modalities=3,x'], 'error: --modalities=3,x: give modality indices'),
    (['--modalities=5'], 'error: modality 5 does not exist'),
    (['--dataset=mnist', '--modalities=0'],
     'error: --modalities=0: only PolyMNIST has several classifiers'),
    (['--dataset=celeba', '--release'],
     'error: --release ships PolyMNIST and MNIST classifiers only'),
])
def test_classifiers_binary_rejects_bad_flags(tmp_path, flags, error):
  # The data directory is empty: the flags are checked before any data.
  result = binaries.run_module('experiments.classifiers',
                               f'--data_dir={tmp_path}', *flags)
  binaries.assert_one_line_error(result, error)
