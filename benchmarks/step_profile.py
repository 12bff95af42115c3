"""Where a jmvae_jax train step spends its time: ablations of the jitted epoch.

Run from the repository root:

  python -m benchmarks.step_profile [--model jmvae_kl] [--train_n 10000]
      [--rounds 5] [--variants library,replica,...] [--trace /tmp/trace]

Every variant is an epoch of batch-100 steps over the same ``train_n`` images,
built like ``jmvae_jax.tasks.mnist.train.make_train_epoch`` (a donated ``jax.jit`` of a
``lax.scan``) with one thing changed; the table gives its images/s and step time
relative to the replica of the library's step. Variants are timed in turns
(round-robin, ``--rounds`` times, best kept) so the machine's drift hits all of
them alike.

  library        the library's own epoch (jmvae_jax.training.train)
  replica        this file's copy of the library's step (should match 'library')
  forward        loss only: no gradient, no update (forward pass + RNG + gather)
  fwd_bwd        loss and gradients, no update (gradients summed into the carry)
  sgd            plain SGD update instead of Adam (optimizer cost = replica - sgd)
  no_rng         no dynamic binarization, the same epsilon every step (RNG cost)
  flat_adam      optax.flatten(optax.adam): one fused update on a flat vector
  rbg_key        the same step with an 'rbg' PRNG key instead of threefry
  pre_gather     images[permutation] once per epoch, scanned as xs (no gather per step)
  unroll2        lax.scan(..., unroll=2)
  xla:K=V[;K=V]  the replica compiled with XLA compiler options, e.g.
                 'xla:xla_cpu_use_xnnpack=false' (jax's compile(compiler_options))

``--trace DIR`` also writes a ``jax.profiler`` trace of one replica epoch
(open it with TensorBoard's profile plugin or Perfetto), and prints XLA's
cost analysis (FLOPs and bytes) of one step of each variant.
"""

from __future__ import annotations

import argparse
import time
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from benchmarks import bench_util
from benchmarks import trace_summary
from jmvae_jax import objectives
from jmvae_jax.tasks.mnist.config import Config

ALL_VARIANTS = ('library', 'replica', 'forward', 'fwd_bwd', 'sgd', 'no_rng',
                'flat_adam', 'rbg_key', 'pre_gather', 'unroll2')


def parse_args() -> argparse.Namespace:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--model', default='jmvae_kl')
  parser.add_argument('--train_n', type=int, default=10_000)
  parser.add_argument('--rounds', type=int, default=5)
  parser.add_argument('--variants', default=','.join(ALL_VARIANTS))
  parser.add_argument('--trace', default=None)
  return parser.parse_args()


# ----------------------------------------------------------------------------
# A configurable copy of the library's epoch.


