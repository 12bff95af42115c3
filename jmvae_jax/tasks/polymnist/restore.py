"""A trained PolyMNIST run, loaded back from its working directory for inference.

``load_run(WORKDIR)`` reads WORKDIR/config.json (written by
``jmvae_jax.tasks.polymnist.experiment.train_and_evaluate``), rebuilds the
model it describes and restores the parameters of the newest checkpoint.
"""

from __future__ import annotations

import functools
import os

from jmvae_jax import tasks
from jmvae_jax.errors import UserError
from jmvae_jax.tasks.polymnist.config import PolyMNISTConfig
from jmvae_jax.training import elbo
from jmvae_jax.training.restore import (TrainedRun, read_config_values,
                                       restore_state)


def load_run(workdir: str | os.PathLike) -> TrainedRun:
  """Loads the PolyMNIST run in ``workdir``: settings, model and newest parameters.

  Raises:
    UserError: ``workdir`` is not a directory, lacks config.json or a complete
      checkpoint, holds another data set's run, or its checkpoint does not fit
      its config.
  """
  workdir = os.path.abspath(os.path.expanduser(os.fspath(workdir)))
  values = read_config_values(workdir)
  if tasks.kind_of(values) != 'PolyMNIST':
    raise UserError(f'--workdir={workdir} holds a run on '
                    f'{tasks.kind_of(values)}, not on PolyMNIST')
  config = PolyMNISTConfig.from_dict(values)
  model = config.build_model()
  state = restore_state(workdir,
                        functools.partial(elbo.init_state, model, config),
                        seed=config.seed)
  return TrainedRun(workdir=workdir, config=config, model=model,
                    params=state.params, epoch=int(state.epoch))
