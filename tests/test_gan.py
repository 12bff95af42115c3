"""The VAE-GAN's three losses (``jmvae_jax.tasks.celeba.gan``) against NumPy references.

Each reference is written from the formulas of Larsen et al. (2016) as the
module docstring states them, with D = sigmoid(Dis) computed explicitly and
-log N(.; ., I) from SciPy, in float64, on fresh random inputs:

  L_feat = -log N(Dis_l(x); Dis_l(x~), I) - (F / 2) log(2 pi)
  L_enc  = mean[recon/image + recon/attributes + kl_weight kl_prior
                + alpha (kl_weight if anneal_alpha else 1)
                  (kl_unimodal/image + kl_unimodal/attributes)]
           + lambda mean L_feat
  L_dec  = gamma (mean[-log p(x|z)] + lambda mean L_feat)
           + mean[-log D(x~) - log D(x_p)]
  L_dis  = mean[-log D(x) - log(1 - D(x~)) - log(1 - D(x_p))]

Property tests check the directions and weights through gradients, so that a
flipped sign or a misplaced weight fails even where values happen to agree.
"""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from jmvae_jax import objectives
from jmvae_jax.nn import conv as conv_networks
from jmvae_jax.tasks.celeba import gan
from jmvae_jax.tasks.celeba.config import CelebAConfig

RTOL = 1e-5
BATCH, FEATURES = 6, 9
_SEEDS = np.random.default_rng(20160101).integers(0, 2**31, size=8)

# The per-example terms (objectives.loss_terms) of each GAN's base model.
_TERMS = {'jmvae_gan': ('recon/image', 'recon/attributes', 'kl_prior',
                        'kl_unimodal/image', 'kl_unimodal/attributes'),
          'vae_gan': ('recon/image', 'kl_prior')}


def _sigmoid(t):
  return 1.0 / (1.0 + np.exp(-t))


def _f32(a):
  return np.asarray(a, np.float32)


def _f64(a):
  return np.asarray(a, np.float64)


def _logits(rng, scale=2.0):
  return _f32(rng.normal(0.0, scale, BATCH))


def _features(rng):
  real = _f32(rng.normal(0.0, 1.0, (BATCH, FEATURES)))
  return real, _f32(real + rng.normal(0.0, 0.7, (BATCH, FEATURES)))


# References (float64, from the paper-level formulas; no JAX).


def _feature_nll_reference(real, reconstructed):
  log_density = stats.norm.logpdf(_f64(real), loc=_f64(reconstructed),
                                  scale=1.0).sum(axis=-1)
  return -log_density - 0.5 * real.shape[-1] * math.log(2 * math.pi)


def _encoder_reference(terms, *, kl_weight, alpha, anneal_alpha, lam,
                       features=None):
  t = {name: _f64(v) for name, v in terms.items()}
  alpha_weight = alpha * (kl_weight if anneal_alpha else 1.0)
  per_example = t['recon/image'] + kl_weight * t['kl_prior']
  if 'recon/attributes' in t:
    per_example = per_example + t['recon/attributes']
  if 'kl_unimodal/image' in t:
    per_example = per_example + alpha_weight * (t['kl_unimodal/image']
                                                + t['kl_unimodal/attributes'])
  loss = np.mean(per_example)
  if lam:
    loss = loss + lam * np.mean(_feature_nll_reference(*features))
  return loss


def _generator_reference(log_px, logit_rec, logit_gen, *, gamma, lam,
                         features=None):
  pixel = -np.mean(_f64(log_px))
  reconstruction = pixel
  if lam:
    reconstruction = reconstruction + lam * np.mean(
        _feature_nll_reference(*features))
  adversarial = np.mean(-np.log(_sigmoid(_f64(logit_rec)))
                        - np.log(_sigmoid(_f64(logit_gen))))
  return gamma * reconstruction + adversarial, pixel, adversarial


def _discriminator_reference(logit_real, logit_rec, logit_gen):
  d_real, d_rec, d_gen = (_sigmoid(_f64(l))
                          for l in (logit_real, logit_rec, logit_gen))
  return np.mean(-np.log(d_real) - np.log(1.0 - d_rec) - np.log(1.0 - d_gen))


# Fresh random inputs.


def _base_terms(rng, kind):
  """Per-example terms as objectives.loss_terms returns them, [BATCH] each."""
  return {name: _f32(rng.gamma(2.0, 30.0 if name.startswith('recon') else 5.0,
                               BATCH))
          for name in _TERMS[kind]}


