"""An M-modality linear-Gaussian model with exact answers, to test the bounds.

  z ~ N(0, I_D),  x_m | z ~ N(A_m z + a_m, diag(s_m^2))  for each modality m.

``LinearGaussianMulti`` implements the modality-keyed protocol of
``jmvae_jax.models`` (``MultimodalModel``) in JAX, for the modalities 'a', 'b'
and 'c' of widths 4, 2 and 3 and D = 3. The NumPy/SciPy functions below compute
exact log-densities of any subset X_S of the modalities from their Gaussian
marginal, and full-covariance posteriors of z, without using the JAX code.

Each A_m = diag(s_m) U_m E_m, with U_m of orthonormal columns [dim_m, r_m] and
E_m [r_m, D] picking r_m of the latent coordinates with positive scales (the
other columns of A_m are zero). Then A_m^T diag(1/s_m^2) A_m = E_m^T E_m is
diagonal for every m, so the posterior precision of any subset,
I + sum_{m in S} A_m^T diag(1/s_m^2) A_m, is diagonal too: the encoder of every
subset returns the exact posterior p(z | X_S) as a ``DiagGaussian``.
``mean_shift`` and ``log_var_shift`` turn them into deliberately poor proposals.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from jmvae_jax import models
from jmvae_jax.distributions import DiagGaussian

LATENT_DIM = 3
# (name, width, the latent coordinates it observes), in the model's order.
MODALITIES = (('a', 4, (0, 1, 2)), ('b', 2, (0, 1)), ('c', 3, (1, 2)))
NAMES = tuple(name for name, _, _ in MODALITIES)
WIDTHS = {name: dim for name, dim, _ in MODALITIES}

# {modality name: {'A': [dim, D], 'offset': [dim], 'noise': [dim] (variances)}}.
Params = dict[str, dict[str, np.ndarray]]


def make_params(seed: int) -> Params:
  """Random parameters of the diagonal-posterior construction (float32)."""
  rng = np.random.default_rng(seed)
  params = {}
  for name, dim, coordinates in MODALITIES:
    noise = rng.uniform(0.3, 1.0, dim)
    u, _ = np.linalg.qr(rng.normal(size=(dim, len(coordinates))))
    picks = np.zeros((len(coordinates), LATENT_DIM))
    picks[np.arange(len(coordinates)), coordinates] = rng.uniform(
        0.8, 1.6, len(coordinates))
    params[name] = {
        'A': np.sqrt(noise)[:, None] * u @ picks,
        'offset': rng.normal(size=dim),
        'noise': noise,
    }
  return {name: {field: value.astype(np.float32)
                 for field, value in fields.items()}
          for name, fields in params.items()}


def sample_data(params: Params, n: int, seed: int) -> dict[str, np.ndarray]:
  """n draws of every modality from the model: {name: [n, dim]} (float32)."""
  rng = np.random.default_rng(seed)
  z = rng.normal(size=(n, LATENT_DIM))
  data = {}
  for name in NAMES:
    p = params[name]
    noise = rng.normal(size=(n, WIDTHS[name])) * np.sqrt(p['noise'])
    data[name] = (z @ p['A'].T + p['offset'] + noise).astype(np.float32)
  return data


@dataclasses.dataclass(frozen=True)
class LinearGaussianMulti:
  """The keyed model protocol in JAX; encoders are exact posteriors, shifted.

  Attributes:
    mean_shift: added to every posterior mean (0 for the exact posterior).
    log_var_shift: added to every posterior log-variance (0 for exact).
    latent_dim: D.
  """

  mean_shift: float = 0.0
  log_var_shift: float = 0.0
  latent_dim: int = LATENT_DIM

  @property
  def modality_names(self) -> tuple[str, ...]:
    return NAMES

  def _names(self, names: Sequence[str]) -> list[str]:
    unknown = sorted(set(names) - set(NAMES))
    if unknown or not names:
      raise ValueError(f'observed modalities must be a non-empty subset of '
                       f'{NAMES}, got {sorted(names)}')
    return [name for name in NAMES if name in names]

  def encode_subset(self, params, observed: Mapping[str, jax.Array]
                    ) -> DiagGaussian:
    """p(z | X_S), shifted, for the observed subset S: fields [..., D]."""
    names = self._names(list(observed))

    def posterior(*values: jax.Array) -> tuple[jax.Array, jax.Array]:
      """Mean and log-variance of p(z | X_S) for one example."""
      precision = jnp.ones(self.latent_dim, jnp.float32)
      natural_mean = jnp.zeros(self.latent_dim, jnp.float32)
      for name, value in zip(names, values):
        p = params[name]
        scaled = p['A'] / p['noise'][:, None]
        # Off-diagonal terms of A^T scaled vanish by construction.
        precision = precision + jnp.sum(p['A'] * scaled, axis=0)
        natural_mean = natural_mean + (value - p['offset']) @ scaled
      return (natural_mean / precision + self.mean_shift,
              -jnp.log(precision) + self.log_var_shift)

    signature = ','.join(f'(n{i})' for i in range(len(names))) + '->(d),(d)'
    mean, log_var = jnp.vectorize(posterior, signature=signature)(
        *(jnp.asarray(observed[name]) for name in names))
    return DiagGaussian(mean, log_var)

  def log_likelihood(self, params, name: str, value: jax.Array,
                     z: jax.Array) -> jax.Array:
    """log p(value | z) of modality ``name``: [..., dim], [..., D] -> [...]."""
    (name,) = self._names([name])
    p = params[name]
    log_lik = jnp.vectorize(
        lambda value, z: jnp.sum(jax.scipy.stats.norm.logpdf(
            value, p['A'] @ z + p['offset'], jnp.sqrt(p['noise']))),
        signature='(n),(d)->()')
    return log_lik(jnp.asarray(value), jnp.asarray(z))


def likelihood_factor(params, name: str, value: jax.Array) -> DiagGaussian:
  """p(x_m | z) of modality ``name`` as a function of z: a Gaussian factor.

  It is N(z; natural / precision, 1 / precision) up to a constant in z; a
  coordinate the modality does not observe (precision 0) is flat: log-variance
  +inf, mean 0. The product of the prior and the factors of a subset S is the
  exact posterior p(z | X_S), the experts of MVAE and MoPoE at their optimum.
  """
  p = params[name]
  scaled = p['A'] / p['noise'][:, None]
  natural = (value - jnp.broadcast_to(p['offset'], value.shape)) @ scaled
  precision = jnp.broadcast_to(jnp.sum(p['A'] * scaled, axis=0), natural.shape)
  observed = precision > 0
  mean = jnp.where(observed, natural / jnp.where(observed, precision, 1.0), 0.0)
  return DiagGaussian(mean, -jnp.log(precision))


def _unused_log_prob(value, output):
  raise AssertionError('ExactExperts computes its own likelihoods')


@dataclasses.dataclass(frozen=True)
class ExactExperts:
  """Put first in the bases of an expert model (``models.MVAE``, ``MMVAE``,
  ``MoPoE``) to run it on this model: its modalities and D are these, its
  likelihoods exact, and the expert of x_m is ``likelihood_factor``. The
  model's own ``encode_subset`` and objective run unchanged."""

  modalities: tuple = tuple(models.Modality(name, dim, _unused_log_prob)
                            for name, dim, _ in MODALITIES)
  latent_dim: int = LATENT_DIM

  def _unimodal(self, params, name, value):
    return likelihood_factor(params, name, value)

  def log_likelihood(self, params, name, value, z):
    return LinearGaussianMulti().log_likelihood(params, name, value, z)


