"""A small directory in CelebA's layout: real faces, non-faces, broken files.

The faces are real photographs shipped with scikit-image: the astronaut
Eileen Collins (``skimage.data.astronaut``), in six variants (flips, shifts,
zooms, brightness), and four faces of Labeled Faces in the Wild
(``skimage.data.lfw_subset``, 25x25 grey crops, enlarged). Each is placed in
CelebA's aligned 178x218 frame with the face about 100 px wide, as in CelebA,
so OpenCV's Haar cascade finds it and the 0.4 size rule keeps it. Further
images: the astronaut shrunk so that her face is found but too small (about
37 px), four synthetic non-faces, three broken files and one listed file that
is missing.

Usage::

  counts = make_celeba_fixture(tmp_path)
  data = celeba.load_celeba(tmp_path, sources=('local',))
  assert data.num_kept == counts['num_kept']

``fixture_faces`` writes and loads it as the experiments do, and ``TINY_RUN``
is the smallest budget a run on it takes.
"""

from __future__ import annotations

import os
import pathlib

import cv2
import numpy as np
import skimage.data

from jmvae_jax.data import celeba

WIDTH, HEIGHT = 178, 218
JPEG_QUALITY = 95
ATTRIBUTE_SEED = 0
_ASTRONAUT_FACE_CENTRE = (224, 113)  # (x, y) in skimage's 512x512 image.
_LFW_FACES = (1, 2, 3, 5)  # Faces in lfw_subset that the cascade finds.
_LFW_FACE_SIDE = 112

# CelebAConfig fields of a run that takes seconds on the fixture's 9 training
# and 1 test faces.
TINY_RUN = dict(epochs=1, warmup_epochs=1, batch_size=4, eval_k=2,
                eval_prior_samples=4, eval_batch_size=2, eval_chunk_size=2,
                data_dir='unused', cache_dir='')


def face_images() -> list[np.ndarray]:
  """Ten real faces in CelebA's geometry: uint8 [218, 178, 3] RGB each."""
  astronaut = [
      _astronaut(zoom=1.0),
      _astronaut(zoom=1.0, flip=True),
      _astronaut(zoom=0.9, shift=(5, -4), gain=1.15),
      _astronaut(zoom=1.1, shift=(-6, 5), flip=True, gain=0.85),
      _astronaut(zoom=0.95, shift=(8, 6), gain=0.9),
      _astronaut(zoom=1.05, shift=(-8, -6), flip=True, gain=1.1),
  ]
  return astronaut + [_lfw_face(index) for index in _LFW_FACES]


def small_face_image() -> np.ndarray:
  """The astronaut zoomed out 3x: the cascade finds a ~37 px face box, whose
  1.3x crop (~48 px) is below 0.4 of the 218 px height. uint8 [218, 178, 3]."""
  return _astronaut(zoom=3.0)


