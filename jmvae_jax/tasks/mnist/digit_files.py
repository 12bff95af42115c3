"""Digit images on disk: any PNG/JPG read as a 28 x 28 MNIST-like input.

Reading mirrors the training data: one grey channel, resized to 28 x 28 with
``cv2.INTER_AREA`` (area averaging, as for downscaled scans), grey levels scaled
to [0, 1]. MNIST digits are white on black; a drawing of dark ink on light
paper (found from its border, or forced with ``invert``) is inverted to match.

Pictures written by ``jmvae_jax.report.picture_files`` (black ink on white)
read back as the digits they show.
"""

from __future__ import annotations

import os

import cv2
import numpy as np

from jmvae_jax.errors import UserError

SIDE = 28  # MNIST images are SIDE x SIDE.


def has_light_background(grey: np.ndarray) -> bool:
  """Whether a grey image [H, W] in [0, 1] is dark ink on light paper.

  MNIST digits are centred with a dark border; the mean of the outermost
  rows and columns tells the two conventions apart.
  """
  border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
  return bool(border.mean() > 0.5)


def read_digit(path: str | os.PathLike, *,
               invert: bool | None = None) -> np.ndarray:
  """Reads an image file of any size as MNIST's model input.

  Args:
    path: a PNG or JPG (any format OpenCV reads).
    invert: map grey level g to 1 - g: True for dark digits on a light
      background (e.g. the files ``picture_files.write_samples`` writes), False for MNIST's
      light digits on dark; None decides from the image's border
      (``has_light_background``).

  Returns:
    float32 [784] in [0, 1], row-major.

  Raises:
    UserError: the file is missing or cannot be decoded as an image.
  """
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise UserError(f'{path}: no such file; give paths of PNG or JPG images')
  image = cv2.imread(path, cv2.IMREAD_GRAYSCALE)
  if image is None or image.size == 0:
    raise UserError(f'{path}: cannot be read as an image; give a PNG or JPG')
  small = cv2.resize(image, (SIDE, SIDE), interpolation=cv2.INTER_AREA)
  grey = small.astype(np.float32) / 255
  if invert is None:
    invert = has_light_background(grey)
  return (1 - grey if invert else grey).reshape(SIDE * SIDE)
