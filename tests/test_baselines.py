"""CVAE and CMMA: their objective, and their conditional bound against exact values.

The fixtures are linear-Gaussian models of x given w in the two baselines' forms,
built on ``tests.linear_gaussian`` (whose posteriors are diagonal by construction):

* CMMA form: z | w ~ p(z|w) (the joint model's exact posterior given w, playing
  the prior network) and x | z ~ N(A z + a, diag(sx2)); so log p(x|w) is the
  joint model's exact log p(x|w).
* CVAE form: z ~ N(0, I) and x | z, w ~ N(A z + C w + a, diag(sx2)); so
  p(x|w) = N(C w + a, A A^T + diag(sx2)).

Both have exact posteriors p(z|x,w) that the fixtures' encoders return (shifted for
a deliberately poor proposal). Exact values come from SciPy.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from jmvae_jax import bounds, distributions, models, objectives
from tests import linear_gaussian as lg


@dataclasses.dataclass(frozen=True)
class CMMAForm(lg.LinearGaussian):
  """p(z|w) from the joint model's exact posterior; p(x|z,w) = p(x|z)."""

  def conditional_prior(self, params, w):
    return lg.LinearGaussian().encode_w(params, w)

  def log_px_given(self, params, x, z, w):
    return self.log_px(params, x, z)


@dataclasses.dataclass(frozen=True)
class CVAEForm(lg.LinearGaussian):
  """p(z) = N(0, I); x | z, w ~ N(A z + C w + a, diag(sx2))."""

  def _shifted(self, params, x, w):
    return x - jnp.einsum('...m,nm->...n', w, params['C'])

  def encode(self, params, x, w):
    return self.encode_x(params, self._shifted(params, x, w))

  def conditional_prior(self, params, w):
    return distributions.standard_normal(w.shape[:-1] + (self.latent_dim,))

  def log_px_given(self, params, x, z, w):
    return self.log_px(params, self._shifted(params, x, w), z)


def _cvae_params(seed):
  params = lg.make_params(seed)
  params['C'] = np.random.default_rng(seed + 1).normal(
      size=(lg.X_DIM, lg.W_DIM)).astype(np.float32)
  return params


def _exact(form, params, x, w):
  if form is CMMAForm:
    return lg.exact_log_densities(params, x, w)['x|w']
  p = {k: np.asarray(v, np.float64) for k, v in params.items()}
  cov = p['A'] @ p['A'].T + np.diag(p['sx2'])
  return np.array([stats.multivariate_normal.logpdf(xi, p['C'] @ wi + p['a'], cov)
                   for xi, wi in zip(x, w)])


def _problem(form, seed, n=6):
  params = (lg.make_params if form is CMMAForm else _cvae_params)(seed)
  x, w = lg.sample_data(params, n, seed + 7)
  if form is CVAEForm:  # Exactness holds for any data; keep x near the model's.
    x = x + w @ params['C'].T
  return params, x, w


@pytest.mark.parametrize('form', [CMMAForm, CVAEForm])
@pytest.mark.parametrize('k', [1, 10, 100])
def test_exact_posterior_proposal_gives_the_exact_conditional(form, k):
  seed = int(np.random.default_rng().integers(1000))
  params, x, w = _problem(form, seed)
  estimate = bounds.iw_conditional(form(), params, x, w,
                                   key=jax.random.key(seed), k=k)
  np.testing.assert_allclose(estimate, _exact(form, params, x, w),
                             rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('form', [CMMAForm, CVAEForm])
def test_poor_proposal_rises_with_k_and_stays_below_exact(form):
  params, x, w = _problem(form, seed=3, n=8)
  exact = _exact(form, params, x, w).mean()
  poor = form(mean_shift=1.0, log_var_shift=1.0)
  means, errors = [], []
  for k in (1, 10, 100, 1000):
    per_key = np.stack([
        np.asarray(bounds.iw_conditional(poor, params, x, w,
                                         key=jax.random.key(100 + i), k=k))
        for i in range(40)]).mean(axis=1)
    means.append(per_key.mean())
    errors.append(per_key.std(ddof=1) / np.sqrt(len(per_key)))
  for lower, higher, err in zip(means, means[1:], errors):
    assert higher > lower + 2 * err
  assert all(m < exact + 3 * e for m, e in zip(means, errors))
  assert exact - means[-1] < 0.2


@pytest.mark.parametrize('name', ['cvae', 'cmma'])
def test_real_baselines_have_only_the_multiple_conditional_bound(name):
  model = models.make_model(name, latent_dim=4, encoder_hidden=(16,),
                            decoder_hidden=(16,))
  params = model.init(jax.random.key(0))
  rng = np.random.default_rng()
  x = (rng.uniform(size=(3, 784)) < 0.5).astype(np.float32)
  w = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 3)]
  results = bounds.evaluate_bounds(model, params, x, w, key=jax.random.key(1),
                                   k=7, chunk_size=3)
  assert set(results) == {'conditional_multiple'}
  assert results['conditional_multiple'].shape == (3,)
  assert np.all(np.isfinite(results['conditional_multiple']))
  with pytest.raises(ValueError, match="proposal='multiple'"):
    bounds.iw_conditional(model, params, x, w, key=jax.random.key(1), k=7,
                          proposal='single')


def _kl(q, p):
  mq, vq = np.asarray(q.mean, np.float64), np.exp(np.asarray(q.log_var, np.float64))
  mp, vp = np.asarray(p.mean, np.float64), np.exp(np.asarray(p.log_var, np.float64))
  return 0.5 * np.sum(np.log(vp / vq) + (vq + (mq - mp) ** 2) / vp - 1, axis=-1)


@pytest.mark.parametrize('name', ['cvae', 'cmma'])
def test_baseline_objective_is_the_conditional_elbo(name):
  model = models.make_model(name, latent_dim=4, encoder_hidden=(16,),
                            decoder_hidden=(16,))
  params = model.init(jax.random.key(2))
  rng = np.random.default_rng()
  x = jnp.asarray((rng.uniform(size=(5, 784)) < 0.4).astype(np.float32))
  w = jnp.asarray(np.eye(10, dtype=np.float32)[rng.integers(0, 10, 5)])
  key = jax.random.key(3)
  terms = objectives.loss_terms(model, params, x, w, key=key)
  assert set(terms) == {'recon/image', 'kl_prior'}

  posterior = model.encode(params, x, w)
  prior = (distributions.standard_normal(posterior.mean.shape) if name == 'cvae'
           else model.conditional_prior(params, w))
  np.testing.assert_allclose(terms['kl_prior'], _kl(posterior, prior),
                             rtol=1e-4, atol=1e-4)
  z = distributions.sample_gaussian(key, posterior)
  logits = np.asarray(model.decode_x(params, z, w), np.float64)
  expected = -stats.bernoulli.logpmf(np.asarray(x), 1 / (1 + np.exp(-logits))).sum(-1)
  np.testing.assert_allclose(terms['recon/image'], expected, rtol=1e-4, atol=1e-3)

  # Only the CVAE's decoder reads w; only the CMMA's prior depends on it.
  other_w = jnp.roll(w, 1, axis=-1)
  decoder_moves = not np.allclose(model.decode_x(params, z, w),
                                  model.decode_x(params, z, other_w))
  prior_moves = not np.allclose(model.conditional_prior(params, w).mean,
                                model.conditional_prior(params, other_w).mean)
  assert (decoder_moves, prior_moves) == ((True, False) if name == 'cvae'
                                          else (False, True))