def random_problem(n: int):
  """Fresh parameters and n examples: (params, data) in NumPy, the same in
  JAX, and a key."""
  rng = np.random.default_rng()
  params = make_params(int(rng.integers(1 << 20)))
  data = sample_data(params, n, seed=int(rng.integers(1 << 20)))
  return (params, data, jax.tree.map(jnp.asarray, params),
          {name: jnp.asarray(v) for name, v in data.items()},
          jax.random.key(int(rng.integers(1 << 20))))


# ---------------------------------------------------------------------------
# Exact answers in NumPy/SciPy (float64), independent of the JAX code above.


def _stacked(params: Params, observed: Mapping[str, np.ndarray],
             subset: Sequence[str]):
  """(values [n, sum dim], A_S [sum dim, D], a_S, noise_S) of the subset."""
  names = [name for name in NAMES if name in subset]
  if not names or len(names) != len(subset):
    raise ValueError(f'subset must be distinct names among {NAMES}, got '
                     f'{subset}')
  def stack(field: str) -> np.ndarray:
    return np.concatenate([np.asarray(params[m][field], np.float64)
                           for m in names])

  values = np.concatenate([np.asarray(observed[m], np.float64) for m in names],
                          axis=1)
  return values, stack('A'), stack('offset'), stack('noise')


def exact_log_marginal(params: Params, observed: Mapping[str, np.ndarray],
                       subset: Sequence[str]) -> np.ndarray:
  """log p(X_S) for a non-empty subset S, from its Gaussian marginal: [n].

  X_S ~ N(a_S, A_S A_S^T + diag(s_S^2)), with A_S the A_m of S stacked.
  """
  values, matrix, offset, noise = _stacked(params, observed, subset)
  covariance = matrix @ matrix.T + np.diag(noise)
  return np.atleast_1d(
      stats.multivariate_normal.logpdf(values, offset, covariance))


def exact_log_conditional(params: Params, observed: Mapping[str, np.ndarray],
                          target: Sequence[str],
                          given: Sequence[str] = ()) -> np.ndarray:
  """log p(X_T | X_S) = log p(X_T, X_S) - log p(X_S); log p(X_T) if S = ()."""
  if set(target) & set(given):
    raise ValueError(f'target {target} and given {given} overlap')
  log_joint = exact_log_marginal(params, observed, tuple(target) + tuple(given))
  if not given:
    return log_joint
  return log_joint - exact_log_marginal(params, observed, given)


def exact_posterior(params: Params, observed: Mapping[str, np.ndarray],
                    subset: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
  """Full-covariance p(z | X_S): means [n, D], covariance [D, D]."""
  values, matrix, offset, noise = _stacked(params, observed, subset)
  precision = np.eye(LATENT_DIM) + matrix.T @ np.diag(1 / noise) @ matrix
  covariance = np.linalg.inv(precision)
  return (values - offset) / noise @ matrix @ covariance, covariance
