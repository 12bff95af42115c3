"""A trained CelebA run, loaded back from its working directory for inference.

``load_celeba_run(WORKDIR)`` reads WORKDIR/config.json (written by
``jmvae_jax.tasks.celeba.experiment.train_and_evaluate``), rebuilds the model,
restores the newest checkpoint and reads the training faces' statistics from
WORKDIR/data_stats.npz (``jmvae_jax.tasks.celeba.stats``). A run trained before that
file existed gets them from its data set, loaded as its config says.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from typing import Any

from jmvae_jax.data import celeba
from jmvae_jax.errors import UserError
from jmvae_jax.tasks import kind_of
from jmvae_jax.tasks.celeba import (config as celeba_config, gan,
                                    stats as celeba_stats,
                                    train as celeba_train)
from jmvae_jax.tasks.celeba.config import CelebAConfig
from jmvae_jax.training.restore import read_config_values, restore_state


@dataclasses.dataclass(frozen=True)
class CelebARun:
  """The evaluation-mode model and variables of one CelebA run.

  Attributes:
    workdir: the run's directory, absolute.
    config: its settings.
    model: the model that infers and generates: the run's model, or the VAE
      part of a GAN variant (``gan.evaluation_model``).
    variables: its {'params', 'batch_stats'} from the newest checkpoint.
    stats: the training faces' statistics.
    epoch: the number of epochs that checkpoint had trained.
  """

  workdir: str
  config: CelebAConfig
  model: Any
  variables: Any
  stats: celeba_stats.DataStats
  epoch: int

  @property
  def name(self) -> str:
    """A short label for plots: the model and its epochs."""
    return f'{self.config.model}, epoch {self.epoch}'


def _config(values: dict[str, Any]) -> CelebAConfig:
  known = {field.name for field in dataclasses.fields(CelebAConfig)}
  return CelebAConfig(**{k: v for k, v in values.items() if k in known})


def load_celeba_run(workdir: str | os.PathLike, *,
                    data: celeba.CelebAData | None = None) -> CelebARun:
  """Loads the CelebA run in ``workdir``: settings, model, variables, stats.

  Args:
    workdir: a directory written by ``jmvae_jax.tasks.celeba.experiment.train_and_evaluate``.
    data: the run's faces, used only when WORKDIR has no data_stats.npz (by
      default loaded as the run's config says).

  Returns:
    The run, its variables on the default device.

  Raises:
    UserError: ``workdir`` is not a directory, lacks config.json or a complete
      checkpoint, holds another data set's run, or (lacking data_stats.npz) its data
      cannot be loaded.
  """
  workdir = os.path.abspath(os.path.expanduser(os.fspath(workdir)))
  values = read_config_values(workdir)
  if kind_of(values) != 'CelebA':
    raise UserError(f'{workdir} holds a run on {kind_of(values)}, not on '
                    'CelebA; give a CelebA run')
  config = _config(values)
  trainer = celeba_train.make_trainer(config.build_model(), config)
  state = restore_state(
      workdir, functools.partial(celeba_train.init_state, trainer, config.seed),
      seed=config.seed)
  stats = celeba_stats.load(workdir)
  if stats is None:
    stats = celeba_stats.compute(
        data if data is not None else celeba_config.load_data(config))
  return CelebARun(
      workdir=workdir, config=config,
      model=gan.evaluation_model(config.build_model()),
      variables=state.params['model'], stats=stats, epoch=int(state.epoch))
