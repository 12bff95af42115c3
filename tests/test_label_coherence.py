"""Label-to-image accuracy and its digit classifier.

Fast tests use fake "models" whose images are known and a classifier that reads
them exactly; one compares against the probability, integrated numerically
with SciPy, that a Gaussian draw lands on the right digit. The slow ones train
(or reuse the cached) digit classifier on real MNIST and check that it reads a
model which returns real test images of the requested digit as right, and one
which returns noise as right one time in ten.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, stats

from jmvae_jax import models
from jmvae_jax.distributions import DiagGaussian
from jmvae_jax.data import mnist
from jmvae_jax.errors import UserError
from jmvae_jax.metrics import digit_classifier
from jmvae_jax.tasks.mnist import label_coherence
from jmvae_jax.tasks.mnist.config import Config
from tests.synthetic import labelled_blobs


def _logits(probabilities):
  p = jnp.clip(probabilities, 1e-6, 1 - 1e-6)
  return jnp.log(p) - jnp.log1p(-p)


@dataclasses.dataclass(frozen=True)
class _LabelToImage:
  """A keyed fake with q(z|label) (``encode_w``) and p(image|z) (``decode_x``)."""

  modalities: tuple = (models.MNIST_IMAGE, models.MNIST_LABEL)

  @property
  def modality_names(self):
    return ('image', 'label')

  def encode_subset(self, params, observed):
    return self.encode_w(params, observed['label'])

  def decode(self, params, name, z):
    assert name == 'image', name
    return self.decode_x(params, z)

  def log_likelihood(self, params, name, value, z):
    return models.MNIST_IMAGE.log_prob(value, self.decode(params, name, z))


@dataclasses.dataclass(frozen=True)
class PickedImages(_LabelToImage):
  """z ~ N(offset * w, scale^2 I) in 10 + 1 dimensions; the image is one of
  params['images'][argmax z[:10] + shift], chosen by the last coordinate of z.

  params['images'] is [10, M, 784]: M images of each digit.
  """

  offset: float = 10.0
  log_var: float = 0.0
  shift: int = 0
  latent_dim: int = 11

  def encode_w(self, params, w):
    mean = jnp.concatenate([self.offset * w, jnp.zeros(w.shape[:-1] + (1,))],
                           axis=-1)
    return DiagGaussian(mean, jnp.full(mean.shape, self.log_var))

  def decode_x(self, params, z):
    images = params['images']
    digit = (jnp.argmax(z[..., :10], axis=-1) + self.shift) % 10
    which = jnp.floor(jax.scipy.stats.norm.cdf(z[..., 10])
                      * images.shape[1]).astype(jnp.int32)
    return _logits(images[digit, jnp.clip(which, 0, images.shape[1] - 1)])


@dataclasses.dataclass(frozen=True)
class Noise(_LabelToImage):
  """Ignores the label: each image is the sigmoid of 3 z, z ~ N(0, I_784)."""

  latent_dim: int = 784

  def encode_w(self, params, w):
    shape = w.shape[:-1] + (self.latent_dim,)
    return DiagGaussian(jnp.zeros(shape), jnp.zeros(shape))

  def decode_x(self, params, z):
    return 3.0 * z


def _prototypes():
  """One distinct image per digit [10, 1, 784], and the exact classifier of
  its images (the prototype it overlaps most)."""
  prototypes = np.zeros((10, 784), np.float32)
  for digit in range(10):
    prototypes[digit, digit * 70:(digit + 1) * 70 + 50] = 1.0

  def classify(images):
    # A prototype overlaps itself in 120 pixels, its neighbours in 50.
    return np.argmax(images @ prototypes.T, axis=1)

  return {'images': jnp.asarray(prototypes[:, None])}, classify


def test_right_digits_score_one_and_shifted_digits_zero():
  params, classify = _prototypes()
  right = label_coherence.label_to_image_accuracy(
      PickedImages(), params, classify, key=jax.random.key(0),
      num_per_label=30, batch_size=7)
  assert right.overall == 1.0 and right.per_digit == (1.0,) * 10
  assert right.num_per_label == 30
  wrong = label_coherence.label_to_image_accuracy(
      PickedImages(shift=3), params, classify, key=jax.random.key(0),
      num_per_label=5)
  assert wrong.overall == 0.0


def test_accuracy_matches_the_probability_of_the_right_argmax():
  # z_c ~ N(offset, 1), the 9 others N(0, 1): the image is right with
  # probability P = int phi(t - offset) Phi(t)^9 dt.
  offset, n = 1.0, 2000
  exact, _ = integrate.quad(
      lambda t: stats.norm.pdf(t - offset) * stats.norm.cdf(t) ** 9,
      -np.inf, np.inf)
  params, classify = _prototypes()
  result = label_coherence.label_to_image_accuracy(
      PickedImages(offset=offset), params, classify,
      key=jax.random.key(int(np.random.default_rng().integers(1 << 30))),
      num_per_label=n, batch_size=500)
  std = np.sqrt(exact * (1 - exact) / n)
  assert abs(result.overall - exact) < 4 * std / np.sqrt(10)
  np.testing.assert_allclose(result.per_digit, exact, atol=5 * std)


def test_the_same_key_gives_the_same_accuracy():
  params, classify = _prototypes()
  model = PickedImages(offset=1.0)
  first, second = (label_coherence.label_to_image_accuracy(
      model, params, classify, key=jax.random.key(3), num_per_label=50)
                   for _ in range(2))
  assert first == second


def test_models_without_q_z_given_w_are_refused():
  with pytest.raises(UserError, match='cannot draw images from labels'):
    label_coherence.label_to_image_accuracy(
        models.VAE(), {}, lambda images: images, key=jax.random.key(0))
  params, classify = _prototypes()
  with pytest.raises(UserError, match='>= 1'):
    label_coherence.label_to_image_accuracy(
        PickedImages(), params, classify, key=jax.random.key(0),
        num_per_label=0)


def test_classifier_training_is_deterministic_and_cached(tmp_path):
  data = labelled_blobs(num_train=300, num_test=100)
  config = digit_classifier.ClassifierConfig(epochs=2, batch_size=10,
                                            hidden=(32,))
  lines = []
  first = digit_classifier.load_or_train(data, cache_dir=tmp_path,
                                         config=config, log=lines.append)
  assert len(lines) == 3  # Two epochs and the result.
  again = digit_classifier.train_classifier(
      data.train_images, data.train_labels, config=config, log=lambda _: None)
  for a, b in zip(jax.tree.leaves(first.params), jax.tree.leaves(again),
                  strict=True):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  cached = digit_classifier.load_or_train(data, cache_dir=tmp_path,
                                          config=config, log=lines.append)
  assert len(lines) == 3 and cached.path == first.path
  assert cached.test_accuracy == first.test_accuracy
  np.testing.assert_array_equal(cached.predict(data.test_images),
                                first.predict(data.test_images))
  # The blobs are easy: the classifier must read them.
  assert first.test_accuracy > 0.9
  other = digit_classifier.load_or_train(
      data, cache_dir=tmp_path, log=lambda _: None,
      config=dataclasses.replace(config, seed=1))
  assert other.path != first.path


def test_a_released_classifier_is_found_for_its_data_alone(tmp_path):
  data = labelled_blobs(num_train=300, num_test=100)
  config = digit_classifier.ClassifierConfig(epochs=1, batch_size=10,
                                            hidden=(16,))
  trained = digit_classifier.load_or_train(
      data, cache_dir=tmp_path / 'trainer', config=config, log=lambda _: None)
  released = digit_classifier.release(trained, tmp_path / 'released')
  # A user with an empty cache gets the released one, untrained.
  lines = []
  found = digit_classifier.load_or_train(
      data, cache_dir=tmp_path / 'user', config=config, log=lines.append,
      released_dir=tmp_path / 'released')
  assert not lines and found.path == released
  assert found.test_accuracy == trained.test_accuracy
  for a, b in zip(jax.tree.leaves(trained.params), jax.tree.leaves(found.params),
                  strict=True):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  # The user's own cache comes first; other data or settings miss it.
  assert digit_classifier.load_cached(
      data, cache_dir=tmp_path / 'trainer', config=config,
      released_dir=tmp_path / 'released').path == trained.path
  other = labelled_blobs(num_train=300, num_test=100, seed=1)
  for data_, config_ in ((other, config),
                         (data, dataclasses.replace(config, seed=1))):
    assert digit_classifier.load_cached(
        data_, cache_dir=tmp_path / 'user', config=config_,
        released_dir=tmp_path / 'released') is None


class _Killed(Exception):
  """Stands for a SIGKILL part-way through a classifier's training."""


