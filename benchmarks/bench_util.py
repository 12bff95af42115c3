"""Shared helpers of the benchmark scripts: data, timing, FLOP counts, the machine.

Nothing here is part of the library or its tests. The scripts are run from the
repository root as modules, e.g. ``python -m benchmarks.throughput``.
"""

from __future__ import annotations

import datetime
import os
import platform
import statistics
import time
from typing import Any, Callable, Iterable

import jax
import jax.numpy as jnp
import numpy as np

from jmvae_jax.data import mnist
from jmvae_jax.tasks.mnist.config import Config

DATA_DIR = '~/.cache/jmvae_jax'
MODEL_NAMES = ('vae', 'jmvae_zero', 'jmvae_kl')


# ----------------------------------------------------------------------------
# Data.


def load_data(data_dir: str = DATA_DIR) -> mnist.LabelledImages:
  """MNIST (50k train / 10k test) from the local cache only (no tfds, no fetch)."""
  return mnist.load_mnist(os.path.expanduser(data_dir), sources=('local',))


def train_slice(data: mnist.LabelledImages, n: int, round_index: int
                ) -> tuple[np.ndarray, np.ndarray]:
  """The round_index-th block of n training examples, wrapping around the 50k."""
  total = data.train_images.shape[0]
  start = (round_index * n) % total
  rows = (start + np.arange(n)) % total
  return data.train_images[rows], data.train_labels[rows]


# ----------------------------------------------------------------------------
# The machine.


def load_average() -> float:
  """The 1-minute load average (other processes share these cores)."""
  return os.getloadavg()[0]


def machine_line() -> str:
  """CPU model, core count, jax version and today's date, for result files."""
  cpu = platform.processor() or 'unknown CPU'
  try:
    with open('/proc/cpuinfo') as f:
      for line in f:
        if line.startswith('model name'):
          cpu = line.split(':', 1)[1].strip()
          break
  except OSError:
    pass
  return (f'{cpu}, {os.cpu_count()} cores, jax {jax.__version__} '
          f'({jax.default_backend()}), {datetime.date.today().isoformat()}')


_TICKS = os.sysconf('SC_CLK_TCK') if hasattr(os, 'sysconf') else 100


def _busy_cpu_seconds() -> float:
  """CPU seconds spent busy by the whole machine (all cores) since boot."""
  with open('/proc/stat') as f:
    fields = [int(v) for v in f.readline().split()[1:]]
  idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
  return (sum(fields[:8]) - idle) / _TICKS


def _process_cpu_seconds(pid: int) -> float:
  """CPU seconds of one process (all its threads), 0 if it is gone."""
  try:
    with open(f'/proc/{pid}/stat') as f:
      fields = f.read().rsplit(')', 1)[1].split()
  except OSError:
    return 0.0
  return (int(fields[11]) + int(fields[12])) / _TICKS  # utime + stime


class OtherLoad:
  """Cores used by processes other than ``pids`` while the block runs.

  Usage: ``with OtherLoad([os.getpid(), peer_pid]) as load: ...`` then
  ``load.cores``. Reads /proc (Linux); reports NaN elsewhere.
  """

  def __init__(self, pids: Iterable[int]):
    self.pids = list(pids)
    self.cores = float('nan')

  def _snapshot(self) -> tuple[float, float, float]:
    own = sum(_process_cpu_seconds(pid) for pid in self.pids)
    return time.perf_counter(), _busy_cpu_seconds(), own

  def __enter__(self) -> 'OtherLoad':
    try:
      self._start = self._snapshot()
    except OSError:
      self._start = None
    return self

  def __exit__(self, *exc: Any) -> None:
    if self._start is None:
      return
    end = self._snapshot()
    wall = end[0] - self._start[0]
    others = (end[1] - self._start[1]) - (end[2] - self._start[2])
    # Rounded: tick counting leaves float dust like 4e-13 on an idle machine.
    self.cores = round(max(0.0, others / wall), 2) if wall > 0 else float('nan')


def wait_until_quiet(pids: Iterable[int], max_cores: float, max_wait_s: float,
                     sample_s: float = 0.5) -> float:
  """Waits until others use at most ``max_cores`` over one sample (or time runs out).

  Returns the other processes' cores in the last sample.
  """
  deadline = time.perf_counter() + max_wait_s
  while True:
    with OtherLoad(pids) as load:
      time.sleep(sample_s)
    if load.cores <= max_cores or time.perf_counter() > deadline:
      return load.cores


# ----------------------------------------------------------------------------
# Timing.


def best_time(fn: Callable[[], Any], repeats: int) -> float:
  """Smallest wall time in seconds of ``fn()`` (which must block) over repeats."""
  best = float('inf')
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    best = min(best, time.perf_counter() - start)
  return best


def median(values: Iterable[float]) -> float:
  return statistics.median(list(values))


def matmul_peak(sizes: tuple[int, ...] = (1024, 1536, 2048), repeats: int = 5
                ) -> dict[int, float]:
  """float32 square-matmul GFLOP/s per size (best of ``repeats``), random inputs.

  Each timing runs enough back-to-back products for ~0.2 s of work so that the
  dispatch of one call is negligible.
  """
  product = jax.jit(jnp.matmul)
  rates = {}
  for n in sizes:
    a = jax.random.normal(jax.random.key(n), (n, n), jnp.float32)
    b = jax.random.normal(jax.random.key(n + 1), (n, n), jnp.float32)
    product(a, b).block_until_ready()
    calls = max(1, int(4e10 / (2 * n ** 3)))

    def run(a=a, b=b, calls=calls):
      for _ in range(calls):
        out = product(a, b)
      out.block_until_ready()

    rates[n] = 2 * n ** 3 * calls / best_time(run, repeats) / 1e9
  return rates


