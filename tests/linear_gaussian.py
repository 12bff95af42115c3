"""A two-modality linear-Gaussian model with exact answers, to test the bounds.

  z ~ N(0, I_D),  x | z ~ N(A z + a, diag(sx2)),  w | z ~ N(B z + b, diag(sw2)).

``LinearGaussian`` implements the model protocol of ``jmvae_jax.models`` in JAX.
The NumPy/SciPy functions below compute exact log-densities from the Gaussian
marginals and joint of (x, w) and full-covariance posteriors of z, without using
the JAX code.

A = diag(sqrt(sx2)) U diag(s) and B = diag(sqrt(sw2)) V [diag(t), 0] with U, V
having orthonormal columns, so A^T diag(1/sx2) A = diag(s^2) and
B^T diag(1/sw2) B = diag(t^2, 0): every posterior of z is diagonal, and the
encoders can return it exactly as a ``DiagGaussian``. ``mean_shift`` and
``log_var_shift`` turn them into deliberately poor proposals.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from jmvae_jax.distributions import DiagGaussian

LATENT_DIM, X_DIM, W_DIM = 3, 4, 2


def make_params(seed: int) -> dict[str, np.ndarray]:
  """Random parameters of the diagonal-posterior construction (float32)."""
  rng = np.random.default_rng(seed)
  sx2 = rng.uniform(0.3, 1.0, X_DIM)
  sw2 = rng.uniform(0.3, 1.0, W_DIM)
  u, _ = np.linalg.qr(rng.normal(size=(X_DIM, LATENT_DIM)))
  v, _ = np.linalg.qr(rng.normal(size=(W_DIM, W_DIM)))
  s = rng.uniform(0.8, 1.6, LATENT_DIM)
  t = np.zeros((W_DIM, LATENT_DIM))
  t[np.arange(W_DIM), np.arange(W_DIM)] = rng.uniform(0.8, 1.6, W_DIM)
  params = {
      'A': np.sqrt(sx2)[:, None] * u * s[None, :],
      'a': rng.normal(size=X_DIM),
      'sx2': sx2,
      'B': np.sqrt(sw2)[:, None] * v @ t,
      'b': rng.normal(size=W_DIM),
      'sw2': sw2,
  }
  return {name: value.astype(np.float32) for name, value in params.items()}


def sample_data(params: dict[str, np.ndarray], n: int,
                seed: int) -> tuple[np.ndarray, np.ndarray]:
  """n draws of (x [n, X_DIM], w [n, W_DIM]) from the model (float32)."""
  rng = np.random.default_rng(seed)
  z = rng.normal(size=(n, LATENT_DIM))
  x = z @ params['A'].T + params['a'] + rng.normal(size=(n, X_DIM)) * np.sqrt(
      params['sx2'])
  w = z @ params['B'].T + params['b'] + rng.normal(size=(n, W_DIM)) * np.sqrt(
      params['sw2'])
  return x.astype(np.float32), w.astype(np.float32)


@dataclasses.dataclass(frozen=True)
class LinearGaussian:
  """The model's protocol in JAX; encoders are the exact posteriors, shifted.

  Attributes:
    mean_shift: added to every posterior mean (0 for the exact posterior).
    log_var_shift: added to every posterior log-variance (0 for exact).
  """

  mean_shift: float = 0.0
  log_var_shift: float = 0.0
  latent_dim: int = LATENT_DIM

  def _posterior(self, params, x=None, w=None) -> tuple[jax.Array, jax.Array]:
    """Mean and log-variance of p(z | the given modalities) for one example."""
    precision = jnp.ones(self.latent_dim, jnp.float32)
    natural_mean = jnp.zeros(self.latent_dim, jnp.float32)
    for value, matrix, offset, noise in ((x, 'A', 'a', 'sx2'),
                                         (w, 'B', 'b', 'sw2')):
      if value is not None:
        scaled = params[matrix] / params[noise][:, None]
        # Off-diagonal terms of matrix^T scaled vanish by construction.
        precision = precision + jnp.sum(params[matrix] * scaled, axis=0)
        natural_mean = natural_mean + (value - params[offset]) @ scaled
    return (natural_mean / precision + self.mean_shift,
            -jnp.log(precision) + self.log_var_shift)

  def encode(self, params, x, w) -> DiagGaussian:
    posterior = jnp.vectorize(
        lambda x, w: self._posterior(params, x=x, w=w),
        signature='(n),(m)->(d),(d)')
    return DiagGaussian(*posterior(x, w))

  def encode_x(self, params, x) -> DiagGaussian:
    posterior = jnp.vectorize(lambda x: self._posterior(params, x=x),
                              signature='(n)->(d),(d)')
    return DiagGaussian(*posterior(x))

  def encode_w(self, params, w) -> DiagGaussian:
    posterior = jnp.vectorize(lambda w: self._posterior(params, w=w),
                              signature='(m)->(d),(d)')
    return DiagGaussian(*posterior(w))

  def _log_lik(self, value, z, matrix, offset, noise) -> jax.Array:
    log_lik = jnp.vectorize(
        lambda value, z: jnp.sum(jax.scipy.stats.norm.logpdf(
            value, matrix @ z + offset, jnp.sqrt(noise))),
        signature='(n),(d)->()')
    return log_lik(value, z)

  def log_px(self, params, x, z) -> jax.Array:
    return self._log_lik(x, z, params['A'], params['a'], params['sx2'])

  def log_pw(self, params, w, z) -> jax.Array:
    return self._log_lik(w, z, params['B'], params['b'], params['sw2'])


# ---------------------------------------------------------------------------
# Exact answers in NumPy/SciPy (float64), independent of the JAX code above.


def _f64(params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
  return {name: np.asarray(value, np.float64) for name, value in params.items()}


def exact_log_densities(params: dict[str, np.ndarray], x: np.ndarray,
                        w: np.ndarray) -> dict[str, np.ndarray]:
  """log p(x), log p(w), log p(x,w), log p(x|w), log p(w|x), each of shape [n]."""
  p = _f64(params)
  cov_x = p['A'] @ p['A'].T + np.diag(p['sx2'])
  cov_w = p['B'] @ p['B'].T + np.diag(p['sw2'])
  cov_xw = p['A'] @ p['B'].T
  joint_cov = np.block([[cov_x, cov_xw], [cov_xw.T, cov_w]])
  x, w = np.asarray(x, np.float64), np.asarray(w, np.float64)

  def conditional(value, mean, cov, given, given_mean, given_cov, cross):
    # Gaussian conditioning: mean + C G^-1 (given - given_mean), Schur complement.
    gain = np.linalg.solve(given_cov, cross.T).T
    cond_cov = cov - gain @ cross.T
    return np.array([
        stats.multivariate_normal.logpdf(
            v, mean + gain @ (g - given_mean), cond_cov)
        for v, g in zip(value, given)])

  return {
      'x': stats.multivariate_normal.logpdf(x, p['a'], cov_x),
      'w': stats.multivariate_normal.logpdf(w, p['b'], cov_w),
      'xw': stats.multivariate_normal.logpdf(
          np.concatenate([x, w], axis=1), np.concatenate([p['a'], p['b']]),
          joint_cov),
      'x|w': conditional(x, p['a'], cov_x, w, p['b'], cov_w, cov_xw),
      'w|x': conditional(w, p['b'], cov_w, x, p['a'], cov_x, cov_xw.T),
  }


def exact_posterior(params: dict[str, np.ndarray], x: np.ndarray | None = None,
                    w: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
  """Full-covariance p(z | given modalities): means [n, D], covariance [D, D]."""
  p = _f64(params)
  precision = np.eye(LATENT_DIM)
  natural = 0.0
  for value, matrix, offset, noise in ((x, 'A', 'a', 'sx2'),
                                       (w, 'B', 'b', 'sw2')):
    if value is not None:
      precision = precision + p[matrix].T @ np.diag(1 / p[noise]) @ p[matrix]
      natural = natural + (np.asarray(value, np.float64) - p[offset]) / p[
          noise] @ p[matrix]
  cov = np.linalg.inv(precision)
  return natural @ cov, cov


def gaussian_kl(mean_q: np.ndarray, cov_q: np.ndarray, mean_p: np.ndarray,
                cov_p: np.ndarray) -> np.ndarray:
  """KL(N(mean_q, cov_q) || N(mean_p, cov_p)) per row of the means [n, D]."""
  cov_p_inv = np.linalg.inv(cov_p)
  diff = mean_p - mean_q
  return 0.5 * (np.trace(cov_p_inv @ cov_q)
                + np.einsum('nd,de,ne->n', diff, cov_p_inv, diff)
                - LATENT_DIM
                + np.linalg.slogdet(cov_p)[1] - np.linalg.slogdet(cov_q)[1])


def expected_log_likelihood(params: dict[str, np.ndarray], modality: str,
                            value: np.ndarray, mean: np.ndarray,
                            cov: np.ndarray) -> np.ndarray:
  """E_{z ~ N(mean, cov)}[log p(value|z)] for modality 'x' or 'w', per row."""
  p = _f64(params)
  matrix, offset, noise = ((p['A'], p['a'], p['sx2']) if modality == 'x'
                           else (p['B'], p['b'], p['sw2']))
  residual = np.asarray(value, np.float64) - mean @ matrix.T - offset
  spread = np.diag(matrix @ cov @ matrix.T)
  return np.sum(-0.5 * np.log(2 * np.pi * noise)
                - 0.5 * (residual**2 + spread) / noise, axis=1)
