"""A small network that reads digits (or attributes), to judge what a model generates.

The judge of coherence (label-to-image accuracy on MNIST,
``jmvae_jax.tasks.mnist.label_coherence``; cross-modal coherence on PolyMNIST)
must be independent of the models it judges: this network is trained here on a
data set's training split alone, never on a model's output. It is trained
once per (settings, training images) and cached as an npz file; the cache file
name holds a digest of both, so other data or settings train a new one. A
classifier that takes long to train can ship with the library instead
(``release``; ``load_cached``'s released_dir): same file, same name, so it is
found exactly when the data and settings are the ones it was trained on.

Networks (``ClassifierConfig``):
* MNIST: an MLP, 784 -> 512 -> 512 -> 10 with ReLU, trained on images shifted
  at random by up to 2 pixels each way: 98.87% test accuracy in 15 epochs (85
  to 101 s on the shared 2-core machine; without the shifts 98.5%). A CNN of
  XLA's CPU convolutions reached 98.78% but trained 36 times slower per image.
* PolyMNIST (digits on textured colour backgrounds): that MLP reads only 88%
  of one modality's test images after 8 epochs, so two 5x5 stride-2
  convolutions come first (``conv_channels``). They are computed as products
  of image patches (strided slices, ``_patches``) with a dense kernel, the
  same function as a convolution, which XLA's CPU backend runs more than
  three times faster than its convolutions.
* CelebA (``jmvae_jax.tasks.celeba.attribute_classifier``): the same
  network with one output per attribute, reading all 40 at once.
The labels decide the task: int classes [N] train a softmax over 10 digits;
0/1 attributes [N, A] train A independent logistic outputs (multi-label),
and ``predict`` then returns [N, A] in {0, 1}.
Training: Adam with a cosine-decayed step size, softmax (or sigmoid)
cross-entropy, shuffled batches, every draw from ``ClassifierConfig.seed``;
one ``jax.jit`` region per epoch (a ``lax.scan`` over the batches), the state
donated, and written after each epoch, so that a killed training resumes.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import os
import pathlib
import time
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jmvae_jax.data import cache, mnist
from jmvae_jax.errors import UserError
from jmvae_jax.training import optim

_KERNEL = 5  # Side of the convolutions' kernels; their stride is 2.
# Byte b as the float32 b / 255, divided by NumPy (XLA may multiply by the
# reciprocal instead, which can differ in the last bit).
_BYTE_VALUES = np.arange(256, dtype=np.float32) / np.float32(255)


@dataclasses.dataclass(frozen=True)
class ClassifierConfig:
  """Settings of the digit classifier's training.

  Attributes:
    seed: root of the initialization, the shuffling and the shifts.
    epochs: passes over the training images.
    batch_size: images per Adam step.
    learning_rate: Adam's initial step size, decayed to 0 along a cosine.
    max_shift: training images are shifted by up to this many pixels.
    hidden: widths of the hidden dense layers.
    conv_channels: channels of the 5x5 stride-2 convolutions before them
      (none: an MLP).
    image_shape: (height, width, channels) of the flattened images.
    redraw_each_epoch: train each epoch on a new draw of the training images
      from the data's generator (``load_or_train``'s ``redraw``; generated
      PolyMNIST: new crops of the backgrounds) instead of the fixed ones.
  """

  seed: int = 0
  epochs: int = 15
  batch_size: int = 100
  learning_rate: float = 1e-3
  max_shift: int = 2
  hidden: tuple[int, ...] = (512, 512)
  conv_channels: tuple[int, ...] = ()
  image_shape: tuple[int, int, int] = (28, 28, 1)
  redraw_each_epoch: bool = False

  def network(self, num_outputs: int = mnist.NUM_CLASSES) -> DigitNet:
    return DigitNet(self.hidden, self.conv_channels, self.image_shape,
                    num_outputs)


def _patches(x: jax.Array) -> jax.Array:
  """[N, H, W, C] -> [N, ceil(H/2), ceil(W/2), C * 25]: every 5x5 window,
  stride 2, zero-padded as 'SAME' (the extra row and column at the end).

  The features of a window are ordered (channel, row, column), as
  ``jax.lax.conv_general_dilated_patches`` orders them; the values are the
  same bits. Taken as 25 strided slices of the padded images instead: on
  XLA's CPU backend that patch function is itself a convolution, and the
  slices train a PolyMNIST classifier 1.8 times faster, to bit-identical
  parameters.
  """
  _, height, width, channels = x.shape
  out_h, out_w = -(-height // 2), -(-width // 2)
  pad_h = (out_h - 1) * 2 + _KERNEL - height
  pad_w = (out_w - 1) * 2 + _KERNEL - width
  padded = jnp.pad(x, ((0, 0), (pad_h // 2, pad_h - pad_h // 2),
                       (pad_w // 2, pad_w - pad_w // 2), (0, 0)))
  windows = jnp.stack(
      [padded[:, i:i + 2 * out_h - 1:2, j:j + 2 * out_w - 1:2, :]
       for i in range(_KERNEL) for j in range(_KERNEL)], axis=-1)
  return windows.reshape(x.shape[0], out_h, out_w, channels * _KERNEL**2)


class DigitNet(nn.Module):
  """Images [..., H W C] in [0, 1] -> logits [..., num_outputs].

  Attributes:
    hidden: widths of the hidden dense ReLU layers.
    conv_channels: channels of the 5x5 stride-2 ReLU convolutions first.
    image_shape: (H, W, C) of the flattened images.
    num_outputs: 10 digit logits, or one logit per attribute.
  """

  hidden: tuple[int, ...] = (512, 512)
  conv_channels: tuple[int, ...] = ()
  image_shape: tuple[int, int, int] = (28, 28, 1)
  num_outputs: int = mnist.NUM_CLASSES

  @nn.compact
  def __call__(self, images: jax.Array) -> jax.Array:
    x = images
    if self.conv_channels:
      batch_shape = x.shape[:-1]
      x = x.reshape((-1,) + self.image_shape)
      for channels in self.conv_channels:
        x = nn.relu(nn.Dense(channels)(_patches(x)))
      x = x.reshape(batch_shape + (-1,))
    for width in self.hidden:
      x = nn.relu(nn.Dense(width)(x))
    return nn.Dense(self.num_outputs)(x)


def random_shifts(key: jax.Array, images: jax.Array, max_shift: int,
                  image_shape: tuple[int, int, int] = (28, 28, 1)
                  ) -> jax.Array:
  """Each image [N, H W C] moved by its own uniform shift in [-max_shift,
  max_shift] pixels along each axis, filled with 0."""
  height, width, _ = image_shape
  pictures = images.reshape((-1,) + image_shape)
  padded = jnp.pad(pictures, ((0, 0), (max_shift, max_shift),
                              (max_shift, max_shift), (0, 0)))
  corners = jax.random.randint(key, (len(pictures), 2), 0, 2 * max_shift + 1)
  moved = jax.vmap(lambda picture, corner: jax.lax.dynamic_slice(
      picture, (corner[0], corner[1], 0), image_shape))(padded, corners)
  return moved.reshape(images.shape)


@dataclasses.dataclass(frozen=True)
class DigitClassifier:
  """A trained ``DigitNet`` with what is known of it.

  Attributes:
    params: the network's parameters.
    config: the settings it was trained with (they give its network).
    test_accuracy: its accuracy on the test images it was checked on.
    train_seconds: the wall time of its training (summed over the processes
      of a killed and resumed training).
    path: the cache file it was read from or written to.
    num_attributes: 0 for a digit classifier, else the number A of
      attributes it reads (multi-label).
  """

  params: Any
  config: ClassifierConfig
  test_accuracy: float
  train_seconds: float
  path: str
  num_attributes: int = 0

  def predict(self, images: Any, *, batch_size: int = 1000) -> np.ndarray:
    """What each image shows: [N, H W C] in [0, 1] -> its digit, int32 [N],
    or its attributes, int32 [N, A] in {0, 1}."""
    return predict(_network(self.config, self.num_attributes), self.params,
                   images, multi_label=self.num_attributes > 0,
                   batch_size=batch_size)

  def accuracy(self, images: Any, labels: Any) -> float:
    """The fraction of ``labels`` ([N], or [N, A] entries) predicted right."""
    return float(np.mean(self.predict(images) == np.asarray(labels)))


def _network(config: ClassifierConfig, num_attributes: int) -> DigitNet:
  return config.network(num_attributes or mnist.NUM_CLASSES)


@functools.partial(jax.jit, static_argnames=('network', 'multi_label'))
def _labels(network: DigitNet, params: Any, images: jax.Array,
            multi_label: bool) -> jax.Array:
  logits = network.apply(params, images)
  if multi_label:
    return (logits > 0).astype(jnp.int32)
  return jnp.argmax(logits, axis=-1)


def predict(network: DigitNet, params: Any, images: Any, *,
            multi_label: bool = False, batch_size: int = 1000) -> np.ndarray:
  """What each image [N, H W C] shows (in batches): the most likely digit,
  int32 [N], or (``multi_label``) each output's logit > 0, int32 [N, A]."""
  images = np.asarray(images, np.float32).reshape(
      -1, math.prod(network.image_shape))
  out = [np.asarray(_labels(network, params, images[i:i + batch_size],
                            multi_label))
         for i in range(0, len(images), batch_size)]
  if not out:
    return np.zeros((0,) + ((network.num_outputs,) if multi_label else ()),
                    np.int32)
  return np.concatenate(out).astype(np.int32)