def non_face_images() -> list[np.ndarray]:
  """Noise, a colour gradient, flat shapes and a checkerboard: [218, 178, 3]."""
  rng = np.random.default_rng(1)
  rows, cols = np.mgrid[0:HEIGHT, 0:WIDTH]
  noise = rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
  gradient = np.stack(
      [cols * 255 // (WIDTH - 1), rows * 255 // (HEIGHT - 1),
       (cols + rows) * 255 // (WIDTH + HEIGHT - 2)],
      axis=-1,
  ).astype(np.uint8)
  shapes = np.full((HEIGHT, WIDTH, 3), 200, np.uint8)
  cv2.circle(shapes, (89, 100), 50, (200, 60, 30), thickness=-1)
  cv2.rectangle(shapes, (20, 150), (80, 200), (0, 150, 0), thickness=-1)
  checker = ((rows // 16 + cols // 16) % 2 * 255).astype(np.uint8)
  checker = np.repeat(checker[..., None], 3, axis=-1)
  return [noise, gradient, shapes, checker]


def make_celeba_fixture(root: str | os.PathLike) -> dict[str, object]:
  """Writes a 19-image CelebA in its own layout under ``root``.

  Files ``000001.jpg`` .. ``000019.jpg`` mix, in a fixed order, the ten faces
  of ``face_images``, the small face, the four non-faces, a truncated JPEG, an
  empty file, a text file named .jpg, and one name with no file. Attributes
  are random -1/1 (seed ``ATTRIBUTE_SEED``) under CelebA's 40 names; the
  partition file puts 15 images in 0, 2 in 1 and 2 in 2.

  Args:
    root: directory to fill (created if needed).

  Returns:
    What a loader should find: 'num_total' (19), 'num_kept' (10),
    'num_rejected' (5: the small face and the non-faces), 'num_unreadable'
    (4) as ints, and 'kept_attributes', int8 [10, 40] of -1/1, the
    attribute rows of the kept faces in file order.
  """
  root = pathlib.Path(root)
  image_dir = root / celeba.IMAGE_DIR
  image_dir.mkdir(parents=True, exist_ok=True)
  entries = _entries()
  attributes = np.random.default_rng(ATTRIBUTE_SEED).choice(
      np.array([-1, 1], np.int8), size=(len(entries), celeba.NUM_ATTRIBUTES)
  )
  names = [f'{i + 1:06d}.jpg' for i in range(len(entries))]
  for name, (_, content) in zip(names, entries):
    if content is not None:
      (image_dir / name).write_bytes(content)
  _write_attribute_file(root / celeba.ATTRIBUTE_FILE, names, attributes)
  _write_partition_file(root / celeba.PARTITION_FILE, names)
  kinds = [kind for kind, _ in entries]
  return {
      'num_total': len(entries),
      'num_kept': kinds.count('face'),
      'num_rejected': kinds.count('rejected'),
      'num_unreadable': kinds.count('unreadable'),
      'kept_attributes': attributes[[k == 'face' for k in kinds]],
  }


def fixture_faces(root: str | os.PathLike) -> celeba.CelebAData:
  """Writes the fixture under ``root`` and loads its faces, attributes in {-1, 1}."""
  make_celeba_fixture(root)
  return celeba.load_celeba(root, attribute_values='signed', workers=1,
                            sources=('local',))


def jpeg_bytes(image: np.ndarray) -> bytes:
  """An RGB uint8 image encoded as JPEG at ``JPEG_QUALITY``."""
  ok, encoded = cv2.imencode(
      '.jpg', image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]
  )
  assert ok
  return encoded.tobytes()


def _entries() -> list[tuple[str, bytes | None]]:
  """(kind, file content or None for a missing file), in file order."""
  faces = [('face', jpeg_bytes(image)) for image in face_images()]
  rejected = [('rejected', jpeg_bytes(small_face_image()))] + [
      ('rejected', jpeg_bytes(image)) for image in non_face_images()
  ]
  truncated = jpeg_bytes(face_images()[0])
  unreadable = [
      ('unreadable', truncated[: len(truncated) // 2]),
      ('unreadable', b''),
      ('unreadable', b'This is not an image.\n'),
      ('unreadable', None),
  ]
  others = [rejected[0], unreadable[0], rejected[1], unreadable[1],
            rejected[2], unreadable[2], rejected[3], unreadable[3],
            rejected[4]]
  # Faces at even positions, the rest between them: 10 + 9 = 19 entries.
  entries = []
  for i, face in enumerate(faces):
    entries.append(face)
    if i < len(others):
      entries.append(others[i])
  return entries


def _astronaut(
    *,
    zoom: float,
    shift: tuple[int, int] = (0, 0),
    flip: bool = False,
    gain: float = 1.0,
) -> np.ndarray:
  """A 178x218 window around the astronaut's face, as a CelebA image.

  Args:
    zoom: window size over 178x218 (>1 shrinks the face; at 1 the face box
      is ~100 px wide).
    shift: (x, y) offset of the window centre from the face centre, pixels.
    flip: mirror left to right.
    gain: brightness factor.

  Returns:
    uint8 [218, 178, 3] RGB.
  """
  centre_x = _ASTRONAUT_FACE_CENTRE[0] + shift[0]
  centre_y = _ASTRONAUT_FACE_CENTRE[1] + shift[1]
  half_w, half_h = zoom * WIDTH / 2, zoom * HEIGHT / 2
  source = np.float32([
      [centre_x - half_w, centre_y - half_h],
      [centre_x + half_w, centre_y - half_h],
      [centre_x - half_w, centre_y + half_h],
  ])
  target = np.float32([[0, 0], [WIDTH, 0], [0, HEIGHT]])
  image = cv2.warpAffine(
      skimage.data.astronaut(),
      cv2.getAffineTransform(source, target),
      (WIDTH, HEIGHT),
      flags=cv2.INTER_AREA,
      borderMode=cv2.BORDER_REFLECT_101,
  )
  if flip:
    image = image[:, ::-1]
  return np.clip(image * np.float32(gain), 0, 255).astype(np.uint8)


def _lfw_face(index: int) -> np.ndarray:
  """An LFW face enlarged to ~112 px, centred in 178x218 (edges repeated)."""
  face = (skimage.data.lfw_subset()[index] * 255).round().astype(np.uint8)
  face = cv2.resize(
      face, (_LFW_FACE_SIDE, _LFW_FACE_SIDE), interpolation=cv2.INTER_CUBIC
  )
  top = (HEIGHT - _LFW_FACE_SIDE) // 2
  left = (WIDTH - _LFW_FACE_SIDE) // 2
  bottom = HEIGHT - _LFW_FACE_SIDE - top
  right = WIDTH - _LFW_FACE_SIDE - left
  face = cv2.copyMakeBorder(
      face, top, bottom, left, right, cv2.BORDER_REPLICATE
  )
  return np.repeat(face[..., None], 3, axis=-1)


def _write_attribute_file(
    path: pathlib.Path, names: list[str], attributes: np.ndarray
) -> None:
  """Writes ``list_attr_celeba.txt`` spaced as CelebA's own file."""
  lines = [str(len(names)), ' '.join(celeba.ATTRIBUTE_NAMES) + ' ']
  for name, row in zip(names, attributes):
    lines.append(name + ' ' + ' '.join(f'{v:2d}' for v in row))
  path.write_text('\n'.join(lines) + '\n')


def _write_partition_file(path: pathlib.Path, names: list[str]) -> None:
  """Writes ``list_eval_partition.txt``: 15 images in 0, then 2 in 1, 2 in 2."""
  partitions = [0] * 15 + [1] * 2 + [2] * (len(names) - 17)
  path.write_text(
      ''.join(f'{name} {p}\n' for name, p in zip(names, partitions))
  )
