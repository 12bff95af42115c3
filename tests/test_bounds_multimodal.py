"""Tests of the M-modality bounds and of a three-modality JMVAE.

``bounds.iw_log_likelihood`` is checked against exact answers of a
three-modality linear-Gaussian model (tests/linear_gaussian_multi.py, computed
in NumPy/SciPy, not with the JAX code) for every pair of target and given sets;
``models.JMVAE`` with three modalities against its networks applied directly and
NumPy products and KLs of Gaussians. Monte Carlo tolerances are multiples of a
standard error (SE) computed from the draws themselves.
"""

from __future__ import annotations

import functools
import itertools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jmvae_jax import bounds, distributions, models, objectives
from jmvae_jax.nn.dense import MLP, GaussianEncoder

from tests import linear_gaussian_multi as lgm

EXACT = lgm.LinearGaussianMulti()
POOR = lgm.LinearGaussianMulti(mean_shift=1.0, log_var_shift=1.0)
NAMES = lgm.NAMES
# The programs here run in milliseconds but take seconds to compile on a CPU;
# without LLVM's optimizations they compile in about half the time.
_jit = functools.partial(
    jax.jit, compiler_options={'xla_backend_optimization_level': 0})


def _subsets(names: tuple[str, ...]) -> list[tuple[str, ...]]:
  """Every subset of ``names``, the empty one included, in the given order."""
  return [subset for size in range(len(names) + 1)
          for subset in itertools.combinations(names, size)]


# Every (T, S): T non-empty, S disjoint from T and possibly empty (19 pairs).
PAIRS = [(target, given) for target in _subsets(NAMES)[1:]
         for given in _subsets(tuple(n for n in NAMES if n not in target))]


def _problem(seed: int, n: int):
  """Fresh parameters and data, float32."""
  params = lgm.make_params(seed)
  return params, lgm.sample_data(params, n, seed + 1000)


def _f32(values: np.ndarray) -> jax.Array:
  return jnp.asarray(values, jnp.float32)


# ---------------------------------------------------------------------------
# The linear-Gaussian model itself.


def test_linear_gaussian_encoders_are_the_exact_posteriors():
  """The diagonal construction: each subset's posterior is diagonal, exact."""
  params, data = _problem(seed=1, n=5)
  subsets = _subsets(NAMES)[1:]
  encodings = _jit(lambda params, data: [
      EXACT.encode_subset(params, {m: data[m] for m in subset})
      for subset in subsets])(params, data)
  for subset, q in zip(subsets, encodings):
    mean, cov = lgm.exact_posterior(params, data, subset)
    np.testing.assert_allclose(cov, np.diag(np.diag(cov)), atol=1e-6)
    np.testing.assert_allclose(q.mean, mean, rtol=1e-5, atol=1e-5,
                               err_msg=str(subset))
    np.testing.assert_allclose(
        q.log_var, np.broadcast_to(np.log(np.diag(cov)), mean.shape),
        rtol=1e-5, atol=1e-5, err_msg=str(subset))


# ---------------------------------------------------------------------------
# iw_log_likelihood on the linear-Gaussian model.


@pytest.mark.parametrize('k, chunk_size', [(1, None), (7, 3)])
def test_exact_posterior_proposal_is_exact_for_every_pair(k, chunk_size):
  """With q = p(z | X_T, X_S) and the exact log p(X_S), weights are constant.

  Every (T, S) of the three modalities, in one jitted function (one compile);
  chunk_size=3 with k=7 also has a masked last chunk.
  """
  params, data = _problem(seed=10 + k, n=4)
  log_p_given = {given: _f32(lgm.exact_log_marginal(params, data, given))
                 for _, given in PAIRS if given}

  @_jit
  def every_pair(params, data, log_p_given, key):
    # Names as a str for single targets; the union out of the model's order.
    return [bounds.iw_log_likelihood(
        EXACT, params, data, key=key, k=k,
        target=target[0] if len(target) == 1 else target, given=given,
        proposal=given + target, chunk_size=chunk_size,
        log_p_given=log_p_given[given] if given else None)
            for target, given in PAIRS]

  got = every_pair(params, data, log_p_given, jax.random.key(k))
  for (target, given), value in zip(PAIRS, got):
    assert value.shape == (4,) and value.dtype == jnp.float32
    np.testing.assert_allclose(
        value, lgm.exact_log_conditional(params, data, target, given),
        atol=1e-3, err_msg=f'target {target}, given {given}')