def matmul_rate(m: int, k: int, n: int, repeats: int = 5, stack: int = 50
                ) -> float:
  """GFLOP/s of [m, k] x [k, n] float32 products, best of ``repeats``.

  One jitted call runs ``stack`` products (a scan over distinct left operands),
  so small products are timed without per-call dispatch overhead.
  """
  lhs = jax.random.normal(jax.random.key(0), (stack, m, k), jnp.float32)
  rhs = jax.random.normal(jax.random.key(1), (k, n), jnp.float32)

  @jax.jit
  def products(lhs, rhs):
    return jax.lax.scan(lambda c, a: (c, a @ rhs), 0, lhs)[1]

  products(lhs, rhs).block_until_ready()
  seconds = best_time(lambda: products(lhs, rhs).block_until_ready(), repeats)
  return 2 * m * k * n * stack / seconds / 1e9


# ----------------------------------------------------------------------------
# FLOPs of a train step.


def dense_layers(params: Any) -> list[tuple[str, int, int]]:
  """(path, fan_in, fan_out) of every Dense kernel in a parameter tree."""
  layers = []
  for path, leaf in jax.tree_util.tree_leaves_with_path(params):
    name = jax.tree_util.keystr(path)
    if 'kernel' in name and leaf.ndim == 2:
      layers.append((name, int(leaf.shape[0]), int(leaf.shape[1])))
  return layers


def takes_data_input(path: str) -> bool:
  """True for the first Dense of an encoder tower, whose input is x or w (data).

  Gradients are taken with respect to the parameters only, so such a layer needs
  no gradient with respect to its input.
  """
  return 'encoder' in path and 'tower_' in path and 'Dense_0' in path


def step_matmuls(params: Any, batch: int) -> list[tuple[int, int, int]]:
  """(m, k, n) of every matrix product in one forward+backward pass.

  Per Dense layer [fan_in, fan_out] on a batch B: forward B x fan_in x fan_out,
  kernel gradient fan_in x B x fan_out, and (unless the input is data) input
  gradient B x fan_out x fan_in.
  """
  products = []
  for path, fan_in, fan_out in dense_layers(params):
    products.append((batch, fan_in, fan_out))
    products.append((fan_in, batch, fan_out))
    if not takes_data_input(path):
      products.append((batch, fan_out, fan_in))
  return products


def decoder_matmuls(params: Any, rows: int) -> list[tuple[int, int, int]]:
  """(m, k, n) of every decoder product on ``rows`` latent draws at once.

  An importance-weighted bound spends nearly all its FLOPs decoding its draws:
  ``chunk_size * batch`` rows per scan step through every decoder layer.
  """
  return [(rows, fan_in, fan_out)
          for path, fan_in, fan_out in dense_layers(params) if 'decoder' in path]


def matmul_flops(products: Iterable[tuple[int, int, int]]) -> float:
  return float(sum(2 * m * k * n for m, k, n in products))


def xla_cost(compiled: Any) -> dict[str, float]:
  """FLOPs and bytes accessed from XLA's cost analysis of a compiled function.

  In jax 0.10 ``Compiled.cost_analysis()`` returns one dict (older versions a list
  with one dict per program). XLA counts a while loop's (scan's) body once,
  not once per iteration, so callers compile a one-step program to cost a step.
  """
  cost = compiled.cost_analysis()
  if isinstance(cost, (list, tuple)):
    cost = cost[0]
  return {'flops': float(cost.get('flops', 0.0)),
          'bytes': float(cost.get('bytes accessed', 0.0)),
          'transcendentals': float(cost.get('transcendentals', 0.0))}


def make_epoch(model: Any, config: Config
               ) -> tuple[Callable[..., Any], Callable[[Any], Any], Any]:
  """The library's jitted epoch, a function placing host data for it, a fresh state.

  The epoch is data-parallel over every visible device (on a CPU, one). The
  state and data are placed replicated, as ``jmvae_jax.tasks.mnist.experiment`` does, so the
  epoch compiles once (a single-device state would recompile it on the second
  call).
  """
  from jmvae_jax.training import parallel
  from jmvae_jax.tasks.mnist import train
  from jmvae_jax.training import elbo
  mesh = parallel.make_data_mesh()
  state = elbo.init_state(model, config)
  return (train.make_train_epoch(model, config, mesh),
          lambda tree: parallel.replicate(tree, mesh),
          jax.device_put(state, parallel.replicated(mesh)))


def config_for(model_name: str, **overrides: Any) -> Config:
  """The paper's MNIST settings (batch 100, alpha 0.1) for one model."""
  return Config(model=model_name, **overrides)


def format_table(header: list[str], rows: list[list[Any]]) -> str:
  """A GitHub-flavoured Markdown table (also readable on a terminal)."""
  cells = [header] + [[_cell(v) for v in row] for row in rows]
  widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
  lines = ['| ' + ' | '.join(c.rjust(w) for c, w in zip(row, widths)) + ' |'
           for row in cells]
  lines.insert(1, '|' + '|'.join('-' * (w + 1) + ':' for w in widths) + '|')
  return '\n'.join(lines)


def _cell(value: Any) -> str:
  if isinstance(value, float):
    if abs(value) >= 100:
      return f'{value:,.0f}'
    if abs(value) >= 10:
      return f'{value:.1f}'
    return f'{value:.3g}'
  return str(value)
