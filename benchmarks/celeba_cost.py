"""FLOPs and bytes of the CelebA runs from XLA's cost analysis, and a GPU time estimate.

Run from the repository root (any machine; nothing is executed, only compiled):

  python -m benchmarks.celeba_cost [--models jmvae_gan,vae_gan] [--gpu_tflops 60]

For each model it compiles one training step (batch 100, 64x64x3 faces) and one
evaluation batch of ``jmvae_jax.bounds.evaluate_bounds`` (100 test faces,
k = 10, 5000 prior samples), reads XLA's FLOP and byte counts, and scales them
to the paper's run: 172,709 training faces (90% of 191,899) for 100 epochs, and
19,190 test faces. The time estimate is a roofline: each step takes at least
max(FLOPs / sustained FLOP/s, bytes / bandwidth). The defaults assume an
H100 SXM running float32 convolutions and matmuls at 60 TFLOP/s sustained
(TF32 tensor cores, about an eighth of their dense peak: these layers are
small) and 3 TB/s of its 3.35 TB/s HBM bandwidth.
"""

from __future__ import annotations

import argparse
import functools

import jax
import jax.numpy as jnp

from jmvae_jax import bounds
from jmvae_jax.nn.conv import IMAGE_SHAPE
from jmvae_jax.tasks.celeba import gan, train as celeba_train
from jmvae_jax.tasks.celeba.config import MODEL_NAMES, CelebAConfig
from jmvae_jax.training.evaluation import format_duration

TRAIN_FACES = 172_709
TEST_FACES = 19_190


def _cost(compiled) -> tuple[float, float]:
  analysis = compiled.cost_analysis()
  if isinstance(analysis, list):
    analysis = analysis[0]
  return analysis['flops'], analysis['bytes accessed']


def step_cost(config: CelebAConfig) -> tuple[float, float]:
  """(FLOPs, bytes) of one training step of ``config.model``."""
  trainer = celeba_train.make_trainer(config.build_model(), config)
  state = jax.eval_shape(functools.partial(celeba_train.init_state, trainer,
                                           config.seed))
  x = jax.ShapeDtypeStruct((config.batch_size,) + IMAGE_SHAPE, jnp.float32)
  w = jax.ShapeDtypeStruct((config.batch_size, 40), jnp.float32)
  step = jax.jit(functools.partial(trainer.step, kl_weight=jnp.float32(1.0)))
  return _cost(step.lower(state.params, state.opt_state, x, w,
                          key=state.key).compile())


def eval_cost(config: CelebAConfig) -> tuple[float, float]:
  """(FLOPs, bytes) of the test bounds of one evaluation batch."""
  model = config.build_model()
  trainer = celeba_train.make_trainer(model, config)
  state = jax.eval_shape(functools.partial(celeba_train.init_state, trainer,
                                           config.seed))
  batch = config.eval_batch_size
  x = jax.ShapeDtypeStruct((batch,) + IMAGE_SHAPE, jnp.float32)
  w = jax.ShapeDtypeStruct((batch, 40), jnp.float32)
  evaluate = jax.jit(functools.partial(
      bounds.evaluate_bounds, gan.evaluation_model(model),
      k=config.eval_k, prior_samples=config.eval_prior_samples,
      chunk_size=config.eval_chunk_size))
  return _cost(evaluate.lower(state.params['model'], x, w,
                              key=state.key).compile())


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--models', default=','.join(MODEL_NAMES))
  parser.add_argument('--gpu_tflops', type=float, default=60.0,
                      help='sustained float32 (TF32) TFLOP/s')
  parser.add_argument('--gpu_tbps', type=float, default=3.0,
                      help='sustained memory bandwidth, TB/s')
  args = parser.parse_args()
  print('model       step GFLOP  step GB  epoch TFLOP  train est.  '
        'eval TFLOP  eval est.')
  for name in args.models.split(','):
    config = CelebAConfig(model=name)
    flops, bytes_ = step_cost(config)
    steps = TRAIN_FACES // config.batch_size
    step_seconds = max(flops / (args.gpu_tflops * 1e12),
                       bytes_ / (args.gpu_tbps * 1e12))
    eval_flops, eval_bytes = eval_cost(config)
    batches = -(-TEST_FACES // config.eval_batch_size)
    eval_seconds = batches * max(eval_flops / (args.gpu_tflops * 1e12),
                                 eval_bytes / (args.gpu_tbps * 1e12))
    print(f'{name:10s}  {flops / 1e9:10.1f}  {bytes_ / 1e9:7.2f}  '
          f'{flops * steps / 1e12:11.0f}  '
          f'{format_duration(step_seconds * steps * config.epochs):>10s}  '
          f'{eval_flops * batches / 1e12:10.1f}  '
          f'{format_duration(eval_seconds):>9s}')


if __name__ == '__main__':
  main()
