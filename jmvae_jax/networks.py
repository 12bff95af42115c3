"""Encoder and decoder networks (Flax Linen modules: pure ``init``/``apply``).

The networks know shapes, not objectives: an encoder maps one or more inputs to a
diagonal Gaussian over z, a decoder maps z to the parameters of a likelihood
(Bernoulli or categorical logits, or Gaussian means). Dense layers act on the last
axis, so one module serves a single example [D], a batch [B, D], or a stack of
importance samples [k, B, D].
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jmvae_jax.distributions import DiagGaussian


class MLP(nn.Module):
  """Dense layers with leaky ReLU (slope 0.01), then an optional linear output.

  Attributes:
    hidden: widths of the hidden layers, e.g. (512, 512).
    out_dim: width of the final linear layer; None returns the last hidden layer.
  """

  hidden: Sequence[int]
  out_dim: int | None = None

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    for width in self.hidden:
      x = nn.leaky_relu(nn.Dense(width)(x))
    if self.out_dim is not None:
      x = nn.Dense(self.out_dim)(x)
    return x


class GaussianEncoder(nn.Module):
  """q(z | inputs): one MLP tower per input, tops concatenated, then a Gaussian head.

  With one input this is the unimodal encoder q(z|x) of a VAE or JMVAE-kl; with two
  it is the joint encoder q(z|x,w) of the paper's Sec. 4.1 (each modality through
  its own dense layers, the tops concatenated and mapped to mean and log-variance).

  Attributes:
    hidden: widths of each tower's hidden layers.
    latent_dim: dimension D of z.
  """

  hidden: Sequence[int]
  latent_dim: int

  @nn.compact
  def __call__(self, *inputs: jax.Array) -> DiagGaussian:
    tops = [MLP(self.hidden, name=f'tower_{i}')(x) for i, x in enumerate(inputs)]
    top = tops[0] if len(tops) == 1 else jnp.concatenate(tops, axis=-1)
    mean_and_log_var = nn.Dense(2 * self.latent_dim, name='head')(top)
    mean, log_var = jnp.split(mean_and_log_var, 2, axis=-1)
    return DiagGaussian(mean, log_var)
