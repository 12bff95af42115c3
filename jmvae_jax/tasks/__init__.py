"""One subpackage per data set: what is specific to it (config, networks, figure
layouts, the paper's numbers) on top of the generic layers."""

from __future__ import annotations

import os
from typing import Any

from jmvae_jax.training.restore import read_config_values


def is_celeba(values: dict[str, Any]) -> bool:
  """Whether a run's settings (its config.json) are of a CelebA run."""
  # Only ``CelebAConfig`` has the image likelihood convention.
  return 'image_log_prob' in values


def is_celeba_run(workdir: str | os.PathLike) -> bool:
  """Whether WORKDIR holds a CelebA run (else an MNIST one).

  Raises:
    UserError: WORKDIR is not a run's directory (see ``read_config_values``).
  """
  return is_celeba(read_config_values(os.path.expanduser(os.fspath(workdir))))
