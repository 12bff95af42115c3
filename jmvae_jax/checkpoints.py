"""Orbax checkpoints of the whole train state, one per epoch, atomic and resumable."""

from __future__ import annotations

import os

import jax
import orbax.checkpoint as ocp
from orbax.checkpoint.checkpoint_managers import preservation_policy

from jmvae_jax.errors import UserError
from jmvae_jax.train import TrainState


def _to_saveable(state: TrainState) -> TrainState:
  """Typed keys are not array data: store the key's raw uint32 words instead."""
  return state.replace(key=jax.random.key_data(state.key))


class Checkpoints:
  """Saves a TrainState after each epoch under ``directory`` and restores the latest.

  Orbax writes each checkpoint to a temporary directory and renames it when
  complete, so a run killed mid-save leaves the previous checkpoint intact and the
  next run resumes from it. The latest two checkpoints are kept.
  """

  def __init__(self, directory: str | os.PathLike, keep: int = 2):
    self._directory = os.path.abspath(directory)
    self._manager = ocp.CheckpointManager(
        self._directory,
        options=ocp.CheckpointManagerOptions(
            create=True,
            enable_async_checkpointing=False,
            preservation_policy=preservation_policy.LatestN(keep),
        ),
    )

  def latest_epoch(self) -> int | None:
    """The epoch of the newest complete checkpoint, or None."""
    return self._manager.latest_step()

  def save(self, state: TrainState) -> None:
    """Saves ``state`` under its epoch number; returns once it is on disk."""
    self._manager.save(int(state.epoch),
                       args=ocp.args.StandardSave(_to_saveable(state)))
    self._manager.wait_until_finished()

  def restore_latest(self, template: TrainState) -> TrainState | None:
    """The newest checkpoint, shaped like ``template``, or None when there is none.

    Raises:
      UserError: the checkpoint's arrays do not match the template's shapes (it
        was made by a different architecture).
    """
    epoch = self.latest_epoch()
    if epoch is None:
      return None
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct,
                            _to_saveable(template))
    try:
      restored = self._manager.restore(
          epoch, args=ocp.args.StandardRestore(abstract))
    except (ValueError, KeyError, TypeError) as error:
      raise UserError(
          f'the checkpoint in {self._directory} (epoch {epoch}) does not fit '
          f'this model ({type(error).__name__}: {str(error).splitlines()[0]}); '
          'use a new --workdir or the settings that made it') from error
    return restored.replace(key=jax.random.wrap_key_data(restored.key))

  def close(self) -> None:
    self._manager.close()
