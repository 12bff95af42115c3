"""The tiny synthetic run of tests/test_parallel.py, in a process of its own.

The device count and the distributed runtime must be set before JAX touches a
device, which the test process has long done; so the tests launch

  python -m tests.parallel_worker WORKDIR DEVICES [COORDINATOR PROCESSES RANK]

which runs on DEVICES CPU devices, joining a multi-process run of PROCESSES
processes when a coordinator address is given.
"""

from __future__ import annotations

import dataclasses
import sys

import jax

from jmvae_jax.tasks.mnist.experiment import train_and_evaluate
from jmvae_jax.training import parallel
from tests.synthetic import labelled_blobs
from tests.test_experiment import TINY

# Batches that split over 1, 2, 4 and 8 devices: 10 steps per epoch.
CONFIG = dataclasses.replace(TINY, batch_size=40, eval_batch_size=40)


def run(workdir: str) -> None:
  """Trains and evaluates CONFIG on synthetic data over every visible device."""
  train_and_evaluate(CONFIG, workdir,
                     data=labelled_blobs(num_train=400, num_test=100),
                     log=lambda _: None)


def main(argv: list[str]) -> None:
  workdir, devices, *distributed = argv
  jax.config.update('jax_platforms', 'cpu')
  jax.config.update('jax_num_cpu_devices', int(devices))
  # The suite's settings (tests/conftest.py), which the worker does not load.
  jax.config.update('jax_numpy_dtype_promotion', 'strict')
  jax.config.update('jax_numpy_rank_promotion', 'raise')
  if distributed:
    address, processes, rank = distributed
    parallel.maybe_initialize_distributed(address, int(processes), int(rank))
  run(workdir)


if __name__ == '__main__':
  main(sys.argv[1:])