def _make_train_epoch(config: ClassifierConfig, num_images: int,
                      num_attributes: int) -> Callable[..., Any]:
  """One epoch of Adam steps over shuffled batches, jitted, state donated."""
  steps = num_images // config.batch_size
  optimizer = optax.adam(optax.cosine_decay_schedule(
      config.learning_rate, config.epochs * steps))
  network = _network(config, num_attributes)

  def loss(params, images, labels):
    logits = network.apply(params, images)
    if num_attributes:
      return jnp.mean(optax.sigmoid_binary_cross_entropy(logits, labels))
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(
        logits, labels))

  @functools.partial(jax.jit, donate_argnums=(0, 1))
  def train_epoch(params, opt_state, images, labels, key):
    """Shuffles by fold_in(key, 0); shifts batch i by fold_in(key, i + 1)."""
    order = jax.random.permutation(jax.random.fold_in(key, 0), num_images)
    batches = order[:steps * config.batch_size].reshape(steps,
                                                        config.batch_size)

    def step(carry, inputs):
      params, opt_state = carry
      batch, index = inputs
      batch_images = images[batch]
      if batch_images.dtype == jnp.uint8:
        batch_images = jnp.asarray(_BYTE_VALUES)[batch_images]
      if config.max_shift:
        batch_images = random_shifts(jax.random.fold_in(key, index + 1),
                                     batch_images, config.max_shift,
                                     config.image_shape)
      value, grads = jax.value_and_grad(loss)(params, batch_images,
                                              labels[batch])
      params, opt_state = optim.apply_gradients(optimizer, grads, opt_state,
                                                params)
      return (params, opt_state), value

    (params, opt_state), losses = jax.lax.scan(
        step, (params, opt_state), (batches, jnp.arange(steps)))
    return params, opt_state, jnp.mean(losses)

  return train_epoch, optimizer


