"""MMVAE and MoPoE (mixture posteriors) against exact answers and NumPy/SciPy.

Mixtures (``distributions.GaussianMixture``) are checked against SciPy's
densities and by their draws. On the linear-Gaussian model of
``tests.linear_gaussian_multi`` the models run with exact experts: MoPoE's
expert of x_m is the factor of p(x_m|z) in z (as MVAE's), so each of its
components is the exact posterior of its subset; MMVAE's expert is the exact
unimodal posterior p(z|x_m). Their own ``encode_subset`` and registered
objectives run unchanged.
"""

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special, stats

from jmvae_jax import bounds, distributions, generation, models, objectives
from jmvae_jax.distributions import DiagGaussian, GaussianMixture
from jmvae_jax.metrics import subsets
from tests import linear_gaussian_multi as lgm


@pytest.fixture
def rng():
  return np.random.default_rng()


def _random_mixture(rng, batch, components, dim):
  return GaussianMixture(
      rng.normal(size=(batch, components, dim)).astype(np.float32) * 2,
      rng.normal(size=(batch, components, dim)).astype(np.float32) * 0.5)


def test_mixture_density_matches_scipy(rng):
  q = _random_mixture(rng, 4, 3, 2)
  z = rng.normal(size=(7, 4, 2)).astype(np.float32) * 2  # 7 draws per example.
  expected = np.log(np.mean([[[stats.multivariate_normal(
      q.component_means[b, c], np.diag(np.exp(q.component_log_vars[b, c]))
  ).pdf(z[s, b]) for c in range(3)] for b in range(4)] for s in range(7)],
                            axis=-1))
  got = jax.jit(jax.vmap(distributions.log_prob, in_axes=(0, None)))(z, q)
  np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_mixture_draws_pick_each_component_equally_and_follow_it(rng):
  # Three far-apart narrow components per example: each draw shows its pick.
  means = np.stack([np.full((2, 1), 0.0), np.full((2, 1), 100.0),
                    np.full((2, 1), 200.0)], axis=1) + rng.normal(size=(2, 1, 1))
  means = means.astype(np.float32)
  q = GaussianMixture(means, np.full_like(means, np.log(0.25)))
  z = np.asarray(distributions.sample(jax.random.key(int(rng.integers(1 << 20))),
                                      q, (30_000,)))
  assert z.shape == (30_000, 2, 1)
  picks = np.rint((z[..., 0] - means[None, :, 0, 0]) / 100.0).astype(int)
  for b in range(2):
    counts = np.bincount(picks[:, b], minlength=3)
    assert counts.sum() == 30_000
    np.testing.assert_allclose(counts / 30_000, 1 / 3, atol=0.015)
    for c in range(3):  # Within its component: N(mean, 0.5^2).
      offsets = z[picks[:, b] == c, b, 0] - means[b, c, 0]
      assert abs(np.mean(offsets)) < 0.02 and abs(np.std(offsets) - 0.5) < 0.02
  np.testing.assert_allclose(distributions.mean_of(q), means.mean(axis=1))


def test_a_gaussian_is_drawn_and_scored_as_before(rng):
  q = DiagGaussian(*rng.normal(size=(2, 5, 3)).astype(np.float32))
  key = jax.random.key(int(rng.integers(1 << 20)))
  np.testing.assert_array_equal(distributions.sample(key, q, (4,)),
                                distributions.sample_gaussian(key, q, (4,)))
  z = rng.normal(size=(5, 3)).astype(np.float32)
  np.testing.assert_array_equal(
      distributions.log_prob(z, q),
      distributions.gaussian_log_prob(z, q.mean, q.log_var))
  assert distributions.mixture([q]) is q
  with pytest.raises(ValueError, match='at least one component'):
    distributions.mixture([])


@dataclasses.dataclass(frozen=True)
class ExactMoPoE(lgm.ExactExperts, models.MoPoE):
  """A MoPoE whose expert of x_m is the factor of p(x_m | z) in z."""


@dataclasses.dataclass(frozen=True)
class ExactMMVAE(lgm.ExactExperts, models.MMVAE):
  """An MMVAE whose expert of x_m is the exact posterior p(z | x_m)."""

  def _unimodal(self, params, name, value):
    return models.product_with_prior([lgm.likelihood_factor(params, name,
                                                            value)])


