"""Image -> label and label -> image: checked against closed forms on a stub model."""

import dataclasses

import cv2
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jmvae_jax import generation, models
from jmvae_jax.distributions import DiagGaussian
from jmvae_jax.errors import UserError
from jmvae_jax.report import picture_files
from jmvae_jax.tasks.mnist import digit_files


@dataclasses.dataclass(frozen=True)
class LineModel:
  """A one-dimensional latent: q(z|x) = N(x_0, s^2), q(z|w) = N(w . c, s^2),
  p(w|z) = softmax(a z + b), p(x|z) = Bernoulli(sigmoid(z)) on every pixel."""

  w: models.Modality = models.MNIST_LABEL
  log_var: float = np.log(0.7 ** 2)

  def encode_x(self, params, x):
    del params
    return DiagGaussian(x[..., :1], jnp.full(x.shape[:-1] + (1,), self.log_var))

  def encode_w(self, params, w):
    mean = w @ params['c']
    return DiagGaussian(mean[..., None],
                        jnp.full(w.shape[:-1] + (1,), self.log_var))

  def decode_w(self, params, z):
    logits = z @ params['a'][None, :]
    return logits + jnp.broadcast_to(params['b'], logits.shape)

  def decode_x(self, params, z):
    return jnp.broadcast_to(z, z.shape[:-1] + (784,))


PARAMS = {'a': jnp.linspace(-2.0, 2.0, 10), 'b': jnp.linspace(0.5, -0.5, 10),
          'c': jnp.arange(10.0) - 4.5}


def _expected_softmax(mean, std, a, b):
  """E_{z ~ N(mean, std^2)}[softmax(a z + b)] by Gauss-Hermite quadrature."""
  nodes, weights = np.polynomial.hermite_e.hermegauss(80)
  logits = (mean + std * nodes)[:, None] * a + b
  probs = np.exp(logits - logits.max(-1, keepdims=True))
  probs /= probs.sum(-1, keepdims=True)
  return weights @ probs / weights.sum()


def test_predict_labels_matches_the_predictive_integral():
  model = LineModel()
  x = jnp.zeros((3, 784)).at[:, 0].set(jnp.array([-1.0, 0.0, 1.5]))
  sampled = generation.predict_labels(model, PARAMS, x, key=jax.random.key(0),
                                      num_samples=20_000)
  at_mean = generation.predict_labels(model, PARAMS, x, key=None)
  a, b = np.asarray(PARAMS['a']), np.asarray(PARAMS['b'])
  for i, mean in enumerate((-1.0, 0.0, 1.5)):
    np.testing.assert_allclose(sampled[i], _expected_softmax(mean, 0.7, a, b),
                               atol=5e-3)
    np.testing.assert_allclose(at_mean[i], _expected_softmax(mean, 0.0, a, b),
                               rtol=1e-5)
  np.testing.assert_allclose(np.sum(sampled, -1), 1, rtol=1e-5)


def test_generated_images_follow_q_z_given_w():
  model = LineModel()
  labels = jnp.array([0, 9], jnp.int32)
  out = generation.generate_images(model, PARAMS, labels,
                                   key=jax.random.key(1), num_samples=4000)
  assert out.means.shape == out.samples.shape == (4000, 2, 784)
  z = np.log(out.means[..., 0]) - np.log1p(-out.means[..., 0])  # logit
  np.testing.assert_allclose(z.mean(0), [-4.5, 4.5], atol=0.05)
  np.testing.assert_allclose(z.std(0), [0.7, 0.7], atol=0.03)
  assert set(np.unique(out.samples)) <= {0.0, 1.0}
  np.testing.assert_allclose(out.samples.mean(axis=(0, 2)),
                             out.means.mean(axis=(0, 2)), atol=0.01)
  one_hot = jax.nn.one_hot(labels, 10, dtype=jnp.float32)
  again = generation.generate_images(model, PARAMS, one_hot,
                                     key=jax.random.key(1), num_samples=4000)
  np.testing.assert_array_equal(again.means, out.means)


def test_conditional_models_generate_from_their_prior():
  model = models.make_model('cvae', latent_dim=3, encoder_hidden=(8,),
                            decoder_hidden=(8,))
  params = jax.jit(model.init)(jax.random.key(0))
  out = generation.generate_images(model, params, jnp.arange(10),
                                   key=jax.random.key(2), num_samples=5)
  assert out.means.shape == (5, 10, 784)
  assert np.all((out.means > 0) & (out.means < 1))


@pytest.mark.parametrize('name', ['jmvae_kl', 'jmvae_zero'])
def test_reconstructions_decode_each_encoders_mean(name):
  model = models.make_model(name, latent_dim=3, encoder_hidden=(8,),
                            decoder_hidden=(8,))
  params = jax.jit(model.init)(jax.random.key(0))
  x = jax.random.uniform(jax.random.key(1), (4, 784))
  w = jax.nn.one_hot(jnp.arange(4), 10, dtype=jnp.float32)
  out = generation.reconstruct(model, params, x, jnp.arange(4))
  expected_multiple = jax.nn.sigmoid(
      model.decode_x(params, model.encode(params, x, w).mean))
  expected_single = jax.nn.sigmoid(
      model.decode_x(params, model.encode_x(params, x).mean))
  np.testing.assert_allclose(out.multiple, expected_multiple, rtol=1e-6)
  np.testing.assert_allclose(out.single, expected_single, rtol=1e-6)
  drawn = generation.reconstruct(model, params, x, w, key=jax.random.key(2))
  assert drawn.multiple.shape == drawn.single.shape == (4, 784)
  assert not np.allclose(drawn.single, out.single)