@pytest.mark.parametrize('target, given, proposal', [
    (('a', 'b'), (), None),  # log p(X_a, X_b) with the shifted joint posterior.
    (('a',), ('b', 'c'), ('b', 'c')),  # q(z | X_S): a strict subset of T u S.
    (('c',), ('b',), 'prior'),
])
def test_poor_proposals_rise_with_k_and_stay_below_exact(target, given,
                                                         proposal):
  """Shifted posteriors (or the prior) as proposals, the exact log p(X_S)."""
  params, data = _problem(seed=20, n=16)
  exact = lgm.exact_log_conditional(params, data, target, given)
  log_p_given = (_f32(lgm.exact_log_marginal(params, data, given)) if given
                 else None)
  num_keys, ks = 32, (1, 10, 200)

  @_jit
  def estimates(key):
    return [bounds.iw_log_likelihood(
        POOR, params, data, key=key, k=k, target=target, given=given,
        proposal=proposal, chunk_size=50, log_p_given=log_p_given)
            for k in ks]

  # The same keys for every k: draw i is shared (fold_in(key, i)), so the
  # differences between k are paired. Prior draws are shared by the rows of a
  # key, so SEs are taken over the per-key means, which are independent.
  per_key = np.array([[np.mean(value) for value in estimates(key)]
                      for key in jax.random.split(jax.random.key(21),
                                                  num_keys)])
  gaps = list((per_key - exact.mean()).T)  # Each [keys].

  def standard_error(values):
    return values.std() / np.sqrt(values.size)

  for lower, higher in zip(gaps, gaps[1:]):
    rise = higher - lower
    assert rise.mean() > 3 * standard_error(rise), [g.mean() for g in gaps]
  for gap in gaps:
    # A lower bound in expectation: not above exact beyond 3 SE.
    assert gap.mean() < 3 * standard_error(gap), [g.mean() for g in gaps]
  assert gaps[0].mean() < -0.5  # The proposal really is poor.


def test_prior_estimate_of_log_p_given():
  """Without log_p_given, log p(X_S) comes from prior draws, close to exact."""
  params, data = _problem(seed=30, n=6)
  prior_samples, chunk_size = 20000, 2000
  givens = (('b',), ('b', 'c'))

  @_jit
  def estimates(params, data, key):
    """Per S: (the estimate of log p(X_a | X_S), its joint term, log p(X_S))."""
    return [(bounds.iw_log_likelihood(
        EXACT, params, data, key=key, k=1, target='a', given=given,
        prior_samples=prior_samples, chunk_size=chunk_size),
             bounds.iw_log_likelihood(
                 EXACT, params, data, key=key, k=1, target=('a',) + given,
                 chunk_size=chunk_size),
             bounds.iw_log_likelihood(
                 EXACT, params, data, key=key, k=prior_samples, target=given,
                 proposal='prior', chunk_size=chunk_size))
            for given in givens]

  for given, (estimate, joint_term, log_p_given) in zip(
      givens, estimates(params, data, jax.random.key(31))):
    # The joint term is exact, so the error is exact log p(X_S) minus its
    # estimate from the prior.
    error = np.asarray(estimate) - lgm.exact_log_conditional(
        params, data, ('a',), given)
    assert np.max(np.abs(error)) < 0.1, (given, error)
    # What is subtracted is iw_log_likelihood's own prior bound of X_S, from
    # the prior's stream of the same key.
    np.testing.assert_allclose(estimate, joint_term - log_p_given, rtol=1e-6,
                               atol=1e-5)


def test_proposal_stream_numbering():
  m = len(NAMES)
  assert bounds.proposal_stream(EXACT, NAMES) == 0
  for i, name in enumerate(NAMES):
    assert bounds.proposal_stream(EXACT, (name,)) == 1 + i
  assert bounds.proposal_stream(EXACT, 'prior') == m + 1
  others = [bounds.proposal_stream(EXACT, subset)
            for subset in _subsets(NAMES) if 1 < len(subset) < m]
  assert len(set(others)) == len(others) and min(others) >= m + 2
  # Subsets given in another order are the same proposal.
  assert bounds.proposal_stream(EXACT, ('c', 'a')) == bounds.proposal_stream(
      EXACT, ('a', 'c'))
  # The paper's two modalities: q(z|x,w) 0, q(z|x) 1, q(z|w) 2, p(z) 3.
  two = models.JMVAE(latent_dim=2, encoder_hidden=(4,), decoder_hidden=(4,))
  assert [bounds.proposal_stream(two, p) for p in (
      ('image', 'label'), ('image',), ('label',), 'prior')] == [0, 1, 2, 3]