def _named(indices):
  return tuple(lgm.NAMES[i] for i in indices)


def test_mopoe_components_are_the_exact_posteriors_of_every_subset():
  params, data, jparams, observed, _ = lgm.random_problem(5)
  q = ExactMoPoE().encode_subset(jparams, observed)
  assert models.subsets_of(3) == [(0,), (1,), (2,), (0, 1), (0, 2), (1, 2),
                                  (0, 1, 2)]
  assert q.component_means.shape == (5, 7, 3)
  for c, indices in enumerate(models.subsets_of(3)):
    mean, covariance = lgm.exact_posterior(params, data, _named(indices))
    np.testing.assert_allclose(q.component_means[:, c], mean, rtol=1e-4,
                               atol=1e-5)
    np.testing.assert_allclose(np.exp(q.component_log_vars[:, c]),
                               np.broadcast_to(np.diag(covariance), (5, 3)),
                               rtol=1e-4)


@pytest.mark.parametrize('model', [ExactMoPoE(), ExactMMVAE()],
                         ids=['mopoe', 'mmvae'])
def test_mixture_posteriors_give_valid_bounds_that_reach_the_truth(model):
  params, data, jparams, observed, key = lgm.random_problem(6)
  log_p = jax.jit(lambda p, o, key, k: subsets.log_likelihoods(
      model, p, o, key=key, k=k), static_argnames='k')
  for k in (1, 3):  # One modality: a single exact Gaussian, exact for any k.
    got = log_p(jparams, observed, key, k)
    for name in lgm.NAMES:
      np.testing.assert_allclose(got[f'log_p/{name}'],
                                 lgm.exact_log_marginal(params, data, (name,)),
                                 rtol=2e-4, atol=2e-3)
  # Several: a mixture is not the posterior. At k = 1, 400 independent
  # estimates average below the truth (a lower bound); at large k they meet
  # it, within the standard error that the k = 1 weights' spread predicts.
  several = [s for s in subsets.nonempty_subsets(lgm.NAMES) if len(s) > 1]
  estimates = jax.vmap(lambda key: log_p(jparams, observed, key, 1))(
      jax.random.split(key, 400))
  k = 20_000
  large_k = log_p(jparams, observed, jax.random.fold_in(key, 1), k)
  for subset in several:
    exact = lgm.exact_log_marginal(params, data, subset)
    name = f'log_p/{subsets.name_of(subset)}'
    log_w = np.asarray(estimates[name], np.float64)  # [400, 6]
    gap = exact - log_w.mean(axis=0)
    assert np.all(gap > -4 * log_w.std(axis=0) / math.sqrt(400) - 1e-3), (
        subset, gap)
    weights = np.exp(log_w - exact)
    relative_se = np.sqrt(weights.var(axis=0) / k) / weights.mean(axis=0)
    assert np.all(np.abs(large_k[name] - exact) < 6 * relative_se + 0.01), (
        subset, large_k[name] - exact, relative_se)


def _numpy_log_lik(params, data, name, z):
  """log p(x_m | z) in float64: z [..., n, D] -> [..., n]."""
  p = {field: v.astype(np.float64) for field, v in params[name].items()}
  return np.sum(stats.norm.logpdf(data[name], z @ p['A'].T + p['offset'],
                                  np.sqrt(p['noise'])), axis=-1)


