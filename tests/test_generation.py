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
  """A keyed model with a one-dimensional latent: q(z|image) = N(image_0, s^2),
  q(z|label) = N(label . c, s^2), p(label|z) = softmax(a z + b),
  p(image|z) = Bernoulli(sigmoid(z)) on every pixel."""

  modalities: tuple = (models.MNIST_IMAGE, models.MNIST_LABEL)
  latent_dim: int = 1
  log_var: float = np.log(0.7 ** 2)

  @property
  def modality_names(self):
    return ('image', 'label')

  def encode_subset(self, params, observed):
    (name, value), = observed.items()
    mean = value[..., :1] if name == 'image' else (value @ params['c'])[..., None]
    return DiagGaussian(mean, jnp.full(mean.shape, self.log_var))

  def decode(self, params, name, z):
    if name == 'image':
      return jnp.broadcast_to(z, z.shape[:-1] + (784,))
    logits = z @ params['a'][None, :]
    return logits + jnp.broadcast_to(params['b'], logits.shape)

  def log_likelihood(self, params, name, value, z):
    return models.modality_of(self, name).log_prob(
        value, self.decode(params, name, z))


PARAMS = {'a': jnp.linspace(-2.0, 2.0, 10), 'b': jnp.linspace(0.5, -0.5, 10),
          'c': jnp.arange(10.0) - 4.5}
SMALL = dict(latent_dim=3, encoder_hidden=(8,), decoder_hidden=(8,))


def _expected_softmax(mean, std, a, b):
  """E_{z ~ N(mean, std^2)}[softmax(a z + b)] by Gauss-Hermite quadrature."""
  nodes, weights = np.polynomial.hermite_e.hermegauss(80)
  logits = (mean + std * nodes)[:, None] * a + b
  probs = np.exp(logits - logits.max(-1, keepdims=True))
  probs /= probs.sum(-1, keepdims=True)
  return weights @ probs / weights.sum()


def test_predicted_labels_match_the_predictive_integral():
  model = LineModel()
  x = jnp.zeros((3, 784)).at[:, 0].set(jnp.array([-1.0, 0.0, 1.5]))
  sampled = generation.predict(model, PARAMS, {'image': x}, 'label',
                               key=jax.random.key(0), num_samples=20_000)
  at_mean = generation.predict(model, PARAMS, {'image': x}, 'label', key=None)
  a, b = np.asarray(PARAMS['a']), np.asarray(PARAMS['b'])
  for i, mean in enumerate((-1.0, 0.0, 1.5)):
    np.testing.assert_allclose(sampled[i], _expected_softmax(mean, 0.7, a, b),
                               atol=5e-3)
    np.testing.assert_allclose(at_mean[i], _expected_softmax(mean, 0.0, a, b),
                               rtol=1e-5)
  np.testing.assert_allclose(np.sum(sampled, -1), 1, rtol=1e-5)


def test_generated_images_follow_q_z_given_w():
  model = LineModel()
  labels = jax.nn.one_hot(jnp.array([0, 9]), 10)
  out = generation.generate(model, PARAMS, {'label': labels}, 'image',
                            key=jax.random.key(1), num_samples=4000)
  assert out.samples.shape == (4000, 2, 784) and out.average.shape == (2, 784)
  z = np.log(out.samples[..., 0]) - np.log1p(-out.samples[..., 0])  # logit
  np.testing.assert_allclose(z.mean(0), [-4.5, 4.5], atol=0.05)
  np.testing.assert_allclose(z.std(0), [0.7, 0.7], atol=0.03)
  # The average is the readout at the mean of q(z|w): sigmoid(w . c).
  np.testing.assert_allclose(out.average[:, 0], 1 / (1 + np.exp([4.5, -4.5])),
                             rtol=1e-5)


def test_conditional_models_generate_from_their_prior():
  model = models.make_model('cvae', **SMALL)
  params = jax.jit(model.init)(jax.random.key(0))
  labels = jnp.eye(10)
  out = generation.generate(model, params, {'label': labels}, 'image',
                            key=jax.random.key(2), num_samples=5)
  assert out.samples.shape == (5, 10, 784)
  assert np.all((out.samples > 0) & (out.samples < 1))
  # CVAE's prior is N(0, I): the average decodes z = 0 with each label.
  np.testing.assert_allclose(
      out.average, jax.nn.sigmoid(model.decode_x(params, jnp.zeros((10, 3)),
                                                 labels)), rtol=1e-6)
  assert not generation.can_decode(model, ('image',), 'image')
  assert not generation.can_decode(model, ('label',), 'label')