@pytest.mark.parametrize('options, match', [
    (dict(target=('a', 'b'), given=('b',)), 'not in given'),
    (dict(target=('a', 'z')), 'distinct modality names'),
    (dict(target='a', given='q'), 'distinct modality names'),
    (dict(target=('a', 'a')), 'distinct modality names'),
    (dict(target=()), 'one or more'),
    (dict(target='a', given='b', proposal=('c',)), 'proposal must be'),
    (dict(target='a', given='b', proposal=('a', 'c')), 'proposal must be'),
    (dict(target='a', proposal='priors'), 'distinct modality names'),
    (dict(target='a', k=0), 'positive integer'),
    (dict(target='a', given='b', prior_samples=0), 'prior_samples'),
])
def test_argument_errors_are_one_line_value_errors(options, match):
  params, data = _problem(seed=40, n=3)
  options = {'k': 2, **options}
  with pytest.raises(ValueError, match=match) as error:
    bounds.iw_log_likelihood(EXACT, params, data, key=jax.random.key(0),
                             **options)
  assert '\n' not in str(error.value)


def test_observed_must_hold_target_and_given():
  params, data = _problem(seed=41, n=3)
  with pytest.raises(ValueError, match='lacks') as error:
    bounds.iw_log_likelihood(EXACT, params, {'a': data['a']},
                             key=jax.random.key(0), k=2, target='a', given='c')
  assert '\n' not in str(error.value)


# ---------------------------------------------------------------------------
# A JMVAE of three modalities.

THREE = (models.Modality('image', 6, distributions.bernoulli_log_prob),
         models.Modality('label', 3, distributions.categorical_log_prob),
         models.Modality('c', 4, distributions.bernoulli_log_prob))
HIDDEN, LATENT = (8,), 2


def _jmvae(**options: Any) -> models.JMVAE:
  return models.JMVAE(modalities=THREE, latent_dim=LATENT,
                      encoder_hidden=HIDDEN, decoder_hidden=HIDDEN, **options)


def _random_params(model: models.JMVAE, seed: int) -> Any:
  """Random parameters of ``model``'s networks, without compiling its init.

  The shapes come from tracing ``init`` (``jax.eval_shape``); the values are
  NumPy normal draws, scaled to keep activations moderate.
  """
  rng = np.random.default_rng(seed)
  shapes = jax.eval_shape(model.init, jax.random.key(0))
  return jax.tree.map(
      lambda s: jnp.asarray(0.5 * rng.normal(size=s.shape), s.dtype), shapes)


def _jmvae_batch(seed: int, n: int = 5) -> dict[str, jax.Array]:
  rng = np.random.default_rng(seed)
  return {
      'image': jnp.asarray(rng.uniform(size=(n, 6)) < 0.4, jnp.float32),
      'label': jnp.asarray(np.eye(3)[rng.integers(0, 3, n)], jnp.float32),
      'c': jnp.asarray(rng.uniform(size=(n, 4)) < 0.6, jnp.float32),
  }


def _apply_encoder(params: Any, network: str, *values: jax.Array):
  """The network called ``network`` applied directly: a DiagGaussian."""
  return GaussianEncoder(HIDDEN, LATENT).apply(params[network], *values)


def _zero_filled_joint(params: Any, data: dict[str, jax.Array],
                       subset: tuple[str, ...]):
  """The joint encoder with the modalities outside ``subset`` as zeros."""
  return _apply_encoder(params, 'joint_encoder', *(
      data[m.name] if m.name in subset else jnp.zeros_like(data[m.name])
      for m in THREE))


def _mean_var(q) -> tuple[np.ndarray, np.ndarray]:
  """(mean, variance) of a DiagGaussian, in float64."""
  return (np.asarray(q.mean, np.float64),
          np.exp(np.asarray(q.log_var, np.float64)))


