"""Face images on disk: any PNG/JPG read as a 64 x 64 CelebA input, and back.

Reading applies the training data's preprocessing (``jmvae_jax.data.celeba``):
OpenCV's Haar cascade finds the largest face, a square 1.3 times its box is
cropped (borders repeated) and resized to 64 x 64 with ``cv2.INTER_AREA``, and
a face whose crop is not above 0.4 of the image height is refused, as in
training. ``detect=False`` skips the detector for an image that already is such
a crop (e.g. one this library wrote): its centred square is resized instead.
"""

from __future__ import annotations

import os

import cv2
import numpy as np

from jmvae_jax.data import celeba
from jmvae_jax.errors import UserError

SIDE = celeba.IMAGE_SIZE


def _decode_rgb(path: str) -> np.ndarray:
  """An image file as uint8 [H, W, 3] RGB; UserError if it cannot be read."""
  if not os.path.isfile(path):
    raise UserError(f'{path}: no such file; give paths of PNG or JPG images')
  try:
    with open(path, 'rb') as f:
      data = np.frombuffer(f.read(), np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
  except (OSError, cv2.error):  # cv2.error: e.g. an empty file.
    image = None
  if image is None or image.size == 0:
    raise UserError(f'{path}: cannot be read as an image; give a PNG or JPG')
  return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _centre_square(image: np.ndarray) -> np.ndarray:
  """The largest centred square of [H, W, 3], resized to [64, 64, 3]."""
  rows, cols = image.shape[:2]
  side = min(rows, cols)
  top, left = (rows - side) // 2, (cols - side) // 2
  return cv2.resize(image[top:top + side, left:left + side], (SIDE, SIDE),
                    interpolation=cv2.INTER_AREA)


def read_face(path: str | os.PathLike, *, detect: bool = True) -> np.ndarray:
  """Reads an image file of any size as a CelebA face.

  Args:
    path: a PNG or JPG (any format OpenCV reads), colour or grey.
    detect: find and crop the face as in training; False resizes the
      image's centred square.

  Returns:
    uint8 [64, 64, 3], RGB (``celeba_train.standardize`` makes it a model
    input).

  Raises:
    UserError: the file is missing or not an image, or (with ``detect``) no
      face large enough is found in it.
  """
  path = os.fspath(path)
  image = _decode_rgb(path)
  if not detect:
    return _centre_square(image)
  face = celeba.crop_face(image, celeba.load_cascade())
  if face is None:
    raise UserError(
        f'{path}: no face found that fills more than '
        f'{celeba.MIN_CROP_FRACTION:g} of the image height (OpenCV\'s Haar '
        'cascade, as in training); give a frontal face photo, or read an '
        'image that is already a face crop without detection (detect=False, '
        '--nodetect_faces)')
  return np.rint(face * 255).astype(np.uint8)
