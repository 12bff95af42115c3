"""Tests of the CelebA pipeline: face filter, annotation files, cache, split."""

from __future__ import annotations

import importlib
import json
import pathlib
import shutil

import cv2
import numpy as np
import pytest

from jmvae_jax.data import celeba
from jmvae_jax.errors import UserError

import celeba_fixture


@pytest.fixture(scope='module')
def made(tmp_path_factory) -> tuple[pathlib.Path, dict[str, object]]:
  root = tmp_path_factory.mktemp('celeba')
  return root, celeba_fixture.make_celeba_fixture(root)


@pytest.fixture(scope='module')
def celeba_dir(made) -> pathlib.Path:
  """A CelebA fixture directory shared by the module's tests: do not change."""
  return made[0]


@pytest.fixture(scope='module')
def expected(made) -> dict[str, object]:
  """What loading ``celeba_dir`` should find (see ``make_celeba_fixture``)."""
  return made[1]


@pytest.fixture
def own_dir(celeba_dir, tmp_path) -> pathlib.Path:
  """A copy of the fixture directory that a test may change."""
  return pathlib.Path(shutil.copytree(celeba_dir, tmp_path / 'celeba'))


@pytest.fixture(scope='module')
def cascade():
  return celeba.load_cascade()


def load_local(data_dir, **kwargs) -> celeba.CelebAData:
  kwargs.setdefault('workers', 1)
  return celeba.load_celeba(data_dir, sources=('local',), **kwargs)


def count_detections(monkeypatch) -> list[int]:
  """Counts calls of the per-chunk detector (in-process, workers=1)."""
  calls = []
  original = celeba._process_chunk

  def counting(chunk):
    calls.append(1)
    return original(chunk)

  monkeypatch.setattr(celeba, '_process_chunk', counting)
  return calls


def assert_same_data(a: celeba.CelebAData, b: celeba.CelebAData) -> None:
  for name in ('train_images', 'train_attributes', 'test_images',
               'test_attributes'):
    np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
  assert (a.num_total, a.num_kept, a.num_unreadable) == (
      b.num_total, b.num_kept, b.num_unreadable)


# The face filter.


@pytest.mark.parametrize('index', range(10))
def test_keeps_real_faces(cascade, index):
  face = celeba.crop_face(celeba_fixture.face_images()[index], cascade)
  assert face is not None
  assert face.shape == (64, 64, 3) and face.dtype == np.float32
  assert 0 <= face.min() < face.max() <= 1


@pytest.mark.parametrize('index', range(4))
def test_rejects_non_faces(cascade, index):
  image = celeba_fixture.non_face_images()[index]
  assert celeba.detect_face(image, cascade) is None
  assert celeba.crop_face(image, cascade) is None


def test_crop_is_the_centred_square_of_1_3_box_sides(cascade):
  image = celeba_fixture.face_images()[0]
  x, y, w, h = celeba.detect_face(image, cascade)
  assert w == h and w > 80  # Haar boxes are square; the face is ~100 px.
  side = round(1.3 * w)
  left, top = round(x + (w - side) / 2), round(y + (h - side) / 2)
  assert 0 <= left and left + side <= image.shape[1]
  assert 0 <= top and top + side <= image.shape[0]
  square = image[top : top + side, left : left + side]
  reference = cv2.resize(square, (64, 64), interpolation=cv2.INTER_AREA) / 255
  face = celeba.crop_face(image, cascade)
  np.testing.assert_allclose(face, reference, atol=1e-6)


def test_crop_repeats_the_border_where_the_square_leaves_the_image(cascade):
  # Cutting off the left 40 columns puts the face box near the left edge.
  image = np.ascontiguousarray(celeba_fixture.face_images()[0][:, 40:])
  x, y, w, h = celeba.detect_face(image, cascade)
  side = round(1.3 * w)
  left, top = round(x + (w - side) / 2), round(y + (h - side) / 2)
  assert left < 0  # The square reaches past the left edge.
  pad = -left
  padded = np.pad(image, ((pad, pad), (pad, pad), (0, 0)), mode='edge')
  square = padded[top + pad : top + pad + side, 0:side]
  reference = cv2.resize(square, (64, 64), interpolation=cv2.INTER_AREA) / 255
  np.testing.assert_allclose(celeba.crop_face(image, cascade), reference,
                             atol=1e-6)