def _assert_gaussians_equal(got: dict[Any, Any], expected: dict[Any, Any]):
  """Each DiagGaussian of ``got`` equals the one of ``expected`` (or a (mean,
  variance) pair) under the same key."""
  assert set(got) == set(expected)
  for what, q in got.items():
    mean, var = (_mean_var(expected[what])
                 if isinstance(expected[what], distributions.DiagGaussian)
                 else expected[what])
    np.testing.assert_allclose(q.mean, mean, rtol=1e-5, atol=1e-5,
                               err_msg=str(what))
    np.testing.assert_allclose(np.exp(np.asarray(q.log_var, np.float64)), var,
                               rtol=1e-4, atol=1e-6, err_msg=str(what))


def _kl(q, p) -> np.ndarray:
  """KL(N(q) || N(p)) of diagonal Gaussians given as (mean, var): [n]."""
  (mq, vq), (mp, vp) = q, p
  return 0.5 * np.sum(np.log(vp / vq) + (vq + (mq - mp)**2) / vp - 1, axis=-1)


def test_jmvae_three_modality_subset_encoders():
  """All three: the joint encoder; one: its unimodal network; two, with
  subset_encoder='zeros', and every subset of JMVAE-zero: the joint encoder
  with the missing modalities zero-filled."""
  model = _jmvae()
  zeros_model = _jmvae(subset_encoder='zeros')
  zero_model = _jmvae(unimodal_encoders=False)
  names = model.modality_names
  assert names == ('image', 'label', 'c')
  assert isinstance(model, models.MultimodalModel)
  params = _random_params(model, seed=0)
  zero_params = _random_params(zero_model, seed=1)
  assert set(zero_params) == {'joint_encoder', 'image_decoder',
                              'label_decoder', 'c_decoder'}
  pairs = list(itertools.combinations(names, 2))

  @_jit
  def encodings(params, zero_params, data):
    def subset(names_seen):
      return {n: data[n] for n in names_seen}

    got = {'all': model.encode_subset(params, data)}
    expected = {'all': _apply_encoder(params, 'joint_encoder',
                                      *(data[n] for n in names))}
    for name in names:
      got[name] = model.encode_subset(params, subset((name,)))
      expected[name] = _apply_encoder(params, f'{name}_encoder', data[name])
    for pair in pairs:
      got[f'{pair} zeros'] = zeros_model.encode_subset(params, subset(pair))
      expected[f'{pair} zeros'] = _zero_filled_joint(params, data, pair)
    for names_seen in _subsets(names)[1:]:
      got[f'{names_seen} JMVAE-zero'] = zero_model.encode_subset(
          zero_params, subset(names_seen))
      expected[f'{names_seen} JMVAE-zero'] = _zero_filled_joint(
          zero_params, data, names_seen)
    return got, expected

  got, expected = encodings(params, zero_params, _jmvae_batch(seed=1))
  _assert_gaussians_equal(got, expected)


def test_jmvae_three_modality_product_of_experts():
  """Two of three with 'product_of_experts': the precision-weighted product of
  the two unimodal Gaussians, computed in NumPy."""
  model = _jmvae()
  params = _random_params(model, seed=0)
  data = _jmvae_batch(seed=2)
  pairs = list(itertools.combinations(model.modality_names, 2))

  @_jit
  def encodings(params, data):
    return (
        {pair: model.encode_subset(params, {n: data[n] for n in pair})
         for pair in pairs},
        {name: _apply_encoder(params, f'{name}_encoder', data[name])
         for name in model.modality_names})

  got, unimodal = encodings(params, data)
  expected = {}
  for pair in pairs:
    experts = [_mean_var(unimodal[name]) for name in pair]
    precision = sum(1 / var for _, var in experts)
    expected[pair] = (sum(mu / var for mu, var in experts) / precision,
                      1 / precision)
  _assert_gaussians_equal(got, expected)


