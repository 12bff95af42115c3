"""PolyMNIST: five image modalities of one digit, made offline from MNIST and five photographs.

PolyMNIST (Sutter, Daunhawer & Vogt 2021, "Generalized Multimodal ELBO") has
five modalities; example i of every modality shows an MNIST digit of the same
class, a different MNIST image in each, on a 28 x 28 crop of that modality's
own background photograph, in colour. The digit is binarized and
difference-blended with the crop: where the digit has ink the pixel is
255 - crop, elsewhere the crop, so the strokes show the inverted colours of
the background. Only the digit's class is shared; stroke style and
background are modality-specific.

Two sources, tried in order (``load_polymnist``):

* ``'files'``: the published PolyMNIST, in its layout of one folder per
  modality, DATA_DIR/PolyMNIST/{train,test}/m0 ... m4, each holding PNGs named
  ``<index>.<label>.png`` that correspond by name across the folders. Reading
  the 350,000 files is slow, so the arrays are cached beside them
  (``jmvae_jax.data.cache``).
* ``'generate'``: made here, deterministically from a seed, from the MNIST
  that ``jmvae_jax.data.mnist`` loads (all 60,000 training images; the
  10,000 test images for the test set) and five colour photographs that ship
  inside the scikit-image wheel (``BACKGROUNDS``, checked by SHA-256). It
  follows the recipe above, but **its backgrounds are not the published
  ones**, so absolute numbers on it are not comparable with papers; relative
  comparisons between models are.

Images are uint8 [N, 5, 28, 28, 3] (RGB), labels int32 [N].
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import os
import pathlib
import re
from collections.abc import Sequence

import cv2
import numpy as np
from absl import logging

from jmvae_jax.data import cache, mnist
from jmvae_jax.errors import UserError

NUM_MODALITIES = 5
SIDE = 28
MODALITY_NAMES = tuple(f'm{m}' for m in range(NUM_MODALITIES))
# One photograph of scikit-image's data folder per modality, with the SHA-256
# of the file in scikit-image 0.26 (the same since 0.19).
BACKGROUNDS = (
    ('astronaut.png',
     '88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5'),
    ('chelsea.png',
     '596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb'),
    ('coffee.png',
     'cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7'),
    ('ihc.png',
     'f8dd1aa387ddd1f49d8ad13b50921b237df8e9b262606d258770687b0ef93cef'),
    ('motorcycle_left.png',
     'db18e9c4157617403c3537a6ba355dfeafe9a7eabb6b9b94cb33f6525dd49179'),
)
INK_THRESHOLD = 0.5  # Grey levels above it are the digit's ink.
FILES_DIR = 'PolyMNIST'
SOURCES = ('files', 'generate')
_FILE_NAME = re.compile(r'^(\d+)\.(\d)\.png$')


@dataclasses.dataclass(frozen=True)
class PolyMNISTData:
  """A training and a test set of five-modality examples with digit labels.

  Attributes:
    train_images: uint8 [N_train, 5, 28, 28, 3], RGB.
    train_labels: int32 [N_train], 0..9, the class every modality shows.
    test_images: uint8 [N_test, 5, 28, 28, 3].
    test_labels: int32 [N_test].
    source: where the images came from ('files: DIR' or 'generated, seed S').
    generator: for generated data, what made the training set, which can
      draw it anew (``Generator.redraw``); None for the published files.
  """

  train_images: np.ndarray
  train_labels: np.ndarray
  test_images: np.ndarray
  test_labels: np.ndarray
  source: str
  generator: Generator | None = None


@dataclasses.dataclass(frozen=True, eq=False)
class Generator:
  """What a generated training set was made from, to draw more of it.

  Attributes:
    grey_levels: float [N, 784] in [0, 1], the MNIST training images.
    labels: int [N], their labels (those of the training set).
    photos: the five backgrounds, RGB uint8 [H, W, 3].
    seed: the data set's seed.
  """

  grey_levels: np.ndarray
  labels: np.ndarray
  photos: Sequence[np.ndarray]
  seed: int

  def redraw(self, m: int, draw: int) -> np.ndarray:
    """Modality m of every training example drawn anew: uint8 [N, 28, 28, 3].

    Example i keeps its class and gets a new crop of the photograph; in
    modalities 1-4 also a new MNIST image of the class (modality 0 shows
    MNIST image i, as in ``make_recipe``). Drawn from stream (seed, 2, draw)
    (the training and test sets are streams 0 and 1), so draw d is the same
    every time. A classifier trained on a new draw each epoch sees every digit on
    many crops of the background instead of one.
    """
    recipe = make_recipe(self.labels, [p.shape for p in self.photos],
                         np.random.default_rng([self.seed, 2, draw]))
    one = Recipe(digits=recipe.digits[:, [m]], corners=recipe.corners[:, [m]])
    return render(self.grey_levels, [self.photos[m]], one)[:, 0]


@dataclasses.dataclass(frozen=True)
class Recipe:
  """Which MNIST image and which crop each generated image uses.

  Attributes:
    digits: int [N, 5], the MNIST image of each example and modality; every
      row holds images of one class.
    corners: int [N, 5, 2], the (row, column) of each crop's top-left corner
      in its modality's photograph.
  """

  digits: np.ndarray
  corners: np.ndarray


def background_photos() -> list[np.ndarray]:
  """The five photographs of ``BACKGROUNDS``, RGB uint8 [H, W, 3] each.

  Raises:
    UserError: scikit-image is not installed, or a photograph is missing or
      is not the one this module was made with.
  """
  spec = importlib.util.find_spec('skimage')
  if spec is None or not spec.submodule_search_locations:
    raise UserError('generating PolyMNIST needs the photographs inside '
                    'scikit-image: pip install scikit-image')
  folder = pathlib.Path(spec.submodule_search_locations[0]) / 'data'
  photos = []
  for name, sha256 in BACKGROUNDS:
    path = folder / name
    if not path.exists() or hashlib.sha256(
        path.read_bytes()).hexdigest() != sha256:
      raise UserError(f'{path} is missing or not the photograph PolyMNIST was '
                      'made with here; reinstall scikit-image (pip install '
                      '--force-reinstall scikit-image)')
    photos.append(cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR),
                               cv2.COLOR_BGR2RGB))
  return photos


def make_recipe(labels: np.ndarray, photo_shapes: Sequence[tuple[int, ...]],
                rng: np.random.Generator) -> Recipe:
  """Draws each example's MNIST images and crops.

  Modality 0 shows MNIST image i for example i; modality m > 0 a random
  permutation of the images within each class, so every example's
  modalities share the class and (almost always) differ in the image. Crop
  corners are uniform over the photograph.

  Args:
    labels: int [N], the MNIST labels.
    photo_shapes: the five photographs' shapes [H, W, 3].
    rng: the generator of every draw.
  """
  n = len(labels)
  digits = np.empty((n, NUM_MODALITIES), np.int64)
  digits[:, 0] = np.arange(n)
  for m in range(1, NUM_MODALITIES):
    for digit in range(mnist.NUM_CLASSES):
      members = np.flatnonzero(labels == digit)
      digits[members, m] = rng.permutation(members)
  corners = np.stack([
      np.stack([rng.integers(0, shape[0] - SIDE + 1, n),
                rng.integers(0, shape[1] - SIDE + 1, n)], axis=-1)
      for shape in photo_shapes], axis=1)
  return Recipe(digits=digits, corners=corners)


def composite(ink: np.ndarray, crops: np.ndarray) -> np.ndarray:
  """The difference blend: 255 - crop where ``ink``, else the crop.

  Args:
    ink: bool [..., 28, 28], the binarized digits.
    crops: uint8 [..., 28, 28, 3].

  Returns:
    uint8 [..., 28, 28, 3].
  """
  return np.where(ink[..., None], 255 - crops, crops)


def render(grey_levels: np.ndarray, photos: Sequence[np.ndarray],
           recipe: Recipe, *, chunk: int = 10_000) -> np.ndarray:
  """Composites every example of ``recipe``: uint8 [N, M, 28, 28, 3].

  Args:
    grey_levels: float [N_mnist, 784] in [0, 1], the MNIST images.
    photos: the M backgrounds (five, or those of the recipe's modalities),
      RGB uint8 [H, W, 3].
    recipe: which image and crop each example and modality uses.
    chunk: examples composited at once (memory only).
  """
  ink = grey_levels.reshape(-1, SIDE, SIDE) > INK_THRESHOLD
  n = len(recipe.digits)
  out = np.empty((n, len(photos), SIDE, SIDE, 3), np.uint8)
  # windows[top, left] = photo[top:top + 28, left:left + 28] as [3, 28, 28].
  windows = [np.lib.stride_tricks.sliding_window_view(photo, (SIDE, SIDE),
                                                      axis=(0, 1))
             for photo in photos]
  for start in range(0, n, chunk):
    rows = slice(start, start + chunk)
    for m, window in enumerate(windows):
      top, left = recipe.corners[rows, m, 0], recipe.corners[rows, m, 1]
      crops = window[top, left].transpose(0, 2, 3, 1)
      out[rows, m] = composite(ink[recipe.digits[rows, m]], crops)
  return out


def generate(images: mnist.LabelledImages, *, seed: int) -> PolyMNISTData:
  """PolyMNIST from ``images`` and ``background_photos()``, deterministic in ``seed``.

  The training and the test set draw from independent streams of the seed.
  """
  photos = background_photos()
  shapes = [photo.shape for photo in photos]
  splits = []
  for stream, (grey, labels) in enumerate(
      ((images.train_images, images.train_labels),
       (images.test_images, images.test_labels))):
    recipe = make_recipe(labels, shapes, np.random.default_rng([seed, stream]))
    splits.append((render(grey, photos, recipe), labels.astype(np.int32)))
  (train_images, train_labels), (test_images, test_labels) = splits
  return PolyMNISTData(train_images, train_labels, test_images, test_labels,
                       source=f'generated, seed {seed}',
                       generator=Generator(images.train_images,
                                           images.train_labels, photos, seed))


def load_polymnist(data_dir: str | os.PathLike, *,
                   sources: Sequence[str] = SOURCES, seed: int = 0,
                   mnist_sources: Sequence[str] = ('tfds', 'local', 'fetch'),
                   verify_mnist: bool = True) -> PolyMNISTData:
  """PolyMNIST from the first of ``sources`` that has it (module docstring).

  Args:
    data_dir: holds the published PolyMNIST (DATA_DIR/PolyMNIST), and MNIST
      for generating it.
    sources: 'files' and/or 'generate', in the order to try them.
    seed: the seed of a generated PolyMNIST.
    mnist_sources: where MNIST is looked for when generating
      (``mnist.load_mnist``).
    verify_mnist: check the standard MNIST files by SHA-256 first.

  Raises:
    UserError: an unknown source, published files that are incomplete or
      misnamed, or no source that works (the message says what to do).
  """
  unknown = sorted(set(sources) - set(SOURCES))
  if unknown or not sources:
    raise UserError(f'PolyMNIST sources must be among {SOURCES}, got '
                    f'{list(sources)}')
  root = pathlib.Path(data_dir).expanduser()
  if 'files' in sources and (root / FILES_DIR / 'train').is_dir():
    return _from_files(root / FILES_DIR)
  if 'generate' in sources:
    images = mnist.load_mnist(root, num_train=mnist.MAX_TRAIN,
                              sources=mnist_sources, verify=verify_mnist)
    data = generate(images, seed=seed)
    logging.info('Generated PolyMNIST (seed %d): %d training, %d test '
                 'examples.', seed, len(data.train_labels),
                 len(data.test_labels))
    return data
  raise UserError(f'no PolyMNIST in {root / FILES_DIR}: place the published '
                  'files there (train/m0 ... m4 and test/m0 ... m4), or add '
                  "the 'generate' source to make it from MNIST")


def _from_files(folder: pathlib.Path) -> PolyMNISTData:
  """The published PolyMNIST in ``folder``, through the cache beside it."""
  splits = {}
  for split in ('train', 'test'):
    names = _paired_names(folder / split)
    record = {'source': str(folder / split), 'files': len(names),
              'last': names[-1]}
    cached = cache.read(folder / f'{split}_arrays', record)
    if cached is None:
      logging.info('Reading %d PolyMNIST %s examples from %s (once; then '
                   'cached).', len(names), split, folder / split)
      arrays = _read_split(folder / split, names)
      cache.write(folder / f'{split}_arrays', arrays, record)
    else:
      arrays = cached[0]
    splits[split] = arrays
  return PolyMNISTData(splits['train']['images'], splits['train']['labels'],
                       splits['test']['images'], splits['test']['labels'],
                       source=f'files: {folder}')


def _paired_names(split_dir: pathlib.Path) -> list[str]:
  """The PNG names every modality folder holds, in index order.

  Raises:
    UserError: a modality folder is missing, holds a misnamed PNG, or holds
      other names than m0.
  """
  names = None
  for modality in MODALITY_NAMES:
    folder = split_dir / modality
    if not folder.is_dir():
      raise UserError(f'{folder} is missing: the published PolyMNIST has '
                      f'one folder per modality, {", ".join(MODALITY_NAMES)}')
    found = sorted(p.name for p in folder.glob('*.png'))
    bad = [name for name in found if not _FILE_NAME.match(name)]
    if bad:
      raise UserError(f'{folder / bad[0]} is not named <index>.<label>.png '
                      'as the published PolyMNIST files are')
    if names is not None and set(found) != set(names):
      odd = sorted(set(found) ^ set(names))[0]
      raise UserError(f'{split_dir}/m0 and {folder} hold different files '
                      f'(e.g. {odd}); every modality needs the same names')
    names = found
  if not names:
    raise UserError(f'{split_dir}/m0 holds no PNG files')
  return sorted(names, key=lambda name: int(name.split('.')[0]))


def _read_split(split_dir: pathlib.Path,
                names: list[str]) -> dict[str, np.ndarray]:
  """{'images': uint8 [N, 5, 28, 28, 3], 'labels': int32 [N]} from the PNGs."""
  images = np.empty((len(names), NUM_MODALITIES, SIDE, SIDE, 3), np.uint8)
  for i, name in enumerate(names):
    for m, modality in enumerate(MODALITY_NAMES):
      path = split_dir / modality / name
      image = cv2.imread(str(path), cv2.IMREAD_COLOR)
      if image is None or image.shape != (SIDE, SIDE, 3):
        raise UserError(f'{path} is not a {SIDE} x {SIDE} colour image')
      images[i, m] = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
  labels = np.array([int(name.split('.')[1]) for name in names], np.int32)
  return {'images': images, 'labels': labels}
