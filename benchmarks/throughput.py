"""Training and evaluation throughput of jmvae_jax on this machine, against its matmul peak.

Run from the repository root:

  python -m benchmarks.throughput [--train_n 10000] [--epochs 3] [--eval_n 100]
      [--eval_k 1000,5000] [--eval_rounds 2] [--out benchmarks/results_throughput.md]

Prints four tables:

1. The machine's float32 matmul rate: square products (the "peak") and the
   products of one batch-100 train step at their own shapes.
2. Training, per model (VAE, JMVAE-zero, JMVAE-kl): images/s of the library's
   jitted, donated epoch (``jmvae_jax.tasks.mnist.train.make_train_epoch``; Adam included),
   timed over whole epochs of ``train_n`` images after one compile epoch; the
   FLOPs of one step from XLA's cost analysis and from the Dense shapes; the
   achieved GFLOP/s and its fraction of the square-matmul peak and of the
   shape-aware roofline (the step's products, each at its measured speed).
3. Evaluation (if ``jmvae_jax.bounds`` imports): examples/s of each of the
   five Table 1 bounds at each k, of ``bounds.evaluate_bounds`` (all five
   sharing draws), and of the five computed one after the other; XLA's FLOPs
   per example and the fraction of the matmul peak reached.
4. Together vs separately: per alternating round, the time of
   ``evaluate_bounds`` over the time of the five single-bound functions.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time
from typing import Any, Callable

import jax
import numpy as np

from benchmarks import bench_util
from jmvae_jax.data import mnist


def parse_args() -> argparse.Namespace:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--models', default=','.join(bench_util.MODEL_NAMES))
  parser.add_argument('--train_n', type=int, default=10_000,
                      help='images per timed epoch (batch 100 steps)')
  parser.add_argument('--epochs', type=int, default=3,
                      help='timed epochs per model after the compile epoch')
  parser.add_argument('--peak_sizes', default='1024,1536,2048')
  parser.add_argument('--eval_n', type=int, default=100,
                      help='test examples per bound timing (0 skips evaluation)')
  parser.add_argument('--eval_k', default='1000,5000')
  parser.add_argument('--eval_rounds', type=int, default=2,
                      help='alternating rounds of together vs separately per k')
  parser.add_argument('--quiet_cores', type=float, default=0.5,
                      help='before each round, wait until other processes use '
                      'at most this many cores (over 0.5 s)')
  parser.add_argument('--max_wait_s', type=float, default=30,
                      help='longest wait for a quiet machine before a round')
  parser.add_argument('--out', default=None, help='also write the tables here')
  return parser.parse_args()


def wait_quiet(args: argparse.Namespace) -> None:
  """Waits (up to --max_wait_s) until other processes leave the cores alone."""
  others = bench_util.wait_until_quiet([os.getpid()], args.quiet_cores,
                                       args.max_wait_s)
  if others > args.quiet_cores:
    print(f'  (others still use {others:.2f} cores; going on)', flush=True)


# ----------------------------------------------------------------------------
# Training.


def prepare_training(model_name: str, data: mnist.LabelledImages,
                     train_n: int) -> dict[str, Any]:
  """The library's epoch for one model, compiled by one untimed epoch."""
  config = bench_util.config_for(model_name)
  model = config.build_model()
  epoch_fn, place, state = bench_util.make_epoch(model, config)
  images, labels = place(bench_util.train_slice(data, train_n, 0))
  start = time.perf_counter()
  state, metrics = epoch_fn(state, images, labels)
  jax.block_until_ready(metrics)
  return {
      'model': model_name, 'config': config, 'model_obj': model, 'state': state,
      'epoch_fn': epoch_fn, 'place': place, 'data': (images, labels),
      'steps': train_n // config.batch_size,
      'compile_s': time.perf_counter() - start, 'seconds': [],
  }


def time_epoch(run: dict[str, Any]) -> None:
  """Runs one more epoch of ``run`` and records its wall time."""
  start = time.perf_counter()
  run['state'], metrics = run['epoch_fn'](run['state'], *run['data'])
  jax.block_until_ready((run['state'], metrics))
  run['seconds'].append(time.perf_counter() - start)
  run['loss'] = float(metrics['loss'])