def test_every_target_is_decoded_at_one_shared_draw():
  model = models.make_model(
      'jmvae_kl', modalities=(models.MNIST_IMAGE, models.MNIST_LABEL,
                              models.MNIST_ROTATED), **SMALL)
  params = jax.jit(model.init)(jax.random.key(0))
  rng = np.random.default_rng()
  x = jnp.asarray(rng.uniform(size=(5, 784)), jnp.float32)
  key = jax.random.key(int(rng.integers(1 << 20)))
  both = generation.generate_targets(model, params, {'image': x},
                                     ('label', 'rotated'), key=key)
  # One z ~ q(z|x) per example, drawn as reconstruct draws it, for both.
  for target in ('label', 'rotated'):
    np.testing.assert_allclose(both[target], generation.reconstruct(
        model, params, {'image': x}, target, key=key), rtol=1e-6)
  # A model of x given w draws z ~ p(z|w) = N(0, I) (CVAE) instead.
  cvae = models.make_model('cvae', **SMALL)
  cvae_params = jax.jit(cvae.init)(jax.random.key(1))
  w = jax.nn.one_hot(jnp.arange(5), 10, dtype=jnp.float32)
  drawn = generation.generate_targets(cvae, cvae_params, {'label': w},
                                      ('image',), key=key)['image']
  z = jax.random.normal(key, (5, 3))
  np.testing.assert_allclose(drawn, jax.nn.sigmoid(
      cvae.decode_x(cvae_params, z, w)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('name', ['jmvae_kl', 'jmvae_zero'])
def test_reconstructions_decode_each_encoders_mean(name):
  model = models.make_model(name, **SMALL)
  params = jax.jit(model.init)(jax.random.key(0))
  x = jax.random.uniform(jax.random.key(1), (4, 784))
  w = jax.nn.one_hot(jnp.arange(4), 10, dtype=jnp.float32)
  multiple = generation.reconstruct(model, params, {'image': x, 'label': w},
                                    'image')
  single = generation.reconstruct(model, params, {'image': x}, 'image')
  np.testing.assert_allclose(multiple, jax.nn.sigmoid(
      model.decode_x(params, model.encode(params, x, w).mean)), rtol=1e-6)
  np.testing.assert_allclose(single, jax.nn.sigmoid(
      model.decode_x(params, model.encode_x(params, x).mean)), rtol=1e-6)
  drawn = generation.reconstruct(model, params, {'image': x}, 'image',
                                 key=jax.random.key(2))
  assert drawn.shape == (4, 784)
  assert not np.allclose(drawn, single)


def test_three_modalities_generate_any_one_from_any_others():
  model = models.make_model(
      'jmvae_kl', modalities=(models.MNIST_IMAGE, models.MNIST_LABEL,
                              models.MNIST_ROTATED), **SMALL)
  params = jax.jit(model.init)(jax.random.key(0))
  x = jax.random.uniform(jax.random.key(1), (4, 784))
  w = jax.nn.one_hot(jnp.arange(4), 10, dtype=jnp.float32)
  given = {'image': x, 'label': w}
  probabilities = generation.predict(model, params, {'rotated': x[:, ::-1]},
                                     'label', key=None)
  np.testing.assert_allclose(probabilities, jax.nn.softmax(model.decode(
      params, 'label', model.encode_subset(
          params, {'rotated': x[:, ::-1]}).mean)), rtol=1e-6)
  rotated = generation.reconstruct(model, params, given, 'rotated')
  np.testing.assert_allclose(rotated, jax.nn.sigmoid(model.decode(
      params, 'rotated', model.encode_subset(params, given).mean)), rtol=1e-6)
  assert generation.can_decode(model, ('image', 'label'), 'rotated')
  assert not generation.can_decode(model, ('depth',), 'image')


def test_latent_means_are_the_given_encoders_mean():
  x = jax.random.uniform(jax.random.key(1), (4, 784))
  w = jax.nn.one_hot(jnp.arange(4), 10, dtype=jnp.float32)
  for name, given, encode in (
      ('vae', {'image': x}, lambda m, p: m.encode_x(p, x)),
      ('jmvae_kl', {'image': x, 'label': w}, lambda m, p: m.encode(p, x, w)),
      ('cmma', {'image': x, 'label': w}, lambda m, p: m.encode(p, x, w))):
    model = models.make_model(name, **SMALL)
    params = jax.jit(model.init)(jax.random.key(0))
    np.testing.assert_allclose(
        generation.latent_means(model, params, given),
        encode(model, params).mean, rtol=1e-6)
  with pytest.raises(ValueError, match='encodes'):
    generation.latent_means(model, params, {'label': w})


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
