"""Arrays on disk: a cache with a SHA-256 sidecar, atomic writes, parameter trees as npz names.

A data set that is slow to prepare (CelebA's detected faces, PolyMNIST read
from its PNG files) is kept as ``NAME.npz`` beside ``NAME.json``. The sidecar
holds the SHA-256 of the arrays and what they were made from; a cache whose
record differs from what the caller asks for, or whose arrays fail their
checksum, reads as absent, so the caller rebuilds it. Both files are written
through a temporary file that replaces the old one only when complete, so a
killed process leaves the old cache or none, never half of one.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from typing import IO, Any

import jax
import numpy as np
from absl import logging


def arrays_sha256(arrays: Mapping[str, np.ndarray]) -> str:
  """SHA-256 of named arrays: names, dtypes, shapes and bytes, by name."""
  digest = hashlib.sha256()
  for name in sorted(arrays):
    array = np.ascontiguousarray(arrays[name])
    digest.update(f'{name}:{array.dtype.str}:{array.shape};'.encode())
    digest.update(array.data)
  return digest.hexdigest()


def write_atomically(path: pathlib.Path,
                     write: Callable[[IO[bytes]], object]) -> None:
  """Writes a file (mode 644) through a temporary one that replaces it when complete."""
  fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f'.{path.name}.')
  try:
    with os.fdopen(fd, 'wb') as f:
      write(f)
      f.flush()
      os.fsync(f.fileno())
    os.chmod(temp, 0o644)
    os.replace(temp, path)
  except BaseException:
    os.unlink(temp)
    raise


def _path(stem: pathlib.Path, suffix: str) -> pathlib.Path:
  return stem.parent / f'{stem.name}{suffix}'


def read(stem: pathlib.Path, record: Mapping[str, Any]
         ) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
  """The arrays of STEM.npz and the sidecar STEM.json, if they match ``record``.

  Args:
    stem: the cache's path without suffix.
    record: what the sidecar must hold (e.g. the source and the settings).

  Returns:
    (arrays, sidecar), or None if the cache is absent, was made from
    something else, is damaged or fails its SHA-256 (logged).
  """
  meta_path = _path(stem, '.json')
  if not meta_path.exists():
    return None
  try:
    meta = json.loads(meta_path.read_text())
  except (OSError, ValueError) as e:
    logging.warning('Unreadable %s (%r); rebuilding the cache.', meta_path, e)
    return None
  if any(meta.get(key) != value for key, value in record.items()):
    logging.info('The cache %s was made with other settings; rebuilding.',
                 stem)
    return None
  try:
    with np.load(_path(stem, '.npz')) as npz:
      arrays = {name: npz[name] for name in npz.files}
  except (OSError, ValueError, KeyError, zipfile.BadZipFile):
    arrays = None
  if arrays is None or arrays_sha256(arrays) != meta.get('sha256'):
    logging.warning('The cache %s is damaged or fails its checksum; '
                    'rebuilding.', stem)
    return None
  return arrays, meta


def write(stem: pathlib.Path, arrays: Mapping[str, np.ndarray],
          record: Mapping[str, Any]) -> None:
  """Writes STEM.npz, then STEM.json (``record`` and the arrays' SHA-256)."""
  stem.parent.mkdir(parents=True, exist_ok=True)
  meta = {'sha256': arrays_sha256(arrays), **record}
  write_atomically(_path(stem, '.npz'), lambda f: np.savez(f, **arrays))
  write_atomically(_path(stem, '.json'),
                   lambda f: f.write(json.dumps(meta, indent=2).encode()))


def flatten_params(params: Any) -> dict[str, np.ndarray]:
  """A nested dict of arrays -> {'a/b/c': array} (NumPy, on the host), for npz files."""
  leaves = jax.tree_util.tree_flatten_with_path(jax.device_get(params))[0]
  return {'/'.join(str(getattr(entry, 'key', entry)) for entry in path):
          np.asarray(leaf) for path, leaf in leaves}


def unflatten_params(flat: Mapping[str, np.ndarray]) -> dict[str, Any]:
  """The inverse of ``flatten_params``."""
  tree: dict[str, Any] = {}
  for name, value in flat.items():
    *parents, leaf = name.split('/')
    node = tree
    for parent in parents:
      node = node.setdefault(parent, {})
    node[leaf] = value
  return tree