# Training images [N, H W C] in [0, 1], or epoch -> that epoch's images (new
# draws from a generator, with the same labels).
TrainingImages = np.ndarray | Callable[[int], np.ndarray]


def train_classifier(images: TrainingImages, labels: np.ndarray, *,
                     config: ClassifierConfig = ClassifierConfig(),
                     log: Callable[[str], None] = print,
                     progress_path: str | os.PathLike | None = None) -> Any:
  """Trains a ``DigitNet`` on images [N, H W C] in [0, 1] and their labels.

  Deterministic for a given seed, data and platform, and so is a training
  interrupted and resumed from ``progress_path``: every random draw is a
  function of the epoch.

  Args:
    images: the training images, or a function of the epoch that returns
      them (a new draw each epoch; called once per epoch, in order), float
      in [0, 1] or uint8 in 0-255 (the drawn ones: those travel as bytes and
      each batch is read as byte / 255 in the compiled step, the same bits
      as dividing first, without an epoch's float32 copy on the host).
    labels: int digits [N], or 0/1 attributes [N, A] (multi-label).
    config: the settings.
    log: receives a line per epoch.
    progress_path: if given, the parameters and optimizer state are written
      there (atomically, npz) after every epoch, and a training that finds
      the file continues after the epoch it holds. The caller deletes it
      once the result is kept elsewhere.

  Returns:
    The parameters.
  """
  if config.epochs < 1:
    raise UserError(f'the classifier needs at least one epoch, got '
                    f'epochs={config.epochs}')
  if len(labels) < config.batch_size:
    raise UserError(f'the classifier needs at least {config.batch_size} '
                    f'training images, got {len(labels)}')
  num_attributes = _num_attributes(labels)
  key = jax.random.key(config.seed)
  params = _network(config, num_attributes).init(
      jax.random.fold_in(key, 0),
      jnp.zeros((1, math.prod(config.image_shape))))
  train_epoch, optimizer = _make_train_epoch(config, len(labels),
                                             num_attributes)
  opt_state = optimizer.init(params)
  first_epoch, earlier_seconds, start = 0, 0.0, time.perf_counter()
  if progress_path is not None and os.path.isfile(progress_path):
    first_epoch, (params, opt_state), earlier_seconds = _read_progress(
        progress_path, (params, opt_state))
    log(f'classifier: resuming after epoch {first_epoch}/{config.epochs} '
        f'from {progress_path}')
  fixed = None if callable(images) else jnp.asarray(images, jnp.float32)
  labels = jnp.asarray(labels, jnp.float32 if num_attributes else jnp.int32)
  shuffle_key = jax.random.fold_in(key, 1)
  for epoch in range(first_epoch, config.epochs):
    epoch_images = fixed if fixed is not None else _as_array(images(epoch))
    if epoch_images.shape[0] != labels.shape[0]:
      raise ValueError(f'epoch {epoch} has {epoch_images.shape[0]} images for '
                       f'{labels.shape[0]} labels')
    params, opt_state, mean_loss = train_epoch(
        params, opt_state, epoch_images, labels,
        jax.random.fold_in(shuffle_key, epoch))
    if progress_path is not None:
      _write_progress(progress_path, epoch + 1, (params, opt_state),
                      earlier_seconds + time.perf_counter() - start)
    log(f'classifier: epoch {epoch + 1}/{config.epochs}, training '
        f'loss {float(mean_loss):.4f}')
  return params


