"""One subpackage per data set: what is specific to it (config, networks, figure
layouts, the paper's numbers) on top of the generic layers."""

from __future__ import annotations

import os
from typing import Any

from jmvae_jax.training.restore import read_config_values


def kind_of(values: dict[str, Any]) -> str:
  """The data set of a run's settings (its config.json): 'MNIST', 'CelebA'
  or 'PolyMNIST'."""
  # Only ``CelebAConfig`` has the image likelihood convention, only
  # ``PolyMNISTConfig`` the Laplace scale.
  if 'image_log_prob' in values:
    return 'CelebA'
  return 'PolyMNIST' if 'laplace_scale' in values else 'MNIST'


def run_kind(workdir: str | os.PathLike) -> str:
  """The data set of the run in WORKDIR (``kind_of`` its config.json).

  Raises:
    UserError: WORKDIR is not a run's directory (see ``read_config_values``).
  """
  return kind_of(read_config_values(os.path.expanduser(os.fspath(workdir))))