def _encoder_inputs(seed, kind, lam):
  rng = np.random.default_rng(seed)
  terms = _base_terms(rng, kind)
  features = _features(rng)
  if lam:
    terms['feature_recon'] = gan.feature_nll(*features)
  return terms, features


# Values against the references.


@pytest.mark.parametrize('name', sorted(_TERMS))
def test_term_names_are_those_of_the_base_models(name):
  """The references below read the terms the trainer gets (shapes only)."""
  model = CelebAConfig(model=name).build_model().base
  x = jax.ShapeDtypeStruct((2,) + conv_networks.IMAGE_SHAPE, jnp.float32)
  w = jax.ShapeDtypeStruct((2, 40), jnp.float32)

  def terms(variables, x, w):
    def fn(networks):
      return objectives.loss_terms(model, networks, x, w,
                                   key=jax.random.key(0))
    return model.apply_training(variables, fn)[0]

  variables = jax.eval_shape(model.init, jax.random.key(0))
  shapes = jax.eval_shape(terms, variables, x, w)
  assert {n: s.shape for n, s in shapes.items()} == {
      n: (2,) for n in _TERMS[name]}


@pytest.mark.parametrize('seed', _SEEDS[:3])
def test_feature_nll_is_the_gaussian_nll_of_the_real_features(seed):
  real, reconstructed = _features(np.random.default_rng(seed))
  value = jax.jit(gan.feature_nll)(real, reconstructed)
  assert value.shape == (BATCH,) and value.dtype == jnp.float32
  np.testing.assert_allclose(value, _feature_nll_reference(real, reconstructed),
                             rtol=RTOL)
  np.testing.assert_array_equal(gan.feature_nll(real, real), np.zeros(BATCH))


@pytest.mark.parametrize('kind', sorted(_TERMS))
@pytest.mark.parametrize('lam', [0.0, 0.3])
@pytest.mark.parametrize('anneal_alpha', [False, True])
def test_encoder_loss_matches_reference(kind, lam, anneal_alpha):
  seed = _SEEDS[3] + 7 * int(lam * 10) + 3 * anneal_alpha + (kind == 'vae_gan')
  terms, features = _encoder_inputs(seed, kind, lam)
  kl_weight, alpha = 0.37, 0.1
  loss = jax.jit(functools.partial(
      gan.encoder_loss, alpha=alpha, anneal_alpha=anneal_alpha,
      feature_weight=lam))(terms, kl_weight=jnp.float32(kl_weight))
  assert loss.shape == () and loss.dtype == jnp.float32
  expected = _encoder_reference(terms, kl_weight=kl_weight, alpha=alpha,
                                anneal_alpha=anneal_alpha, lam=lam,
                                features=features)
  np.testing.assert_allclose(loss, expected, rtol=RTOL)


@pytest.mark.parametrize('gamma, lam', [(1.0, 0.0), (0.25, 0.0), (1.0, 0.5),
                                        (3.0, 2.0)])
def test_generator_loss_matches_reference(gamma, lam):
  rng = np.random.default_rng(_SEEDS[4] + int(10 * gamma + lam))
  log_px = _f32(rng.normal(-60.0, 15.0, BATCH))
  logit_rec, logit_gen = _logits(rng), _logits(rng)
  features = _features(rng)
  feature_recon = gan.feature_nll(*features) if lam else None
  loss, metrics = jax.jit(functools.partial(
      gan.generator_loss, gamma=gamma, feature_weight=lam))(
          log_px, logit_rec, logit_gen, feature_recon)
  expected, pixel, adversarial = _generator_reference(
      log_px, logit_rec, logit_gen, gamma=gamma, lam=lam, features=features)
  assert loss.shape == () and loss.dtype == jnp.float32
  np.testing.assert_allclose(loss, expected, rtol=RTOL)
  assert set(metrics) == {'generator_pixel', 'generator_adversarial'}
  np.testing.assert_allclose(metrics['generator_pixel'], pixel, rtol=RTOL)
  np.testing.assert_allclose(metrics['generator_adversarial'], adversarial,
                             rtol=RTOL)


@pytest.mark.parametrize('seed', _SEEDS[5:8])
def test_discriminator_loss_matches_reference(seed):
  rng = np.random.default_rng(seed)
  logits = [_logits(rng, scale=3.0) for _ in range(3)]
  loss = jax.jit(gan.discriminator_loss)(*logits)
  assert loss.shape == () and loss.dtype == jnp.float32
  np.testing.assert_allclose(loss, _discriminator_reference(*logits),
                             rtol=RTOL)


# Properties that a sign or weighting error would break.


