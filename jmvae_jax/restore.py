"""A trained MNIST run, loaded back from its working directory for inference.

``load_run(WORKDIR)`` reads WORKDIR/config.json (written by
``jmvae_jax.experiment.train_and_evaluate``), rebuilds the model it describes
and restores the parameters of the newest checkpoint under WORKDIR/checkpoints.
The helpers that read the settings and the checkpoint also serve CelebA runs
(``jmvae_jax.celeba_restore``).
"""

from __future__ import annotations

import dataclasses
import functools
import os
from typing import Any

import jax

from jmvae_jax import models, release, train
from jmvae_jax.checkpoints import Checkpoints
from jmvae_jax.config import Config
from jmvae_jax.errors import UserError
from jmvae_jax.json_files import read_json_object


@dataclasses.dataclass(frozen=True)
class TrainedRun:
  """The model and parameters of one finished (or interrupted) run.

  Attributes:
    workdir: the run's directory, absolute.
    config: its settings, as written to config.json.
    model: the model those settings build (``jmvae_jax.models``).
    params: the parameters of its newest checkpoint.
    epoch: the number of epochs that checkpoint had trained.
  """

  workdir: str
  config: Config
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


def is_celeba(values: dict[str, Any]) -> bool:
  """Whether settings read by ``read_config_values`` are of a CelebA run."""
  # Only ``CelebAConfig`` has the image likelihood convention.
  return 'image_log_prob' in values


def is_celeba_run(workdir: str | os.PathLike) -> bool:
  """Whether WORKDIR holds a CelebA run (else an MNIST one).

  Raises:
    UserError: as ``read_config_values``.
  """
  return is_celeba(read_config_values(os.path.expanduser(os.fspath(workdir))))


def restore_state(workdir: str, template: Any) -> Any:
  """The newest complete checkpoint under WORKDIR/checkpoints, shaped like
  ``template`` (a ``TrainState`` of arrays or ``jax.ShapeDtypeStruct``s).

  Raises:
    UserError: there is no complete checkpoint, or it does not fit ``template``.
  """
  directory = os.path.join(workdir, 'checkpoints')
  if not os.path.isdir(directory):
    raise UserError(f'{workdir} holds no checkpoints/ directory: the run has '
                    'not finished an epoch; train it first')
  checkpoints = Checkpoints(directory, legacy_names=models.LEGACY_PARAM_NAMES)
  try:
    state = checkpoints.restore_latest(template)
  finally:
    checkpoints.close()
  if state is None:
    raise UserError(f'{directory} holds no complete checkpoint: the run has '
                    'not finished an epoch; train it (or resume it) first')
  return state


def load_run(workdir: str | os.PathLike, *,
             flag: str = '--workdir') -> TrainedRun:
  """Loads the MNIST run in ``workdir``: settings, model and newest parameters.

  Args:
    workdir: a directory written by ``experiment.train_and_evaluate``, or a
      released model's folder (``jmvae_jax.release``).
    flag: the flag that named it, for error messages (e.g. '--compare').

  Returns:
    The run, its parameters on the default device.

  Raises:
    UserError: ``workdir`` is not a directory, lacks config.json or a complete
      checkpoint, holds a CelebA run, or its checkpoint does not fit its config.
  """
  workdir = os.path.abspath(os.path.expanduser(os.fspath(workdir)))
  values = read_config_values(workdir, flag=flag)
  if is_celeba(values):
    raise UserError(f'{flag}={workdir} holds a CelebA run; load it with '
                    '`jmvae_jax.celeba_restore.load_celeba_run`')
  if (release.is_released_model(workdir)
      and not os.path.isdir(os.path.join(workdir, 'checkpoints'))):
    model, params, config = release.load_model(workdir)
    return TrainedRun(workdir=workdir, config=config, model=model,
                      params=params,
                      epoch=int(release.read_release(workdir)['epoch']))
  config = Config.from_dict(values)
  model = config.build_model()
  # Shapes only (no initialization runs); the key is real because checkpoints
  # store typed keys as their raw data.
  template = jax.eval_shape(functools.partial(train.init_state, model, config))
  template = template.replace(key=jax.random.key(config.seed))
  state = restore_state(workdir, template)
  return TrainedRun(workdir=workdir, config=config, model=model,
                    params=state.params, epoch=int(state.epoch))