def test_mmvae_terms_match_the_stratified_elbo_in_numpy():
  params, data, jparams, observed, key = lgm.random_problem(6)
  terms = jax.jit(lambda p, o, k: objectives.multimodal_loss_terms(
      ExactMMVAE(), p, o, key=k))(jparams, observed, key)
  assert sorted(terms) == ['kl_prior'] + [f'recon/{m}' for m in lgm.NAMES]
  posteriors = [lgm.exact_posterior(params, data, (name,))
                for name in lgm.NAMES]
  # One draw per component c, with fold_in(key, c).
  draws = [mean + np.sqrt(np.diag(covariance)) * np.asarray(
      jax.random.normal(jax.random.fold_in(key, c), (6, 3)), np.float64)
           for c, (mean, covariance) in enumerate(posteriors)]
  for name in lgm.NAMES:
    expected = -np.mean([_numpy_log_lik(params, data, name, z) for z in draws],
                        axis=0)
    np.testing.assert_allclose(terms[f'recon/{name}'], expected, rtol=1e-4)

  def log_mixture(z):
    return special.logsumexp([stats.norm.logpdf(
        z, mean, np.sqrt(np.diag(covariance))).sum(-1)
                              for mean, covariance in posteriors],
                             axis=0) - np.log(3)

  kl = np.mean([log_mixture(z) - stats.norm.logpdf(z).sum(-1) for z in draws],
               axis=0)
  np.testing.assert_allclose(terms['kl_prior'], kl, rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(
      objectives.total_loss(terms, kl_weight=0.3, alpha=5.0),
      np.mean(sum(terms[f'recon/{m}'] for m in lgm.NAMES) + 0.3 * kl),
      rtol=1e-5)


def test_mopoe_terms_match_its_elbo_in_numpy():
  params, data, jparams, observed, key = lgm.random_problem(6)
  terms = jax.jit(lambda p, o, k: objectives.multimodal_loss_terms(
      ExactMoPoE(), p, o, key=k))(jparams, observed, key)
  assert sorted(terms) == ['kl_prior'] + [f'recon/{m}' for m in lgm.NAMES]
  # distributions.sample: the component from split(key)[0], the draw from [1].
  choice_key, draw_key = jax.random.split(key)
  choice = np.asarray(jax.random.randint(choice_key, (6,), 0, 7))
  eps = np.asarray(jax.random.normal(draw_key, (6, 3)), np.float64)
  components = [lgm.exact_posterior(params, data, _named(indices))
                for indices in models.subsets_of(3)]
  means = np.stack([mean for mean, _ in components], axis=1)  # [6, 7, 3]
  variances = np.stack([np.diag(cov) for _, cov in components])  # [7, 3]
  z = means[np.arange(6), choice] + np.sqrt(variances[choice]) * eps
  for name in lgm.NAMES:
    np.testing.assert_allclose(terms[f'recon/{name}'],
                               -_numpy_log_lik(params, data, name, z),
                               rtol=1e-4)
  kl = 0.5 * np.sum(variances[None] + means ** 2 - 1 - np.log(variances[None]),
                    axis=-1).mean(axis=1)
  np.testing.assert_allclose(terms['kl_prior'], kl, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize('name', ['mmvae', 'mopoe'])
def test_networks_train_every_expert_and_generate(name, rng):
  model = models.make_model(name, latent_dim=3, encoder_hidden=(8,),
                            decoder_hidden=(8,))
  params = jax.jit(model.init)(jax.random.key(0))
  assert sorted(params) == ['image_decoder', 'image_encoder',
                            'label_decoder', 'label_encoder']
  x = jnp.asarray(rng.integers(0, 2, (4, 784)), jnp.float32)
  w = jax.nn.one_hot(jnp.asarray(rng.integers(0, 10, 4)), 10)

  def loss(p):
    terms = objectives.loss_terms(model, p, x, w, key=jax.random.key(1))
    return objectives.total_loss(terms, kl_weight=1.0, alpha=0.0)

  for network, tree in jax.grad(loss)(params).items():
    assert any(np.any(np.asarray(g) != 0) for g in jax.tree.leaves(tree)), (
        network)
  found = bounds.evaluate_bounds(model, params, x, w, key=jax.random.key(2),
                                 k=5, chunk_size=2)
  assert sorted(found) == ['conditional_multiple', 'conditional_single',
                           'joint', 'marginal_multiple', 'marginal_single']
  assert all(np.all(np.isfinite(v)) for v in found.values())
  images = generation.generate(model, params, {'label': w}, 'image',
                               key=jax.random.key(3), num_samples=2)
  assert images.samples.shape == (2, 4, 784)
  means = generation.latent_means(model, params, {'image': x, 'label': w})
  experts = [model._unimodal(params, 'image', x),
             model._unimodal(params, 'label', w)]
  if name == 'mmvae':  # The mixture's mean: its two experts' average.
    np.testing.assert_allclose(means, (experts[0].mean + experts[1].mean) / 2,
                               rtol=1e-5, atol=1e-6)
