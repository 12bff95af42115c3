"""CelebA as 64x64 face crops with their 40 binary attributes (Section 4.1).

``load_celeba`` tries, in order:

* ``'tfds'``: ``tensorflow_datasets.data_source('celeb_a')`` from tfds's own
  data directory (``TFDS_DATA_DIR``), all three splits; this needs the data
  already prepared in ArrayRecord format (nothing is downloaded).
* ``'local'``: ``data_dir`` in CelebA's own layout::

    data_dir/img_align_celeba/000001.jpg ...   the aligned 178x218 images
    data_dir/list_attr_celeba.txt              N; 40 names; "file v1 .. v40"
    data_dir/list_eval_partition.txt           "file partition" (0, 1 or 2)

  The attribute file is the index: images it does not list are ignored.

Preprocessing follows the paper and the authors' ``convert_celeba.py``:

1. Detect faces with OpenCV's Haar cascade ``haarcascade_frontalface_alt.xml``
   (the authors' file), ``detectMultiScale(gray, scaleFactor=1.2,
   minNeighbors=2, minSize=(10, 10))`` (the authors' parameters) on the RGB
   image converted to grey. The largest detection is the face. This needs
   OpenCV 4: the opencv-python wheels of OpenCV 5 ship no Haar cascades.
2. Crop a square of side ``round(1.3 * box side)`` centred on the box. Where it
   reaches past the image border, the border pixels are repeated
   (``cv2.BORDER_REPLICATE``), so the crop stays square and centred; the
   authors dropped such faces at the top and left and cut them short at the
   bottom and right.
3. Keep the face only if the crop side exceeds 0.4 of the image height: the
   authors' ``face_size`` is the crop's height over the image's. On the
   aligned 178x218 images that means a face box wider than 67 px (0.38 of the
   width); a face in CelebA's aligned frame gives a box of about 90-110 px
   (as in the tests' fixture), so most faces pass.
4. Resize to 64x64 with ``cv2.INTER_AREA``; pixels become float32 in [0, 1]
   (8-bit value / 255), channels in RGB order.

The authors kept every detection of an image (so an image could add several
crops); here an image gives at most one. The paper kept 191,899 of 202,599.

Images that cannot be decoded (missing, empty, truncated, not an image) are
counted in ``num_unreadable`` and skipped.

The kept faces are split 90% / 10% as in the paper: a permutation of the kept
faces (in source order) with ``np.random.default_rng(SPLIT_SEED)``; the first
``ceil(n / 10)`` are the test set. The official ``list_eval_partition.txt`` is
not the paper's split; it is still parsed and checked against the attribute
file, as a sign that the download is complete.

With ``cache_dir``, the kept faces (uint8) and their attributes are written
once to ``cache_dir/celeba64.npz`` with a JSON sidecar ``celeba64.json``
holding their SHA-256, the source, the counts and the preprocessing
parameters. A later load uses the cache if source and parameters match and the
checksum holds; otherwise it rebuilds the cache (a failed checksum is logged
as a warning). The split and the attribute convention are applied after the
cache, so changing them costs no new pass.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime
import math
import multiprocessing
import os
import pathlib
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Literal

import cv2
import numpy as np
from absl import logging

from jmvae_jax.data import cache
from jmvae_jax.errors import UserError

ATTRIBUTE_NAMES = (
    '5_o_Clock_Shadow', 'Arched_Eyebrows', 'Attractive', 'Bags_Under_Eyes',
    'Bald', 'Bangs', 'Big_Lips', 'Big_Nose', 'Black_Hair', 'Blond_Hair',
    'Blurry', 'Brown_Hair', 'Bushy_Eyebrows', 'Chubby', 'Double_Chin',
    'Eyeglasses', 'Goatee', 'Gray_Hair', 'Heavy_Makeup', 'High_Cheekbones',
    'Male', 'Mouth_Slightly_Open', 'Mustache', 'Narrow_Eyes', 'No_Beard',
    'Oval_Face', 'Pale_Skin', 'Pointy_Nose', 'Receding_Hairline',
    'Rosy_Cheeks', 'Sideburns', 'Smiling', 'Straight_Hair', 'Wavy_Hair',
    'Wearing_Earrings', 'Wearing_Hat', 'Wearing_Lipstick', 'Wearing_Necklace',
    'Wearing_Necktie', 'Young',
)
NUM_ATTRIBUTES = 40
IMAGE_SIZE = 64
CASCADE_FILE = 'haarcascade_frontalface_alt.xml'
SCALE_FACTOR = 1.2
MIN_NEIGHBORS = 2
MIN_FACE_SIZE = (10, 10)
CROP_EXPANSION = 1.3
MIN_CROP_FRACTION = 0.4
SPLIT_SEED = 0
IMAGE_DIR = 'img_align_celeba'
ATTRIBUTE_FILE = 'list_attr_celeba.txt'
PARTITION_FILE = 'list_eval_partition.txt'
CACHE_NAME = 'celeba64'

_FACE_SHAPE = (IMAGE_SIZE, IMAGE_SIZE, 3)
_TFDS_SPLITS = ('train', 'validation', 'test')
_CACHE_VERSION = 1
_MAX_CHUNK = 500
_PROGRESS_SECONDS = 10.0
_LAYOUT = (
    f'{IMAGE_DIR}/*.jpg, {ATTRIBUTE_FILE} and {PARTITION_FILE}, as in'
    ' CelebA\'s "Align&Cropped Images" download'
)

AttributeValues = Literal['binary', 'signed']
Box = tuple[int, int, int, int]


@dataclasses.dataclass(frozen=True, eq=False)
class CelebAData:
  """The kept faces, split 90% / 10%, and how many images were seen.

  The full set takes about 9.4 GB as float32.

  Attributes:
    train_images: float32 [N_train, 64, 64, 3], RGB in [0, 1].
    train_attributes: float32 [N_train, 40], {0, 1} or {-1, 1}.
    test_images: float32 [N_test, 64, 64, 3], RGB in [0, 1].
    test_attributes: float32 [N_test, 40], {0, 1} or {-1, 1}.
    attribute_names: the 40 attribute names, in column order.
    num_total: images listed by the source.
    num_kept: images whose face passed the detector and the size rule
      (N_train + N_test).
    num_unreadable: images that could not be decoded (skipped).
    source: where the images came from, for logs.
  """

  train_images: np.ndarray
  train_attributes: np.ndarray
  test_images: np.ndarray
  test_attributes: np.ndarray
  attribute_names: tuple[str, ...]
  num_total: int
  num_kept: int
  num_unreadable: int
  source: str


def load_celeba(
    data_dir: str | os.PathLike,
    *,
    cache_dir: str | os.PathLike | None = None,
    attribute_values: AttributeValues = 'binary',
    max_images: int | None = None,
    workers: int | None = None,
    sources: Sequence[str] = ('tfds', 'local'),
) -> CelebAData:
  """Loads CelebA's face crops and attributes, preprocessing them if needed.

  Args:
    data_dir: directory in CelebA's own layout (see the module docstring);
      the 'tfds' source reads tfds's own data directory instead.
    cache_dir: where the preprocessed faces are cached; None: no cache.
    attribute_values: 'binary' gives attributes in {0, 1} (1: present);
      'signed' gives CelebA's own {-1, 1}.
    max_images: only the first this many images of the source (all if None),
      for quick runs.
    workers: processes for face detection; None: ``os.cpu_count()``. More
      than one are spawned, which re-imports the main module: call this from
      under ``if __name__ == '__main__':`` (as absl's ``app.run`` does).
    sources: which of 'tfds' and 'local' to try, in order.

  Returns:
    The kept faces split into a training and a test set.

  Raises:
    UserError: bad arguments, no source has the data, a broken attribute or
      partition file, or no face was kept; the message says how to fix it.
  """
  _check_arguments(attribute_values, max_images, workers, sources)
  source = _find_source(pathlib.Path(data_dir), sources)
  params = _preprocessing_params(max_images)
  faces = None
  if cache_dir is not None:
    faces = _read_cache(pathlib.Path(cache_dir), source.description, params)
  if faces is None:
    faces = _build_faces(source, max_images, workers or os.cpu_count() or 1)
    if cache_dir is not None:
      _write_cache(pathlib.Path(cache_dir), faces, params)
  return _split(faces, attribute_values)


def load_cascade() -> cv2.CascadeClassifier:
  """OpenCV's Haar face cascade ``CASCADE_FILE``.

  Raises:
    UserError: this OpenCV lacks the cascade (OpenCV 5 moved the Haar cascades
      out of the opencv-python packages).
  """
  path = os.path.join(cv2.data.haarcascades, CASCADE_FILE)
  if not hasattr(cv2, 'CascadeClassifier') or not os.path.isfile(path):
    raise UserError(
        f'OpenCV {cv2.__version__} has no Haar cascade {CASCADE_FILE} (OpenCV'
        ' 5 dropped them from opencv-python). Install OpenCV 4 with'
        " `pip install 'opencv-python-headless>=4.10,<5'`."
    )
  return cv2.CascadeClassifier(path)


def detect_face(
    image: np.ndarray, cascade: cv2.CascadeClassifier
) -> Box | None:
  """The largest face the cascade finds, or None.

  Args:
    image: uint8 [H, W, 3], RGB.
    cascade: from ``load_cascade``.

  Returns:
    The box (x, y, width, height) in pixels, or None if no face was found.
  """
  gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
  boxes = cascade.detectMultiScale(
      gray,
      scaleFactor=SCALE_FACTOR,
      minNeighbors=MIN_NEIGHBORS,
      minSize=MIN_FACE_SIZE,
  )
  if len(boxes) == 0:
    return None
  boxes = [tuple(int(v) for v in box) for box in boxes]
  # Ties in area go to the larger (x, y, w, h), so the choice never depends
  # on the order in which OpenCV's threads reported the boxes.
  return max(boxes, key=lambda box: (box[2] * box[3], box))


def crop_face(
    image: np.ndarray, cascade: cv2.CascadeClassifier
) -> np.ndarray | None:
  """The preprocessed face of one image, or None if it is rejected.

  Args:
    image: uint8 [H, W, 3], RGB (BGR gives BGR, with a slightly different
      grey image for the detector).
    cascade: from ``load_cascade``.

  Returns:
    float32 [64, 64, 3] in [0, 1]: the 1.3x square crop around the largest
    face, resized; None if no face was found or its crop side is at most
    0.4 of the image height.
  """
  face = _face_uint8(image, cascade)
  return None if face is None else _to_unit_range(face)


def format_progress(done: int, total: int, elapsed: float) -> str:
  """A progress line: done/total, percentage, rate and estimated time left."""
  rate = done / elapsed if elapsed > 0 else 0.0
  left = (total - done) / rate if rate > 0 else math.inf
  eta = '?' if math.isinf(left) else datetime.timedelta(seconds=round(left))
  percent = 100 * done / total if total else 100.0
  return (
      f'CelebA face detection: {done}/{total} images ({percent:.1f}%),'
      f' {rate:.1f} images/s, ETA {eta}'
  )


# Preprocessing of one image.


def _face_uint8(
    image: np.ndarray, cascade: cv2.CascadeClassifier
) -> np.ndarray | None:
  """``crop_face`` before the conversion: uint8 [64, 64, 3], or None."""
  box = detect_face(image, cascade)
  if box is None:
    return None
  side = _crop_side(box)
  if side <= MIN_CROP_FRACTION * image.shape[0]:
    return None
  crop = _square_crop(image, box, side)
  size = (IMAGE_SIZE, IMAGE_SIZE)
  return cv2.resize(crop, size, interpolation=cv2.INTER_AREA)


def _crop_side(box: Box) -> int:
  """Side in pixels of the square crop around a face box (1.3x its side)."""
  return round(CROP_EXPANSION * max(box[2], box[3]))


def _square_crop(image: np.ndarray, box: Box, side: int) -> np.ndarray:
  """The side x side square centred on ``box``, borders repeated outside.

  Args:
    image: [H, W, C].
    box: (x, y, width, height).
    side: side of the square in pixels.

  Returns:
    [side, side, C], a view of ``image`` when the square lies inside it.
  """
  x, y, width, height = box
  left = round(x + (width - side) / 2)
  top = round(y + (height - side) / 2)
  rows, cols = image.shape[:2]
  pad = max(0, -left, -top, left + side - cols, top + side - rows)
  if pad:
    image = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
  return image[top + pad : top + pad + side, left + pad : left + pad + side]


def _to_unit_range(images: np.ndarray) -> np.ndarray:
  """uint8 pixels -> float32 in [0, 1] (value / 255), same shape."""
  return np.divide(images, 255, dtype=np.float32)


def _decode_image(path: str) -> np.ndarray | None:
  """An image file as uint8 [H, W, 3] RGB, or None if it cannot be decoded.

  The bytes go through ``cv2.imdecode``, which rejects truncated JPEGs
  (``cv2.imread`` decodes them, filling the missing rows with grey).
  """
  try:
    data = pathlib.Path(path).read_bytes()
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
  except (OSError, cv2.error):  # cv2.error: e.g. an empty file.
    return None
  return None if image is None else cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


# Sources: each yields chunks of (image or None, attributes) for the workers.


@dataclasses.dataclass(frozen=True)
class _LocalChunk:
  """Image files of CelebA's own layout with their attributes.

  Attributes:
    paths: the image files.
    attributes: int8 [len(paths), 40], -1 or 1.
  """

  paths: tuple[str, ...]
  attributes: np.ndarray

  def examples(self) -> Iterator[tuple[np.ndarray | None, np.ndarray]]:
    """Yields (uint8 [H, W, 3] RGB or None if unreadable, int8 [40])."""
    for path, attributes in zip(self.paths, self.attributes):
      yield _decode_image(path), attributes


@dataclasses.dataclass(frozen=True)
class _TfdsChunk:
  """The examples start..stop-1 of one split of tfds ``celeb_a``."""

  split: str
  start: int
  stop: int

  def examples(self) -> Iterator[tuple[np.ndarray | None, np.ndarray]]:
    """Yields (uint8 [218, 178, 3] RGB or None if undecodable, int8 [40])."""
    split = _tfds_splits((self.split,))[0]
    for index in range(self.start, self.stop):
      # Item by item: batched __getitems__ is not supported by tfds's mock
      # data, and a broken record then costs one image, not a batch.
      try:
        example = split[index]
      except Exception:  # pylint: disable=broad-except
        # A damaged record can fail in the reader or the decoder.
        yield None, np.zeros(NUM_ATTRIBUTES, np.int8)
        continue
      yield np.asarray(example['image']), _tfds_attributes(example)


_Chunk = _LocalChunk | _TfdsChunk


@dataclasses.dataclass(frozen=True)
class _Plan:
  """The work of one pass over a source.

  Attributes:
    attribute_names: the 40 names, in column order.
    num_images: images to look at.
    chunks: chunks covering them, in source order.
  """

  attribute_names: tuple[str, ...]
  num_images: int
  chunks: list[_Chunk]


@dataclasses.dataclass(frozen=True)
class _Source:
  """A place that has CelebA.

  Attributes:
    description: where it is, for logs and the cache.
    plan: function (max_images, workers) -> _Plan; it reads the annotations.
  """

  description: str
  plan: Callable[[int | None, int], _Plan]


def _find_source(data_dir: pathlib.Path, sources: Sequence[str]) -> _Source:
  """The first of ``sources`` that has CelebA.

  Raises:
    UserError: none has it; the message names what the local layout lacks.
  """
  local_problem = None
  for name in sources:
    if name == 'tfds':
      source = _tfds_source()
      if source is not None:
        return source
    else:
      local_problem = _local_layout_problem(data_dir)
      if local_problem is None:
        return _local_source(data_dir)
  found = f' {local_problem}.' if local_problem else ''
  tfds_hint = (
      ', or prepare it for tfds with `tfds build celeb_a'
      ' --file_format=array_record`' if 'tfds' in sources else ''
  )
  raise UserError(
      f'No CelebA data found (tried {", ".join(sources)}).{found} Download'
      f' CelebA into {data_dir} so that it holds {_LAYOUT}{tfds_hint}.'
  )


def _local_layout_problem(data_dir: pathlib.Path) -> str | None:
  """What ``data_dir`` lacks of CelebA's layout, or None if nothing."""
  if not data_dir.is_dir():
    return f'{data_dir} is not a directory'
  present = {
      f'{IMAGE_DIR}/': (data_dir / IMAGE_DIR).is_dir(),
      ATTRIBUTE_FILE: (data_dir / ATTRIBUTE_FILE).is_file(),
      PARTITION_FILE: (data_dir / PARTITION_FILE).is_file(),
  }
  missing = [name for name, there in present.items() if not there]
  return f'{data_dir} lacks {", ".join(missing)}' if missing else None


def _local_source(data_dir: pathlib.Path) -> _Source:
  """CelebA in its own layout under ``data_dir`` (already checked present)."""

  def plan(max_images: int | None, workers: int) -> _Plan:
    names, files, attributes = _parse_attributes(data_dir / ATTRIBUTE_FILE)
    partition = _parse_partition(data_dir / PARTITION_FILE)
    _check_partition(partition, files, data_dir)
    files, attributes = files[:max_images], attributes[:max_images]
    size = _chunk_size(len(files), workers)
    paths = [str(data_dir / IMAGE_DIR / name) for name in files]
    chunks = [
        _LocalChunk(tuple(paths[i : i + size]), attributes[i : i + size])
        for i in range(0, len(files), size)
    ]
    return _Plan(names, len(files), chunks)

  return _Source(f'CelebA layout in {data_dir.resolve()}', plan)


def _tfds_source() -> _Source | None:
  """tfds ``celeb_a`` if prepared, else None (logged at debug level)."""
  try:
    lengths = [len(split) for split in _tfds_splits(_TFDS_SPLITS)]
  except Exception as e:  # pylint: disable=broad-except
    # tfds fails in many ways (not installed, not prepared, prepared as
    # TFRecord): all mean "not from here".
    logging.debug('tfds cannot provide celeb_a: %r', e)
    return None

  def plan(max_images: int | None, workers: int) -> _Plan:
    remaining = sum(lengths) if max_images is None else max_images
    total = min(sum(lengths), remaining)
    size = _chunk_size(total, workers)
    chunks = []
    for split, length in zip(_TFDS_SPLITS, lengths):
      count = min(length, remaining)
      chunks += [
          _TfdsChunk(split, start, min(start + size, count))
          for start in range(0, count, size)
      ]
      remaining -= count
    return _Plan(ATTRIBUTE_NAMES, total, chunks)

  return _Source('tfds celeb_a (train+validation+test)', plan)


def _chunk_size(num_images: int, workers: int) -> int:
  """Images per chunk: about four chunks per worker, at most ``_MAX_CHUNK``."""
  return max(1, min(_MAX_CHUNK, math.ceil(num_images / (4 * workers))))


def _tfds_splits(splits: Sequence[str]) -> list[Sequence[dict]]:
  """Random-access views of the given splits of tfds ``celeb_a``."""
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

  return [
      tfds.data_source('celeb_a', split=split, download=False)
      for split in splits
  ]


def _tfds_attributes(example: dict) -> np.ndarray:
  """A tfds example's boolean attributes as int8 [40] of -1 or 1."""
  present = np.array([bool(example['attributes'][n]) for n in ATTRIBUTE_NAMES])
  return np.where(present, 1, -1).astype(np.int8)


# The annotation files.


def _parse_attributes(
    path: pathlib.Path,
) -> tuple[tuple[str, ...], list[str], np.ndarray]:
  """Reads ``list_attr_celeba.txt``.

  Line 1 is the number of images N, line 2 the 40 attribute names, then one
  line per image: its file name and 40 values of -1 or 1, separated by any
  whitespace. Blank lines are ignored.

  Returns:
    The 40 names, the N file names, and int8 [N, 40] of -1 or 1.

  Raises:
    UserError: a malformed line (named by file and line number), or a count
      in line 1 that does not match the lines that follow.
  """
  lines = _numbered_lines(path)
  if len(lines) < 2:
    raise UserError(
        f'{path} has {len(lines)} non-blank lines; expected the image count,'
        ' the 40 attribute names and one line per image. Download it again.'
    )
  (count_line, count), (names_line, names) = lines[:2]
  if len(count) != 1 or not count[0].isdigit():
    raise _line_error(path, count_line, 'expected the number of images')
  if len(names) != NUM_ATTRIBUTES:
    raise _line_error(
        path, names_line, f'expected 40 attribute names, found {len(names)}'
    )
  files, values = [], []
  for number, fields in lines[2:]:
    problem = _attribute_line_problem(fields)
    if problem:
      raise _line_error(path, number, problem)
    files.append(fields[0])
    values.append([int(v) for v in fields[1:]])
  if int(count[0]) != len(files):
    raise _line_error(
        path, count_line, f'says {count[0]} images but {len(files)} are listed'
    )
  values = np.array(values, np.int8).reshape(-1, NUM_ATTRIBUTES)
  return tuple(names), files, values


def _attribute_line_problem(fields: list[str]) -> str | None:
  """What is wrong with the fields of an image's attribute line, or None."""
  if len(fields) != NUM_ATTRIBUTES + 1:
    return (
        f'expected a file name and 40 values, found {len(fields) - 1} values'
    )
  bad = [v for v in fields[1:] if v not in ('-1', '1')]
  if bad:
    return f'value {bad[0]!r} is not -1 or 1'
  return None


def _parse_partition(path: pathlib.Path) -> dict[str, int]:
  """Reads ``list_eval_partition.txt``: file name -> 0, 1 or 2 per line.

  Raises:
    UserError: a line that is not a file name and 0, 1 or 2.
  """
  partition = {}
  for number, fields in _numbered_lines(path):
    if len(fields) != 2 or fields[1] not in ('0', '1', '2'):
      raise _line_error(
          path, number, 'expected a file name and a partition 0, 1 or 2'
      )
    partition[fields[0]] = int(fields[1])
  return partition


def _check_partition(
    partition: dict[str, int], files: list[str], data_dir: pathlib.Path
) -> None:
  """Checks that both annotation files list the same images.

  Raises:
    UserError: they differ; the message gives the counts and an example.
  """
  listed = set(files)
  only_attributes = sorted(listed - partition.keys())
  only_partition = sorted(partition.keys() - listed)
  if only_attributes or only_partition:
    example = (only_attributes + only_partition)[0]
    raise UserError(
        f'{ATTRIBUTE_FILE} and {PARTITION_FILE} in {data_dir} list different'
        f' images: {len(only_attributes)} only in the first,'
        f' {len(only_partition)} only in the second (e.g. {example}).'
        ' Download both files again.'
    )


def _numbered_lines(path: pathlib.Path) -> list[tuple[int, list[str]]]:
  """The non-blank lines of a text file as (1-based number, fields)."""
  with open(path, encoding='utf-8', errors='replace') as f:
    return [
        (number, line.split())
        for number, line in enumerate(f, start=1)
        if line.strip()
    ]


def _line_error(path: pathlib.Path, number: int, problem: str) -> UserError:
  return UserError(
      f'{path}, line {number}: {problem}. The file is not in CelebA\'s format'
      ' (or is cut short); download it again.'
  )


# Face detection over the whole source, in worker processes.


@dataclasses.dataclass(frozen=True)
class _Faces:
  """The kept faces before the split.

  Attributes:
    images: uint8 [K, 64, 64, 3], RGB.
    attributes: int8 [K, 40], -1 or 1.
    attribute_names: the 40 names.
    num_total: images in the source (up to max_images).
    num_unreadable: images that could not be decoded.
    source: ``_Source.description``.
  """

  images: np.ndarray
  attributes: np.ndarray
  attribute_names: tuple[str, ...]
  num_total: int
  num_unreadable: int
  source: str


@dataclasses.dataclass(frozen=True)
class _ChunkResult:
  """The kept faces of one chunk: uint8 images [k, 64, 64, 3], int8 [k, 40]."""

  images: np.ndarray
  attributes: np.ndarray
  num_images: int
  num_unreadable: int


def _build_faces(
    source: _Source, max_images: int | None, workers: int
) -> _Faces:
  """Detects and crops the faces of every image of ``source``.

  Raises:
    UserError: no face was kept.
  """
  load_cascade()  # Fails now, not in the workers, if OpenCV lacks it.
  plan = source.plan(max_images, workers)
  logging.info(
      'Detecting faces in %d images of %s with %d workers.',
      plan.num_images, source.description, workers,
  )
  results = list(
      _with_progress(_map_chunks(plan.chunks, workers), plan.num_images)
  )
  num_unreadable = sum(r.num_unreadable for r in results)
  if not any(len(r.images) for r in results):
    raise UserError(
        f'No face was kept from the {plan.num_images} images of'
        f' {source.description} ({num_unreadable} unreadable). Check that'
        f' they are CelebA\'s aligned images ({IMAGE_DIR}), not the'
        ' in-the-wild ones.'
    )
  faces = _Faces(
      images=np.concatenate([r.images for r in results]),
      attributes=np.concatenate([r.attributes for r in results]),
      attribute_names=plan.attribute_names,
      num_total=plan.num_images,
      num_unreadable=num_unreadable,
      source=source.description,
  )
  _log_counts(faces)
  return faces


def _map_chunks(chunks: list[_Chunk], workers: int) -> Iterator[_ChunkResult]:
  """``_process_chunk`` over the chunks, in order, in ``workers`` processes."""
  workers = min(workers, len(chunks))
  if workers <= 1:
    # In this process: no start-up cost, and tests can patch the detector.
    yield from map(_process_chunk, chunks)
    return
  # Spawned, not forked: the parent may run JAX's threads, which fork breaks.
  context = multiprocessing.get_context('spawn')
  with concurrent.futures.ProcessPoolExecutor(
      workers, mp_context=context, initializer=_init_worker
  ) as pool:
    yield from pool.map(_process_chunk, chunks)


def _init_worker() -> None:
  """One OpenCV thread per worker process, as the processes fill the cores."""
  cv2.setNumThreads(1)


def _process_chunk(chunk: _Chunk) -> _ChunkResult:
  """Decodes, detects and crops the images of one chunk.

  Each call loads its own cascade (a few milliseconds), so that worker
  processes share no state.
  """
  cascade = load_cascade()
  images, attributes, num_images, num_unreadable = [], [], 0, 0
  for image, image_attributes in chunk.examples():
    num_images += 1
    if image is None:
      num_unreadable += 1
      continue
    face = _face_uint8(image, cascade)
    if face is not None:
      images.append(face)
      attributes.append(image_attributes)
  return _ChunkResult(
      images=np.array(images, np.uint8).reshape(-1, *_FACE_SHAPE),
      attributes=np.array(attributes, np.int8).reshape(-1, NUM_ATTRIBUTES),
      num_images=num_images,
      num_unreadable=num_unreadable,
  )


def _with_progress(
    results: Iterable[_ChunkResult], total: int
) -> Iterator[_ChunkResult]:
  """Passes results on, logging progress every ``_PROGRESS_SECONDS``."""
  start = last = time.monotonic()
  done = 0
  for result in results:
    done += result.num_images
    now = time.monotonic()
    if now - last >= _PROGRESS_SECONDS:
      logging.info('%s', format_progress(done, total, now - start))
      last = now
    yield result
  logging.info('%s', format_progress(done, total, time.monotonic() - start))


def _log_counts(faces: _Faces) -> None:
  kept = len(faces.images)
  logging.info(
      'CelebA: kept %d of %d images (%.1f%%); %d without a large enough'
      ' face, %d unreadable. The paper kept 191,899 of 202,599.',
      kept, faces.num_total, 100 * kept / max(faces.num_total, 1),
      faces.num_total - kept - faces.num_unreadable, faces.num_unreadable,
  )


# The cache.


def _preprocessing_params(max_images: int | None) -> dict[str, object]:
  """Everything that decides the cached arrays, JSON-ready."""
  return {
      'version': _CACHE_VERSION,
      'opencv': cv2.__version__,
      'cascade': CASCADE_FILE,
      'scale_factor': SCALE_FACTOR,
      'min_neighbors': MIN_NEIGHBORS,
      'min_face_size': list(MIN_FACE_SIZE),
      'crop_expansion': CROP_EXPANSION,
      'border': 'replicate',
      'min_crop_fraction_of_height': MIN_CROP_FRACTION,
      'image_size': IMAGE_SIZE,
      'interpolation': 'INTER_AREA',
      'max_images': max_images,
  }


def _read_cache(
    cache_dir: pathlib.Path, source: str, params: dict[str, object]
) -> _Faces | None:
  """The cached faces; None if absent, stale, damaged or failing its SHA-256."""
  cached = cache.read(cache_dir / CACHE_NAME,
                      {'source': source, 'params': params})
  if cached is None:
    return None
  arrays, meta = cached
  logging.info('Loaded CelebA faces from the cache in %s.', cache_dir)
  return _Faces(
      images=arrays['images'],
      attributes=arrays['attributes'],
      attribute_names=tuple(meta['attribute_names']),
      num_total=meta['num_total'],
      num_unreadable=meta['num_unreadable'],
      source=source,
  )


def _write_cache(
    cache_dir: pathlib.Path, faces: _Faces, params: dict[str, object]
) -> None:
  """Writes the faces and their sidecar (``cache.write``)."""
  kept = len(faces.images)
  cache.write(cache_dir / CACHE_NAME,
              {'images': faces.images, 'attributes': faces.attributes}, {
                  'source': faces.source,
                  'params': params,
                  'attribute_names': list(faces.attribute_names),
                  'num_total': faces.num_total,
                  'num_kept': kept,
                  'num_rejected': faces.num_total - kept - faces.num_unreadable,
                  'num_unreadable': faces.num_unreadable,
              })


# The split.


def _split(faces: _Faces, attribute_values: AttributeValues) -> CelebAData:
  """Splits the kept faces 90% / 10% and converts them to float32."""
  train, test = _split_indices(len(faces.images))
  attributes = faces.attributes.astype(np.float32)
  if attribute_values == 'binary':
    attributes = (attributes + 1) / 2
  return CelebAData(
      train_images=_to_unit_range(faces.images[train]),
      train_attributes=attributes[train],
      test_images=_to_unit_range(faces.images[test]),
      test_attributes=attributes[test],
      attribute_names=faces.attribute_names,
      num_total=faces.num_total,
      num_kept=len(faces.images),
      num_unreadable=faces.num_unreadable,
      source=faces.source,
  )


def _split_indices(n: int) -> tuple[np.ndarray, np.ndarray]:
  """Sorted training and test indices of n faces: the paper's 90% / 10%.

  The test set is the first ceil(n / 10) of a permutation drawn with
  ``np.random.default_rng(SPLIT_SEED)``, e.g. 19,190 of 191,899.
  """
  order = np.random.default_rng(SPLIT_SEED).permutation(n)
  num_test = math.ceil(n / 10)
  return np.sort(order[num_test:]), np.sort(order[:num_test])


def _check_arguments(
    attribute_values: str,
    max_images: int | None,
    workers: int | None,
    sources: Sequence[str],
) -> None:
  """Raises UserError for an argument of ``load_celeba`` out of its range."""
  if attribute_values not in ('binary', 'signed'):
    raise UserError(
        f'attribute_values={attribute_values!r}; choose binary ({{0, 1}}) or'
        ' signed ({-1, 1}).'
    )
  if max_images is not None and max_images < 1:
    raise UserError(f'max_images={max_images}; give a positive number or None.')
  if workers is not None and workers < 1:
    raise UserError(f'workers={workers}; give a positive number or None.')
  unknown = [name for name in sources if name not in ('tfds', 'local')]
  if unknown or not sources:
    raise UserError(
        f'Unknown CelebA sources {unknown or list(sources)}; choose from'
        " ['tfds', 'local']."
    )
