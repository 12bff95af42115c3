"""Orbax checkpoints of the whole train state: atomic, verified, with fallback.

Orbax writes each checkpoint to a temporary directory and renames it when
complete, so a run killed mid-save leaves the previous checkpoint intact. On
top of that:

* every checkpoint carries SHA-256 digests of its files and of its arrays
  (``DIGEST_FILE`` in the checkpoint's directory, written once orbax has
  finished), since orbax itself does not notice a flipped bit in an array
  file. The files are checked before orbax reads them (a read that fails
  half-way leaves orbax's other reads pending on an event loop it has closed,
  and they print tracebacks whenever they are collected); the arrays after;
* a checkpoint that cannot be read, fails its digest or holds a non-finite
  value is moved to ``<directory>_damaged/`` with a one-line message, and the
  previous one is tried: a damaged latest checkpoint costs one epoch, not the
  run;
* the newest two are kept, and only finite states are ever saved (the caller
  guards that), so two good checkpoints exist once two epochs have run.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import sys
import time
from typing import Any, Callable, Mapping

import jax
import numpy as np
import orbax.checkpoint as ocp
from etils import epath
from orbax.checkpoint.checkpoint_managers import preservation_policy

from jmvae_jax.errors import UserError

DIGEST_FILE = 'jmvae_digest.json'
_ITEM = 'default'  # The directory orbax gives the one item of a checkpoint.


def _to_saveable(state: Any) -> Any:
  """Typed keys are not array data: store the key's raw uint32 words instead."""
  return state.replace(key=jax.random.key_data(state.key))


def state_digest(saveable: Any) -> str:
  """SHA-256 over every leaf's dtype, shape and bytes, in tree order."""
  digest = hashlib.sha256()
  for leaf in jax.tree.leaves(jax.device_get(saveable)):
    leaf = np.ascontiguousarray(leaf)
    digest.update(f'{leaf.dtype}{leaf.shape}'.encode())
    digest.update(leaf.tobytes())
  return digest.hexdigest()


def files_digest(directory: str) -> str:
  """SHA-256 over the relative path and bytes of every file below ``directory``.

  In sorted path order; ``DIGEST_FILE`` itself is left out.
  """
  digest = hashlib.sha256()
  paths = sorted(
      os.path.relpath(os.path.join(parent, name), directory)
      for parent, _, names in os.walk(directory) for name in names
      if name != DIGEST_FILE)
  for path in paths:
    digest.update(path.encode() + b'\0')
    with open(os.path.join(directory, path), 'rb') as f:
      for block in iter(lambda: f.read(1 << 20), b''):
        digest.update(block)
  return digest.hexdigest()


def rename_keys(tree: Any, names: Mapping[str, str]) -> Any:
  """``tree`` with every dict key found in ``names`` renamed, at any depth.

  Walks dicts, lists, tuples, named tuples (optax states) and dataclasses
  (flax.struct train states); leaves are kept as they are.
  """
  if isinstance(tree, dict):
    return {names.get(k, k): rename_keys(v, names) for k, v in tree.items()}
  if dataclasses.is_dataclass(tree) and not isinstance(tree, type):
    return dataclasses.replace(tree, **{
        field.name: rename_keys(getattr(tree, field.name), names)
        for field in dataclasses.fields(tree) if field.init})
  if isinstance(tree, tuple) and hasattr(tree, '_fields'):
    return type(tree)(*(rename_keys(v, names) for v in tree))
  if isinstance(tree, (list, tuple)):
    return type(tree)(rename_keys(v, names) for v in tree)
  return tree


def _dict_keys(tree: Any) -> set[str]:
  """Every dict key in a tree of nested dicts (an orbax metadata tree)."""
  if not isinstance(tree, Mapping):
    return set()
  return set(tree).union(*(_dict_keys(v) for v in tree.values()))


def _all_finite(saveable: Any) -> bool:
  return all(np.all(np.isfinite(leaf)) for leaf in jax.tree.leaves(
      jax.device_get(saveable)) if np.issubdtype(leaf.dtype, np.floating))


def _first_line(error: BaseException) -> str:
  text = str(error).strip().splitlines()
  return f'{type(error).__name__}: {text[0] if text else ""}'[:200]


# The coroutine orbax runs for each array it reads.
_ORBAX_ARRAY_READ = '_read_array_index_and_device_put'


