"""MVAE (Wu & Goodman 2018) against exact answers on the linear-Gaussian model.

``ExactMVAE`` is the ``models.MVAE`` class with its expert networks replaced
by the exact Gaussian factors of the likelihoods p(x_m | z) of
``tests.linear_gaussian_multi``, so its own ``encode_subset`` (the product
with the prior expert) and the registered MVAE objective run unchanged: the
product must be the exact posterior of every subset (so every bound is exact
for any k), and each loss term must equal a NumPy/SciPy computation.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from jmvae_jax import distributions, models, objectives
from jmvae_jax.distributions import DiagGaussian
from jmvae_jax.metrics import subsets
from tests import linear_gaussian_multi as lgm


@dataclasses.dataclass(frozen=True)
class ExactMVAE(lgm.ExactExperts, models.MVAE):
  """An MVAE whose expert of x_m is the factor of p(x_m | z) in z."""


@pytest.mark.parametrize('k', [1, 4])
def test_the_product_with_the_prior_expert_makes_every_bound_exact(k):
  params, data, jparams, observed, key = lgm.random_problem(5)
  model = ExactMVAE()
  for subset in subsets.nonempty_subsets(lgm.NAMES):
    q = model.encode_subset(jparams, {m: observed[m] for m in subset})
    mean, covariance = lgm.exact_posterior(params, data, subset)
    np.testing.assert_allclose(q.mean, mean, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.exp(q.log_var),
                               np.broadcast_to(np.diag(covariance), (5, 3)),
                               rtol=1e-4)
  got = jax.jit(lambda p, o: subsets.log_likelihoods(model, p, o, key=key,
                                                     k=k))(jparams, observed)
  for subset in subsets.nonempty_subsets(lgm.NAMES):
    np.testing.assert_allclose(got[f'log_p/{subsets.name_of(subset)}'],
                               lgm.exact_log_marginal(params, data, subset),
                               rtol=2e-4, atol=2e-3)


def _numpy_elbo_terms(params, data, subset, eps):
  """-ELBO(X_S) by term in float64: z from the exact posterior with ``eps``."""
  mean, covariance = lgm.exact_posterior(params, data, subset)
  variance = np.diag(covariance)
  z = mean + np.sqrt(variance) * eps
  terms = {}
  for name in subset:
    p = {field: v.astype(np.float64) for field, v in params[name].items()}
    terms[name] = -np.sum(stats.norm.logpdf(
        data[name], z @ p['A'].T + p['offset'], np.sqrt(p['noise'])), axis=-1)
  kl = 0.5 * np.sum(variance + mean ** 2 - 1 - np.log(variance), axis=-1)
  return terms, kl


def test_each_loss_term_matches_numpy():
  params, data, jparams, observed, key = lgm.random_problem(6)
  terms = jax.jit(lambda p, o, k: objectives.multimodal_loss_terms(
      ExactMVAE(), p, o, key=k))(jparams, observed, key)
  # The joint ELBO draws with the key, modality i's with fold_in(key, i + 1).
  eps = np.asarray(jax.random.normal(key, (6, 3)), np.float64)
  recon, kl = _numpy_elbo_terms(params, data, lgm.NAMES, eps)
  for name in lgm.NAMES:
    np.testing.assert_allclose(terms[f'recon/{name}'], recon[name], rtol=1e-4)
  np.testing.assert_allclose(terms['kl_prior'], kl, rtol=1e-4, atol=1e-5)
  expected_loss = sum(recon.values()) + 0.3 * kl
  for i, name in enumerate(lgm.NAMES):
    eps = np.asarray(jax.random.normal(jax.random.fold_in(key, i + 1), (6, 3)),
                     np.float64)
    alone, kl_alone = _numpy_elbo_terms(params, data, (name,), eps)
    np.testing.assert_allclose(terms[f'elbo_of/{name}/recon'], alone[name],
                               rtol=1e-4)
    np.testing.assert_allclose(terms[f'elbo_of/{name}/kl_prior'], kl_alone,
                               rtol=1e-4, atol=1e-5)
    expected_loss = expected_loss + alone[name] + 0.3 * kl_alone
  assert len(terms) == 3 + 1 + 2 * 3
  # The test ELBO is the joint one; the loss adds the unimodal ELBOs, their
  # KLs warmed up like the joint's.
  np.testing.assert_allclose(objectives.negative_elbo(terms),
                             sum(recon.values()) + kl, rtol=1e-4)
  np.testing.assert_allclose(
      objectives.total_loss(terms, kl_weight=0.3, alpha=5.0),
      np.mean(expected_loss), rtol=1e-4)


def test_mvae_has_no_joint_encoder_and_trains_every_expert():
  model = models.make_model('mvae', latent_dim=3, encoder_hidden=(8,),
                            decoder_hidden=(8,))
  params = jax.jit(model.init)(jax.random.key(0))
  assert sorted(params) == ['image_decoder', 'image_encoder',
                            'label_decoder', 'label_encoder']
  rng = np.random.default_rng()
  x = jnp.asarray(rng.integers(0, 2, (4, 784)), jnp.float32)
  w = jax.nn.one_hot(jnp.asarray(rng.integers(0, 10, 4)), 10)
  # q(z|x,w) is the product of the prior and both experts.
  experts = [model._unimodal(params, 'image', x),
             model._unimodal(params, 'label', w)]
  prior = DiagGaussian(jnp.zeros((4, 3)), jnp.zeros((4, 3)))
  expected = distributions.product_of_gaussians([prior, *experts])
  joint = model.encode(params, x, w)
  np.testing.assert_allclose(joint.mean, expected.mean, rtol=1e-6)
  np.testing.assert_allclose(joint.log_var, expected.log_var, rtol=1e-6)

  def loss(p):
    terms = objectives.loss_terms(model, p, x, w, key=jax.random.key(1))
    return objectives.total_loss(terms, kl_weight=1.0, alpha=0.0)

  grads = jax.grad(loss)(params)
  for network, tree in grads.items():
    assert any(np.any(np.asarray(g) != 0) for g in jax.tree.leaves(tree)), (
        network)