def make_variant_epoch(model: Any, config: Config, variant: str
                       ) -> Callable[..., Any]:
  """A jitted (params, opt_state, key, images, labels) -> (params, opt_state, loss).

  Mirrors ``train.make_train_epoch`` (shuffle, per-step fold_in keys, dynamic
  binarization, one-hot labels, value_and_grad, Adam), changed as ``variant`` says.
  """
  optimizer = variant_optimizer(config, variant)

  def loss_fn(params, x, w, key):
    terms = objectives.loss_terms(model, params, x, w, key=key)
    return objectives.total_loss(terms, kl_weight=0.5, alpha=config.alpha)

  def update(params, opt_state, x, w, sample_key):
    """One step's parameter update (or its ablation) and loss."""
    if variant == 'forward':
      return params, opt_state, loss_fn(params, x, w, sample_key)
    loss, grads = jax.value_and_grad(loss_fn)(params, x, w, sample_key)
    if variant == 'fwd_bwd':  # Keep the gradients alive without an optimizer.
      return params, jax.tree.map(jnp.add, opt_state, grads), loss
    with jax.numpy_dtype_promotion('standard'):
      updates, opt_state = optimizer.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss

  def epoch(params, opt_state, key, images, labels):
    steps = images.shape[0] // config.batch_size
    order = jax.random.permutation(jax.random.fold_in(key, 1), images.shape[0])
    order = order[:steps * config.batch_size].reshape(steps, config.batch_size)
    step_root = jax.random.fold_in(key, 2)
    # pre_gather: gather the whole epoch's batches once, before the scan.
    batches = images[order] if variant == 'pre_gather' else order

    def step(carry, inputs):
      params, opt_state, index = carry
      batch, batch_labels = inputs
      binarize_key, sample_key = jax.random.split(
          jax.random.fold_in(step_root, index))
      grey = batch if variant == 'pre_gather' else images[batch]
      if variant == 'no_rng':
        x, sample_key = grey, key
      else:
        x = jax.random.bernoulli(binarize_key, grey).astype(grey.dtype)
      w = jax.nn.one_hot(batch_labels, 10, dtype=x.dtype)
      params, opt_state, loss = update(params, opt_state, x, w, sample_key)
      return (params, opt_state, index + 1), loss

    (params, opt_state, _), losses = jax.lax.scan(
        step, (params, opt_state, jnp.zeros((), jnp.int32)),
        (batches, labels[order]),
        unroll=int(variant[len('unroll'):]) if variant.startswith('unroll') else 1)
    return params, opt_state, jnp.mean(losses)

  return jax.jit(epoch, donate_argnums=(0, 1))


def variant_optimizer(config: Config, variant: str
                      ) -> optax.GradientTransformation:
  if variant == 'sgd':
    return optax.sgd(config.learning_rate)
  if variant == 'flat_adam':
    return optax.flatten(optax.adam(config.learning_rate))
  return optax.adam(config.learning_rate)


def variant_state(model: Any, config: Config, variant: str
                  ) -> tuple[Any, Any, jax.Array]:
  """Fresh (params, opt_state, key) for a variant (zeros as the fwd_bwd sink)."""
  params = model.init(jax.random.key(config.seed))
  if variant == 'fwd_bwd':
    opt_state = jax.tree.map(jnp.zeros_like, params)
  else:
    opt_state = variant_optimizer(config, variant).init(params)
  impl = 'rbg' if variant == 'rbg_key' else None
  return params, opt_state, jax.random.key(config.seed, impl=impl)


# ----------------------------------------------------------------------------
# Timing.


def compiler_options(variant: str) -> dict[str, Any]:
  """'xla:a=1;b=false' -> {'a': 1, 'b': False}; {} for other variants."""
  if not variant.startswith('xla:'):
    return {}
  options = {}
  for item in variant[len('xla:'):].split(';'):
    key, _, text = item.partition('=')
    value: Any = {'true': True, 'false': False}.get(text.lower(), text)
    if isinstance(value, str) and value.lstrip('-').isdigit():
      value = int(value)
    options[key] = value
  return options