def test_a_killed_classifier_training_resumes_bit_for_bit(tmp_path):
  data = labelled_blobs(num_train=300, num_test=100)
  config = digit_classifier.ClassifierConfig(epochs=3, batch_size=20,
                                            hidden=(16,), max_shift=1)
  whole = digit_classifier.train_classifier(
      data.train_images, data.train_labels, config=config, log=lambda _: None)

  def killed_after_epoch_2(line):
    if line.startswith('classifier: epoch 2/'):
      raise _Killed

  with pytest.raises(_Killed):
    digit_classifier.load_or_train(data, cache_dir=tmp_path, config=config,
                                   log=killed_after_epoch_2)
  progress = list((tmp_path / 'classifiers').glob('*.progress.npz'))
  assert len(progress) == 1
  with np.load(progress[0]) as stored:
    killed_seconds = float(stored['seconds'])
  assert killed_seconds > 0
  assert digit_classifier.load_cached(data, cache_dir=tmp_path,
                                      config=config) is None
  lines = []
  resumed = digit_classifier.load_or_train(data, cache_dir=tmp_path,
                                           config=config, log=lines.append)
  assert lines[0].startswith('classifier: resuming after epoch 2/3')
  trained = [line for line in lines if line.startswith('classifier: epoch ')]
  assert len(trained) == 1 and trained[0].startswith('classifier: epoch 3/3')
  for a, b in zip(jax.tree.leaves(whole), jax.tree.leaves(resumed.params),
                  strict=True):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  assert not progress[0].exists()  # Gone once the classifier is cached.
  # The training time counts both processes.
  assert resumed.train_seconds > killed_seconds
  # Another network's progress file is refused, not loaded.
  wider = dataclasses.replace(config, hidden=(8,))
  with pytest.raises(_Killed):
    digit_classifier.load_or_train(data, cache_dir=tmp_path, config=wider,
                                   log=killed_after_epoch_2)
  stale = next((tmp_path / 'classifiers').glob('*.progress.npz'))
  with pytest.raises(UserError, match='another network: delete it'):
    digit_classifier.train_classifier(
        data.train_images, data.train_labels, config=config,
        log=lambda _: None, progress_path=stale)


