r"""Training throughput of a grid of models as one program vs separate runs.

Prints, from one run on this machine: images/s per model of one JMVAE-kl, of a
3- and a 9-model JMVAE-kl grid (``jmvae_jax.tasks.mnist.grid``), each with float32 and
bfloat16 products; the step's XLA FLOPs against the float32 square-matmul peak
measured in the same run; and the projected wall-clock hours of one seed of the
paper grid (Tables 1/3: 7 rows x 500 epochs x 50,000 images) trained separately and
with the three JMVAE-kl alphas as one grid.

  python -m benchmarks.grid_throughput            # about 10 minutes on 2 cores
  python -m benchmarks.grid_throughput --quick    # a smoke run (tests)
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time

import jax

from benchmarks import bench_util
from jmvae_jax.tasks.mnist import grid
from jmvae_jax.tasks.mnist import train
from jmvae_jax.tasks.mnist.config import PAPER_SETTINGS, Config
from jmvae_jax.training import elbo, parallel

_RESULTS = os.path.join(os.path.dirname(__file__), 'results_grid.md')
# Rows of the paper grid by model type; the three JMVAE-kl rows share a grid.
_PAPER_ROWS = {'vae': 1, 'cvae': 1, 'cmma': 1, 'jmvae_zero': 1, 'jmvae_kl': 3}


def _configs(model: str, members: int, matmul_dtype: str) -> list[Config]:
  base = dataclasses.replace(Config(), model=model, matmul_dtype=matmul_dtype,
                             grad_clip_norm=PAPER_SETTINGS['grad_clip_norm'])
  alphas = (0.01, 0.1, 1.0)
  return [dataclasses.replace(base, seed=i // 3, alpha=alphas[i % 3])
          for i in range(members)]


def _epoch_and_state(configs: list[Config], mesh):
  """(jitted epoch, initial state) of one run (1 config) or a grid."""
  model = configs[0].build_model()
  if len(configs) == 1:
    return (train.make_train_epoch(model, configs[0], mesh),
            elbo.init_state(model, configs[0]))
  return (grid.make_grid_train_epoch(model, configs, mesh),
          grid.init_grid_state(model, configs))


def time_training(configs: list[Config], images, labels, mesh,
                  repeats: int) -> dict[str, float]:
  """Best epoch time over ``repeats`` after a compiling epoch; images/s per model."""
  epoch_fn, state = _epoch_and_state(configs, mesh)
  state, metrics = epoch_fn(state, images, labels)
  jax.block_until_ready(metrics)
  seconds = []
  for _ in range(repeats):
    start = time.perf_counter()
    state, metrics = epoch_fn(state, images, labels)
    jax.block_until_ready((state, metrics))
    seconds.append(time.perf_counter() - start)
  batch = configs[0].batch_size
  one_batch = epoch_fn.lower(state, images[:batch], labels[:batch]).compile()
  flops = bench_util.xla_cost(one_batch)['flops']
  steps = images.shape[0] // batch
  best = min(seconds)
  return {'images_per_s_per_model': steps * batch / best,
          'gflops_per_s': flops * steps / best / 1e9}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--quick', action='store_true',
                      help='tiny sizes, one repeat: checks the script runs')
  args = parser.parse_args()
  data = bench_util.load_data()
  n = 1000 if args.quick else 10_000
  repeats = 1 if args.quick else 3
  mesh = parallel.make_data_mesh()
  images, labels = parallel.replicate(
      (data.train_images[:n], data.train_labels[:n]), mesh)
  peak = max(bench_util.matmul_peak(
      (512,) if args.quick else (1024, 1536, 2048)).values())
  sizes = (1, 3) if args.quick else (1, 3, 9)
  rows, rates = [], {}
  for dtype in ('float32', 'bfloat16'):
    for members in sizes:
      result = time_training(_configs('jmvae_kl', members, dtype), images,
                             labels, mesh, repeats)
      rates[(dtype, members)] = result['images_per_s_per_model']
      rows.append((f'JMVAE-kl x{members}', dtype,
                   result['images_per_s_per_model'],
                   result['images_per_s_per_model']
                   / rates[('float32', 1)], result['gflops_per_s'] / peak))
  singles = {}
  for model in _PAPER_ROWS:
    if model != 'jmvae_kl' and not args.quick:
      singles[model] = time_training(_configs(model, 1, 'float32'), images,
                                     labels, mesh, repeats
                                     )['images_per_s_per_model']
  singles['jmvae_kl'] = rates[('float32', 1)]
  images_per_seed = (PAPER_SETTINGS['epochs']
                     * PAPER_SETTINGS['train_examples'])
  separate_h = sum(count * images_per_seed / singles.get(model, singles[
      'jmvae_kl']) for model, count in _PAPER_ROWS.items()) / 3600
  # The grid trains its three members at once: its wall time is one member's
  # images at the grid's per-model rate.
  grid_h = separate_h - 3 * images_per_seed / singles['jmvae_kl'] / 3600 + (
      images_per_seed / rates[('float32', 3)] / 3600)
  lines = [
      '# Grid training throughput', '', bench_util.machine_line(), '',
      f'float32 square-matmul peak measured in this run: {peak:.0f} GFLOP/s. '
      f'{n} training images per epoch, best of {repeats} epochs.', '',
      '| models | products | images/s per model | vs one float32 model '
      '| fraction of peak |', '|---|---|---|---|---|']
  lines += [f'| {name} | {dtype} | {ips:.0f} | {ratio:.2f}x | {frac:.2f} |'
            for name, dtype, ips, ratio, frac in rows]
  lines += ['', 'Images/s of one model trained alone, float32: ' + ', '.join(
      f'{model} {rate:.0f}' for model, rate in singles.items()) + '.']
  lines += ['', 'Projected wall-clock hours on this machine of one seed of the '
            f'paper grid (7 rows, {PAPER_SETTINGS["epochs"]} epochs, '
            f'{PAPER_SETTINGS["train_examples"]:,} images), float32: separate '
            f'runs {separate_h:.2f} h, with the three JMVAE-kl alphas as one '
            f'grid {grid_h:.2f} h (training only; evaluation adds about 5 min '
            'per row).']
  text = '\n'.join(lines) + '\n'
  print(text)
  if not args.quick:
    with open(_RESULTS, 'w') as f:
      f.write(text)


if __name__ == '__main__':
  main()
