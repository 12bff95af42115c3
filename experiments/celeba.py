r"""Train and evaluate a CelebA model of Table 2 (paper Sec. 4.1, 4.3).

Models: jmvae_gan, vae_gan, cvae_gan and cmma_gan (Table 2: JMVAE-kl, a VAE,
CVAE and CMMA trained as VAE-GANs), and the plain jmvae_kl, jmvae_zero, vae,
cvae and cmma. Defaults are the authors' settings (100 epochs, warm-up 20,
Adam lr 1e-4 beta1 0.5, k = 10). python -m experiments.celeba_tables runs
Table 2's grid.

Examples:
  python -m experiments.celeba --model=jmvae_gan --data_dir=~/data/celeba \
      --workdir=runs/celeba_jmvae_gan
  python -m experiments.celeba --model=vae_gan --workdir=runs/celeba_vae_gan
  python -m experiments.celeba --model=cmma_gan --workdir=runs/celeba_cmma_gan
  python -m experiments.celeba --model=jmvae_kl --epochs=1 --max_images=2000 \
      --workdir=/tmp/celeba_quick                          # a quick look

Re-running a command with the same --workdir resumes it from its last checkpoint.
Every setting of ``CelebAConfig`` is a flag (--helpfull lists them). A run is
data-parallel over every device, and over several processes as
experiments.mnist describes (--coordinator_address, --num_processes,
--process_id, or --distributed).
"""

from __future__ import annotations

from absl import flags

from experiments import cli
from jmvae_jax.tasks.celeba import config as celeba_config
from jmvae_jax.tasks.celeba import experiment
from jmvae_jax.training import config_flags

_CONFIG_FLAGS = config_flags.define_config_flags(celeba_config.CelebAConfig)
_WORKDIR = flags.DEFINE_string(
    'workdir', 'runs/celeba', 'Run directory: config, checkpoints, results.')
_JOIN_DISTRIBUTED_RUN = cli.define_distributed_flags()


def main():
  _JOIN_DISTRIBUTED_RUN()
  config = config_flags.config_from_flags(celeba_config.CelebAConfig(),
                                          _CONFIG_FLAGS)
  return experiment.train_and_evaluate(config, _WORKDIR.value)


if __name__ == '__main__':
  cli.run(main)
