"""PolyMNIST: the offline generator against a per-pixel reference, and the published layout."""

import os
import pathlib

import cv2
import numpy as np
import pytest

from jmvae_jax.data import cache, mnist, polymnist
from jmvae_jax.errors import UserError
from jmvae_jax.tasks.mnist.config import Config
from jmvae_jax.tasks.polymnist import classifiers
from tests.synthetic import labelled_blobs

# cache.arrays_sha256 of the PolyMNIST generated with seed 0 from the classic
# mnist.pkl.gz (its 60,000 training and 10,000 test images) and BACKGROUNDS.
GENERATED_SEED0_SHA256 = (
    '656af6f8758a7c556cd58e897017e0e5d33dc34271bad26ae04a0b84e10e3f53')


def _rng():
  seed = int(np.random.default_rng().integers(1 << 31))
  print(f'seed {seed}')
  return np.random.default_rng(seed)


def test_recipe_rows_share_a_class_and_each_modality_uses_every_image_once():
  rng = _rng()
  labels = rng.integers(0, 10, 500)
  shapes = [(int(rng.integers(28, 90)), int(rng.integers(28, 90)), 3)
            for _ in range(5)]
  recipe = polymnist.make_recipe(labels, shapes, np.random.default_rng(7))
  assert recipe.digits.shape == (500, 5) and recipe.corners.shape == (500, 5, 2)
  np.testing.assert_array_equal(recipe.digits[:, 0], np.arange(500))
  np.testing.assert_array_equal(labels[recipe.digits],
                                np.repeat(labels[:, None], 5, axis=1))
  for m in range(5):
    np.testing.assert_array_equal(np.sort(recipe.digits[:, m]), np.arange(500))
    assert recipe.corners[:, m].min() >= 0
    assert np.all(recipe.corners[:, m] <= np.array(shapes[m][:2]) - 28)
  # Images differ across modalities almost always (a class of ~50 images).
  assert np.mean(recipe.digits[:, 1] != recipe.digits[:, 0]) > 0.9
  again = polymnist.make_recipe(labels, shapes, np.random.default_rng(7))
  np.testing.assert_array_equal(again.digits, recipe.digits)
  np.testing.assert_array_equal(again.corners, recipe.corners)


def test_render_places_inverted_crop_colours_under_the_ink():
  rng = _rng()
  grey = rng.uniform(size=(40, 784)).astype(np.float32)
  photos = [rng.integers(0, 256, (int(rng.integers(28, 70)),
                                  int(rng.integers(28, 70)), 3), np.uint8)
            for _ in range(5)]
  labels = rng.integers(0, 10, 40)
  recipe = polymnist.make_recipe(labels, [p.shape for p in photos], rng)
  out = polymnist.render(grey, photos, recipe, chunk=7)
  assert out.shape == (40, 5, 28, 28, 3) and out.dtype == np.uint8
  for i in range(40):
    for m in range(5):
      top, left = recipe.corners[i, m]
      crop = photos[m][top:top + 28, left:left + 28].astype(int)
      ink = grey[recipe.digits[i, m]].reshape(28, 28) > 0.5
      for row in range(28):
        for col in range(28):
          expected = 255 - crop[row, col] if ink[row, col] else crop[row, col]
          np.testing.assert_array_equal(out[i, m, row, col], expected)


def test_the_photographs_ship_with_scikit_image_and_are_checked(monkeypatch):
  photos = polymnist.background_photos()
  assert len(photos) == 5
  for photo in photos:
    assert photo.dtype == np.uint8 and photo.ndim == 3 and photo.shape[2] == 3
    assert min(photo.shape[:2]) >= 28 and photo.std() > 10
  # RGB, not OpenCV's BGR: coffee.png is a red-brown picture.
  red, _, blue = photos[2].reshape(-1, 3).mean(axis=0)
  assert red > blue
  monkeypatch.setattr(polymnist, 'BACKGROUNDS',
                      (('chelsea.png', '0' * 64),) + polymnist.BACKGROUNDS[1:])
  with pytest.raises(UserError, match='not the photograph'):
    polymnist.background_photos()


