"""A run's settings and newest checkpoint, read back for inference.

The task packages build on these to load a trained run
(``jmvae_jax.tasks.mnist.restore``, ``jmvae_jax.tasks.celeba.restore``).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Callable, Mapping

import jax

from jmvae_jax.errors import UserError
from jmvae_jax.training.checkpoints import Checkpoints
from jmvae_jax.training.json_files import read_json_object


@dataclasses.dataclass(frozen=True)
class TrainedRun:
  """The model and parameters of one finished (or interrupted) ELBO-trained run.

  Attributes:
    workdir: the run's directory, absolute.
    config: its settings (the task's config dataclass), as in config.json.
    model: the model those settings build (``jmvae_jax.models``).
    params: the parameters of its newest checkpoint.
    epoch: the number of epochs that checkpoint had trained.
  """

  workdir: str
  config: Any
  model: Any
  params: Any
  epoch: int

  @property
  def name(self) -> str:
    """A short label for plots: the model, with alpha for JMVAE-kl."""
    if self.config.model == 'jmvae_kl':
      return f'jmvae_kl (alpha={self.config.alpha:g})'
    return self.config.model


def read_config_values(workdir: str, *,
                       flag: str = '--workdir') -> dict[str, Any]:
  """The settings in WORKDIR/config.json, as written by a training binary.

  Args:
    workdir: the run's directory.
    flag: the flag that named it, for error messages (e.g. '--compare').

  Raises:
    UserError: ``workdir`` is not a directory, or its config.json is missing
      or not a JSON object.
  """
  if not os.path.isdir(workdir):
    raise UserError(f'{flag}={workdir} is not a directory; give the '
                    'directory of a trained run, or train one there first '
                    f'(`python -m experiments.mnist --workdir={workdir}`)')
  path = os.path.join(workdir, 'config.json')
  if not os.path.isfile(path):
    raise UserError(f'{flag}={workdir} holds no config.json; give the '
                    'directory of a run made by `python -m experiments.mnist` '
                    'or `python -m experiments.celeba`')
  return read_json_object(
      path, fix='re-run the training command that made it')


def restore_state(workdir: str, init_state: Callable[[], Any], *, seed: int,
                  legacy_names: Mapping[str, str] | None = None) -> Any:
  """The newest complete checkpoint under WORKDIR/checkpoints.

  Args:
    workdir: the run's directory.
    init_state: () -> the run's initial ``TrainState``; only its shapes are
      computed (no initialization runs).
    seed: the run's seed; the template's key is a real one of it, because
      checkpoints store typed keys as their raw data.
    legacy_names: renames the parameters of older checkpoints.

  Raises:
    UserError: there is no complete checkpoint, or it does not fit the state.
  """
  template = jax.eval_shape(init_state).replace(key=jax.random.key(seed))
  directory = os.path.join(workdir, 'checkpoints')
  if not os.path.isdir(directory):
    raise UserError(f'{workdir} holds no checkpoints/ directory: the run has '
                    'not finished an epoch; train it first')
  checkpoints = Checkpoints(directory, legacy_names=legacy_names)
  try:
    state = checkpoints.restore_latest(template)
  finally:
    checkpoints.close()
  if state is None:
    raise UserError(f'{directory} holds no complete checkpoint: the run has '
                    'not finished an epoch; train it (or resume it) first')
  return state