def test_discriminator_loss_falls_as_it_tells_real_from_fake():
  rng = np.random.default_rng(_SEEDS[0] + 1)
  real, rec, gen = (_logits(rng) for _ in range(3))
  loss = gan.discriminator_loss
  # A discriminator that cannot tell (D = 1/2 everywhere): 3 log 2.
  zeros = np.zeros(BATCH, np.float32)
  np.testing.assert_allclose(loss(zeros, zeros, zeros), 3 * math.log(2),
                             rtol=RTOL)
  # Higher logits on real data, lower on either kind of fake: lower loss.
  assert loss(real + 1, rec, gen) < loss(real, rec, gen)
  assert loss(real, rec - 1, gen) < loss(real, rec, gen)
  assert loss(real, rec, gen - 1) < loss(real, rec, gen)
  # Each example's gradient: -(1 - D(x)) / B on real logits, D / B on fakes.
  grads = jax.grad(loss, argnums=(0, 1, 2))(real, rec, gen)
  np.testing.assert_allclose(grads[0], -(1 - _sigmoid(_f64(real))) / BATCH,
                             rtol=RTOL)
  np.testing.assert_allclose(grads[1], _sigmoid(_f64(rec)) / BATCH, rtol=RTOL)
  np.testing.assert_allclose(grads[2], _sigmoid(_f64(gen)) / BATCH, rtol=RTOL)
  # Saturated logits stay finite and reach their limits.
  big = np.full(BATCH, 100.0, np.float32)
  np.testing.assert_allclose(loss(big, -big, -big), 0.0, atol=1e-30)
  np.testing.assert_allclose(loss(-big, big, big), 300.0, rtol=RTOL)


def test_generator_loss_is_non_saturating_and_weighted_by_gamma():
  rng = np.random.default_rng(_SEEDS[1] + 1)
  gamma, lam = 2.5, 0.4
  log_px = _f32(rng.normal(-60.0, 15.0, BATCH))
  rec, gen = _logits(rng), _logits(rng)
  feature_recon = gan.feature_nll(*_features(rng))

  def loss(*args):
    return gan.generator_loss(*args, gamma=gamma, feature_weight=lam)[0]

  # Fooling the discriminator more (higher logits on fakes) lowers the loss.
  assert loss(log_px, rec + 1, gen, feature_recon) < loss(
      log_px, rec, gen, feature_recon)
  assert loss(log_px, rec, gen + 1, feature_recon) < loss(
      log_px, rec, gen, feature_recon)
  grads = jax.grad(loss, argnums=(0, 1, 2, 3))(log_px, rec, gen, feature_recon)
  np.testing.assert_allclose(grads[0], np.full(BATCH, -gamma / BATCH),
                             rtol=RTOL)
  np.testing.assert_allclose(grads[1], -(1 - _sigmoid(_f64(rec))) / BATCH,
                             rtol=RTOL)
  np.testing.assert_allclose(grads[2], -(1 - _sigmoid(_f64(gen))) / BATCH,
                             rtol=RTOL)
  np.testing.assert_allclose(grads[3], np.full(BATCH, gamma * lam / BATCH),
                             rtol=RTOL)
  # -log D keeps a full gradient where the discriminator rejects the fakes
  # (log(1 - D) would give ~0 there) and stays finite.
  rejected = np.full(BATCH, -30.0, np.float32)
  grads = jax.grad(loss, argnums=(1, 2))(log_px, rejected, rejected,
                                         feature_recon)
  for g in grads:
    np.testing.assert_allclose(g, np.full(BATCH, -1.0 / BATCH), rtol=RTOL)


@pytest.mark.parametrize('anneal_alpha', [False, True])
def test_encoder_loss_weights_each_term(anneal_alpha):
  terms, _ = _encoder_inputs(_SEEDS[2] + 1, 'jmvae_gan', lam=0.3)
  kl_weight, alpha, lam = 0.37, 0.1, 0.3
  grads = jax.grad(functools.partial(
      gan.encoder_loss, kl_weight=kl_weight, alpha=alpha,
      anneal_alpha=anneal_alpha, feature_weight=lam))(terms)
  unimodal_weight = alpha * (kl_weight if anneal_alpha else 1.0)
  weights = {'recon/image': 1.0, 'recon/attributes': 1.0,
             'kl_prior': kl_weight, 'kl_unimodal/image': unimodal_weight,
             'kl_unimodal/attributes': unimodal_weight,
             'feature_recon': lam}
  assert set(grads) == set(weights)
  for name, weight in weights.items():
    np.testing.assert_allclose(grads[name], np.full(BATCH, weight / BATCH),
                               rtol=RTOL, err_msg=name)