def test_crop_keeps_channel_order(cascade):
  rgb = celeba_fixture.face_images()[0]
  face = celeba.crop_face(rgb, cascade)
  # Skin makes red dominate blue.
  assert face[..., 0].mean() > face[..., 2].mean()


def test_found_face_smaller_than_0_4_of_the_height_is_rejected(cascade):
  image = celeba_fixture.small_face_image()
  x, y, w, h = celeba.detect_face(image, cascade)
  assert round(1.3 * w) <= 0.4 * image.shape[0]
  assert celeba.crop_face(image, cascade) is None
  # The same face, enlarged so that its crop passes the rule, is kept.
  larger = cv2.resize(image, None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC)
  window = larger[3 * y - 100 : 3 * y - 100 + 218, 3 * x - 60 : 3 * x + 118]
  assert celeba.crop_face(np.ascontiguousarray(window), cascade) is not None


@pytest.mark.parametrize(
    'content', [b'', b'This is not an image.\n', 'truncated', None]
)
def test_unreadable_images_decode_to_none(tmp_path, content):
  path = tmp_path / 'image.jpg'
  if content == 'truncated':
    jpeg = celeba_fixture.jpeg_bytes(celeba_fixture.face_images()[0])
    content = jpeg[: len(jpeg) - 100]
  if content is not None:
    path.write_bytes(content)
  assert celeba._decode_image(str(path)) is None


def test_opencv_without_the_cascade_is_an_error(monkeypatch):
  monkeypatch.setattr(celeba, 'CASCADE_FILE', 'haarcascade_absent.xml')
  with pytest.raises(UserError, match="'opencv-python-headless>=4.10,<5'"):
    celeba.load_cascade()


# Loading.


def test_load_counts_kept_rejected_and_unreadable(celeba_dir, expected):
  data = load_local(celeba_dir)
  assert data.num_total == expected['num_total'] == 19
  assert data.num_kept == expected['num_kept'] == 10
  assert data.num_unreadable == expected['num_unreadable'] == 4
  assert data.attribute_names == celeba.ATTRIBUTE_NAMES
  assert data.source == f'CelebA layout in {celeba_dir.resolve()}'


def test_split_is_90_10_and_well_formed(celeba_dir):
  data = load_local(celeba_dir)
  assert data.train_images.shape == (9, 64, 64, 3)
  assert data.test_images.shape == (1, 64, 64, 3)
  assert data.train_attributes.shape == (9, 40)
  assert data.test_attributes.shape == (1, 40)
  for images in (data.train_images, data.test_images):
    assert images.dtype == np.float32
    assert 0 <= images.min() and images.max() <= 1
  train, test = celeba._split_indices(191_899)
  assert (len(train), len(test)) == (172_709, 19_190)
  assert not set(train) & set(test)


def test_attribute_conventions(celeba_dir, expected):
  binary = load_local(celeba_dir)
  signed = load_local(celeba_dir, attribute_values='signed')
  train, test = celeba._split_indices(expected['num_kept'])
  kept = expected['kept_attributes']
  np.testing.assert_array_equal(signed.train_attributes, kept[train])
  np.testing.assert_array_equal(signed.test_attributes, kept[test])
  np.testing.assert_array_equal(binary.train_attributes, (kept[train] + 1) / 2)
  assert binary.train_attributes.dtype == signed.train_attributes.dtype
  assert binary.train_attributes.dtype == np.float32
  assert set(np.unique(binary.train_attributes)) == {0.0, 1.0}


def test_one_and_two_workers_give_identical_arrays(celeba_dir):
  assert_same_data(load_local(celeba_dir, workers=1),
                   load_local(celeba_dir, workers=2))


def test_max_images_takes_the_first_images(celeba_dir):
  data = load_local(celeba_dir, max_images=5)
  # Files 1-5: face, small face, face, truncated JPEG, face.
  assert (data.num_total, data.num_kept, data.num_unreadable) == (5, 3, 1)


