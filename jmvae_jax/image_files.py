"""Digit images on disk: any PNG/JPG read as a 28 x 28 MNIST-like input, and back.

Reading mirrors the training data: one grey channel, resized to 28 x 28 with
``cv2.INTER_AREA`` (area averaging, as for downscaled scans), grey levels scaled
to [0, 1]. MNIST digits are white on black; ``invert=True`` reads the usual
black-on-white drawing the same way.
"""

from __future__ import annotations

import os

import cv2
import numpy as np

from jmvae_jax.errors import UserError

SIDE = 28  # MNIST images are SIDE x SIDE.


def read_digit(path: str | os.PathLike, *, invert: bool = False) -> np.ndarray:
  """Reads an image file of any size as MNIST's model input.

  Args:
    path: a PNG or JPG (any format OpenCV reads).
    invert: map grey level g to 1 - g (for dark digits on a light background).

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
  grey = small.astype(np.float32).reshape(SIDE * SIDE) / 255
  return 1 - grey if invert else grey


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


def write_samples(out: str | os.PathLike, images: np.ndarray) -> list[str]:
  """Writes images [N, H, W] or [N, H, W, 3] and their mean as PNGs into out.

  Returns:
    The paths: ``out/sample_000.png``, ... then ``out/mean.png``.

  Raises:
    UserError: out cannot be created or written.
  """
  try:
    os.makedirs(out, exist_ok=True)
  except OSError as error:
    raise UserError(f'cannot create --out={out} ({error.strerror}); choose a '
                    'directory you can write to') from error
  paths = [write_image(os.path.join(out, f'sample_{i:03d}.png'), image)
           for i, image in enumerate(images)]
  paths.append(write_image(os.path.join(out, 'mean.png'), images.mean(axis=0)))
  return paths
