"""Log-densities and KLs against SciPy / NumPy on fresh random inputs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import special, stats

from jmvae_jax import distributions
from jmvae_jax.distributions import DiagGaussian


@pytest.fixture
def rng():
  return np.random.default_rng()


def test_gaussian_log_prob_matches_scipy(rng):
  x, mean = rng.normal(size=(2, 7, 5)).astype(np.float32)
  log_var = rng.normal(size=(7, 5)).astype(np.float32)
  expected = np.array([
      stats.multivariate_normal(m, np.diag(np.exp(v))).logpdf(xi)
      for xi, m, v in zip(x, mean, log_var)])
  got = jax.jit(distributions.gaussian_log_prob)(x, mean, log_var)
  np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4)


def test_standard_normal_log_prob_matches_scipy(rng):
  z = rng.normal(size=(6, 4)).astype(np.float32) * 2
  expected = stats.norm.logpdf(z).sum(-1)
  np.testing.assert_allclose(distributions.standard_normal_log_prob(z),
                             expected, rtol=1e-5, atol=1e-5)


def test_softplus_matches_float64_reference_and_its_gradient_is_sigmoid(rng):
  x = np.concatenate([rng.normal(size=200) * 30, [0.0, -0.0, 1e-30, -1e-30,
                                                  88.0, -88.0, 1e4, -1e4]])
  x = x.astype(np.float32)
  reference = np.logaddexp(0.0, x.astype(np.float64))
  got = jax.jit(distributions.softplus)(x)
  np.testing.assert_allclose(got, reference, rtol=2e-7, atol=2e-7)
  gradient = jax.jit(jax.vmap(jax.grad(distributions.softplus)))(x)
  np.testing.assert_allclose(gradient, special.expit(x.astype(np.float64)),
                             rtol=1e-6, atol=1e-7)
  assert float(jax.grad(distributions.softplus)(0.0)) == 0.5


def test_bernoulli_log_prob_matches_scipy(rng):
  logits = rng.normal(size=(5, 30)).astype(np.float32) * 5
  x = (rng.uniform(size=(5, 30)) < 0.5).astype(np.float32)
  # The reference needs float64: in float32, 1 - expit(15) rounds badly.
  expected = stats.bernoulli.logpmf(
      x, special.expit(logits.astype(np.float64))).sum(-1)
  np.testing.assert_allclose(distributions.bernoulli_log_prob(x, logits),
                             expected, rtol=1e-4, atol=1e-4)


def test_bernoulli_log_prob_is_finite_for_extreme_logits():
  logits = jnp.array([[-200.0, 200.0]])
  x = jnp.array([[0.0, 1.0]])
  np.testing.assert_allclose(distributions.bernoulli_log_prob(x, logits), [0.0],
                             atol=1e-6)
  wrong = distributions.bernoulli_log_prob(1.0 - x, logits)
  np.testing.assert_allclose(wrong, [-400.0], rtol=1e-6)


def test_laplace_log_prob_matches_scipy(rng):
  x = rng.uniform(size=(4, 6))
  loc = rng.normal(size=(4, 6))
  scale = rng.uniform(0.1, 2.0)
  np.testing.assert_allclose(
      distributions.laplace_log_prob(x, loc, scale),
      stats.laplace.logpdf(x, loc=loc, scale=scale).sum(-1), rtol=1e-5)


def test_categorical_log_prob_matches_scipy(rng):
  logits = rng.normal(size=(8, 10)).astype(np.float32) * 3
  classes = rng.integers(0, 10, size=8)
  one_hot = np.eye(10, dtype=np.float32)[classes]
  probs = special.softmax(logits.astype(np.float64), axis=-1)
  expected = [stats.multinomial(1, p).logpmf(o) for p, o in zip(probs, one_hot)]
  np.testing.assert_allclose(distributions.categorical_log_prob(one_hot, logits),
                             expected, rtol=1e-5, atol=1e-5)


def _numpy_kl(mq, vq, mp, vp):
  """KL between diagonal Gaussians from the textbook formula, in float64."""
  return 0.5 * np.sum(np.log(vp / vq) + (vq + (mq - mp) ** 2) / vp - 1, axis=-1)


def test_gaussian_kl_matches_closed_form(rng):
  mq, mp, lq, lp = rng.normal(size=(4, 6, 3)).astype(np.float32)
  got = distributions.gaussian_kl(DiagGaussian(mq, lq), DiagGaussian(mp, lp))
  np.testing.assert_allclose(
      got, _numpy_kl(mq, np.exp(lq), mp, np.exp(lp)), rtol=1e-4, atol=1e-5)
  assert np.all(np.asarray(got) >= 0)


def test_kl_to_standard_normal_equals_general_kl(rng):
  mean, log_var = rng.normal(size=(2, 9, 4)).astype(np.float32)
  q = DiagGaussian(mean, log_var)
  np.testing.assert_allclose(
      distributions.kl_to_standard_normal(q),
      _numpy_kl(mean, np.exp(log_var), 0.0, 1.0), rtol=1e-4, atol=1e-5)


def test_kl_matches_monte_carlo_estimate(rng):
  mq, mp, lq, lp = rng.normal(size=(4, 3)).astype(np.float32)
  q, p = DiagGaussian(mq, lq), DiagGaussian(mp, lp)
  z = distributions.sample_gaussian(jax.random.key(rng.integers(2**31)), q,
                                    (200_000,))
  log_ratio = jax.vmap(lambda zi: distributions.gaussian_log_prob(zi, mq, lq)
                       - distributions.gaussian_log_prob(zi, mp, lp))(z)
  standard_error = float(jnp.std(log_ratio)) / np.sqrt(z.shape[0])
  assert abs(float(jnp.mean(log_ratio)) - float(distributions.gaussian_kl(q, p))
             ) < 5 * standard_error


def test_sample_gaussian_moments(rng):
  mean = rng.normal(size=(5,)).astype(np.float32)
  log_var = rng.normal(size=(5,)).astype(np.float32)
  z = distributions.sample_gaussian(jax.random.key(rng.integers(2**31)),
                                    DiagGaussian(mean, log_var), (100_000,))
  assert z.shape == (100_000, 5)
  np.testing.assert_allclose(jnp.mean(z, 0), mean,
                             atol=5 * np.exp(log_var / 2).max() / 316)
  np.testing.assert_allclose(jnp.var(z, 0), np.exp(log_var), rtol=0.03)


def test_sample_gaussian_is_differentiable_in_parameters():
  def f(mean):
    return jnp.sum(distributions.sample_gaussian(
        jax.random.key(0), DiagGaussian(mean, jnp.zeros(3))))
  np.testing.assert_allclose(jax.grad(f)(jnp.zeros(3)), np.ones(3))


def test_product_of_gaussians_matches_the_normalized_density_product(rng):
  # Three experts over [4, 3]; the product's density is proportional to the
  # product of the experts' densities, so their log-ratio is constant in z.
  means = rng.normal(size=(3, 4, 3)).astype(np.float32)
  log_vars = rng.normal(size=(3, 4, 3)).astype(np.float32)
  product = distributions.product_of_gaussians(
      [DiagGaussian(m, v) for m, v in zip(means, log_vars)])
  precision = np.exp(-log_vars.astype(np.float64)).sum(0)
  np.testing.assert_allclose(product.log_var, -np.log(precision), rtol=1e-5,
                             atol=1e-5)
  expected_mean = (means * np.exp(-log_vars)).sum(0) / precision
  np.testing.assert_allclose(product.mean, expected_mean, rtol=1e-4, atol=1e-5)
  z = rng.normal(size=(5, 4, 3))
  log_ratio = stats.norm.logpdf(z, product.mean, np.exp(0.5 * product.log_var))
  for m, v in zip(means, log_vars):
    log_ratio -= stats.norm.logpdf(z, m, np.exp(0.5 * v))
  np.testing.assert_allclose(log_ratio, np.broadcast_to(log_ratio[0], z.shape),
                             atol=1e-3)


def test_product_of_one_gaussian_is_itself_and_of_none_an_error(rng):
  q = DiagGaussian(*rng.normal(size=(2, 5, 3)).astype(np.float32))
  product = distributions.product_of_gaussians([q])
  np.testing.assert_allclose(product.mean, q.mean, rtol=1e-6)
  np.testing.assert_allclose(product.log_var, q.log_var, rtol=1e-6)
  with pytest.raises(ValueError, match='at least one expert'):
    distributions.product_of_gaussians([])