def test_attribute_labels_train_one_logistic_output_each(tmp_path):
  # Attribute j of an image is present when band j of its pixels is lit; the
  # bands are independent, so a softmax could not read them, a multi-label
  # network can.
  rng = np.random.default_rng()
  present = rng.integers(0, 2, (600, 6)).astype(np.int32)
  images = rng.uniform(0.0, 0.1, (600, 784)).astype(np.float32)
  for j in range(6):
    images[present[:, j] == 1, j * 120:(j + 1) * 120] += 0.8
  data = mnist.LabelledImages(images[:500], present[:500], images[500:],
                              present[500:], source='bands')
  config = digit_classifier.ClassifierConfig(epochs=3, batch_size=20,
                                            hidden=(32,), max_shift=0)
  judge = digit_classifier.load_or_train(data, cache_dir=tmp_path,
                                         config=config, log=lambda _: None)
  predicted = judge.predict(data.test_images)
  assert predicted.shape == (100, 6) and set(np.unique(predicted)) <= {0, 1}
  assert judge.num_attributes == 6 and judge.test_accuracy > 0.95
  assert judge.test_accuracy == pytest.approx(
      np.mean(predicted == data.test_labels))
  cached = digit_classifier.load_cached(data, cache_dir=tmp_path,
                                        config=config)
  assert cached.num_attributes == 6
  np.testing.assert_array_equal(cached.predict(data.test_images), predicted)


