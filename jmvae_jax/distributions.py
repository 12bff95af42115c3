"""Log-densities, KL divergences and reparameterized sampling.

Every function works on the last axis as the event axis and broadcasts over the
leading (batch, sample) axes, so the same code serves one example, a batch, or a
``[k, batch]`` stack of importance samples. Log-densities are summed over the
event axis and returned in nats.

A posterior q(z|X_S) is a ``DiagGaussian`` or, for the mixture models (MMVAE,
MoPoE), a ``GaussianMixture``; ``sample``, ``log_prob`` and ``mean_of`` take
either, so the bounds and generation serve both.
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


class GaussianMixture(NamedTuple):
  """The equal-weight mixture (1/C) sum_c N(means[c], exp(log_vars[c])).

  Fields have shape [..., C, D]: C diagonal Gaussian components per example
  (the named fields differ from ``DiagGaussian``'s, so code that reads
  ``q.mean`` of a posterior fails loudly on a mixture; use ``mean_of``).
  """

  component_means: jax.Array
  component_log_vars: jax.Array


Posterior = DiagGaussian | GaussianMixture


def mixture(components: Sequence[DiagGaussian]) -> Posterior:
  """The equal-weight mixture of ``components`` (fields [..., D] each); one
  component is returned as it is."""
  if not components:
    raise ValueError('a mixture needs at least one component')
  if len(components) == 1:
    return components[0]
  return GaussianMixture(jnp.stack([q.mean for q in components], axis=-2),
                         jnp.stack([q.log_var for q in components], axis=-2))


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


def mixture_log_prob(z: ArrayLike, q: GaussianMixture) -> jax.Array:
  """log (1/C) sum_c N(z; means[c], exp(log_vars[c])): [..., D] -> [...]."""
  z = jnp.asarray(z)
  per_component = gaussian_log_prob(z[..., None, :], q.component_means,
                                    q.component_log_vars)
  count = q.component_means.shape[-2]
  return jax.scipy.special.logsumexp(per_component, axis=-1) - math.log(count)


def log_prob(z: ArrayLike, q: Posterior) -> jax.Array:
  """log q(z) of a Gaussian or a mixture, summed over the last axis: [...]."""
  if isinstance(q, GaussianMixture):
    return mixture_log_prob(z, q)
  return gaussian_log_prob(z, q.mean, q.log_var)


def sample(key: jax.Array, q: Posterior,
           sample_shape: tuple[int, ...] = ()) -> jax.Array:
  """Draws of a Gaussian (``sample_gaussian``, the same draws) or a mixture.

  A mixture's draw picks its component uniformly at random (with the first
  half of ``jax.random.split(key)``) and draws from it reparameterized (with
  the second): differentiable in the chosen component's fields, not in the
  choice.

  Returns:
    Shape sample_shape + [..., D].
  """
  if not isinstance(q, GaussianMixture):
    return sample_gaussian(key, q, sample_shape)
  choice_key, draw_key = jax.random.split(key)
  means, log_vars = q.component_means, q.component_log_vars
  shape = tuple(sample_shape) + means.shape[:-2]
  choice = jax.random.randint(choice_key, shape, 0, means.shape[-2])

  def chosen(field: jax.Array) -> jax.Array:
    field = jnp.broadcast_to(field, tuple(sample_shape) + field.shape)
    return jnp.take_along_axis(field, choice[..., None, None], axis=-2)[..., 0, :]

  return sample_gaussian(draw_key, DiagGaussian(chosen(means), chosen(log_vars)))


def mean_of(q: Posterior) -> jax.Array:
  """The mean of a Gaussian or of a mixture (its components' average): [..., D]."""
  if isinstance(q, GaussianMixture):
    return jnp.mean(q.component_means, axis=-2)
  return q.mean


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