def _restore_or_problem(manager: ocp.CheckpointManager, epoch: int,
                        abstract: Any) -> tuple[Any, str]:
  """(the checkpoint's arrays, '') or (None, 'unreadable: <why>')."""
  try:
    return manager.restore(epoch, args=ocp.args.StandardRestore(abstract)), ''
  except Exception as error:  # pylint: disable=broad-except
    # A damaged checkpoint fails in orbax, TensorStore or the OS, in many
    # exception types; all mean "not usable".
    _drop_abandoned_read_tracebacks()
    return None, f'unreadable: {_first_line(error)}'


def _drop_abandoned_read_tracebacks() -> None:
  """Keeps orbax's abandoned array reads from printing tracebacks.

  When one read of a restore fails, orbax closes its event loop with the
  other reads pending, and each later prints a traceback through
  ``sys.unraisablehook``: "Event loop is closed" when TensorStore finishes the
  read, "Exception ignored in <coroutine _read_array_index_and_device_put>"
  when the coroutine is collected; dozens for one damaged file, at moments
  TensorStore's threads decide. The caller's one-line warning has said what
  happened, so from now on this process's hook drops those two, and only
  those; every other exception Python cannot raise reaches the hook that was
  there.
  """
  previous = sys.unraisablehook
  if getattr(previous, 'drops_abandoned_orbax_reads', False):
    return

  def hook(unraisable: Any) -> None:
    read_collected = (getattr(unraisable.object, '__name__', None)
                      == _ORBAX_ARRAY_READ)
    read_finished = (unraisable.object is None
                     and isinstance(unraisable.exc_value, RuntimeError)
                     and str(unraisable.exc_value) == 'Event loop is closed')
    if not (read_collected or read_finished):
      previous(unraisable)

  hook.drops_abandoned_orbax_reads = True
  sys.unraisablehook = hook