def test_generation_is_deterministic_in_its_seed():
  images = labelled_blobs(num_train=120, num_test=30)
  first = polymnist.generate(images, seed=3)
  again = polymnist.generate(images, seed=3)
  other = polymnist.generate(images, seed=4)
  np.testing.assert_array_equal(first.train_images, again.train_images)
  np.testing.assert_array_equal(first.test_images, again.test_images)
  assert not np.array_equal(first.train_images, other.train_images)
  np.testing.assert_array_equal(first.train_labels, images.train_labels)
  assert first.train_images.shape == (120, 5, 28, 28, 3)
  assert first.test_images.shape == (30, 5, 28, 28, 3)


def _write_published(root: pathlib.Path, data: polymnist.PolyMNISTData):
  """Writes ``data`` in the published layout: root/PolyMNIST/split/mM/i.label.png."""
  for split, images, labels in (('train', data.train_images, data.train_labels),
                                ('test', data.test_images, data.test_labels)):
    for m in range(5):
      folder = root / 'PolyMNIST' / split / f'm{m}'
      folder.mkdir(parents=True)
      for i, (image, label) in enumerate(zip(images, labels)):
        cv2.imwrite(str(folder / f'{i}.{label}.png'),
                    cv2.cvtColor(image[m], cv2.COLOR_RGB2BGR))


def test_published_files_load_in_index_order_and_are_cached(tmp_path,
                                                            monkeypatch):
  # 12 examples, so that '10.x.png' sorts before '2.x.png' by name.
  data = polymnist.generate(labelled_blobs(num_train=12, num_test=3), seed=0)
  _write_published(tmp_path, data)
  loaded = polymnist.load_polymnist(tmp_path)
  assert loaded.source == f'files: {tmp_path / "PolyMNIST"}'
  np.testing.assert_array_equal(loaded.train_images, data.train_images)
  np.testing.assert_array_equal(loaded.train_labels, data.train_labels)
  np.testing.assert_array_equal(loaded.test_images, data.test_images)
  assert loaded.train_labels.dtype == np.int32
  assert (tmp_path / 'PolyMNIST' / 'train_arrays.npz').exists()

  def unreadable(*args):
    raise AssertionError('read the PNGs again instead of the cache')

  monkeypatch.setattr(polymnist, '_read_split', unreadable)
  cached = polymnist.load_polymnist(tmp_path)
  np.testing.assert_array_equal(cached.train_images, data.train_images)


@pytest.mark.parametrize('damage, message', [
    (lambda split: os.rename(split / 'm3', split / 'modality3'),
     'm3 is missing'),
    (lambda split: (split / 'm1' / '0.5.png').rename(split / 'm1' / 'a.png'),
     'is not named <index>.<label>.png'),
    (lambda split: next((split / 'm4').glob('1.*.png')).unlink(),
     'hold different files'),
])
def test_a_damaged_layout_is_refused_in_one_line(tmp_path, damage, message):
  data = polymnist.generate(labelled_blobs(num_train=3, num_test=2, seed=1),
                            seed=0)
  data = polymnist.PolyMNISTData(
      data.train_images, np.array([5, 2, 7], np.int32), data.test_images,
      data.test_labels, data.source)
  _write_published(tmp_path, data)
  damage(tmp_path / 'PolyMNIST' / 'train')
  with pytest.raises(UserError, match=message) as error:
    polymnist.load_polymnist(tmp_path)
  assert '\n' not in str(error.value)


def test_missing_data_says_what_to_do(tmp_path):
  with pytest.raises(UserError, match='place the published files there'):
    polymnist.load_polymnist(tmp_path, sources=('files',))
  with pytest.raises(UserError, match='sources must be among'):
    polymnist.load_polymnist(tmp_path, sources=('download',))