def test_jmvae_three_modality_loss_terms():
  model = _jmvae()
  params = _random_params(model, seed=2)
  data = _jmvae_batch(seed=3)
  key = jax.random.key(4)

  @_jit
  def terms_and_networks(params, data):
    """The loss terms, and the networks' outputs applied directly."""
    terms = objectives.multimodal_loss_terms(model, params, data, key=key)
    joint = _zero_filled_joint(params, data, model.modality_names)
    # z ~ q(z|X) with the key's draw, decoded by each decoder.
    z = joint.mean + jnp.exp(0.5 * joint.log_var) * jax.random.normal(
        key, joint.mean.shape)
    logits = {m.name: MLP(HIDDEN, m.dim).apply(params[f'{m.name}_decoder'], z)
              for m in THREE}
    unimodal = {name: _apply_encoder(params, f'{name}_encoder', data[name])
                for name in model.modality_names}
    return terms, joint, logits, unimodal

  terms, joint, logits, unimodal = terms_and_networks(params, data)
  assert set(terms) == {'recon/image', 'recon/label', 'recon/c', 'kl_prior',
                        'kl_unimodal/image', 'kl_unimodal/label',
                        'kl_unimodal/c'}
  # Every term in NumPy, float64, from the networks' outputs.
  logits = {name: np.asarray(value, np.float64)
            for name, value in logits.items()}
  def bernoulli(x, l):
    return np.sum(x * l - np.logaddexp(0, l), axis=-1)

  log_softmax = logits['label'] - np.logaddexp.reduce(
      logits['label'], axis=-1, keepdims=True)
  joint = _mean_var(joint)
  expected = {
      'recon/image': -bernoulli(np.asarray(data['image']), logits['image']),
      'recon/c': -bernoulli(np.asarray(data['c']), logits['c']),
      'recon/label': -np.sum(np.asarray(data['label']) * log_softmax, axis=-1),
      'kl_prior': _kl(joint, (np.zeros_like(joint[0]), np.ones_like(joint[1]))),
  }
  for name in model.modality_names:
    expected[f'kl_unimodal/{name}'] = _kl(joint, _mean_var(unimodal[name]))
  for name, value in expected.items():
    assert terms[name].shape == (5,)
    np.testing.assert_allclose(terms[name], value, rtol=1e-4, atol=1e-4,
                               err_msg=name)


def test_iw_log_likelihood_on_three_modality_jmvae():
  """A 2-of-3 product-of-experts proposal, q(z | label, c), for log p(image |
  label, c); with k = 1 it is the weight of one draw, computed by hand."""
  model = _jmvae()
  params = _random_params(model, seed=5)
  data = _jmvae_batch(seed=6, n=4)
  key = jax.random.key(7)
  proposal = ('label', 'c')
  stream = bounds.proposal_stream(model, proposal)
  assert stream == 3 + 2 + 0b110
  log_p_given = jnp.asarray([-1.0, -2.0, -3.0, -4.0], jnp.float32)

  @_jit
  def estimates_and_draw(params, data):
    estimate = functools.partial(
        bounds.iw_log_likelihood, model, params, data, key=key,
        target='image', given=proposal, proposal=proposal)
    # Draw 0 of the proposal's stream, and its log-likelihoods.
    q = model.encode_subset(params, {n: data[n] for n in proposal})
    z = distributions.sample_gaussian(
        jax.random.fold_in(jax.random.fold_in(key, stream), 0), q)
    log_lik = [model.log_likelihood(params, n, data[n], z)
               for n in model.modality_names]
    return (estimate(k=16, prior_samples=32, chunk_size=8),
            estimate(k=1, log_p_given=log_p_given), q, z, log_lik)

  got, one, q, z, log_lik = estimates_and_draw(params, data)
  assert got.shape == (4,) and got.dtype == jnp.float32
  assert np.all(np.isfinite(got))
  mean, var = _mean_var(q)
  z = np.asarray(z, np.float64)
  def log_normal(x, m, v):
    return -0.5 * np.sum(np.log(2 * np.pi * v) + (x - m)**2 / v, axis=-1)

  weight = (sum(np.asarray(value, np.float64) for value in log_lik)
            + log_normal(z, 0.0, 1.0) - log_normal(z, mean, var))
  np.testing.assert_allclose(one, weight - np.asarray(log_p_given), rtol=1e-5,
                             atol=1e-4)

  # The proposal must lie within T u S: q(z | label, c) cannot propose for
  # log p(image | label).
  with pytest.raises(ValueError, match='proposal must be'):
    bounds.iw_log_likelihood(model, params, data, key=key, k=2,
                             target='image', given=('label',),
                             proposal=proposal)
