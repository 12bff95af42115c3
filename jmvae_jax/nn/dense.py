"""Encoder and decoder networks (Flax Linen modules: pure ``init``/``apply``).

The networks know shapes, not objectives: an encoder maps one or more inputs to a
diagonal Gaussian over z, a decoder maps z to the parameters of a likelihood
(Bernoulli or categorical logits, or Gaussian means). Dense layers act on the last
axis, so one module serves a single example [D], a batch [B, D], or a stack of
importance samples [k, B, D].
"""

from __future__ import annotations

from typing import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jmvae_jax.distributions import DiagGaussian


def dense_product(matmul_dtype: str) -> Callable[..., jax.Array] | None:
  """The ``dot_general`` of a Dense layer whose products take ``matmul_dtype``
  inputs ('float32' or 'bfloat16') and accumulate and return float32.

  None (Flax's default product) for 'float32'. Parameters, biases and
  activations stay float32 either way; only the two operands of each product
  are rounded.
  """
  if matmul_dtype == 'float32':
    return None
  if matmul_dtype != 'bfloat16':
    raise ValueError(f"matmul_dtype must be 'float32' or 'bfloat16', got "
                     f'{matmul_dtype!r}')

  def dot_general(lhs, rhs, dimension_numbers, precision=None,
                  preferred_element_type=None):
    del preferred_element_type  # Always float32.
    return jax.lax.dot_general(
        lhs.astype(jnp.bfloat16), rhs.astype(jnp.bfloat16), dimension_numbers,
        precision=precision, preferred_element_type=jnp.float32)

  return dot_general


class MLP(nn.Module):
  """Dense layers with leaky ReLU (slope 0.01), then an optional linear output.

  Attributes:
    hidden: widths of the hidden layers, e.g. (512, 512).
    out_dim: width of the final linear layer; None returns the last hidden layer.
    matmul_dtype: the products' input type (see ``dense_product``).
  """

  hidden: Sequence[int]
  out_dim: int | None = None
  matmul_dtype: str = 'float32'

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    product = dense_product(self.matmul_dtype)
    for width in self.hidden:
      x = nn.leaky_relu(nn.Dense(width, dot_general=product)(x))
    if self.out_dim is not None:
      x = nn.Dense(self.out_dim, dot_general=product)(x)
    return x


class GaussianEncoder(nn.Module):
  """q(z | inputs): one MLP tower per input, tops concatenated, optional shared
  layers, then a Gaussian head.

  With one input this is the unimodal encoder q(z|x) of a VAE or JMVAE-kl; with two
  it is the joint encoder q(z|x,w) of the paper's Sec. 4.1 (each modality through
  its own dense layers, the tops concatenated and mapped to mean and log-variance).
  ``shared`` layers between the concatenation and the head give the form of
  MultiVae's joint encoder (one 512-unit layer per modality, then one shared).

  Attributes:
    hidden: widths of each tower's hidden layers.
    latent_dim: dimension D of z.
    matmul_dtype: the products' input type (see ``dense_product``).
    shared: widths of the hidden layers applied to the concatenated tops
      (none by default: the paper's form).
  """

  hidden: Sequence[int]
  latent_dim: int
  matmul_dtype: str = 'float32'
  shared: Sequence[int] = ()

  @nn.compact
  def __call__(self, *inputs: jax.Array) -> DiagGaussian:
    tops = [MLP(self.hidden, matmul_dtype=self.matmul_dtype,
                name=f'tower_{i}')(x) for i, x in enumerate(inputs)]
    top = tops[0] if len(tops) == 1 else jnp.concatenate(tops, axis=-1)
    if self.shared:
      top = MLP(self.shared, matmul_dtype=self.matmul_dtype,
                name='shared')(top)
    mean_and_log_var = nn.Dense(
        2 * self.latent_dim, dot_general=dense_product(self.matmul_dtype),
        name='head')(top)
    mean, log_var = jnp.split(mean_and_log_var, 2, axis=-1)
    return DiagGaussian(mean, log_var)
