"""A trained MNIST run, loaded back from its working directory for inference.

``load_run(WORKDIR)`` reads WORKDIR/config.json (written by
``jmvae_jax.tasks.mnist.experiment.train_and_evaluate``), rebuilds the model it describes
and restores the parameters of the newest checkpoint under WORKDIR/checkpoints.
The settings and the checkpoint are read by ``jmvae_jax.training.restore``.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from typing import Any

import jax

from jmvae_jax import models, tasks
from jmvae_jax.errors import UserError
from jmvae_jax.tasks.mnist import release
from jmvae_jax.tasks.mnist.config import Config
from jmvae_jax.training import elbo
from jmvae_jax.training.restore import read_config_values, restore_state


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


def load_run(workdir: str | os.PathLike, *,
             flag: str = '--workdir') -> TrainedRun:
  """Loads the MNIST run in ``workdir``: settings, model and newest parameters.

  Args:
    workdir: a directory written by ``experiment.train_and_evaluate``, or a
      released model's folder (``jmvae_jax.tasks.mnist.release``).
    flag: the flag that named it, for error messages (e.g. '--compare').

  Returns:
    The run, its parameters on the default device.

  Raises:
    UserError: ``workdir`` is not a directory, lacks config.json or a complete
      checkpoint, holds a CelebA run, or its checkpoint does not fit its config.
  """
  workdir = os.path.abspath(os.path.expanduser(os.fspath(workdir)))
  values = read_config_values(workdir, flag=flag)
  if tasks.is_celeba(values):
    raise UserError(f'{flag}={workdir} holds a CelebA run; load it with '
                    '`jmvae_jax.tasks.celeba.restore.load_celeba_run`')
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
  template = jax.eval_shape(functools.partial(elbo.init_state, model, config))
  template = template.replace(key=jax.random.key(config.seed))
  state = restore_state(workdir, template,
                        legacy_names=models.LEGACY_PARAM_NAMES)
  return TrainedRun(workdir=workdir, config=config, model=model,
                    params=state.params, epoch=int(state.epoch))
