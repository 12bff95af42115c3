"""The test-set loop every task shares: per-example metrics, their means,
and a warning when a handful of examples set a mean (with the mean without
them, recorded beside it)."""

from __future__ import annotations

import time
from typing import Callable, Sequence

import jax
from jax.experimental import multihost_utils
import numpy as np

from jmvae_jax.training import parallel

# (batch arrays, each [B, ...] split over the mesh, key) -> {name: [B] values}.
BatchMetrics = Callable[[tuple[jax.Array, ...], jax.Array],
                        dict[str, jax.Array]]

# The share of the N examples that counts as a handful, and the smallest move
# of a mean by them worth a warning (0.3 nats: the tolerance a reproduced
# table cell is held to).
OUTLIER_FRACTION = 0.001
TAIL_TOLERANCE = 0.3
# Suffix of a metric's mean without its outliers (``mean_over_batches``).
WITHOUT_OUTLIERS = '/without_outliers'


def format_duration(seconds: float) -> str:
  """12.3 -> '12s', 95 -> '1m35s', 4000 -> '1h06m'."""
  seconds = int(round(seconds))
  if seconds < 60:
    return f'{seconds}s'
  if seconds < 3600:
    return f'{seconds // 60}m{seconds % 60:02d}s'
  return f'{seconds // 3600}h{seconds % 3600 // 60:02d}m'


def values_over_batches(metrics_fn: BatchMetrics,
                        arrays: Sequence[np.ndarray], *, batch_size: int,
                        mesh: jax.sharding.Mesh, key: jax.Array,
                        what: str = 'test examples',
                        log: Callable[[str], None] = print
                        ) -> dict[str, np.ndarray]:
  """Each per-example metric of all N examples of ``arrays``, in their order.

  Args:
    metrics_fn: one batch's metrics, each [B] (typically jitted).
    arrays: host arrays with a common first axis N (e.g. images and labels).
    batch_size: examples per call, a multiple of the mesh's devices; the last
      batch is padded with zeros, and its padding is left out.
    mesh: the devices each batch is split over.
    key: typed key; batch i gets fold_in(key, i), so a batch's draws do not
      depend on how many batches ran before it.
    what: the examples' name in the progress lines.
    log: receives a progress line per ~10% of the batches, with an ETA.

  Returns:
    {name: float32 [N]}, names sorted.
  """
  num = len(arrays[0])
  num_batches = -(-num // batch_size)
  pad = num_batches * batch_size - num
  arrays = [np.concatenate([a, np.zeros((pad,) + a.shape[1:], a.dtype)])
            for a in arrays]
  parts: dict[str, list[np.ndarray]] = {}
  start = time.perf_counter()
  report_every = max(1, num_batches // 10)
  for i in range(num_batches):
    rows = slice(i * batch_size, (i + 1) * batch_size)
    batch = parallel.distribute_batch(tuple(a[rows] for a in arrays), mesh)
    # Each process holds only its devices' rows; every process gets all.
    per_example = multihost_utils.process_allgather(
        metrics_fn(batch, jax.random.fold_in(key, i)), tiled=True)
    valid = min(batch_size, num - i * batch_size)
    for name, values in per_example.items():
      parts.setdefault(name, []).append(
          np.asarray(values[:valid], np.float32))
    if (i + 1) % report_every == 0 or i + 1 == num_batches:
      elapsed = time.perf_counter() - start
      eta = elapsed / (i + 1) * (num_batches - i - 1)
      log(f'evaluating: {min(num, (i + 1) * batch_size)}/{num} {what}, '
          f'{elapsed:.0f}s elapsed, ETA {format_duration(eta)}')
  return {name: np.concatenate(parts[name]) for name in sorted(parts)}


def means(values: dict[str, np.ndarray]) -> dict[str, float]:
  """{name: mean of its per-example values}, accumulated in float64."""
  return {name: float(np.mean(v, dtype=np.float64))
          for name, v in values.items()}


def mean_over_batches(metrics_fn: BatchMetrics,
                      arrays: Sequence[np.ndarray], *, batch_size: int,
                      mesh: jax.sharding.Mesh, key: jax.Array,
                      what: str = 'test examples',
                      log: Callable[[str], None] = print,
                      watch_tails: Callable[[str], bool] = lambda name: False
                      ) -> dict[str, float]:
  """The mean of each per-example metric over all N examples of ``arrays``:
  ``means`` of ``values_over_batches`` (which documents the other arguments).

  Args:
    watch_tails: says of a metric's name whether to check that a handful of
      examples do not set its mean (the bounds a table reports, say; not
      one-draw ELBO terms). Where they do, ``heavy_tail_line`` is logged and
      the mean without them is returned too, as NAME + ``WITHOUT_OUTLIERS``.
  """
  values = values_over_batches(metrics_fn, arrays, batch_size=batch_size,
                               mesh=mesh, key=key, what=what, log=log)
  results = means(values)
  for name, per_example in values.items():
    line = watch_tails(name) and heavy_tail_line(name, per_example, what=what)
    if line:
      log(line)
      results[name + WITHOUT_OUTLIERS] = mean_without_outliers(per_example)
  return results


def outliers(values: np.ndarray, fraction: float = OUTLIER_FRACTION
             ) -> np.ndarray:
  """The indices of the ceil(fraction * N) of ``values`` [N] farthest from
  their median, farthest first (empty when that would be all of them)."""
  few = max(1, int(np.ceil(fraction * len(values))))
  if few >= len(values):
    return np.zeros(0, int)
  distance = np.abs(values - np.median(values))
  return np.argsort(-distance, kind='stable')[:few]


def mean_without_outliers(values: np.ndarray,
                          fraction: float = OUTLIER_FRACTION) -> float:
  """The mean of ``values`` [N] without their ``outliers``, in float64."""
  kept = np.ones(len(values), bool)
  kept[outliers(values, fraction)] = False
  return float(np.mean(values[kept], dtype=np.float64))


def heavy_tail_line(name: str, values: np.ndarray, *,
                    what: str = 'test examples',
                    fraction: float = OUTLIER_FRACTION,
                    tolerance: float = TAIL_TOLERANCE) -> str | None:
  """A warning when a handful of examples set a metric's mean, else None.

  The handful: the ``outliers``, the ceil(fraction * N) examples farthest
  from the median. Warns when leaving them out would move the mean by more
  than ``tolerance`` (in the metric's units): a table cell of that mean then
  mostly measures those few examples, not the model on the rest. The line
  names the farthest example; the mean is left as it is.

  Args:
    name: the metric's name, for the line.
    values: its per-example values [N].
    what: the examples' name.
    fraction: the share of the N examples that counts as a handful.
    tolerance: the smallest move of the mean worth a line.
  """
  farthest = outliers(values, fraction)
  if not len(farthest):
    return None
  mean = float(np.mean(values, dtype=np.float64))
  rest = mean_without_outliers(values, fraction)
  if abs(mean - rest) <= tolerance:
    return None
  worst = int(farthest[0])
  return (f'warning: {len(farthest)} of {len(values)} {what} move the mean of '
          f'{name} by {mean - rest:+.2f}: {mean:.2f}, {rest:.2f} without them; '
          f'the farthest, example {worst}, has {float(values[worst]):.1f} '
          f'(median {float(np.median(values)):.2f})')
