"""The test-set loop every task shares: per-example metrics, averaged."""

from __future__ import annotations

import time
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jmvae_jax.training import parallel

# (batch arrays, each [B, ...] split over the mesh, key) -> {name: [B] values}.
BatchMetrics = Callable[[tuple[jax.Array, ...], jax.Array],
                        dict[str, jax.Array]]


def format_duration(seconds: float) -> str:
  """12.3 -> '12s', 95 -> '1m35s', 4000 -> '1h06m'."""
  seconds = int(round(seconds))
  if seconds < 60:
    return f'{seconds}s'
  if seconds < 3600:
    return f'{seconds // 60}m{seconds % 60:02d}s'
  return f'{seconds // 3600}h{seconds % 3600 // 60:02d}m'


def mean_over_batches(metrics_fn: BatchMetrics,
                      arrays: Sequence[np.ndarray], *, batch_size: int,
                      mesh: jax.sharding.Mesh, key: jax.Array,
                      what: str = 'test examples',
                      log: Callable[[str], None] = print) -> dict[str, float]:
  """The mean of each per-example metric over all N examples of ``arrays``.

  Args:
    metrics_fn: one batch's metrics, each [B] (typically jitted).
    arrays: host arrays with a common first axis N (e.g. images and labels).
    batch_size: examples per call, a multiple of the mesh's devices; the last
      batch is padded with zeros, and its padding is left out of the means.
    mesh: the devices each batch is split over.
    key: typed key; batch i gets fold_in(key, i), so a batch's draws do not
      depend on how many batches ran before it.
    what: the examples' name in the progress lines.
    log: receives a progress line per ~10% of the batches, with an ETA.

  Returns:
    {name: mean over the N examples}, names sorted.
  """
  num = len(arrays[0])
  num_batches = -(-num // batch_size)
  pad = num_batches * batch_size - num
  arrays = [np.concatenate([a, np.zeros((pad,) + a.shape[1:], a.dtype)])
            for a in arrays]
  sums: dict[str, float] = {}
  start = time.perf_counter()
  report_every = max(1, num_batches // 10)
  for i in range(num_batches):
    rows = slice(i * batch_size, (i + 1) * batch_size)
    batch = parallel.distribute_batch(tuple(a[rows] for a in arrays), mesh)
    per_example = metrics_fn(batch, jax.random.fold_in(key, i))
    valid = min(batch_size, num - i * batch_size)
    for name, values in per_example.items():
      sums[name] = sums.get(name, 0.0) + float(jnp.sum(values[:valid]))
    if (i + 1) % report_every == 0 or i + 1 == num_batches:
      elapsed = time.perf_counter() - start
      eta = elapsed / (i + 1) * (num_batches - i - 1)
      log(f'evaluating: {min(num, (i + 1) * batch_size)}/{num} {what}, '
          f'{elapsed:.0f}s elapsed, ETA {format_duration(eta)}')
  return {name: total / num for name, total in sorted(sums.items())}
