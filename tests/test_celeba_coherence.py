"""CelebA's attribute coherence on the fixture: the judge reads faces the model
decodes in standardized pixels as it reads the raw faces, and a cached judge
adds every coherence the model allows to a run's results."""

import dataclasses

import numpy as np
import pytest

from jmvae_jax.metrics import digit_classifier
from jmvae_jax.tasks.celeba import attribute_classifier
from jmvae_jax.tasks.celeba import experiment as celeba_experiment
from jmvae_jax.tasks.celeba import train as celeba_train
from jmvae_jax.tasks.celeba.config import CelebAConfig
from tests.celeba_fixture import TINY_RUN, fixture_faces

# The fixture has nine training faces: batches of 3, a tiny network.
TINY_JUDGE = dataclasses.replace(
    attribute_classifier.CLASSIFIER, epochs=2, batch_size=3, hidden=(8,),
    conv_channels=(4,))


@pytest.fixture(scope='module')
def faces(tmp_path_factory):
  return fixture_faces(tmp_path_factory.mktemp('celeba') / 'data')


@pytest.fixture
def tiny_judge(monkeypatch):
  monkeypatch.setattr(attribute_classifier, 'CLASSIFIER', TINY_JUDGE)


def test_decoded_faces_are_judged_as_the_raw_faces(faces, tmp_path,
                                                   tiny_judge):
  judge = attribute_classifier.load_or_train(faces, cache_dir=str(tmp_path),
                                             log=lambda _: None)
  assert judge.num_attributes == 40
  stats = celeba_train.pixel_stats(faces.train_images)
  uint8 = celeba_train.to_uint8(faces.test_images)
  standardized = np.asarray(celeba_train.standardize(uint8, stats))
  read = attribute_classifier.classifiers(judge, stats)
  np.testing.assert_array_equal(
      read['image'](standardized.reshape(len(uint8), -1)),
      judge.predict(faces.test_images.reshape(len(uint8), -1)))
  probabilities = np.array([[0.2, 0.7, 0.5]])
  np.testing.assert_array_equal(read['attributes'](probabilities), [[0, 1, 0]])
  # Trained on 0/1 attributes whatever the faces' convention ({-1, 1} here).
  labels = attribute_classifier.judged_data(faces).train_labels
  np.testing.assert_array_equal(labels, faces.train_attributes > 0)


@pytest.mark.slow  # Two tiny CelebA runs, each compiling its bounds.
def test_a_cached_judge_adds_attribute_coherence(faces, tmp_path, tiny_judge):
  attribute_classifier.load_or_train(faces, cache_dir=str(tmp_path),
                                     log=lambda _: None)
  found = {}
  for model in ('jmvae_kl', 'cvae'):
    config = CelebAConfig(model=model, **{**TINY_RUN,
                                          'data_dir': str(tmp_path)})
    found[model] = celeba_experiment.train_and_evaluate(
        config, tmp_path / model, data=faces, log=lambda _: None)
  entries = len(faces.test_images) * 40
  jmvae = found['jmvae_kl']
  for key in ('coherence/attributes->image', 'coherence/image->attributes',
              'coherence_unconditional'):
    assert 0 <= jmvae[key] <= 1
  # A fraction of the test set's (face, attribute) entries.
  value = jmvae['coherence/image->attributes'] * entries
  assert value == pytest.approx(round(value))
  assert sorted(k for k in found['cvae'] if k.startswith('coherence')) == [
      'coherence/attributes->image', 'coherence_given_1']


def test_a_run_without_a_cached_judge_says_how_to_add_it(faces, tmp_path):
  lines = []
  results = celeba_experiment.train_and_evaluate(
      CelebAConfig(model='vae', **{**TINY_RUN, 'data_dir': str(tmp_path)}),
      tmp_path / 'vae', data=faces, log=lines.append)
  assert not any(key.startswith('coherence') for key in results)
  assert any('python -m experiments.classifiers --dataset=celeba' in line
             for line in lines)
  assert digit_classifier.load_cached(
      attribute_classifier.judged_data(faces), cache_dir=tmp_path,
      config=attribute_classifier.CLASSIFIER) is None