@pytest.fixture(scope='module')
def generated_seed0(local_mnist) -> polymnist.PolyMNISTData:
  """The PolyMNIST generated from the real MNIST with the default seed."""
  del local_mnist  # Only makes sure the classic file is there.
  return polymnist.load_polymnist(
      os.path.expanduser(Config.data_dir), sources=('generate',),
      mnist_sources=('local',))


@pytest.mark.slow
def test_generated_from_real_mnist_has_its_pinned_checksum(generated_seed0):
  data = generated_seed0
  assert data.train_images.shape == (mnist.MAX_TRAIN, 5, 28, 28, 3)
  assert data.test_images.shape == (10_000, 5, 28, 28, 3)
  assert cache.arrays_sha256({
      'train_images': data.train_images, 'train_labels': data.train_labels,
      'test_images': data.test_images, 'test_labels': data.test_labels,
  }) == GENERATED_SEED0_SHA256


def _crop_corner(photo: np.ndarray, crop: np.ndarray) -> tuple[int, int] | None:
  """Where ``crop`` [28, 28, 3] lies in ``photo``, if it is a window of it."""
  for top, left in np.argwhere(np.all(photo == crop[0, 0], axis=-1)):
    if (top + 28 <= photo.shape[0] and left + 28 <= photo.shape[1]
        and np.array_equal(photo[top:top + 28, left:left + 28], crop)):
      return int(top), int(left)
  return None


def test_a_redraw_puts_each_digit_on_a_new_crop_of_its_background():
  images = labelled_blobs(num_train=40, num_test=10)
  data = polymnist.generate(images, seed=5)
  generator = data.generator
  first, again = generator.redraw(0, 7), generator.redraw(0, 7)
  np.testing.assert_array_equal(first, again)  # A draw is a function of it.
  other = generator.redraw(0, 8)
  assert first.shape == (40, 28, 28, 3) and first.dtype == np.uint8
  ink = images.train_images.reshape(-1, 28, 28) > polymnist.INK_THRESHOLD
  corners = set()
  for draw in (first, other, data.train_images[:, 0]):
    for i in range(0, 40, 7):
      # Modality 0 keeps example i's digit: blending its ink again undoes the
      # difference blend, which must leave a window of photograph 0.
      crop = polymnist.composite(ink[i], draw[i])
      corner = _crop_corner(generator.photos[0], crop)
      assert corner is not None, i
      corners.add((i, corner))
  assert len(corners) > 2 * len(range(0, 40, 7))  # New crops, mostly.
  # Another modality keeps every example's class (its digit may change).
  assert generator.redraw(3, 7).shape == (40, 28, 28, 3)
  np.testing.assert_array_equal(generator.labels, data.train_labels)


def test_published_files_have_no_generator(tmp_path):
  data = polymnist.generate(labelled_blobs(num_train=6, num_test=3), seed=0)
  _write_published(tmp_path, data)
  loaded = polymnist.load_polymnist(tmp_path, sources=('files',))
  assert loaded.generator is None


@pytest.mark.slow
def test_the_released_classifiers_judge_the_generated_data(generated_seed0,
                                                          tmp_path):
  # An empty cache: all five come from the library's released folder, and
  # each reads its modality's test images as well as it recorded.
  judges = classifiers.load_cached(generated_seed0, cache_dir=tmp_path)
  assert judges is not None and list(judges) == list(polymnist.MODALITY_NAMES)
  for m, (name, judge) in enumerate(judges.items()):
    assert os.path.dirname(judge.path) == classifiers.RELEASED_DIR, name
    test = classifiers.modality_data(generated_seed0, m)
    # Within one image of 10,000: another CPU may round a borderline one.
    assert judge.accuracy(test.test_images, test.test_labels) == (
        pytest.approx(judge.test_accuracy, abs=1e-4)), name
    assert judge.test_accuracy >= 0.98, name
