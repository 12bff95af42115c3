"""jmvae_jax against MultiVae 1.0.3 (PyTorch, CPU), side by side in one run.

Run from the repository root, after building the peer venv (see README.md):

  python -m benchmarks.vs_multivae [--models jmvae_kl,mvae,mmvae,mopoe]
      [--rounds 8] [--steps 100] [--nll_n 100] [--nll_k 5000]
      [--library_default_nll] [--out benchmarks/results_vs_multivae.md]

Training: each of ``--models`` (JMVAE-kl with alpha 0.1; the successors MVAE,
MMVAE and MoPoE on the same unimodal encoders and decoders, set on the peer's
side as ``multivae_driver.build`` says), batch 100, Adam 1e-3, dynamic
binarization, real MNIST; one model after the other. Each round runs ``--steps`` optimizer steps on each side, alternating the
order (ours-theirs, theirs-ours, ...) so that the machine's drift hits both
sides alike. Ours is the library's jitted epoch over a block of steps * 100
training images; theirs is ``multivae_driver.py``, a long-lived subprocess in
the peer venv, so neither side pays start-up, compilation or first-step costs
inside the timer (both are warmed up first).

Joint NLL: -log p(x, w) by importance sampling with k draws from q(z|x, w), on
the first ``--nll_n`` statically binarized test images (the same binarization on
both sides): our ``bounds.iw_joint`` against MultiVae's ``compute_joint_nll``
(with torch.no_grad() and all k draws in one chunk, its fastest setting; with
``--library_default_nll`` also with its defaults, batch_size_K=100 and autograd
on, in every round). Alternated like training.

Only ratios within one run mean anything: this machine drifts by up to 40%
between identical runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import bench_util
from jmvae_jax import bounds
from jmvae_jax import models
from jmvae_jax.data import mnist

HERE = os.path.dirname(os.path.abspath(__file__))
# The models both libraries have, as the report names them.
LABELS = {name: models.display_name(name, alpha=0.1)
          for name in ('jmvae_kl', 'mvae', 'mmvae', 'mopoe')}


def parse_args() -> argparse.Namespace:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--models', default='jmvae_kl',
                      help='comma-separated, among ' + ', '.join(LABELS))
  parser.add_argument('--rounds', type=int, default=8)
  parser.add_argument('--steps', type=int, default=100,
                      help='optimizer steps per side per round')
  parser.add_argument('--warmup_steps', type=int, default=300,
                      help='untimed steps per side before the rounds')
  parser.add_argument('--nll_n', type=int, default=100,
                      help='test examples for the joint NLL (0 skips it)')
  parser.add_argument('--nll_k', type=int, default=5000)
  parser.add_argument('--nll_rounds', type=int, default=2)
  parser.add_argument('--nll_chunk', type=int, default=None,
                      help='our chunk_size (default: Config().eval_chunk_size)')
  parser.add_argument('--library_default_nll', action='store_true',
                      help="also time MultiVae's defaults (autograd on, "
                      'batch_size_K=100) in every round')
  parser.add_argument('--peer_python',
                      default=os.path.expanduser(
                          os.path.join(os.environ.get('PEER', '~/peer'),
                                       'venv/bin/python')))
  parser.add_argument('--harness', default='/work/shared/bench/multivae')
  parser.add_argument('--mnist_pkl',
                      default=os.path.expanduser('~/.cache/jmvae_jax/mnist.pkl.gz'))
  parser.add_argument('--threads', type=int, default=os.cpu_count(),
                      help="torch's intra-op threads (XLA uses every core)")
  parser.add_argument('--cpus', default=None,
                      help='pin both sides to these CPUs, e.g. "0" (torch then '
                      'uses that many threads); default: no pinning')
  parser.add_argument('--quiet_cores', type=float, default=0.5,
                      help='before each timed run, wait until other processes '
                      'use at most this many cores (over 0.5 s)')
  parser.add_argument('--max_wait_s', type=float, default=30,
                      help='longest wait for a quiet machine before a run')
  parser.add_argument('--out', default=os.path.join(HERE, 'results_vs_multivae.md'))
  return parser.parse_args()


# ----------------------------------------------------------------------------
# Their side: a subprocess speaking JSON lines.


class Peer:
  """MultiVae's ``model`` in the peer venv (``multivae_driver.py``)."""

  def __init__(self, args: argparse.Namespace, model: str):
    env = dict(os.environ, MULTIVAE_HARNESS=args.harness, MNIST_PKL=args.mnist_pkl)
    self.process = subprocess.Popen(
        [args.peer_python, os.path.join(HERE, 'multivae_driver.py'),
         '--model', model, '--alpha', '0.1', '--batch_size', '100',
         '--threads', str(args.threads)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    self.info = self._read()

  def _read(self) -> dict[str, Any]:
    line = self.process.stdout.readline()
    if not line:
      raise RuntimeError('the MultiVae driver exited; see its stderr above')
    return json.loads(line)

  def ask(self, **request: Any) -> dict[str, Any]:
    self.process.stdin.write(json.dumps(request) + '\n')
    self.process.stdin.flush()
    return self._read()

  def close(self) -> None:
    if self.process.poll() is None:
      self.process.stdin.write(json.dumps({'cmd': 'quit'}) + '\n')
      self.process.stdin.flush()
      self.process.wait(timeout=60)


# ----------------------------------------------------------------------------
# Our side.


class Ours:
  """The library's ``model`` with its jitted, donated epoch of ``steps`` steps."""

  def __init__(self, data: mnist.LabelledImages, steps: int, model: str):
    self.config = bench_util.config_for(model, alpha=0.1, batch_size=100)
    self.model = self.config.build_model()
    self.epoch_fn, place, self.state = bench_util.make_epoch(self.model,
                                                             self.config)
    block = steps * self.config.batch_size
    blocks = max(1, data.train_images.shape[0] // block)
    self.blocks = [place(bench_util.train_slice(data, block, i))
                   for i in range(blocks)]
    self.calls = 0
    self.test = data.test_images, data.test_labels

  def train(self) -> dict[str, float]:
    images, labels = self.blocks[self.calls % len(self.blocks)]
    self.calls += 1
    start = time.perf_counter()
    self.state, metrics = self.epoch_fn(self.state, images, labels)
    jax.block_until_ready((self.state, metrics))
    seconds = time.perf_counter() - start
    count = images.shape[0] // self.config.batch_size * self.config.batch_size
    return {'images': count, 'seconds': seconds,
            'images_per_s': count / seconds, 'loss': float(metrics['loss'])}

  def joint_nll(self, n: int, k: int, chunk_size: int | None) -> dict[str, float]:
    """-iw_joint on the first n test images, binarized once (seed 1234)."""
    batch = self.config.eval_batch_size
    x = mnist.binarize_once(self.test[0])[:n]
    w = np.eye(10, dtype=np.float32)[self.test[1][:n]]
    key = jax.random.key(0)

    def run_all() -> jax.Array:
      parts = [bounds.iw_joint(self.model, self.state.params, x[i:i + batch],
                               w[i:i + batch], key=jax.random.fold_in(key, i),
                               k=k, chunk_size=chunk_size)
               for i in range(0, n, batch)]
      return jnp.concatenate(parts)

    jax.block_until_ready(bounds.iw_joint(
        self.model, self.state.params, x[:batch], w[:batch], key=key, k=k,
        chunk_size=chunk_size))  # compile
    start = time.perf_counter()
    values = jax.block_until_ready(run_all())
    seconds = time.perf_counter() - start
    return {'n': n, 'k': k, 'seconds': seconds, 's_per_example': seconds / n,
            'mean_joint_nll': -float(jnp.mean(values))}


# ----------------------------------------------------------------------------
# The comparison.

# MultiVae's compute_joint_nll settings: its fastest, and what its
# LikelihoodsEvaluator does.
FASTEST = 'no_grad, one chunk'
DEFAULT = 'library default'


def timed_run(run: Callable[[], dict[str, Any]], pids: list[int],
              args: argparse.Namespace) -> dict[str, Any]:
  """Waits for a quiet machine, then runs; adds the others' cores during the run.

  PyTorch's OpenMP threads suffer far more than XLA's from cores taken by other
  processes, so a shared machine must be quiet for the comparison to be fair.
  """
  bench_util.wait_until_quiet(pids, args.quiet_cores, args.max_wait_s)
  with bench_util.OtherLoad(pids) as load:
    result = run()
  return dict(result, other_cores=load.cores)


def alternate(r: int, run_ours: Callable[[], dict[str, Any]],
              run_theirs: Callable[[], dict[str, Any]], pids: list[int],
              args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
  """Round r of both sides: ours first on even rounds, theirs first on odd ones."""
  if r % 2 == 0:
    mine = timed_run(run_ours, pids, args)
    return mine, timed_run(run_theirs, pids, args)
  theirs = timed_run(run_theirs, pids, args)
  return timed_run(run_ours, pids, args), theirs


def training_rounds(ours: Ours, peer: Peer, args: argparse.Namespace
                    ) -> list[list[Any]]:
  """One row per round: order, others' cores, ours img/s, theirs img/s, ratio."""
  pids = [os.getpid(), peer.process.pid]
  rows = []
  for r in range(args.rounds):
    mine, theirs = alternate(
        r, ours.train, lambda: peer.ask(cmd='train', steps=args.steps), pids, args)
    ratio = mine['images_per_s'] / theirs['images_per_s']
    rows.append([r + 1, 'ours first' if r % 2 == 0 else 'theirs first',
                 mine['other_cores'], theirs['other_cores'],
                 mine['images_per_s'], theirs['images_per_s'], ratio])
    print(f'  round {r + 1}: ours {mine["images_per_s"]:.0f} img/s, theirs '
          f'{theirs["images_per_s"]:.0f} img/s, ratio {ratio:.2f} (others used '
          f'{mine["other_cores"]:.2f} / {theirs["other_cores"]:.2f} cores)',
          flush=True)
  return rows


def nll_rounds(ours: Ours, peer: Peer, args: argparse.Namespace
               ) -> list[list[Any]]:
  """One row per round and MultiVae setting: ms/example each side, ratio, NLLs."""
  chunk = args.nll_chunk or ours.config.eval_chunk_size
  pids = [os.getpid(), peer.process.pid]
  settings = [(FASTEST, dict(batch_size_k=args.nll_k, no_grad=True))]
  if args.library_default_nll:
    settings.append((DEFAULT, dict(batch_size_k=100, no_grad=False)))
  rows = []
  for r in range(args.nll_rounds):
    for i, (label, options) in enumerate(settings):
      turn = r + i  # Each setting alternates its order from round to round.
      mine, theirs = alternate(
          turn, lambda: ours.joint_nll(args.nll_n, args.nll_k, chunk),
          lambda options=options: peer.ask(
              cmd='joint_nll', n=args.nll_n, k=args.nll_k, **options),
          pids, args)
      speedup = theirs['s_per_example'] / mine['s_per_example']
      rows.append([r + 1, label, 'ours first' if turn % 2 == 0 else
                   'theirs first', mine['other_cores'], theirs['other_cores'],
                   mine['s_per_example'] * 1e3,
                   theirs['s_per_example'] * 1e3, speedup,
                   mine['mean_joint_nll'], theirs['mean_joint_nll']])
      print(f'  nll round {r + 1} ({label}): ours '
            f'{mine["s_per_example"] * 1e3:.1f} ms/ex, theirs '
            f'{theirs["s_per_example"] * 1e3:.1f} ms/ex, speed ratio '
            f'{speedup:.2f}', flush=True)
  return rows


@dataclasses.dataclass
class Measured:
  """One model's rounds on both sides."""

  model: str
  peer_info: dict[str, Any]
  params: int
  train_rows: list[list[Any]]
  nll_rows: list[list[Any]] | None
  eval_batch_size: int
  chunk: int


def report(args: argparse.Namespace, measured: list[Measured]) -> str:
  peer_info = measured[0].peer_info
  labels = ', '.join(LABELS[m.model] for m in measured)
  lines = [
      f'# jmvae_jax vs MultiVae 1.0.3: {labels} on MNIST (CPU)',
      '',
      f'- Machine: {bench_util.machine_line()}; MultiVae on torch '
      f'{peer_info.get("torch")} with {peer_info.get("threads")} threads'
      + (f'; both sides pinned to CPU(s) {args.cpus}.' if args.cpus else '.'),
      f'- Command: `{" ".join([os.path.basename(sys.executable), "-m", "benchmarks.vs_multivae"] + sys.argv[1:])}`',
      '- Setting: batch 100, Adam 1e-3, dynamic binarization, '
      f'{args.steps} steps per side per round after {args.warmup_steps} '
      'warm-up steps, the models one after another; the successors on the '
      'same unimodal encoders and decoders on both sides, MultiVae set to '
      'train what ours does (`benchmarks/multivae_driver.py`, `build`).',
      f'- 1-minute load average: {args.load_at_start:.2f} at the start, '
      f'{bench_util.load_average():.2f} at the end ({os.cpu_count()} cores; it counts '
      'both sides\' own threads).',
      '- This machine drifts by up to 40% between identical runs: only the '
      'ratios within this run count, not the absolute rates. Before each timed '
      f'run the script waited (up to {args.max_wait_s:.0f} s) until other '
      f'processes used at most {args.quiet_cores} cores; the "others\' cores" '
      'columns give what they used during each run (PyTorch\'s OpenMP threads '
      'slow down far more than XLA\'s when cores are taken).',
      '',
      '## Training throughput: median ratio ours/theirs per model',
      '',
      bench_util.format_table(
          ['model', 'params ours', 'params theirs', 'median img/s ours',
           'median img/s MultiVae', 'median ratio', 'min', 'max'],
          [[LABELS[m.model], f'{m.params:,}',
            f'{m.peer_info.get("params", 0):,}',
            bench_util.median(r[4] for r in m.train_rows),
            bench_util.median(r[5] for r in m.train_rows),
            bench_util.median(r[-1] for r in m.train_rows),
            min(r[-1] for r in m.train_rows),
            max(r[-1] for r in m.train_rows)] for m in measured]),
  ]
  for m in measured:
    lines += model_section(args, m)
  return '\n'.join(lines) + '\n'


def model_section(args: argparse.Namespace, m: Measured) -> list[str]:
  """One model's training rounds and, if measured, its joint NLL rounds."""
  label = LABELS[m.model]
  ratios = [row[-1] for row in m.train_rows]
  lines = [
      '',
      f'## {label}: training throughput (images/s)',
      '',
      bench_util.format_table(
          ['round', 'order', 'others\' cores (ours)',
           'others\' cores (theirs)', 'ours img/s', 'MultiVae img/s',
           'ratio ours/theirs'], m.train_rows),
      '',
      f'**Median ratio ours/theirs: {bench_util.median(ratios):.2f}** '
      f'(min {min(ratios):.2f}, max {max(ratios):.2f}; median img/s ours '
      f'{bench_util.median(r[4] for r in m.train_rows):.0f}, theirs '
      f'{bench_util.median(r[5] for r in m.train_rows):.0f}).',
      quiet_summary(m.train_rows, args.quiet_cores),
  ]
  if not m.nll_rows:
    return lines
  lines += [
      '',
      f'## {label}: joint NLL, k = {args.nll_k}, first {args.nll_n} test images',
      '',
      f'Ours: `bounds.iw_joint`, batches of {m.eval_batch_size}, '
      f'chunk_size {m.chunk}. Theirs: `compute_joint_nll`. Speed ratio = their '
      's/example over ours (> 1: ours faster). The NLL values come from '
      'models trained for the same number of steps, so they are close but '
      'not meant to match.',
      '',
      bench_util.format_table(
          ['round', 'MultiVae setting', 'order', 'others\' cores (ours)',
           'others\' cores (theirs)', 'ours ms/ex', 'MultiVae ms/ex',
           'speed ratio', 'ours NLL', 'MultiVae NLL'], m.nll_rows),
      '',
  ]
  for setting in (FASTEST, DEFAULT):
    ratios = [row[7] for row in m.nll_rows if row[1] == setting]
    if ratios:
      lines.append(
          f'- **Median speed ratio against MultiVae {setting}: '
          f'{bench_util.median(ratios):.2f}** (min {min(ratios):.2f}, max '
          f'{max(ratios):.2f}; median ms/example ours '
          f'{bench_util.median(r[5] for r in m.nll_rows if r[1] == setting):.1f}, '
          f'theirs '
          f'{bench_util.median(r[6] for r in m.nll_rows if r[1] == setting):.1f}).')
  return lines


def quiet_summary(rows: list[list[Any]], max_cores: float) -> str:
  """The median ratio over rounds where others stayed under max_cores throughout."""
  quiet = [row[-1] for row in rows if max(row[2], row[3]) <= max_cores]
  if not quiet:
    return f'No round had both runs with others under {max_cores} cores.'
  return (f'Median ratio over the {len(quiet)} rounds where others used at most '
          f'{max_cores} cores during both runs: {bench_util.median(quiet):.2f}.')


def count_params(params: Any) -> int:
  return sum(int(np.prod(p.shape)) for p in jax.tree.leaves(params))


def pin_to_cpus(args: argparse.Namespace) -> None:
  """Restricts this process (and so the peer it starts) to ``args.cpus``.

  Must run before JAX creates its CPU client, which sizes its thread pool
  from the CPUs it may use.
  """
  if args.cpus is None:
    return
  cpus = {int(c) for c in args.cpus.split(',')}
  os.sched_setaffinity(0, cpus)
  args.threads = len(cpus)


def measure(model: str, data: mnist.LabelledImages,
            args: argparse.Namespace) -> Measured:
  """Warms up both sides on ``model``, then alternates their timed rounds."""
  peer = Peer(args, model)
  try:
    print(f'# {LABELS[model]}: MultiVae ready: {peer.info}', flush=True)
    ours = Ours(data, args.steps, model)
    warm_calls = max(1, args.warmup_steps // args.steps)
    for _ in range(warm_calls):  # compile + warm-up, untimed
      ours.train()
      peer.ask(cmd='train', steps=args.steps)
    train_rows = training_rounds(ours, peer, args)
    nll_rows = None
    if args.nll_n:
      nll_rows = nll_rounds(ours, peer, args)
  finally:
    peer.close()
  return Measured(model, peer.info, count_params(ours.state.params), train_rows,
                  nll_rows, ours.config.eval_batch_size,
                  args.nll_chunk or ours.config.eval_chunk_size)


def main() -> None:
  args = parse_args()
  models = args.models.split(',')
  unknown = sorted(set(models) - set(LABELS))
  if unknown:
    raise SystemExit(f'--models: unknown {unknown}; choose among '
                     f'{", ".join(LABELS)}')
  pin_to_cpus(args)
  args.load_at_start = bench_util.load_average()
  print(f'# {bench_util.machine_line()}; load {args.load_at_start:.2f}')
  data = bench_util.load_data()
  text = report(args, [measure(model, data, args) for model in models])
  print(text)
  if args.out:
    with open(args.out, 'w') as f:
      f.write(text)


if __name__ == '__main__':
  main()