def _write_progress(path: str | os.PathLike, epochs_done: int, state: Any,
                    seconds: float) -> None:
  """Writes the state's leaves, in tree order, the epochs done and the
  training's wall time so far (over every process) to PATH."""
  leaves = {f'leaf_{i}': np.asarray(leaf)
            for i, leaf in enumerate(jax.tree.leaves(jax.device_get(state)))}
  cache.write_atomically(pathlib.Path(path), lambda f: np.savez(
      f, epochs_done=np.int64(epochs_done), seconds=np.float64(seconds),
      **leaves))


def _read_progress(path: str | os.PathLike,
                   template: Any) -> tuple[int, Any, float]:
  """(epochs done, the state shaped as ``template``, seconds so far) from PATH.

  Raises:
    UserError: the file holds another network's state.
  """
  with np.load(path) as stored:
    epochs_done = int(stored['epochs_done'])
    seconds = float(stored['seconds']) if 'seconds' in stored.files else 0.0
    leaves = [stored[f'leaf_{i}'] for i in range(
        sum(name.startswith('leaf_') for name in stored.files))]
  expected = jax.tree.leaves(template)
  if [leaf.shape for leaf in leaves] != [np.shape(x) for x in expected]:
    raise UserError(f'{path} holds the training of another network: delete it '
                    'to train this one from its first epoch')
  return epochs_done, jax.tree.unflatten(
      jax.tree.structure(template), [jnp.asarray(x) for x in leaves]), seconds


def _as_array(images: np.ndarray) -> jax.Array:
  """uint8 images stay bytes (scaled in the compiled step); others float32."""
  if images.dtype == np.uint8:
    return jnp.asarray(images)
  return jnp.asarray(images, jnp.float32)


def _num_attributes(labels: np.ndarray) -> int:
  """0 for digit labels [N], A for attribute labels [N, A]."""
  return int(np.shape(labels)[1]) if np.ndim(labels) == 2 else 0


def _cache_name(config: ClassifierConfig, images: np.ndarray,
                labels: np.ndarray) -> str:
  settings = dataclasses.asdict(config)
  if not config.redraw_each_epoch:  # As before the setting existed: the
    del settings['redraw_each_epoch']  # classifiers cached then stay valid.
  digest = hashlib.sha256()
  digest.update(json.dumps(settings, sort_keys=True).encode())
  digest.update(np.ascontiguousarray(images, np.float32).tobytes())
  digest.update(np.ascontiguousarray(labels, np.int32).tobytes())
  return f'digit_net_{digest.hexdigest()[:16]}.npz'


def _cache_path(data: mnist.LabelledImages, cache_dir: str | os.PathLike,
                config: ClassifierConfig) -> str:
  """CACHE_DIR/classifiers/digit_net_<digest of config and training data>.npz."""
  return os.path.join(os.path.expanduser(os.fspath(cache_dir)), 'classifiers',
                      _cache_name(config, data.train_images, data.train_labels))