def test_latent_means_use_the_richest_encoder():
  x = jax.random.uniform(jax.random.key(1), (4, 784))
  labels = jnp.arange(4)
  for name, encode in (('vae', lambda m, p: m.encode_x(p, x)),
                       ('jmvae_kl', lambda m, p: m.encode(
                           p, x, jax.nn.one_hot(labels, 10, dtype=jnp.float32))),
                       ('cmma', lambda m, p: m.encode(
                           p, x, jax.nn.one_hot(labels, 10, dtype=jnp.float32)))):
    model = models.make_model(name, latent_dim=3, encoder_hidden=(8,),
                              decoder_hidden=(8,))
    params = jax.jit(model.init)(jax.random.key(0))
    np.testing.assert_allclose(
        generation.latent_means(model, params, x, labels),
        encode(model, params).mean, rtol=1e-6)


def test_image_files_round_trip_any_size_and_refuse_non_images(tmp_path):
  digit = np.zeros(784, np.float32)
  digit[10 * 28:12 * 28] = 1.0  # Two white rows.
  path = picture_files.write_image(tmp_path / 'digit.png', digit.reshape(28, 28))
  np.testing.assert_array_equal(digit_files.read_digit(path), digit)
  np.testing.assert_array_equal(digit_files.read_digit(path, invert=True),
                                1 - digit)
  big = cv2.resize((digit.reshape(28, 28) * 255).astype(np.uint8), (280, 140),
                   interpolation=cv2.INTER_NEAREST)
  cv2.imwrite(str(tmp_path / 'big.jpg'), big, [cv2.IMWRITE_JPEG_QUALITY, 100])
  read = digit_files.read_digit(tmp_path / 'big.jpg')
  assert read.shape == (784,) and read.dtype == np.float32
  assert 0 <= read.min() and read.max() <= 1
  np.testing.assert_allclose(read, digit, atol=0.1)
  (tmp_path / 'text.png').write_text('hello')
  with pytest.raises(UserError, match='cannot be read as an image'):
    digit_files.read_digit(tmp_path / 'text.png')


def test_dark_ink_on_light_paper_is_read_like_mnist(tmp_path):
  digit = np.zeros((28, 28), np.float32)
  digit[6:22, 12:16] = 0.8  # A light stroke on black, as in MNIST (204/255).
  picture_files.write_image(tmp_path / 'mnist.png', digit)
  picture_files.write_image(tmp_path / 'paper.png', 1 - digit)
  expected = np.round(digit * 255).reshape(784) / 255
  for name in ('mnist.png', 'paper.png'):
    np.testing.assert_allclose(digit_files.read_digit(tmp_path / name),
                               expected, atol=1e-6)
  # Forcing the convention overrides the border.
  np.testing.assert_allclose(
      digit_files.read_digit(tmp_path / 'paper.png', invert=False),
      1 - expected, atol=1e-6)


@pytest.mark.parametrize('shape', [(5, 28, 28), (3, 64, 64, 3)])
def test_samples_are_written_as_the_figures_draw_them_with_a_grid(tmp_path,
                                                                  shape):
  images = np.random.default_rng(0).uniform(size=shape).astype(np.float32)
  paths = picture_files.write_samples(tmp_path, images)
  n = shape[0]
  assert [p.split('/')[-1] for p in paths] == (
      [f'sample_{i:03d}.png' for i in range(n)] + ['mean.png', 'grid.png'])
  # Grey digits as black ink on white (1 - level); colour as it is.
  shown = 1 - images if len(shape) == 3 else images
  flag = cv2.IMREAD_GRAYSCALE if len(shape) == 3 else cv2.IMREAD_COLOR

  def read(path):
    pixels = cv2.imread(path, flag).astype(np.float32) / 255
    return pixels if len(shape) == 3 else pixels[..., ::-1]

  for i in range(n):
    np.testing.assert_allclose(read(paths[i]), shown[i], atol=0.5 / 255 + 1e-6)
  np.testing.assert_allclose(read(paths[n]), shown.mean(axis=0),
                             atol=0.5 / 255 + 1e-6)
  # ceil(sqrt(n)) columns, 2 white pixels between cells; empty cells white.
  grid = read(paths[n + 1])
  side = shape[1]
  cols = int(np.ceil(np.sqrt(n)))
  rows = int(np.ceil(n / cols))
  assert grid.shape[:2] == (rows * (side + 2) - 2, cols * (side + 2) - 2)
  for i in range(rows * cols):
    top, left = (side + 2) * (i // cols), (side + 2) * (i % cols)
    cell = grid[top:top + side, left:left + side]
    np.testing.assert_allclose(cell, shown[i] if i < n else 1.0,
                               atol=0.5 / 255 + 1e-6)
  assert (grid[side:side + 2] == 1).all()
