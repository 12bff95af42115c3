"""A run's settings and newest checkpoint, read back for inference.

The task packages build on these to load a trained run
(``jmvae_jax.tasks.mnist.restore``, ``jmvae_jax.tasks.celeba.restore``).
"""

from __future__ import annotations

import os
from typing import Any, Mapping

from jmvae_jax.errors import UserError
from jmvae_jax.training.checkpoints import Checkpoints
from jmvae_jax.training.json_files import read_json_object


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


def restore_state(workdir: str, template: Any, *,
                  legacy_names: Mapping[str, str] | None = None) -> Any:
  """The newest complete checkpoint under WORKDIR/checkpoints, shaped like
  ``template`` (a ``TrainState`` of arrays or ``jax.ShapeDtypeStruct``s);
  ``legacy_names`` renames the parameters of older checkpoints.

  Raises:
    UserError: there is no complete checkpoint, or it does not fit ``template``.
  """
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
