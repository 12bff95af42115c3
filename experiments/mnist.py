r"""Train and evaluate JMVAE-kl, JMVAE-zero or a VAE on MNIST (paper, Sec. 4.2).

Examples:
  python -m experiments.mnist --alpha=0.1                 # short run (10 epochs)
  python -m experiments.mnist --model=jmvae_zero --workdir=runs/zero
  python -m experiments.mnist --paper --alpha=0.01        # 500 epochs, warm-up 200
  python -m experiments.mnist --helpfull                  # every setting

Re-running a command with the same --workdir resumes it from its last checkpoint.

Training is data-parallel over every visible device. To spread one run over
several processes (hosts), start the same command in each, adding
  --coordinator_address=HOST0:PORT --num_processes=P --process_id=I
(I = 0 .. P-1; JAX_COORDINATOR_ADDRESS may stand in for the first flag), or only
--distributed where JAX detects the cluster itself (Cloud TPU, SLURM, Open MPI).
The workdir must be on a file system every process sees.
"""

from __future__ import annotations

from absl import flags

from experiments import cli
from jmvae_jax.tasks.mnist import config as config_lib
from jmvae_jax.tasks.mnist import experiment
from jmvae_jax.training import config_flags

_CONFIG_FLAGS = config_flags.define_config_flags(config_lib.Config)
_PAPER = config_flags.define_preset_flag(
    'paper', config_lib.PAPER_SETTINGS,
    'the settings of our Tables 1/3 reproduction (see jmvae_jax.tasks.mnist.config)')
_WORKDIR = flags.DEFINE_string(
    'workdir', 'runs/mnist', 'Run directory: config, checkpoints, results.')
_JOIN_DISTRIBUTED_RUN = cli.define_distributed_flags()


def main():
  _JOIN_DISTRIBUTED_RUN()
  config = config_flags.config_from_flags(
      config_lib.Config(), _CONFIG_FLAGS,
      presets=config_lib.PAPER_SETTINGS if _PAPER.value else None)
  return experiment.train_and_evaluate(config, _WORKDIR.value)


if __name__ == '__main__':
  cli.run(main)
