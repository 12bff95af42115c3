"""Data parallelism over every visible device, on one host or many.

A run uses one 1-d mesh whose axis ``'data'`` spans every device of every
process. Parameters, optimizer state and the training set are replicated on
each device; every batch is split along its first axis over ``'data'``, and
``jax.jit`` partitions the step from there (the all-reduce of the gradients
included). No ``pmap``: the same jitted code runs on 1 device or on a pod.

Every process holds the whole data set (loading it is deterministic), so a
process builds its part of a global array from host data without any
communication (``jax.make_array_from_process_local_data``).
"""

from __future__ import annotations

import os
from typing import Any

import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec

from jmvae_jax.errors import UserError

DATA_AXIS = 'data'


def maybe_initialize_distributed(coordinator_address: str | None = None,
                                 num_processes: int | None = None,
                                 process_id: int | None = None,
                                 auto_detect: bool = False) -> None:
  """Joins a multi-process run when one is described; otherwise does nothing.

  Must run before anything touches the devices. A run is multi-process when
  ``coordinator_address`` (or the environment variable JAX_COORDINATOR_ADDRESS)
  is set, in which case ``num_processes`` and ``process_id`` say who is who, or
  when ``auto_detect`` asks JAX to read the settings off the cluster (Cloud
  TPU, SLURM, Open MPI). CPU processes talk through gloo collectives.

  Args:
    coordinator_address: 'host:port' of process 0, the same for every process.
    num_processes: how many processes take part.
    process_id: this process's rank, 0 .. num_processes - 1.
    auto_detect: join even without a coordinator address, letting
      ``jax.distributed.initialize`` detect the cluster.

  Raises:
    UserError: a coordinator address without the process count or rank.
  """
  coordinator_address = (coordinator_address
                         or os.environ.get('JAX_COORDINATOR_ADDRESS'))
  if coordinator_address is None and not auto_detect:
    return
  if (coordinator_address is not None and not auto_detect
      and (num_processes is None or process_id is None)):
    raise UserError(
        f'a multi-process run (coordinator {coordinator_address}) needs '
        '--num_processes and --process_id on every process')
  jax.config.update('jax_cpu_collectives_implementation', 'gloo')
  jax.distributed.initialize(coordinator_address, num_processes, process_id)


def make_data_mesh() -> Mesh:
  """A mesh of every device of every process along one axis, ``'data'``.

  The axis is of type Auto: shardings the code states (replicated state,
  batches split over ``'data'``) are propagated by the compiler through the
  rest of the computation.
  """
  return jax.make_mesh((jax.device_count(),), (DATA_AXIS,),
                       axis_types=(AxisType.Auto,))


def replicated(mesh: Mesh) -> NamedSharding:
  """The sharding of a value held whole by every device of ``mesh``."""
  return NamedSharding(mesh, PartitionSpec())


def batch_sharded(mesh: Mesh) -> NamedSharding:
  """The sharding of a batch split along its first axis over ``'data'``."""
  return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def check_divisible(name: str, size: int, mesh: Mesh) -> None:
  """Checks a batch of ``size`` examples splits evenly over the mesh's devices.

  Raises:
    UserError: it does not.
  """
  if size % mesh.size:
    raise UserError(
        f'--{name}={size} must be a multiple of the number of devices '
        f'({mesh.size}), since each batch is split evenly over them; choose '
        f'e.g. --{name}={max(1, round(size / mesh.size)) * mesh.size}')


def _from_host(tree: Any, sharding: NamedSharding) -> Any:
  """Host arrays, whole and identical on every process -> global arrays."""
  return jax.tree.map(
      lambda x: jax.make_array_from_process_local_data(
          sharding, np.asarray(x), np.shape(x)), tree)


def replicate(tree: Any, mesh: Mesh) -> Any:
  """Places host arrays (the same on every process) whole on every device.

  Args:
    tree: a pytree of NumPy arrays, e.g. images [N, 784] and labels [N].
    mesh: the run's mesh.

  Returns:
    The same tree of global jax.Arrays, replicated over ``mesh``.
  """
  return _from_host(tree, replicated(mesh))


def distribute_batch(tree: Any, mesh: Mesh) -> Any:
  """Splits host batches (the same on every process) over ``'data'``.

  Each process transfers only the rows of its own devices.

  Args:
    tree: a pytree of NumPy arrays [B, ...], B a multiple of the device count.
    mesh: the run's mesh.

  Returns:
    The same tree of global jax.Arrays [B, ...], sharded along B.
  """
  return _from_host(tree, batch_sharded(mesh))


def shard_batch(tree: Any, mesh: Mesh) -> Any:
  """Inside ``jit``: constrains arrays [B, ...] to be split along B."""
  return jax.lax.with_sharding_constraint(tree, batch_sharded(mesh))
