"""A small network that reads MNIST digits, to judge images drawn from labels.

The judge of label-to-image accuracy (``jmvae_jax.tasks.mnist.label_coherence``) must be
independent of the models it judges: this network is trained here on the MNIST
training split (grey levels) alone, never on a model's output. It is trained
once per (settings, training images) and cached as an npz file; the cache file
name holds a digest of both, so other data or settings train a new one.

Network: an MLP, 784 -> 512 -> 512 -> 10 with ReLU. A CNN was tried first
(two 5x5 stride-2 convolutions of 16 and 32 channels, dense 128): 98.78% test
accuracy after 3 epochs, but XLA's CPU convolutions made it 36 times slower
per image than this MLP (417 s of training on the shared 2-core machine). The
MLP, trained on images shifted at random by up to 2 pixels each way, reaches
98.87% in 15 epochs (85 to 101 s on the shared, loaded 2-core machine;
without the shifts 98.5%).
Training: Adam with a cosine-decayed step size, softmax cross-entropy,
shuffled batches, every draw from ``ClassifierConfig.seed``; one ``jax.jit``
region per epoch (a ``lax.scan`` over the batches), the state donated.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import time
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jmvae_jax.data import mnist
from jmvae_jax.errors import UserError
from jmvae_jax.tasks.mnist.release import flatten_params, unflatten_params
from jmvae_jax.training import optim

_SIDE = 28


@dataclasses.dataclass(frozen=True)
class ClassifierConfig:
  """Settings of the digit classifier's training.

  Attributes:
    seed: root of the initialization, the shuffling and the shifts.
    epochs: passes over the training images.
    batch_size: images per Adam step.
    learning_rate: Adam's initial step size, decayed to 0 along a cosine.
    max_shift: training images are shifted by up to this many pixels.
    hidden: widths of the hidden layers.
  """

  seed: int = 0
  epochs: int = 15
  batch_size: int = 100
  learning_rate: float = 1e-3
  max_shift: int = 2
  hidden: tuple[int, ...] = (512, 512)


class DigitNet(nn.Module):
  """Grey-level images [..., 784] in [0, 1] -> digit logits [..., 10].

  Attributes:
    hidden: widths of the hidden ReLU layers.
  """

  hidden: tuple[int, ...] = (512, 512)

  @nn.compact
  def __call__(self, images: jax.Array) -> jax.Array:
    x = images
    for width in self.hidden:
      x = nn.relu(nn.Dense(width)(x))
    return nn.Dense(mnist.NUM_CLASSES)(x)


def random_shifts(key: jax.Array, images: jax.Array,
                  max_shift: int) -> jax.Array:
  """Each image [N, 784] moved by its own uniform shift in [-max_shift,
  max_shift] pixels along each axis, filled with 0 (background)."""
  pictures = images.reshape((-1, _SIDE, _SIDE))
  padded = jnp.pad(pictures, ((0, 0), (max_shift, max_shift),
                              (max_shift, max_shift)))
  corners = jax.random.randint(key, (len(pictures), 2), 0, 2 * max_shift + 1)
  moved = jax.vmap(lambda picture, corner: jax.lax.dynamic_slice(
      picture, (corner[0], corner[1]), (_SIDE, _SIDE)))(padded, corners)
  return moved.reshape(images.shape)


@dataclasses.dataclass(frozen=True)
class DigitClassifier:
  """A trained ``DigitNet`` with what is known of it.

  Attributes:
    params: the network's parameters.
    test_accuracy: its accuracy on the MNIST test images it was checked on.
    train_seconds: the wall time of its training.
    path: the cache file it was read from or written to.
  """

  params: Any
  test_accuracy: float
  train_seconds: float
  path: str

  def predict(self, images: Any, *, batch_size: int = 1000) -> np.ndarray:
    """The digit of each image: [N, 784] in [0, 1] -> int32 [N]."""
    return predict(self.params, images, batch_size=batch_size)


def _hidden(params: Any) -> tuple[int, ...]:
  """The hidden widths of a ``DigitNet``'s parameters."""
  layers = params['params']
  return tuple(layers[f'Dense_{i}']['bias'].shape[0]
               for i in range(len(layers) - 1))


@functools.partial(jax.jit, static_argnames='hidden')
def _labels(params: Any, images: jax.Array, hidden: tuple[int, ...]
            ) -> jax.Array:
  return jnp.argmax(DigitNet(hidden).apply(params, images), axis=-1)


def predict(params: Any, images: Any, *, batch_size: int = 1000) -> np.ndarray:
  """The most likely digit of each image [N, 784] (in batches): int32 [N]."""
  images = np.asarray(images, np.float32).reshape(-1, _SIDE * _SIDE)
  hidden = _hidden(params)
  out = [np.asarray(_labels(params, images[i:i + batch_size], hidden))
         for i in range(0, len(images), batch_size)]
  return np.concatenate(out).astype(np.int32) if out else np.zeros(0, np.int32)


