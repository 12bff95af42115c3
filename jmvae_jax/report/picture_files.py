"""Pictures on disk: levels in [0, 1] written as 8-bit images, one by one or as a grid.

Writing follows the figures' convention (``jmvae_jax.report.plotting``): grey
images are digits, written as black ink on white; colour images as they are.
"""

from __future__ import annotations

import math
import os

import cv2
import numpy as np

from jmvae_jax.errors import UserError
from jmvae_jax.report.plotting import tile


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