class Runner:
  """One variant: its compiled epoch, its state and data; ``run()`` times an epoch."""

  def __init__(self, model: Any, config: Config, variant: str,
               images: np.ndarray, labels: np.ndarray):
    self.variant = variant
    options = compiler_options(variant)
    if options:
      variant = 'replica'
    self.images_per_epoch = images.shape[0] // config.batch_size * config.batch_size
    if variant == 'library':
      self.epoch_fn, place, self.state = bench_util.make_epoch(model, config)
      self.data = place((images, labels))
    else:
      self.state = variant_state(model, config, variant)
      self.epoch_fn = make_variant_epoch(model, config, variant)
      self.data = (jax.device_put(images), jax.device_put(labels))
    self.cost = self._step_cost(images[:config.batch_size],
                                labels[:config.batch_size], options)
    if options:  # Call the executable compiled with the options from now on.
      self.epoch_fn = self.epoch_fn.lower(*self._args(*self.data)).compile(
          compiler_options=options)
    self.run()  # compile and warm up
    self.seconds: list[float] = []

  def _call(self, images, labels):
    if self.variant == 'library':
      self.state, out = self.epoch_fn(self.state, images, labels)
      return self.state, out
    params, opt_state, key = self.state
    params, opt_state, loss = self.epoch_fn(params, opt_state, key, images, labels)
    self.state = (params, opt_state, key)
    return self.state, loss

  def _args(self, images, labels) -> tuple[Any, ...]:
    state = (self.state,) if self.variant == 'library' else tuple(self.state)
    return state + (images, labels)

  def _step_cost(self, images, labels, options) -> dict[str, float]:
    """XLA's cost of one step: the epoch compiled for a single batch."""
    args = self._args(jnp.asarray(images), jnp.asarray(labels))
    return bench_util.xla_cost(
        self.epoch_fn.lower(*args).compile(compiler_options=options or None))

  def hlo_text(self) -> str:
    """The optimized HLO of the full-epoch executable that ``run`` calls."""
    if hasattr(self.epoch_fn, 'as_text'):  # Already a compiled executable.
      return self.epoch_fn.as_text()
    return self.epoch_fn.lower(*self._args(*self.data)).compile().as_text()

  def run(self) -> float:
    start = time.perf_counter()
    jax.block_until_ready(self._call(*self.data))
    return time.perf_counter() - start

  def timed(self) -> None:
    self.seconds.append(self.run())


def trace_table(runner: Runner, directory: str, steps: int) -> str:
  """Traces one epoch of ``runner`` and tabulates its op time by category."""
  with jax.profiler.trace(directory):
    wall = runner.run()
  per_step, mapped = trace_summary.summarize(directory, runner.hlo_text(), steps)
  total = sum(per_step.values())
  rows = [[name, ms, ms / total] for name, ms in per_step.items()]
  rows.append(['total (thread time)', total, 1.0])
  rows.append(['wall time of the traced step', wall / steps * 1e3, ''])
  return (f'## Profile of one {runner.variant} epoch ({directory}; '
          f'{mapped:.0%} of op time mapped to HLO)\n\n'
          + bench_util.format_table(['category', 'ms/step', 'share'], rows))


def main() -> None:
  args = parse_args()
  print(f'# {bench_util.machine_line()}; load {bench_util.load_average():.2f}')
  config = bench_util.config_for(args.model)
  model = config.build_model()
  data = bench_util.load_data()
  images, labels = bench_util.train_slice(data, args.train_n, 0)
  runners = []
  for variant in args.variants.split(','):
    print(f'  compiling {variant} ...', flush=True)
    runners.append(Runner(model, config, variant, images, labels))
  for _ in range(args.rounds):
    for runner in runners:
      runner.timed()
  steps = args.train_n // config.batch_size
  base = next((r for r in runners if r.variant == 'replica'), runners[0])
  base_step = min(base.seconds) / steps
  rows = []
  for runner in runners:
    step_s = min(runner.seconds) / steps
    rows.append([runner.variant, runner.images_per_epoch / min(runner.seconds),
                 step_s * 1e3, (step_s - base_step) * 1e3, step_s / base_step,
                 runner.cost['flops'] / 1e9, runner.cost['bytes'] / 1e6,
                 runner.cost['flops'] / step_s / 1e9])
  print(f'\n## {args.model}: step ablations (batch {config.batch_size}, '
        f'{args.train_n} images/epoch, best of {args.rounds} round-robin epochs; '
        f'load {bench_util.load_average():.2f})\n')
  print(bench_util.format_table(
      ['variant', 'img/s', 'step ms', 'delta ms vs replica', 'time / replica',
       'XLA GFLOP/step', 'XLA MB/step', 'GFLOP/s'], rows))
  if args.trace:
    print('\n' + trace_table(base, args.trace, steps))


if __name__ == '__main__':
  main()
