"""The optimizer: Adam after global-norm clipping, checked against NumPy."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jmvae_jax import train
from jmvae_jax.config import Config


def _numpy_adam_first_step(g, lr, eps):
  """Adam's first update: bias-corrected moments are g and g**2."""
  return -lr * g / (np.abs(g) + eps)


@pytest.mark.parametrize('clip', [0.0, 5.0, 1e6])
def test_first_update_is_adam_of_the_clipped_gradient(clip):
  rng = np.random.default_rng()
  grads = {'a': rng.normal(size=(3, 4)) * 10, 'b': rng.normal(size=7) * 10}
  # A large epsilon makes Adam's step depend on the gradient's scale.
  config = dataclasses.replace(Config(), learning_rate=0.1, adam_eps=3.0,
                               grad_clip_norm=clip)
  norm = np.sqrt(sum(np.sum(g ** 2) for g in grads.values()))
  scale = min(1.0, clip / norm) if clip else 1.0
  optimizer = train.make_optimizer(config)
  params = {name: jnp.zeros(g.shape, jnp.float32) for name, g in grads.items()}
  with jax.numpy_dtype_promotion('standard'):  # As train.py steps it.
    updates, _ = optimizer.update(
        {name: jnp.asarray(g, jnp.float32) for name, g in grads.items()},
        optimizer.init(params), params)
  for name, g in grads.items():
    np.testing.assert_allclose(
        updates[name], _numpy_adam_first_step(g * scale, 0.1, 3.0), rtol=1e-5)