def test_random_shifts_move_each_image_by_at_most_the_limit():
  images = np.zeros((50, 784), np.float32)
  images[:, 14 * 28 + 14] = 1.0  # One lit pixel in the middle.
  moved = np.asarray(digit_classifier.random_shifts(
      jax.random.key(0), jnp.asarray(images), 2)).reshape(50, 28, 28)
  rows, cols = np.nonzero(moved.sum(0))
  assert moved.sum() == 50  # Nothing lost.
  assert set(rows) <= set(range(12, 17)) and set(cols) <= set(range(12, 17))
  assert len(set(zip(rows, cols))) > 5  # Different shifts per image.


def test_colour_images_shift_every_channel_together():
  rng = np.random.default_rng()
  images = rng.uniform(size=(20, 6, 7, 3)).astype(np.float32)
  moved = np.asarray(digit_classifier.random_shifts(
      jax.random.key(int(rng.integers(1 << 30))),
      jnp.asarray(images.reshape(20, -1)), 1, (6, 7, 3))).reshape(images.shape)
  for image, out in zip(images, moved):
    padded = np.pad(image, ((1, 1), (1, 1), (0, 0)))
    assert any(np.array_equal(out, padded[r:r + 6, c:c + 7])
               for r in range(3) for c in range(3))


def test_the_patch_products_are_a_strided_convolution():
  rng = np.random.default_rng()
  x = rng.normal(size=(2, 9, 8, 3)).astype(np.float32)
  kernel = rng.normal(size=(3, 5, 5, 4)).astype(np.float32)  # [C, kh, kw, out]
  got = np.asarray(digit_classifier._patches(jnp.asarray(x))) @ kernel.reshape(
      75, 4)
  # 'SAME' with stride 2: output ceil(n / 2); padding (total 5 - 1 - ...)
  # puts the extra row/column at the end.
  out_h, out_w = 5, 4
  pad_h = max((out_h - 1) * 2 + 5 - 9, 0)
  pad_w = max((out_w - 1) * 2 + 5 - 8, 0)
  padded = np.pad(x, ((0, 0), (pad_h // 2, pad_h - pad_h // 2),
                      (pad_w // 2, pad_w - pad_w // 2), (0, 0)))
  expected = np.zeros((2, out_h, out_w, 4), np.float32)
  for i in range(out_h):
    for j in range(out_w):
      window = padded[:, 2 * i:2 * i + 5, 2 * j:2 * j + 5, :]  # [N, 5, 5, C]
      expected[:, i, j] = np.einsum('nhwc,chwo->no', window, kernel)
  np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
  # The same bits as JAX's patch function, which trained the classifiers
  # cached before the slices replaced it, on odd and even sides.
  for shape in [(2, 9, 8, 3), (3, 28, 28, 3), (1, 7, 7, 64)]:
    images = jnp.asarray(rng.normal(size=shape).astype(np.float32))
    np.testing.assert_array_equal(
        np.asarray(digit_classifier._patches(images)),
        np.asarray(jax.lax.conv_general_dilated_patches(
            images, (5, 5), (2, 2), 'SAME',
            dimension_numbers=('NHWC', 'HWIO', 'NHWC'))))


def test_a_convolutional_classifier_reads_colour_digits():
  data = labelled_blobs(num_train=300, num_test=100)
  # The blobs in the red channel of a colour image, noise in the others.
  rng = np.random.default_rng(0)

  def colour(grey):
    out = rng.uniform(0, 0.2, size=(len(grey), 28, 28, 3)).astype(np.float32)
    out[..., 0] = grey.reshape(-1, 28, 28)
    return out.reshape(len(grey), -1)

  data = dataclasses.replace(data, train_images=colour(data.train_images),
                             test_images=colour(data.test_images))
  config = digit_classifier.ClassifierConfig(
      epochs=6, batch_size=10, hidden=(16,), conv_channels=(4, 8),
      image_shape=(28, 28, 3))
  first = digit_classifier.train_classifier(
      data.train_images, data.train_labels, config=config, log=lambda _: None)
  again = digit_classifier.train_classifier(
      data.train_images, data.train_labels, config=config, log=lambda _: None)
  for a, b in zip(jax.tree.leaves(first), jax.tree.leaves(again), strict=True):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  predicted = digit_classifier.predict(config.network(), first,
                                       data.test_images)
  assert np.mean(predicted == data.test_labels) > 0.9


@pytest.fixture(scope='module')
def classifier(local_mnist):
  """The default classifier (trained once, then read from the cache)."""
  return digit_classifier.load_or_train(local_mnist, cache_dir=Config.data_dir)


@pytest.mark.slow
def test_classifier_reads_the_test_set(classifier, local_mnist):
  # Measured: 0.9887 (seed 0, 15 epochs).
  assert classifier.test_accuracy >= 0.98
  assert classifier.accuracy(local_mnist.test_images,
                             local_mnist.test_labels) == classifier.test_accuracy


@pytest.mark.slow
def test_real_test_digits_score_about_one_and_noise_about_a_tenth(
    classifier, local_mnist):
  per_digit = 50
  images = np.stack([
      local_mnist.test_images[local_mnist.test_labels == digit][:per_digit]
      for digit in range(10)])
  real = label_coherence.label_to_image_accuracy(
      PickedImages(), {'images': jnp.asarray(images)}, classifier.predict,
      key=jax.random.key(0), num_per_label=200)
  # The images are the classifier's test images: it reads 98.9% of them.
  assert real.overall >= 0.97 and min(real.per_digit) >= 0.9
  noise = label_coherence.label_to_image_accuracy(
      Noise(), {}, classifier.predict, key=jax.random.key(1),
      num_per_label=300)
  # The label has no effect on the images: 0.1 in expectation, std ~0.006.
  assert abs(noise.overall - 0.1) < 0.03


def test_a_classifier_trains_on_each_epochs_new_draw(tmp_path):
  data = labelled_blobs(num_train=200, num_test=50)
  config = digit_classifier.ClassifierConfig(epochs=3, batch_size=20,
                                            hidden=(16,))
  asked = []

  def same_each_epoch(epoch):
    asked.append(epoch)
    return data.train_images

  fixed = digit_classifier.train_classifier(
      data.train_images, data.train_labels, config=config, log=lambda _: None)
  drawn = digit_classifier.train_classifier(
      same_each_epoch, data.train_labels, config=config, log=lambda _: None)
  assert asked == [0, 1, 2]
  for a, b in zip(jax.tree.leaves(fixed), jax.tree.leaves(drawn), strict=True):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  # Draws as bytes train as the same images divided by 255 beforehand.
  as_bytes = np.round(data.train_images * 255).astype(np.uint8)
  from_bytes = digit_classifier.train_classifier(
      lambda epoch: as_bytes, data.train_labels, config=config,
      log=lambda _: None)
  from_floats = digit_classifier.train_classifier(
      lambda epoch: as_bytes.astype(np.float32) / 255.0, data.train_labels,
      config=config, log=lambda _: None)
  for a, b in zip(jax.tree.leaves(from_bytes), jax.tree.leaves(from_floats),
                  strict=True):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))

  redrawn = dataclasses.replace(config, redraw_each_epoch=True)
  with pytest.raises(UserError, match='cannot be drawn anew'):
    digit_classifier.load_or_train(data, cache_dir=tmp_path, config=redrawn,
                                   log=lambda _: None)
  # A new draw each epoch: the images of epoch e are the fixed ones with
  # their pixels shuffled by e (a different input distribution every epoch).
  def shuffled(epoch):
    order = np.random.default_rng(epoch).permutation(784)
    return data.train_images[:, order]

  judge = digit_classifier.load_or_train(data, cache_dir=tmp_path,
                                         config=redrawn, log=lambda _: None,
                                         redraw=shuffled)
  plain = digit_classifier.load_or_train(data, cache_dir=tmp_path,
                                         config=config, log=lambda _: None)
  assert judge.path != plain.path
  assert any(not np.array_equal(np.asarray(a), np.asarray(b)) for a, b in
             zip(jax.tree.leaves(judge.params), jax.tree.leaves(plain.params)))
  # Settings without redraws keep the digest they had before the setting
  # existed (pinned from that code), so the classifiers cached then are found.
  images = (np.arange(30 * 784).reshape(30, 784) % 7 / 7).astype(np.float32)
  assert digit_classifier._cache_name(config, images, np.arange(30) % 10) == (
      'digit_net_0959cc1a2274fbc3.npz')
