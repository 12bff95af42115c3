"""The tiny synthetic run of tests/test_parallel.py, in a process of its own.

The device count and the distributed runtime must be set before JAX touches a
device, which the test process has long done; so the tests launch

  python -m tests.parallel_worker TASK WORKDIR DEVICES [COORDINATOR PROCESSES RANK]

which runs TASK's run ('mnist': synthetic blobs; 'celeba': a JMVAE-GAN on the
CelebA fixture) on DEVICES CPU devices, joining a multi-process run of
PROCESSES processes when a coordinator address is given.
"""

from __future__ import annotations

import dataclasses
import sys

import jax

from jmvae_jax.tasks.celeba import experiment as celeba_experiment
from jmvae_jax.tasks.celeba.config import CelebAConfig
from jmvae_jax.tasks.mnist.experiment import train_and_evaluate
from jmvae_jax.training import parallel
from tests.celeba_fixture import TINY_RUN, fixture_faces
from tests.synthetic import labelled_blobs
from tests.test_experiment import TINY

# Batches that split over 1, 2, 4 and 8 devices: 10 steps per epoch.
CONFIG = dataclasses.replace(TINY, batch_size=40, eval_batch_size=40)


# The GAN trainer (three optimizers, batch norm): two epochs of one step on
# the fixture's 8 training faces; test batches of 2 split over 2 devices.
CELEBA_CONFIG = CelebAConfig(**dict(TINY_RUN, model='jmvae_gan', epochs=2,
                                    batch_size=8))


def run(workdir: str) -> None:
  """Trains and evaluates CONFIG on synthetic data over every visible device."""
  train_and_evaluate(CONFIG, workdir,
                     data=labelled_blobs(num_train=400, num_test=100),
                     log=lambda _: None)


def run_celeba(workdir: str) -> None:
  """Trains and evaluates CELEBA_CONFIG on the CelebA fixture (written
  under WORKDIR/faces) over every visible device."""
  data = fixture_faces(f'{workdir}/faces')
  celeba_experiment.train_and_evaluate(CELEBA_CONFIG, f'{workdir}/run',
                                       data=data, log=lambda _: None)


def main(argv: list[str]) -> None:
  task, workdir, devices, *distributed = argv
  jax.config.update('jax_platforms', 'cpu')
  jax.config.update('jax_num_cpu_devices', int(devices))
  # The suite's settings (tests/conftest.py), which the worker does not load.
  jax.config.update('jax_numpy_dtype_promotion', 'strict')
  jax.config.update('jax_numpy_rank_promotion', 'raise')
  if distributed:
    address, processes, rank = distributed
    parallel.maybe_initialize_distributed(address, int(processes), int(rank))
  {'mnist': run, 'celeba': run_celeba}[task](workdir)


if __name__ == '__main__':
  main(sys.argv[1:])
