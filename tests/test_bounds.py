"""Tests of jmvae_jax.bounds against exact answers of a linear-Gaussian model.

Exact values come from NumPy/SciPy (tests/linear_gaussian.py), not from the JAX
code. Monte Carlo tolerances are multiples of a standard error (SE) computed
from the draws themselves.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jmvae_jax import bounds
from jmvae_jax.models import make_model

import linear_gaussian as lg

BOUND_NAMES = ('marginal_multiple', 'marginal_single', 'conditional_multiple',
               'conditional_single', 'joint')
EXACT = lg.LinearGaussian()
POOR = lg.LinearGaussian(mean_shift=1.0, log_var_shift=1.0)
# float32 log-densities of size ~10: a few ulps after the log-sum-exp.
FLOAT_TOL = 1e-4
# One configuration shared by the tests that check plumbing rather than
# statistics, so that they reuse each other's compilations. Neither K nor
# PRIOR_SAMPLES is a multiple of 7, so chunk_size=7 exercises the masked last
# chunk.
K, CHUNK_SIZE, PRIOR_SAMPLES = 40, 20, 300


def _problem(seed: int, n: int = 6):
  """Fresh parameters, data and their exact log-densities."""
  params = lg.make_params(seed)
  x, w = lg.sample_data(params, n, seed + 1000)
  return params, x, w, lg.exact_log_densities(params, x, w)


def _f32(values: np.ndarray) -> jax.Array:
  return jnp.asarray(values, jnp.float32)


def _over_keys(fn: Callable[[jax.Array], Any], num_keys: int, seed: int) -> Any:
  """fn(key) for num_keys independent keys, stacked: [num_keys, ...]."""
  keys = jax.random.split(jax.random.key(seed), num_keys)
  return jax.tree.map(np.asarray, jax.vmap(fn)(keys))


@pytest.mark.parametrize('k', [1, 10, 100])
def test_exact_posterior_proposal_is_exact_for_every_k(k):
  """With the posterior of the target itself as proposal, weights are constant."""
  params, x, w, exact = _problem(seed=k)
  key = jax.random.key(k)
  np.testing.assert_allclose(
      bounds.iw_marginal(EXACT, params, x, key=key, k=k, proposal='single'),
      exact['x'], atol=FLOAT_TOL)
  np.testing.assert_allclose(bounds.iw_joint(EXACT, params, x, w, key=key, k=k),
                             exact['xw'], atol=FLOAT_TOL)
  # The multiple conditional with the exact log p(given) injected.
  for given, target in (('w', 'x|w'), ('x', 'w|x')):
    np.testing.assert_allclose(
        bounds.iw_conditional(EXACT, params, x, w, key=key, k=k, given=given,
                              log_p_given=_f32(exact[given])),
        exact[target], atol=FLOAT_TOL)


def test_mismatched_exact_proposals_match_closed_form_k1_means():
  """marginal_multiple and conditional_single use a posterior of another target.

  Their proposals are exact posteriors, but not of the bound's own target, so
  they are not exact at finite k; at k = 1 their means have closed forms:
  log p(x) - KL(p(z|x,w) || p(z|x)) and E_p(z|w)[log p(x|z)] (E_p(z|x)[log p(w|z)]
  for log p(w|x)), strictly below the exact value.
  """
  params, x, w, exact = _problem(seed=11)
  num_keys = 4000
  evaluated, w_given_x = _over_keys(
      lambda key: (
          bounds.evaluate_bounds(EXACT, params, x, w, key=key, k=1,
                                 log_pw=_f32(exact['w'])),
          bounds.iw_conditional(EXACT, params, x, w, key=key, k=1,
                                proposal='single', given='x',
                                log_p_given=_f32(exact['x']))),
      num_keys, seed=12)
  mean_xw, cov_xw = lg.exact_posterior(params, x=x, w=w)
  mean_x, cov_x = lg.exact_posterior(params, x=x)
  mean_w, cov_w = lg.exact_posterior(params, w=w)
  cases = (  # (k = 1 estimates [keys, B], closed-form mean, exact value)
      (evaluated['marginal_multiple'],
       exact['x'] - lg.gaussian_kl(mean_xw, cov_xw, mean_x, cov_x), exact['x']),
      (evaluated['conditional_single'],
       lg.expected_log_likelihood(params, 'x', x, mean_w, cov_w), exact['x|w']),
      (w_given_x,
       lg.expected_log_likelihood(params, 'w', w, mean_x, cov_x), exact['w|x']),
  )
  for estimates, expected_mean, exact_value in cases:
    standard_error = estimates.std(axis=0) / np.sqrt(num_keys)
    np.testing.assert_array_less(
        np.abs(estimates.mean(axis=0) - expected_mean), 4 * standard_error)
    np.testing.assert_array_less(expected_mean, exact_value - 0.05)


def test_poor_proposal_bounds_rise_with_k_towards_exact():
  params, x, w, exact = _problem(seed=21, n=16)
  exact_by_bound = {
      'marginal_multiple': exact['x'], 'marginal_single': exact['x'],
      'conditional_multiple': exact['x|w'], 'conditional_single': exact['x|w'],
      'joint': exact['xw']}
  num_keys = 128
  ks = (1, 10, 100, 1000)
  # The same keys for every k: draw i is shared (fold_in(key, i)), so the
  # differences between k are paired and have small variance. With the exact
  # log p(w) injected, all keys x examples are independent estimates.
  estimates = {
      k: _over_keys(
          lambda key, k=k: bounds.evaluate_bounds(
              POOR, params, x, w, key=key, k=k, chunk_size=100,
              log_pw=_f32(exact['w'])),
          num_keys, seed=22)
      for k in ks}
  for name in BOUND_NAMES:
    gaps = [estimates[k][name] - exact_by_bound[name] for k in ks]  # [keys, B]
    for lower, higher in zip(gaps, gaps[1:]):
      rise = higher - lower
      assert rise.mean() > 2 * rise.std() / np.sqrt(rise.size), name
    for gap in gaps:
      # A lower bound in expectation: not above exact beyond 3 SE.
      assert gap.mean() < 3 * gap.std() / np.sqrt(gap.size), name
    assert gaps[0].mean() < -1.0, name  # The proposal really is poor...
    assert abs(gaps[-1].mean()) < 0.15, name  # ...and k = 1000 nearly closes it.


def test_prior_estimate_of_log_pw_converges():
  params, _, w, exact = _problem(seed=31, n=8)
  num_keys = 32
  rms_errors = []
  for k in (100, 1000, 10000):
    estimates = _over_keys(
        lambda key, k=k: bounds.iw_prior_marginal(EXACT, params, w, key=key, k=k,
                                                  chunk_size=1000),
        num_keys, seed=32)
    error = estimates - exact['w']
    rms_errors.append(np.sqrt(np.mean(error**2)))
    # Keys are independent; the B rows of one key share draws, so the SE of the
    # overall mean is taken across keys. The log of an unbiased estimate is
    # biased low by about half its variance (Jensen), which the MSE bounds.
    per_key = error.mean(axis=1)
    assert (abs(per_key.mean()) < 4 * per_key.std() / np.sqrt(num_keys)
            + np.mean(error**2))
  # Root-mean-square error falls like 1/sqrt(k): a factor ~3.2 per decade.
  assert rms_errors[1] < rms_errors[0] / 2
  assert rms_errors[2] < rms_errors[1] / 2
  assert rms_errors[2] < 0.05


def test_multiple_conditional_is_exact_joint_minus_estimated_log_pw():
  params, x, w, exact = _problem(seed=41)
  key = jax.random.key(41)
  conditional = bounds.iw_conditional(EXACT, params, x, w, key=key, k=10,
                                      prior_samples=10000, chunk_size=1000)
  log_pw = bounds.iw_prior_marginal(EXACT, params, w, key=key, k=10000,
                                    chunk_size=1000)
  # Exact joint, so the only error is that of the prior-sampled log p(w) ...
  np.testing.assert_allclose(conditional + log_pw, exact['xw'], atol=FLOAT_TOL)
  # ... which at 10000 draws has RMS error ~0.02 here (see the test above).
  np.testing.assert_allclose(conditional, exact['x|w'], atol=0.1)


@pytest.mark.parametrize('chunk_size', [7, CHUNK_SIZE])
def test_chunking_changes_only_the_summation_order(chunk_size):
  params, x, w, _ = _problem(seed=51)
  evaluate = functools.partial(bounds.evaluate_bounds, POOR, params, x, w,
                               key=jax.random.key(51), k=K,
                               prior_samples=PRIOR_SAMPLES)
  chunked, whole = evaluate(chunk_size=chunk_size), evaluate()
  for name in BOUND_NAMES:
    np.testing.assert_allclose(chunked[name], whole[name], rtol=1e-6,
                               atol=1e-5, err_msg=name)


def test_evaluate_bounds_equals_the_single_bound_functions():
  params, x, w, _ = _problem(seed=61)
  key = jax.random.key(61)
  common = dict(key=key, k=K, chunk_size=CHUNK_SIZE)
  got = bounds.evaluate_bounds(POOR, params, x, w, prior_samples=PRIOR_SAMPLES,
                               **common)
  assert set(got) == set(BOUND_NAMES)
  for name in BOUND_NAMES:
    assert got[name].shape == (len(x),) and got[name].dtype == jnp.float32
  conditional = functools.partial(bounds.iw_conditional, POOR, params, x, w,
                                  prior_samples=PRIOR_SAMPLES, **common)
  expected = {
      'marginal_multiple': bounds.iw_marginal(POOR, params, x, w, **common),
      'marginal_single': bounds.iw_marginal(POOR, params, x, proposal='single',
                                            **common),
      'joint': bounds.iw_joint(POOR, params, x, w, **common),
      'conditional_multiple': conditional(proposal='multiple'),
      'conditional_single': conditional(proposal='single'),
  }
  for name in BOUND_NAMES:
    np.testing.assert_allclose(got[name], expected[name], rtol=1e-6, atol=1e-5,
                               err_msg=name)
  # Passing log p(w) skips the prior pass and gives the same values.
  log_pw = bounds.iw_prior_marginal(POOR, params, w, key=key,
                                    k=PRIOR_SAMPLES, chunk_size=CHUNK_SIZE)
  given = bounds.evaluate_bounds(POOR, params, x, w, log_pw=log_pw, **common)
  for name in BOUND_NAMES:
    np.testing.assert_allclose(given[name], got[name], rtol=1e-6, atol=1e-5)


def test_second_call_does_not_recompile():
  params, x, w, _ = _problem(seed=71)
  params2, x2, w2, _ = _problem(seed=72)
  calls = (
      (bounds.evaluate_bounds, dict(prior_samples=PRIOR_SAMPLES)),
      (bounds.iw_marginal, dict(proposal='single')),
      (bounds.iw_joint, {}),
      (bounds.iw_conditional,
       dict(proposal='single', prior_samples=PRIOR_SAMPLES)),
  )
  for fn, options in calls:
    fn(POOR, params, x, w, key=jax.random.key(0), k=K, chunk_size=CHUNK_SIZE,
       **options)
    size = fn._cache_size()
    fn(POOR, params2, x2, w2, key=jax.random.key(1), k=K,
       chunk_size=CHUNK_SIZE, **options)
    assert fn._cache_size() == size, fn.__name__


def test_works_under_vmap_and_a_users_jit():
  params, x, w, _ = _problem(seed=81, n=12)
  key = jax.random.key(81)
  evaluate = functools.partial(bounds.evaluate_bounds, POOR, params, key=key,
                               k=K, prior_samples=PRIOR_SAMPLES,
                               chunk_size=CHUNK_SIZE)
  # vmap over a leading group axis: [2, 6, dim] -> [2, 6]; with an unbatched
  # key every group gets the draws that a direct call on it would get.
  grouped = jax.vmap(evaluate)(x.reshape(2, 6, -1), w.reshape(2, 6, -1))
  direct = [evaluate(x[:6], w[:6]), evaluate(x[6:], w[6:])]
  for name in BOUND_NAMES:
    assert grouped[name].shape == (2, 6)
    np.testing.assert_allclose(
        grouped[name], np.stack([d[name] for d in direct]), rtol=1e-6,
        atol=1e-5)

  marginal = functools.partial(bounds.iw_marginal, POOR, key=key, k=K,
                               chunk_size=CHUNK_SIZE)

  @jax.jit
  def users_step(params, x, w):
    return jnp.mean(marginal(params, x, w))

  np.testing.assert_allclose(users_step(params, x[:6], w[:6]),
                             np.mean(marginal(params, x[:6], w[:6])), rtol=1e-6)


def test_prior_marginal_per_class_table_matches_per_example():
  model = make_model('jmvae_kl', encoder_hidden=(32,), decoder_hidden=(32,),
                     latent_dim=8)
  params = model.init(jax.random.key(0))
  labels = jnp.array([3, 1, 3, 9, 0])
  key = jax.random.key(1)
  table = bounds.iw_prior_marginal(model, params, jnp.eye(10), key=key, k=64,
                                   chunk_size=16)
  per_example = bounds.iw_prior_marginal(
      model, params, jax.nn.one_hot(labels, 10), key=key, k=64, chunk_size=16)
  assert table.shape == (10,)
  np.testing.assert_allclose(table[labels], per_example, rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize('name', ['jmvae_kl', 'jmvae_zero', 'vae'])
def test_real_models_at_random_init(name):
  model = make_model(name)
  params = model.init(jax.random.key(0))
  data_key, label_key, key = jax.random.split(jax.random.key(1), 3)
  x = jax.random.bernoulli(data_key, 0.3, (3, 784)).astype(jnp.float32)
  w = jax.nn.one_hot(jax.random.randint(label_key, (3,), 0, 10), 10)
  got = bounds.evaluate_bounds(model, params, x, None if name == 'vae' else w,
                               key=key, k=7, prior_samples=5, chunk_size=3)
  assert set(got) == ({'marginal_single'} if name == 'vae' else set(BOUND_NAMES))
  for value in got.values():
    assert value.shape == (3,) and value.dtype == jnp.float32
    assert np.all(np.isfinite(value)) and np.all(value < 0)


def test_invalid_options_are_reported():
  params, x, w, _ = _problem(seed=91)
  key = jax.random.key(0)
  with pytest.raises(ValueError, match='proposal'):
    bounds.iw_marginal(EXACT, params, x, w, key=key, k=3, proposal='joint')
  with pytest.raises(ValueError, match='needs w'):
    bounds.iw_marginal(EXACT, params, x, key=key, k=3)
  with pytest.raises(ValueError, match='given'):
    bounds.iw_conditional(EXACT, params, x, w, key=key, k=3, given='z')
  with pytest.raises(ValueError, match='positive'):
    bounds.iw_joint(EXACT, params, x, w, key=key, k=0)
  with pytest.raises(ValueError, match='chunk_size'):
    bounds.iw_joint(EXACT, params, x, w, key=key, k=3, chunk_size=0)