def test_no_face_kept_is_an_error(own_dir):
  for line in (own_dir / celeba.ATTRIBUTE_FILE).read_text().splitlines()[2:]:
    name = line.split()[0]
    if (own_dir / celeba.IMAGE_DIR / name).exists():
      (own_dir / celeba.IMAGE_DIR / name).write_bytes(b'')
  with pytest.raises(UserError, match='No face was kept from the 19 images'):
    load_local(own_dir)


# The cache.


def test_cache_is_written_once_and_then_read(celeba_dir, tmp_path,
                                             monkeypatch):
  cache = tmp_path / 'cache'
  built = load_local(celeba_dir, cache_dir=cache)
  files = sorted(p.name for p in cache.iterdir())
  assert files == ['celeba64.json', 'celeba64.npz']
  stamps = [(cache / name).stat().st_mtime_ns for name in files]
  meta = json.loads((cache / 'celeba64.json').read_text())
  assert (meta['num_total'], meta['num_kept'], meta['num_rejected'],
          meta['num_unreadable']) == (19, 10, 5, 4)
  assert meta['params']['cascade'] == celeba.CASCADE_FILE

  def no_detection(chunk):
    raise AssertionError('the cache should have been used')

  monkeypatch.setattr(celeba, '_process_chunk', no_detection)
  assert_same_data(built, load_local(celeba_dir, cache_dir=cache))
  assert [(cache / name).stat().st_mtime_ns for name in files] == stamps


def test_cache_failing_its_checksum_is_rebuilt(celeba_dir, tmp_path,
                                               monkeypatch):
  cache = tmp_path / 'cache'
  built = load_local(celeba_dir, cache_dir=cache)
  with np.load(cache / 'celeba64.npz') as npz:
    arrays = dict(npz)
  arrays['images'][0, 0, 0, 0] ^= 1
  np.savez(cache / 'celeba64.npz', **arrays)
  calls = count_detections(monkeypatch)
  assert_same_data(built, load_local(celeba_dir, cache_dir=cache))
  assert calls
  calls.clear()
  load_local(celeba_dir, cache_dir=cache)
  assert not calls  # The rebuilt cache holds.


def test_damaged_cache_file_is_rebuilt(celeba_dir, tmp_path, monkeypatch):
  cache = tmp_path / 'cache'
  built = load_local(celeba_dir, cache_dir=cache)
  npz = cache / 'celeba64.npz'
  npz.write_bytes(npz.read_bytes()[:1000])
  calls = count_detections(monkeypatch)
  assert_same_data(built, load_local(celeba_dir, cache_dir=cache))
  assert calls


def test_cache_with_other_settings_is_rebuilt(celeba_dir, tmp_path,
                                              monkeypatch):
  cache = tmp_path / 'cache'
  load_local(celeba_dir, cache_dir=cache, max_images=5)
  calls = count_detections(monkeypatch)
  data = load_local(celeba_dir, cache_dir=cache)
  assert calls and data.num_total == 19
  assert json.loads((cache / 'celeba64.json').read_text())['num_total'] == 19


# Missing and broken files.


def test_missing_directory_is_an_error(tmp_path):
  with pytest.raises(UserError, match='nowhere is not a directory.*holds'):
    load_local(tmp_path / 'nowhere')


@pytest.mark.parametrize(
    'part', [celeba.IMAGE_DIR, celeba.ATTRIBUTE_FILE, celeba.PARTITION_FILE]
)
def test_missing_part_of_the_layout_is_named(own_dir, part):
  path = own_dir / part
  shutil.rmtree(path) if path.is_dir() else path.unlink()
  with pytest.raises(UserError, match=f'lacks {part}'):
    load_local(own_dir)


def edit_line(path: pathlib.Path, number: int, edit) -> None:
  lines = path.read_text().splitlines()
  lines[number - 1] = edit(lines[number - 1])
  path.write_text('\n'.join(lines) + '\n')


@pytest.mark.parametrize(
    'number, edit, problem',
    [
        (7, lambda line: line.rsplit(' ', 1)[0], 'found 39 values'),
        (7, lambda line: line + '  1', 'found 41 values'),
        (7, lambda line: line[:-2] + ' 0', "value '0' is not -1 or 1"),
        (2, lambda line: line.replace('Young', ''), 'found 39'),
        (1, lambda line: '202599', 'says 202599 images but 19'),
        (1, lambda line: 'many', 'expected the number of images'),
    ],
)
def test_broken_attribute_file_names_file_and_line(own_dir, number, edit,
                                                   problem):
  path = own_dir / celeba.ATTRIBUTE_FILE
  edit_line(path, number, edit)
  with pytest.raises(UserError) as error:
    load_local(own_dir)
  assert f'{path}, line {number}:' in str(error.value)
  assert problem in str(error.value)


