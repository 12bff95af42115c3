"""The optimizer: Adam after norm and element clipping, checked against NumPy."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jmvae_jax.nn import dense as networks
from jmvae_jax.training import elbo
from jmvae_jax.tasks.mnist.config import Config


def _numpy_adam_first_step(g, lr, eps):
  """Adam's first update: bias-corrected moments are g and g**2."""
  return -lr * g / (np.abs(g) + eps)


@pytest.mark.parametrize('clip, clip_value', [(0.0, 0.0), (5.0, 0.0), (1e6, 0.0),
                                              (0.0, 1.5), (30.0, 1.5)])
def test_first_update_is_adam_of_the_clipped_gradient(clip, clip_value):
  rng = np.random.default_rng()
  grads = {'a': rng.normal(size=(3, 4)) * 10, 'b': rng.normal(size=7) * 10}
  # A large epsilon makes Adam's step depend on the gradient's scale.
  config = dataclasses.replace(Config(), learning_rate=0.1, adam_eps=3.0,
                               grad_clip_norm=clip, grad_clip_value=clip_value)
  norm = np.sqrt(sum(np.sum(g ** 2) for g in grads.values()))
  scale = min(1.0, clip / norm) if clip else 1.0
  # The norm clip first, then each element (as the authors' code).
  if clip_value:
    grads_seen = {name: np.clip(g * scale, -clip_value, clip_value)
                  for name, g in grads.items()}
  else:
    grads_seen = {name: g * scale for name, g in grads.items()}
  optimizer = elbo.make_optimizer(config)
  params = {name: jnp.zeros(g.shape, jnp.float32) for name, g in grads.items()}
  with jax.numpy_dtype_promotion('standard'):  # As train.py steps it.
    updates, _ = optimizer.update(
        {name: jnp.asarray(g, jnp.float32) for name, g in grads.items()},
        optimizer.init(params), params)
  for name, g in grads_seen.items():
    np.testing.assert_allclose(
        updates[name], _numpy_adam_first_step(g, 0.1, 3.0), rtol=1e-5)


def test_bfloat16_products_round_only_the_operands():
  rng = np.random.default_rng()
  x = jnp.asarray(rng.uniform(size=(7, 784)), jnp.float32)
  w = jax.nn.one_hot(jnp.asarray(rng.integers(0, 10, 7)), 10)
  f32 = dataclasses.replace(Config(), latent_dim=8, hidden_width=64)
  bf16 = dataclasses.replace(f32, matmul_dtype='bfloat16')
  model32, model16 = f32.build_model(), bf16.build_model()
  params = model32.init(jax.random.key(0))
  assert jax.tree.structure(params) == jax.tree.structure(
      model16.init(jax.random.key(0)))
  got = model16.encode(params, x, w)
  want = model32.encode(params, x, w)
  assert got.mean.dtype == jnp.float32
  # The same product in NumPy from bfloat16-rounded operands, float64 sums.
  kernel = params['joint_encoder']['params']['tower_0']['Dense_0']['kernel']
  bias = params['joint_encoder']['params']['tower_0']['Dense_0']['bias']
  round16 = lambda a: np.asarray(jnp.asarray(a).astype(jnp.bfloat16),
                                 np.float64)
  numpy_layer = round16(x) @ round16(kernel) + np.asarray(bias)
  layer = networks.MLP((64,), matmul_dtype='bfloat16').apply(
      {'params': {'Dense_0': {'kernel': kernel, 'bias': bias}}}, x)
  np.testing.assert_allclose(layer, np.where(numpy_layer > 0, numpy_layer,
                                             0.01 * numpy_layer), rtol=1e-4,
                             atol=1e-4)
  # Rounding the operands moves the encoder's output by about bf16's 2**-8.
  scale = np.abs(np.asarray(want.mean)).max()
  assert 0 < np.abs(np.asarray(got.mean - want.mean)).max() < 0.05 * scale
  assert bf16.build_model(training=False).matmul_dtype == 'float32'