def summarize_training(run: dict[str, Any]) -> None:
  images = run['steps'] * run['config'].batch_size
  run.update(best_s=min(run['seconds']),
             images_per_s=images / min(run['seconds']),
             median_images_per_s=images / bench_util.median(run['seconds']))


def step_cost(run: dict[str, Any], data: mnist.LabelledImages) -> dict[str, float]:
  """XLA's cost of one step: the epoch compiled for exactly one batch.

  XLA counts a scan body once whatever its length, so a one-batch epoch costs one
  step plus the (negligible) shuffle of 100 indices and the metric means.
  """
  batch = run['config'].batch_size
  images, labels = run['place']((data.train_images[:batch],
                                  data.train_labels[:batch]))
  compiled = run['epoch_fn'].lower(run['state'], images, labels).compile()
  return bench_util.xla_cost(compiled)


# (m, k, n) -> GFLOP/s, measured once per shape.
_MATMUL_RATES: dict[tuple[int, int, int], float] = {}


def cached_matmul_rate(m: int, k: int, n: int) -> float:
  if (m, k, n) not in _MATMUL_RATES:
    # 50 products per call for a train step's small shapes, fewer for the
    # evaluation's thousands of rows: the stacked operands stay under ~200 MB.
    stack = int(min(50, max(2, 5e7 // (m * max(k, n)))))
    _MATMUL_RATES[(m, k, n)] = bench_util.matmul_rate(m, k, n, stack=stack)
  return _MATMUL_RATES[(m, k, n)]


def shape_roofline_seconds(products: list[tuple[int, int, int]]) -> float:
  """Time of a step's products if each ran alone at its measured speed."""
  return sum(2 * m * k * n / (cached_matmul_rate(m, k, n) * 1e9)
             for m, k, n in products)


def training_rows(runs: list[dict[str, Any]], peak: float,
                  round_peaks: list[float]) -> list[list[Any]]:
  rows = []
  for run in runs:
    step_s = run['best_s'] / run['steps']
    gflops = run['xla_flops'] / step_s / 1e9
    # Each epoch against the peak measured in its own round.
    round_fracs = [run['xla_flops'] * run['steps'] / seconds / 1e9 / round_peak
                   for seconds, round_peak in zip(run['seconds'], round_peaks)]
    rows.append([
        run['model'], run['images_per_s'], run['median_images_per_s'],
        step_s * 1e3, run['xla_flops'] / 1e9, run['matmul_flops'] / 1e9,
        run['xla_bytes'] / 1e6, gflops, gflops / peak,
        bench_util.median(round_fracs),
        run['roofline_s'] * 1e3, run['roofline_s'] / step_s,
    ])
  return rows


TRAIN_HEADER = ['model', 'img/s best', 'img/s median', 'step ms',
                'XLA GFLOP/step', 'matmul GFLOP/step', 'XLA MB/step',
                'GFLOP/s', 'frac of peak', 'frac of round peak (median)',
                'shape-roofline ms', 'frac of shape-roofline']


# ----------------------------------------------------------------------------
# Evaluation (importance-weighted bounds).

# The five bounds of paper Table 1 (keys of bounds.evaluate_bounds).
BOUND_NAMES = ('marginal_multiple', 'marginal_single', 'joint',
               'conditional_multiple', 'conditional_single')
TOGETHER = 'evaluate_bounds'


def bound_functions(bounds: Any, k: int, prior_samples: int,
                    chunk_size: int | None) -> dict[str, Callable[..., Any]]:
  """name -> fn(model, params, x, w, key): each bound alone, and all five at once."""
  common = dict(k=k, chunk_size=chunk_size)
  conditional = dict(common, prior_samples=prior_samples)
  return {
      'marginal_multiple': functools.partial(
          bounds.iw_marginal, proposal='multiple', **common),
      'marginal_single': functools.partial(
          bounds.iw_marginal, proposal='single', **common),
      'joint': functools.partial(bounds.iw_joint, **common),
      'conditional_multiple': functools.partial(
          bounds.iw_conditional, proposal='multiple', **conditional),
      'conditional_single': functools.partial(
          bounds.iw_conditional, proposal='single', **conditional),
      TOGETHER: functools.partial(bounds.evaluate_bounds, **conditional),
  }


def eval_flops(bounds: Any, model: Any, params: Any, x: np.ndarray,
               w: np.ndarray, k: int, prior_samples: int
               ) -> dict[str, float]:
  """XLA's FLOPs of one batch for each function of ``bound_functions``.

  Compiled with chunk_size=None (all draws in one step, never run): XLA counts a
  scan body once, so a chunked program would show one chunk's cost. The chunks
  used for timing divide k, so no masked draws are wasted and the count is the
  same.
  """
  flops = {}
  for name, fn in bound_functions(bounds, k, prior_samples, None).items():
    jitted = fn.func  # the library's jax.jit-ed function
    compiled = jitted.lower(model, params, x, w, key=jax.random.key(0),
                            **fn.keywords).compile()
    flops[name] = bench_util.xla_cost(compiled)['flops']
  return flops


def time_evaluation(run: dict[str, Any], data: mnist.LabelledImages, n: int,
                    ks: list[int], rounds: int, peak: float, peak_size: int,
                    args: argparse.Namespace) -> tuple[Any, ...] | None:
  """Per-bound rows, together-vs-separate rows and the decoder roofline.

  Returns (bound rows, ratio rows, (decoder products, their GFLOP/s)) over
  every k, or None when ``jmvae_jax.bounds`` does not import. Each round times,
  on the same ``n`` test examples (batches of ``eval_batch_size``):
  ``evaluate_bounds`` (the five sharing draws) and the five single-bound
  functions one after the other. Rounds alternate which goes first, so drift
  hits both alike; the ratio is taken within each round.
  """
  try:
    from jmvae_jax import bounds  # pylint: disable=g-import-not-at-top
  except ImportError as error:
    print(f'# evaluation skipped: jmvae_jax.bounds does not import ({error})')
    return None
  config, model = run['config'], run['model_obj']
  params = run['state'].params
  batch = config.eval_batch_size
  x_all = mnist.binarize_once(data.test_images[:n])
  w_all = np.eye(10, dtype=np.float32)[data.test_labels[:n]]
  key = jax.random.key(0)
  decoder_products = bench_util.decoder_matmuls(
      params, config.eval_chunk_size * batch)
  decoder_rate = (bench_util.matmul_flops(decoder_products) / 1e9
                  / shape_roofline_seconds(decoder_products))
  bound_rows, ratio_rows = [], []
  for k in ks:
    fns = bound_functions(bounds, k, config.eval_prior_samples,
                          config.eval_chunk_size)
    flops = eval_flops(bounds, model, params, x_all[:batch], w_all[:batch], k,
                       config.eval_prior_samples)

    def run_fn(fn):
      start = time.perf_counter()
      for i in range(0, n, batch):
        out = fn(model, params, x_all[i:i + batch], w_all[i:i + batch],
                 key=jax.random.fold_in(key, i))
      jax.block_until_ready(out)
      return time.perf_counter() - start

    first_call = {}
    for name, fn in fns.items():
      start = time.perf_counter()
      jax.block_until_ready(fn(model, params, x_all[:batch], w_all[:batch],
                               key=key))
      first_call[name] = time.perf_counter() - start
    seconds = {name: [] for name in fns}
    for r in range(rounds):
      wait_quiet(args)
      round_peak = bench_util.matmul_peak((peak_size,), repeats=3)[peak_size]
      separate_first = r % 2 == 1
      order = (list(BOUND_NAMES) + [TOGETHER] if separate_first
               else [TOGETHER] + list(BOUND_NAMES))
      with bench_util.OtherLoad([os.getpid()]) as others:
        for name in order:
          seconds[name].append(run_fn(fns[name]))
      separate = sum(seconds[name][-1] for name in BOUND_NAMES)
      together = seconds[TOGETHER][-1]
      batches = -(-n // batch)
      ratio_rows.append([
          k, r + 1, 'separate first' if separate_first else 'together first',
          bench_util.load_average(), others.cores, round_peak, n / together,
          n / separate,
          flops[TOGETHER] * batches / together / 1e9 / round_peak,
          together / separate])
      print(f'  eval k={k} round {r + 1}: together {together:.1f} s, separately '
            f'{separate:.1f} s, ratio {together / separate:.3f}', flush=True)
    batches = -(-n // batch)
    for name in list(BOUND_NAMES) + [TOGETHER]:
      best = min(seconds[name])
      gflops = flops[name] * batches / best / 1e9
      bound_rows.append([
          name if name != TOGETHER else f'{TOGETHER} (all 5)', k, n / best,
          best / n * 1e3, flops[name] / batch / 1e9, gflops, gflops / peak,
          gflops / decoder_rate, first_call[name]])
    separate_best = sum(min(seconds[name]) for name in BOUND_NAMES)
    separate_flops = sum(flops[name] for name in BOUND_NAMES)
    gflops = separate_flops * batches / separate_best / 1e9
    bound_rows.append([
        'the five separately (sum)', k, n / separate_best,
        separate_best / n * 1e3, separate_flops / batch / 1e9, gflops,
        gflops / peak, gflops / decoder_rate,
        sum(first_call[name] for name in BOUND_NAMES)])
  return bound_rows, ratio_rows, (decoder_products, decoder_rate)


EVAL_HEADER = ['bound', 'k', 'examples/s', 'ms/example', 'XLA GFLOP/example',
               'GFLOP/s', 'frac of peak', 'frac of decoder roofline',
               'first call s']


def together_summary(ratio_rows: list[list[Any]], bound_rows: list[list[Any]],
                     max_cores: float) -> str:
  """Median together/separately time ratio per k, and the 10k-image projection."""
  lines = []
  for k in sorted({row[0] for row in ratio_rows}):
    ratios = [row[-1] for row in ratio_rows if row[0] == k]
    quiet = [row[-1] for row in ratio_rows if row[0] == k and row[4] <= max_cores]
    together = next(row for row in bound_rows
                    if row[0].startswith(TOGETHER) and row[1] == k)
    lines.append(
        f'- k = {k}: **time together / separately = '
        f'{bench_util.median(ratios):.3f}** (median of {len(ratios)} rounds; '
        f'min {min(ratios):.3f}, max {max(ratios):.3f}); the 10,000 test images '
        f'would take {10_000 / together[2] / 60:.1f} min together at the best '
        f'rate, at {together[6]:.0%} of the run\'s matmul peak (median '
        f'{bench_util.median(row[-2] for row in ratio_rows if row[0] == k):.0%} '
        'of the peak measured in the same round). '
        + (f'Over the {len(quiet)} rounds where other processes used at most '
           f'{max_cores} cores: median ratio {bench_util.median(quiet):.3f}.'
           if quiet else f'No round had other processes under {max_cores} '
           'cores.'))
  return '\n'.join(lines)


RATIO_HEADER = ['k', 'round', 'order', '1-min load', "others' cores",
                'round peak GFLOP/s',
                'together ex/s', 'separately ex/s',
                'together frac of round peak', 'time together / separately']


# ----------------------------------------------------------------------------


def main() -> None:
  args = parse_args()
  load_at_start = bench_util.load_average()
  print(f'# {bench_util.machine_line()}; load {load_at_start:.2f}')
  data = bench_util.load_data()

  sizes = tuple(int(s) for s in args.peak_sizes.split(','))
  peak_by_size = bench_util.matmul_peak(sizes)
  peak_rows = [[f'{n}x{n}x{n}', rate] for n, rate in peak_by_size.items()]

  runs = []
  for name in args.models.split(','):
    print(f'  compiling {name} ...', flush=True)
    runs.append(prepare_training(name, data, args.train_n))
  # Round-robin: each round re-measures the peak at the largest size, then
  # runs one epoch of every model, starting from a different model each time.
  round_peaks, round_others = [], []
  for e in range(args.epochs):
    wait_quiet(args)
    round_peaks.append(bench_util.matmul_peak(sizes[-1:], repeats=3)[sizes[-1]])
    with bench_util.OtherLoad([os.getpid()]) as others:
      for i in range(len(runs)):
        time_epoch(runs[(e + i) % len(runs)])
    round_others.append(others.cores)
    print(f'  training round {e + 1}: ' + ', '.join(
        f'{r["model"]} {r["steps"] * r["config"].batch_size / r["seconds"][-1]:.0f} '
        'img/s'
        for r in runs) + f'; peak {round_peaks[-1]:.0f} GFLOP/s; others used '
        f'{round_others[-1]:.2f} cores', flush=True)
  peak = max(list(peak_by_size.values()) + round_peaks)
  peak_rows.append([f'{sizes[-1]}x{sizes[-1]}x{sizes[-1]}, once per training '
                    f'round (min-max)',
                    f'{min(round_peaks):.1f}-{max(round_peaks):.1f}'])
  for run in runs:
    summarize_training(run)
    cost = step_cost(run, data)
    products = bench_util.step_matmuls(run['state'].params,
                                       run['config'].batch_size)
    run.update(xla_flops=cost['flops'], xla_bytes=cost['bytes'],
               matmul_flops=bench_util.matmul_flops(products),
               roofline_s=shape_roofline_seconds(products))
  for shape, rate in sorted(_MATMUL_RATES.items()):
    peak_rows.append(['x'.join(map(str, shape)) + ' (step shape)', rate])

  sections = [
      '## float32 matmul rate (best of 5)\n\n' + bench_util.format_table(
          ['product m x k x n', 'GFLOP/s'], peak_rows),
      f'## Training (batch 100, {args.train_n} images/epoch, best of '
      f'{args.epochs} round-robin epochs after a compile epoch; peak = '
      f'{peak:.0f} GFLOP/s, the best square product of this run; other '
      f'processes used {", ".join(f"{c:.2f}" for c in round_others)} cores '
      'in the rounds)\n\n'
      + bench_util.format_table(TRAIN_HEADER, training_rows(runs, peak, round_peaks))
      + '\n\nXLA GFLOP/step: cost analysis of the epoch compiled for one '
      'batch (forward, backward, Adam). frac of peak: XLA GFLOP/step / best '
      'step time / peak. frac of round peak: each epoch against the peak '
      'measured just before it (median over rounds). shape-roofline ms: the step\'s matmuls, each timed alone '
      'at its own shape (table above); frac of shape-roofline = that / step '
      'ms.',
  ]
  if args.eval_n:
    kl_run = next((r for r in runs if r['model'] == 'jmvae_kl'), runs[-1])
    ks = [int(k) for k in args.eval_k.split(',')]
    evaluation = time_evaluation(kl_run, data, args.eval_n, ks, args.eval_rounds,
                                 peak, sizes[-1], args)
    if evaluation:
      bound_rows, ratio_rows, (decoder_products, decoder_rate) = evaluation
      config = kl_run['config']
      decoder_shapes = ', '.join(
          f'{"x".join(map(str, shape))} {_MATMUL_RATES[shape]:.0f}'
          for shape in dict.fromkeys(decoder_products))
      sections.append(
          f'## Evaluation ({kl_run["model"]} after the timed training, '
          f'{args.eval_n} test examples, batch {config.eval_batch_size}, '
          f'chunk_size {config.eval_chunk_size}, {config.eval_prior_samples} '
          f'prior samples for log p(w); best of {args.eval_rounds} rounds)\n\n'
          + bench_util.format_table(EVAL_HEADER, bound_rows)
          + '\n\nXLA GFLOP/example: cost analysis of one batch / batch size. '
          'GFLOP/s and frac of peak: those FLOPs over the best time, against '
          'the square-matmul peak above. frac of decoder roofline: GFLOP/s '
          'over the rate of the decoders\' products on one scan step\'s '
          f'{config.eval_chunk_size * config.eval_batch_size} draws, each '
          f'timed alone ({decoder_rate:.0f} GFLOP/s overall; m x k x n '
          f'GFLOP/s: {decoder_shapes}), which carry nearly all of a bound\'s '
          'FLOPs. first call s: the first batch, compilation included.')
      sections.append(
          '## All five bounds together (`bounds.evaluate_bounds`) vs the five '
          'single-bound functions one after the other\n\n'
          + bench_util.format_table(RATIO_HEADER, ratio_rows)
          + '\n\n' + together_summary(ratio_rows, bound_rows, args.quiet_cores))
  command = ' '.join(['python', '-m', 'benchmarks.throughput'] + sys.argv[1:])
  text = (f'# jmvae_jax throughput\n\n- Machine: {bench_util.machine_line()}\n'
          f'- Command: `{command}`\n'
          f'- 1-minute load average: {load_at_start:.2f} at the start, '
          f'{bench_util.load_average():.2f} at the end ({os.cpu_count()} '
          'cores; it includes this process). Only ratios within one run mean '
          'much: this machine drifts by up to 40% between identical runs.\n\n'
          + '\n\n'.join(sections) + '\n')
  print(text)
  if args.out:
    with open(args.out, 'w') as f:
      f.write(text)


if __name__ == '__main__':
  main()