def test_broken_partition_file_names_file_and_line(own_dir):
  path = own_dir / celeba.PARTITION_FILE
  edit_line(path, 3, lambda line: line.replace(' 0', ' 7'))
  with pytest.raises(UserError, match=f'{path}, line 3: .*0, 1 or 2'):
    load_local(own_dir)


def test_annotation_files_listing_different_images_is_an_error(own_dir):
  path = own_dir / celeba.PARTITION_FILE
  path.write_text(''.join(path.read_text().splitlines(True)[:-1]))
  with pytest.raises(UserError, match='1 only in the first'):
    load_local(own_dir)


@pytest.mark.parametrize(
    'kwargs, problem',
    [
        ({'attribute_values': 'bool'}, 'attribute_values'),
        ({'workers': 0}, 'workers=0'),
        ({'max_images': 0}, 'max_images=0'),
    ],
)
def test_bad_arguments_are_errors(celeba_dir, kwargs, problem):
  with pytest.raises(UserError, match=problem):
    load_local(celeba_dir, **kwargs)


def test_unknown_source_is_an_error(celeba_dir):
  with pytest.raises(UserError, match="choose from \\['tfds', 'local'\\]"):
    celeba.load_celeba(celeba_dir, sources=('gcs',))


# tfds.


def tfds_example(image: np.ndarray, row: np.ndarray) -> dict[str, object]:
  """A celeb_a example as tfds gives it: RGB image, boolean attributes."""
  attributes = {n: bool(v > 0) for n, v in zip(celeba.ATTRIBUTE_NAMES, row)}
  return {'image': image, 'attributes': attributes}


def test_tfds_source_through_mock_data(tmp_path):
  tfds = pytest.importorskip('tensorflow_datasets')
  faces = celeba_fixture.face_images()
  others = [celeba_fixture.small_face_image()] + (
      celeba_fixture.non_face_images())
  rows = np.random.default_rng(0).choice([-1, 1], size=(15, 40))
  examples = [tfds_example(image, row)
              for image, row in zip(faces + others, rows)]
  splits = {'train': examples[:8] + examples[10:13],
            'validation': examples[8:10], 'test': examples[13:]}

  def as_data_source(builder, split, **kwargs):
    del builder, kwargs
    return splits[split]

  with tfds.testing.mock_data(as_data_source_fn=as_data_source):
    data = celeba.load_celeba(tmp_path, sources=('tfds', 'local'),
                              workers=1, attribute_values='signed')
  assert data.source == 'tfds celeb_a (train+validation+test)'
  assert (data.num_total, data.num_kept, data.num_unreadable) == (15, 10, 0)
  # Source order is train, validation, test: the faces are rows 0-9.
  train, test = celeba._split_indices(10)
  np.testing.assert_array_equal(data.train_attributes, rows[:10][train])
  np.testing.assert_array_equal(data.test_attributes, rows[:10][test])
  assert not list(tmp_path.iterdir())


def test_local_layout_is_used_when_tfds_has_no_celeba(celeba_dir, tmp_path,
                                                      monkeypatch):
  pytest.importorskip('tensorflow_datasets')
  constants = importlib.import_module('tensorflow_datasets.core.constants')
  monkeypatch.setattr(constants, 'DATA_DIR', str(tmp_path))  # An empty one.
  data = celeba.load_celeba(celeba_dir, workers=1)
  assert data.source.startswith('CelebA layout')


# Progress.


def test_progress_line_gives_count_rate_and_eta():
  line = celeba.format_progress(1000, 202_599, elapsed=10.0)
  assert '1000/202599 images (0.5%)' in line
  assert '100.0 images/s' in line
  assert 'ETA 0:33:36' in line
  assert 'ETA ?' in celeba.format_progress(0, 10, elapsed=0.0)