class Checkpoints:
  """Saves a train state after each epoch under ``directory``; restores the
  newest good one.

  The state is any ``flax.struct`` dataclass with a typed PRNG ``key`` field
  (``jmvae_jax.training.train.TrainState``, ``jmvae_jax.tasks.celeba.train.TrainState``).
  """

  def __init__(self, directory: str | os.PathLike, keep: int = 2,
               log: Callable[[str], None] = print,
               legacy_names: Mapping[str, str] | None = None):
    """Opens (or creates) ``directory``.

    Args:
      directory: where the checkpoints go.
      keep: how many of the newest to keep.
      log: receives one line per damaged checkpoint.
      legacy_names: {old dict key: new key} of states saved by older versions
        (e.g. ``models.LEGACY_PARAM_NAMES``); a checkpoint with the old keys is
        restored under the new ones.
    """
    self._directory = os.path.abspath(directory)
    self._keep = keep
    self._log = log
    self._legacy_names = dict(legacy_names or {})
    self._manager = self._open()

  def _open(self) -> ocp.CheckpointManager:
    return ocp.CheckpointManager(
        self._directory,
        options=ocp.CheckpointManagerOptions(
            create=True,
            enable_async_checkpointing=False,
            preservation_policy=preservation_policy.LatestN(self._keep),
        ),
    )

  @property
  def damaged_directory(self) -> str:
    """Where damaged checkpoints are moved."""
    return f'{self._directory}_damaged'

  def latest_epoch(self) -> int | None:
    """The epoch of the newest complete checkpoint, or None."""
    return self._manager.latest_step()

  def save(self, state: Any) -> None:
    """Saves ``state`` under its epoch number; returns once it is on disk.

    A grid's stacked states (``jmvae_jax.tasks.mnist.grid``) share one epoch number.
    """
    saveable = _to_saveable(state)
    epoch = int(np.max(np.asarray(state.epoch)))
    self._manager.save(epoch, args=ocp.args.StandardSave(saveable))
    self._manager.wait_until_finished()
    if jax.process_index() == 0:
      directory = os.path.join(self._directory, str(epoch))
      record = {'sha256': state_digest(saveable),
                'files_sha256': files_digest(directory)}
      path = os.path.join(directory, DIGEST_FILE)
      with open(f'{path}.tmp', 'w') as f:
        json.dump(record, f)
      os.replace(f'{path}.tmp', path)

  def restore_latest(self, template: Any) -> Any | None:
    """The newest good checkpoint, shaped like ``template``, or None if none.

    Damaged checkpoints (unreadable, a wrong digest, non-finite values) are
    moved to ``damaged_directory`` with a one-line log message each, and the
    next older one is tried.

    Raises:
      UserError: a checkpoint's arrays do not match the template's shapes (it
        was made by another architecture), or every checkpoint is damaged.
    """
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct,
                            _to_saveable(template))
    template_keys = {getattr(entry, 'key', None)
                     for path, _ in jax.tree_util.tree_flatten_with_path(
                         abstract)[0] for entry in path}
    damaged = []
    for epoch in sorted(self._manager.all_steps(), reverse=True):
      # Shapes first, from the metadata: a restore that fails leaves orbax's
      # other array reads pending on an event loop it has closed, and they
      # print tracebacks ("Event loop is closed") whenever they are collected.
      saved = self._saved_tree(epoch)
      # Old names the checkpoint has and the template lacks (a CelebA state
      # has its own 'x_decoder', which stays).
      saved_keys = _dict_keys(saved)
      renamed = {old: new for old, new in self._legacy_names.items()
                 if old in saved_keys and old not in template_keys}
      if saved is not None and self._shapes_differ(saved, abstract):
        raise UserError(
            f'the checkpoint in {self._directory} (epoch {epoch}) does not fit '
            'this model (its arrays have other shapes); use a new --workdir '
            'or the settings that made it')
      as_saved = rename_keys(abstract,
                             {new: old for old, new in renamed.items()})
      restored, problem = self._try_restore(epoch, as_saved)
      if restored is not None:
        restored = rename_keys(restored, renamed)
        if damaged:
          self._manager.close()
          self._manager = self._open()
        return restored.replace(key=jax.random.wrap_key_data(restored.key))
      self._log(f'warning: the checkpoint after epoch {epoch} is damaged '
                f'({problem}); moved to {self._quarantine(epoch)}; trying '
                'the one before')
      damaged.append(epoch)
    if damaged:
      raise UserError(
          f'every checkpoint in {self._directory} is damaged (epochs '
          f'{damaged}, now in {self.damaged_directory}); delete the workdir\'s '
          'checkpoints/ to start over, or use a new --workdir')
    return None

  def _saved_tree(self, epoch: int) -> dict[str, Any] | None:
    """The checkpoint's metadata tree, or None when it cannot be read (then
    it is damaged, which restoring it will report)."""
    try:
      metadata = ocp.PyTreeCheckpointHandler().metadata(
          epath.Path(self._directory) / str(epoch) / _ITEM)
      return dict(getattr(metadata, 'tree', metadata))
    except Exception:  # pylint: disable=broad-except
      return None

  @staticmethod
  def _shapes_differ(saved: dict[str, Any], abstract: Any) -> bool:
    """True if the checkpoint's recorded array shapes are not the template's."""
    shapes = sorted(tuple(leaf.shape) for leaf in jax.tree.leaves(
        saved, is_leaf=lambda x: hasattr(x, 'shape')))
    return shapes != sorted(tuple(leaf.shape)
                            for leaf in jax.tree.leaves(abstract))

  def _try_restore(self, epoch: int, abstract: Any) -> tuple[Any, str]:
    """(the restored state, '') or (None, what is wrong with the checkpoint)."""
    directory = os.path.join(self._directory, str(epoch))
    digest_path = os.path.join(directory, DIGEST_FILE)
    expected = None
    if os.path.exists(digest_path):
      try:
        with open(digest_path) as f:
          expected = json.load(f)
      except (OSError, ValueError):
        expected = None
      if not isinstance(expected, dict) or 'sha256' not in expected:
        return None, f'its {DIGEST_FILE} is unreadable'
      # Older checkpoints have only the arrays' digest.
      if expected.get('files_sha256') not in (None, files_digest(directory)):
        return None, 'its files do not match the SHA-256 saved with them'
    restored, problem = _restore_or_problem(self._manager, epoch, abstract)
    if restored is None:
      return None, problem
    if expected is not None and state_digest(restored) != expected['sha256']:
      return None, 'its arrays do not match the SHA-256 saved with them'
    # A checkpoint killed between orbax's commit and the digest has no digest:
    # it is complete (orbax committed it), so it is accepted if finite.
    if not _all_finite(restored):
      return None, 'it holds non-finite values'
    return restored, ''

  def _quarantine(self, epoch: int) -> str:
    """Moves a damaged checkpoint aside (process 0 only); returns where to."""
    if jax.process_index() != 0:
      return self.damaged_directory
    os.makedirs(self.damaged_directory, exist_ok=True)
    target = os.path.join(self.damaged_directory,
                          f'{epoch}-{time.strftime("%Y%m%d-%H%M%S")}')
    shutil.move(os.path.join(self._directory, str(epoch)), target)
    return target

  def close(self) -> None:
    self._manager.close()
