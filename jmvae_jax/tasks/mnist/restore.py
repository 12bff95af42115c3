"""A trained MNIST run, loaded back from its working directory for inference.

``load_run(WORKDIR)`` reads WORKDIR/config.json (written by
``jmvae_jax.tasks.mnist.experiment.train_and_evaluate``), rebuilds the model it describes
and restores the parameters of the newest checkpoint under WORKDIR/checkpoints.
The settings and the checkpoint are read by ``jmvae_jax.training.restore``.
"""

from __future__ import annotations

import functools
import os

from jmvae_jax import models, tasks
from jmvae_jax.errors import UserError
from jmvae_jax.tasks.mnist import release
from jmvae_jax.tasks.mnist.config import Config
from jmvae_jax.training import elbo
from jmvae_jax.training.restore import (TrainedRun, read_config_values,
                                       restore_state)


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
  if tasks.kind_of(values) != 'MNIST':
    raise UserError(f'{flag}={workdir} holds a run on '
                    f'{tasks.kind_of(values)}, not on MNIST; give an MNIST run')
  if (release.is_released_model(workdir)
      and not os.path.isdir(os.path.join(workdir, 'checkpoints'))):
    model, params, config = release.load_model(workdir)
    return TrainedRun(workdir=workdir, config=config, model=model,
                      params=params,
                      epoch=int(release.read_release(workdir)['epoch']))
  config = Config.from_dict(values)
  model = config.build_model()
  state = restore_state(workdir,
                        functools.partial(elbo.init_state, model, config),
                        seed=config.seed,
                        legacy_names=models.LEGACY_PARAM_NAMES)
  return TrainedRun(workdir=workdir, config=config, model=model,
                    params=state.params, epoch=int(state.epoch))
