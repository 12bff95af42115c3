"""Loss terms of Eq. 1, 3 and 4, the warm-up, and how the weights combine."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from jmvae_jax import distributions, models, objectives


def _batch(rng, size=6):
  x = (rng.uniform(size=(size, 784)) < 0.3).astype(np.float32)
  w = np.eye(10, dtype=np.float32)[rng.integers(0, 10, size)]
  return jnp.asarray(x), jnp.asarray(w)


@pytest.fixture
def rng():
  return np.random.default_rng()


def test_jmvae_kl_terms_match_independent_computation(rng):
  model = models.make_model('jmvae_kl', latent_dim=4,
                            encoder_hidden=(16,), decoder_hidden=(16,))
  params = model.init(jax.random.key(rng.integers(2**31)))
  x, w = _batch(rng)
  key = jax.random.key(rng.integers(2**31))
  terms = jax.jit(lambda p: objectives.loss_terms(model, p, x, w, key=key))(params)
  assert set(terms) == {'recon/image', 'recon/label', 'kl_prior', 'kl_unimodal/image',
                        'kl_unimodal/label'}

  # Recompute every term from the networks' outputs with SciPy, in float64.
  joint = model.encode(params, x, w)
  z = np.asarray(distributions.sample_gaussian(key, joint), np.float64)
  x_logits = np.asarray(model.decode_x(params, jnp.asarray(z, jnp.float32)))
  w_logits = np.asarray(model.decode_w(params, jnp.asarray(z, jnp.float32)))
  recon_x = -stats.bernoulli.logpmf(x, 1 / (1 + np.exp(-x_logits))).sum(-1)
  w_log_probs = w_logits - np.log(np.exp(w_logits).sum(-1, keepdims=True))
  recon_w = -(w * w_log_probs).sum(-1)

  def kl(q, p):
    mq, vq = np.asarray(q.mean, np.float64), np.exp(np.asarray(q.log_var, np.float64))
    mp, vp = np.asarray(p.mean, np.float64), np.exp(np.asarray(p.log_var, np.float64))
    return 0.5 * np.sum(np.log(vp / vq) + (vq + (mq - mp) ** 2) / vp - 1, axis=-1)

  prior = distributions.standard_normal(joint.mean.shape)
  expected = {
      'recon/image': recon_x, 'recon/label': recon_w,
      'kl_prior': kl(joint, prior),
      'kl_unimodal/image': kl(joint, model.encode_x(params, x)),
      'kl_unimodal/label': kl(joint, model.encode_w(params, w)),
  }
  for name, value in expected.items():
    np.testing.assert_allclose(terms[name], value, rtol=2e-4, atol=2e-4,
                               err_msg=name)


def test_jmvae_zero_and_vae_have_no_unimodal_terms(rng):
  x, w = _batch(rng)
  key = jax.random.key(0)
  for name, expected in (('jmvae_zero', {'recon/image', 'recon/label', 'kl_prior'}),
                         ('vae', {'recon/image', 'kl_prior'})):
    model = models.make_model(name, latent_dim=4, encoder_hidden=(8,),
                              decoder_hidden=(8,))
    terms = objectives.loss_terms(model, model.init(key), x, w, key=key)
    assert set(terms) == expected
    assert all(v.shape == (x.shape[0],) for v in terms.values())


def test_total_loss_weights_each_term():
  terms = {name: jnp.asarray(np.random.default_rng(i).uniform(size=5),
                             jnp.float32)
           for i, name in enumerate(['recon/image', 'recon/label', 'kl_prior',
                                     'kl_unimodal/image', 'kl_unimodal/label'])}
  t = {k: np.asarray(v, np.float64) for k, v in terms.items()}
  recon = t['recon/image'] + t['recon/label']
  unimodal = t['kl_unimodal/image'] + t['kl_unimodal/label']
  for kl_weight, alpha, anneal in ((1.0, 0.1, False), (0.3, 0.1, False),
                                   (0.3, 1.0, True), (0.5, 0.0, False)):
    alpha_weight = alpha * (kl_weight if anneal else 1.0)
    expected = np.mean(recon + kl_weight * t['kl_prior'] + alpha_weight * unimodal)
    got = objectives.total_loss(terms, kl_weight=kl_weight, alpha=alpha,
                                anneal_alpha=anneal)
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_negative_elbo_excludes_alpha_terms():
  terms = {'recon/image': jnp.ones(3), 'recon/label': 2 * jnp.ones(3),
           'kl_prior': 4 * jnp.ones(3), 'kl_unimodal/image': 100 * jnp.ones(3),
           'kl_unimodal/label': 100 * jnp.ones(3)}
  np.testing.assert_array_equal(objectives.negative_elbo(terms), [7.0] * 3)


@pytest.mark.parametrize('warmup, expected', [
    (0, [1, 1, 1, 1]), (1, [1, 1, 1, 1]), (4, [0.25, 0.5, 1.0, 1.0]),
    (200, [0.005, 0.01, 0.02, 0.025])])
def test_kl_warmup_weight_is_linear_and_capped(warmup, expected):
  got = [float(objectives.kl_warmup_weight(epoch, warmup))
         for epoch in (0, 1, 3, 4)]
  np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_alpha_zero_leaves_unimodal_encoders_untrained(rng):
  model = models.make_model('jmvae_kl', latent_dim=4, encoder_hidden=(8,),
                            decoder_hidden=(8,))
  params = model.init(jax.random.key(1))
  x, w = _batch(rng)

  def loss(p, alpha):
    terms = objectives.loss_terms(model, p, x, w, key=jax.random.key(2))
    return objectives.total_loss(terms, kl_weight=1.0, alpha=alpha)

  grads = jax.grad(loss)(params, 0.0)
  assert all(float(jnp.abs(g).max()) == 0.0
             for g in jax.tree.leaves(grads['image_encoder']))
  grads = jax.grad(loss)(params, 0.1)
  assert any(float(jnp.abs(g).max()) > 0.0
             for g in jax.tree.leaves(grads['image_encoder']))
