r"""Train and evaluate JMVAE-kl or JMVAE-zero on PolyMNIST's five modalities.

Examples:
  python -m experiments.polymnist                          # JMVAE-kl, 30 epochs
  python -m experiments.polymnist --model=jmvae_zero --workdir=runs/polymnist_zero
  python -m experiments.polymnist --helpfull               # every setting

PolyMNIST is read from DATA_DIR/PolyMNIST (the published files) or, where they
are absent, generated from MNIST and five photographs inside scikit-image (see
jmvae_jax.data.polymnist: its backgrounds are not the published ones). Re-running
a command with the same --workdir resumes it from its last checkpoint.
"""

from __future__ import annotations

from absl import flags

from experiments import cli
from jmvae_jax.tasks.polymnist import config as config_lib
from jmvae_jax.tasks.polymnist import experiment
from jmvae_jax.training import config_flags

_CONFIG_FLAGS = config_flags.define_config_flags(config_lib.PolyMNISTConfig)
_WORKDIR = flags.DEFINE_string(
    'workdir', 'runs/polymnist', 'Run directory: config, checkpoints, results.')


def main():
  config = config_flags.config_from_flags(config_lib.PolyMNISTConfig(),
                                          _CONFIG_FLAGS)
  return experiment.train_and_evaluate(config, _WORKDIR.value)


if __name__ == '__main__':
  cli.run(main)
