"""Reader for the IDX format of the MNIST and Fashion-MNIST distributions.

An IDX file is a 4-byte magic number ``0x0000TTNN`` (``TT`` the element type,
``NN`` the number of dimensions), ``NN`` big-endian uint32 dimension sizes, then
the elements in C order. Only unsigned bytes (``TT == 0x08``) are supported,
which is what both data sets use. Files may be gzip-compressed or plain.
"""

from __future__ import annotations

import gzip
import math
import os
import struct

import numpy as np

from jmvae_jax.errors import UserError

_UBYTE_TYPE = 0x08
_GZIP_MAGIC = b'\x1f\x8b'


class CorruptFileError(UserError):
  """A data file exists but cannot be read; the message names the file."""


def read_idx(path: str | os.PathLike, ndim: int) -> np.ndarray:
  """Reads an unsigned-byte IDX file with ``ndim`` dimensions.

  Args:
    path: an IDX file, gzip-compressed or not (detected from its content).
    ndim: the expected number of dimensions: 3 for images (magic 0x00000803),
      1 for labels (magic 0x00000801).

  Returns:
    A read-only uint8 array whose shape is the header's dimensions, e.g.
    [N, 28, 28] for images or [N] for labels.

  Raises:
    CorruptFileError: the file cannot be decompressed, has another magic number,
      or its size disagrees with its header.
  """
  data = _read_bytes(path)
  header_size = 4 + 4 * ndim
  if len(data) < header_size:
    raise CorruptFileError(
        f'{path}: {len(data)} bytes is too short for an IDX header.'
    )
  (magic,) = struct.unpack_from('>I', data, 0)
  expected_magic = (_UBYTE_TYPE << 8) | ndim
  if magic != expected_magic:
    raise CorruptFileError(
        f'{path}: IDX magic number is 0x{magic:08x}, expected'
        f' 0x{expected_magic:08x}.'
    )
  shape = struct.unpack_from(f'>{ndim}I', data, 4)
  payload = len(data) - header_size
  if payload != math.prod(shape):
    raise CorruptFileError(
        f'{path}: header promises shape {shape} ({math.prod(shape)} bytes) but'
        f' {payload} bytes follow it.'
    )
  return np.frombuffer(data, np.uint8, offset=header_size).reshape(shape)


def _read_bytes(path: str | os.PathLike) -> bytes:
  """The file's content, gunzipped when it starts with the gzip magic bytes."""
  with open(path, 'rb') as f:
    data = f.read()
  if not data.startswith(_GZIP_MAGIC):
    return data
  try:
    return gzip.decompress(data)
  except (OSError, EOFError) as e:
    raise CorruptFileError(f'{path}: cannot decompress ({e}).') from e