def load_cached(data: mnist.LabelledImages, *,
                cache_dir: str | os.PathLike = '~/.cache/jmvae_jax',
                config: ClassifierConfig = ClassifierConfig(),
                released_dir: str | os.PathLike | None = None
                ) -> DigitClassifier | None:
  """The classifier ``load_or_train`` would return, if it is cached; else None.

  Looks in CACHE_DIR/classifiers, then in ``released_dir`` (classifiers that
  ship with the library, under the same file names; see ``release``).
  """
  path = _cache_path(data, cache_dir, config)
  if not os.path.isfile(path) and released_dir is not None:
    path = os.path.join(os.fspath(released_dir), os.path.basename(path))
  if not os.path.isfile(path):
    return None
  with np.load(path) as stored:
    flat = {name: stored[name] for name in stored.files}
  meta = json.loads(str(flat.pop('__meta__')))
  return DigitClassifier(params=cache.unflatten_params(flat), path=path,
                         config=config, **meta)


def load_or_train(data: mnist.LabelledImages, *,
                  cache_dir: str | os.PathLike = '~/.cache/jmvae_jax',
                  config: ClassifierConfig = ClassifierConfig(),
                  log: Callable[[str], None] = print,
                  redraw: Callable[[int], np.ndarray] | None = None,
                  released_dir: str | os.PathLike | None = None
                  ) -> DigitClassifier:
  """The classifier of ``data``'s training split: from the cache, or trained.

  Args:
    data: images [N, H W C] in [0, 1] with digit labels [N] (MNIST, or one
      PolyMNIST modality) or 0/1 attributes [N, A] (CelebA); trained on the
      training images, checked on the test images.
    cache_dir: where CACHE_DIR/classifiers/digit_net_<digest>.npz is kept.
    config: the training settings (part of the digest).
    log: receives a line per epoch when training, and one with the result.
    redraw: epoch -> a new draw of the training images (same labels), for
      ``config.redraw_each_epoch``; the digest is of ``data``'s fixed training
      images (a redraw is a function of them and their generator's seed).
    released_dir: a folder of released classifiers, read when the cache
      lacks this one (``load_cached``).

  A training killed part-way continues after its last finished epoch, kept
  beside the cache file as digit_net_<digest>.progress.npz, and ends with the
  parameters an uninterrupted one gives.

  Raises:
    UserError: ``config.redraw_each_epoch`` without ``redraw``.

  Returns:
    The classifier, with its test accuracy and training time.
  """
  cached = load_cached(data, cache_dir=cache_dir, config=config,
                       released_dir=released_dir)
  if cached is not None:
    return cached
  if config.redraw_each_epoch and redraw is None:
    raise UserError(f'{data.source} cannot be drawn anew (redraw_each_epoch): '
                    'train its classifier with redraw_each_epoch=False')
  path = _cache_path(data, cache_dir, config)
  progress = path.removesuffix('.npz') + '.progress.npz'
  os.makedirs(os.path.dirname(path), exist_ok=True)
  params = train_classifier(
      redraw if config.redraw_each_epoch else data.train_images,
      data.train_labels, config=config, log=log, progress_path=progress)
  params = jax.block_until_ready(params)
  with np.load(progress) as stored:  # Over every process that trained it.
    seconds = float(stored['seconds'])
  num_attributes = _num_attributes(data.train_labels)
  classifier = DigitClassifier(
      params=jax.device_get(params), path=path, config=config,
      test_accuracy=0.0, train_seconds=seconds, num_attributes=num_attributes)
  classifier = dataclasses.replace(classifier, test_accuracy=(
      classifier.accuracy(data.test_images, data.test_labels)))
  meta = {'test_accuracy': classifier.test_accuracy, 'train_seconds': seconds}
  if num_attributes:
    meta['num_attributes'] = num_attributes
  cache.write_atomically(pathlib.Path(path), lambda f: np.savez(
      f, __meta__=np.array(json.dumps(meta)), **cache.flatten_params(params)))
  pathlib.Path(progress).unlink(missing_ok=True)
  log(f'classifier: {classifier.test_accuracy:.4f} test accuracy after '
      f'{seconds:.0f}s of training; cached in {path}')
  return classifier


def release(classifier: DigitClassifier, out_dir: str | os.PathLike) -> str:
  """Writes ``classifier`` into ``out_dir`` for ``load_cached``'s released_dir.

  The file is its cache file (same name, same float32 arrays and record),
  compressed; returns its path.
  """
  with np.load(classifier.path) as stored:
    arrays = {name: stored[name] for name in stored.files}
  path = pathlib.Path(out_dir) / os.path.basename(classifier.path)
  path.parent.mkdir(parents=True, exist_ok=True)
  cache.write_atomically(path, lambda f: np.savez_compressed(f, **arrays))
  return os.fspath(path)
