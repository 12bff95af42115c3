"""Digit images on disk: any PNG/JPG read as a 28 x 28 MNIST-like input, and back.

Reading mirrors the training data: one grey channel, resized to 28 x 28 with
``cv2.INTER_AREA`` (area averaging, as for downscaled scans), grey levels scaled
to [0, 1]. MNIST digits are white on black; a drawing of dark ink on light
paper (found from its border, or forced with ``invert``) is inverted to match.

Writing follows the figures' convention (``jmvae_jax.report.plotting``): digits as
black ink on white, colour images as they are.
"""

from __future__ import annotations

import math
import os

import cv2
import numpy as np

from jmvae_jax.errors import UserError
from jmvae_jax.report.plotting import tile

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
      background (e.g. the files ``write_samples`` writes), False for MNIST's
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


def write_image(path: str | os.PathLike, image: np.ndarray) -> str:
  """Writes grey [H, W] or RGB [H, W, 3] levels in [0, 1] as an 8-bit image.

  The format follows the extension (PNG, JPG, ...).

  Returns:
    ``path``.

  Raises:
    UserError: OpenCV cannot write there.
  """
  path = os.fspath(path)
  pixels = np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)
  if pixels.ndim == 3:
    pixels = cv2.cvtColor(pixels, cv2.COLOR_RGB2BGR)
  if not cv2.imwrite(path, pixels):
    raise UserError(f'cannot write {path}; choose a writable --out directory')
  return path


def montage(images: np.ndarray, *, gap: int = 2) -> np.ndarray:
  """Lays out images [N, H, W] or [N, H, W, 3] as one picture, white between.

  The grid has ceil(sqrt(N)) columns and as many rows as needed; cells after
  the last image stay white.

  Returns:
    [R (H + gap) - gap, C (W + gap) - gap] (+ [3]) in [0, 1], for R rows and
    C columns.
  """
  cols = math.ceil(math.sqrt(len(images)))
  rows = math.ceil(len(images) / cols)
  cells = np.ones((rows * cols,) + images.shape[1:], np.float32)
  cells[:len(images)] = images
  return tile(cells.reshape((rows, cols) + images.shape[1:]), gap=gap, fill=1.0)


def write_samples(out: str | os.PathLike, images: np.ndarray) -> list[str]:
  """Writes images, their mean and a grid of them as PNGs into out.

  Grey images [N, H, W] are digits, stored white on black as MNIST's (the
  model's output): they are written as black ink on white, like the figures.
  RGB images [N, H, W, 3] are written as they are.

  Args:
    out: the directory (created if missing).
    images: [N, H, W] grey or [N, H, W, 3] RGB levels in [0, 1].

  Returns:
    The paths: ``out/sample_000.png``, ..., ``out/mean.png``, then
    ``out/grid.png`` (``montage`` of the samples).

  Raises:
    UserError: out cannot be created or written.
  """
  try:
    os.makedirs(out, exist_ok=True)
  except OSError as error:
    raise UserError(f'cannot create --out={out} ({error.strerror}); choose a '
                    'directory you can write to') from error
  pictures = 1 - images if images.ndim == 3 else images
  paths = [write_image(os.path.join(out, f'sample_{i:03d}.png'), picture)
           for i, picture in enumerate(pictures)]
  paths.append(write_image(os.path.join(out, 'mean.png'),
                           pictures.mean(axis=0)))
  paths.append(write_image(os.path.join(out, 'grid.png'), montage(pictures)))
  return paths