def accuracy(params: Any, images: Any, labels: Any) -> float:
  """The fraction of ``images`` [N, 784] predicted as ``labels`` [N]."""
  return float(np.mean(predict(params, images) == np.asarray(labels)))


def _make_train_epoch(config: ClassifierConfig, num_images: int
                      ) -> Callable[..., Any]:
  """One epoch of Adam steps over shuffled batches, jitted, state donated."""
  steps = num_images // config.batch_size
  optimizer = optax.adam(optax.cosine_decay_schedule(
      config.learning_rate, config.epochs * steps))
  network = DigitNet(config.hidden)

  def loss(params, images, labels):
    logits = network.apply(params, images)
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
      if config.max_shift:
        batch_images = random_shifts(jax.random.fold_in(key, index + 1),
                                     batch_images, config.max_shift)
      value, grads = jax.value_and_grad(loss)(params, batch_images,
                                              labels[batch])
      params, opt_state = optim.apply_gradients(optimizer, grads, opt_state,
                                                params)
      return (params, opt_state), value

    (params, opt_state), losses = jax.lax.scan(
        step, (params, opt_state), (batches, jnp.arange(steps)))
    return params, opt_state, jnp.mean(losses)

  return train_epoch, optimizer


def train_classifier(images: np.ndarray, labels: np.ndarray, *,
                     config: ClassifierConfig = ClassifierConfig(),
                     log: Callable[[str], None] = print) -> Any:
  """Trains a ``DigitNet`` on grey-level images [N, 784] and labels [N].

  Deterministic for a given seed, data and platform.

  Returns:
    The parameters.
  """
  if len(images) < config.batch_size:
    raise UserError(f'the classifier needs at least {config.batch_size} '
                    f'training images, got {len(images)}')
  key = jax.random.key(config.seed)
  params = DigitNet(config.hidden).init(jax.random.fold_in(key, 0),
                                        jnp.zeros((1, _SIDE * _SIDE)))
  train_epoch, optimizer = _make_train_epoch(config, len(images))
  opt_state = optimizer.init(params)
  images = jnp.asarray(images, jnp.float32)
  labels = jnp.asarray(labels, jnp.int32)
  shuffle_key = jax.random.fold_in(key, 1)
  for epoch in range(config.epochs):
    params, opt_state, mean_loss = train_epoch(
        params, opt_state, images, labels,
        jax.random.fold_in(shuffle_key, epoch))
    log(f'digit classifier: epoch {epoch + 1}/{config.epochs}, training '
        f'loss {float(mean_loss):.4f}')
  return params


def _cache_name(config: ClassifierConfig, images: np.ndarray,
                labels: np.ndarray) -> str:
  digest = hashlib.sha256()
  digest.update(json.dumps(dataclasses.asdict(config), sort_keys=True).encode())
  digest.update(np.ascontiguousarray(images, np.float32).tobytes())
  digest.update(np.ascontiguousarray(labels, np.int32).tobytes())
  return f'digit_net_{digest.hexdigest()[:16]}.npz'


def load_or_train(data: mnist.LabelledImages, *,
                  cache_dir: str | os.PathLike = '~/.cache/jmvae_jax',
                  config: ClassifierConfig = ClassifierConfig(),
                  log: Callable[[str], None] = print) -> DigitClassifier:
  """The classifier of ``data``'s training split: from the cache, or trained.

  Args:
    data: MNIST; trained on its training images, checked on its test images.
    cache_dir: where CACHE_DIR/classifiers/digit_net_<digest>.npz is kept.
    config: the training settings (part of the digest).
    log: receives a line per epoch when training, and one with the result.

  Returns:
    The classifier, with its test accuracy and training time.
  """
  directory = os.path.join(os.path.expanduser(os.fspath(cache_dir)),
                           'classifiers')
  path = os.path.join(directory, _cache_name(config, data.train_images,
                                             data.train_labels))
  if os.path.isfile(path):
    with np.load(path) as stored:
      flat = {name: stored[name] for name in stored.files}
    meta = json.loads(str(flat.pop('__meta__')))
    return DigitClassifier(params=unflatten_params(flat), path=path, **meta)
  start = time.perf_counter()
  params = train_classifier(data.train_images, data.train_labels,
                            config=config, log=log)
  params = jax.block_until_ready(params)
  seconds = time.perf_counter() - start
  test_accuracy = accuracy(params, data.test_images, data.test_labels)
  meta = {'test_accuracy': test_accuracy, 'train_seconds': seconds}
  os.makedirs(directory, exist_ok=True)
  tmp = f'{path}.tmp.npz'
  np.savez(tmp, __meta__=np.array(json.dumps(meta)), **flatten_params(params))
  os.replace(tmp, path)
  log(f'digit classifier: {test_accuracy:.4f} test accuracy after '
      f'{seconds:.0f}s of training; cached in {path}')
  return DigitClassifier(params=jax.device_get(params), path=path, **meta)
