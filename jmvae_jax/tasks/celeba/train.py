"""CelebA training: pixel standardization, the trainers, and a jitted epoch.

A trainer owns the parameters' layout and one update step:

  init(key) -> params                 {'model': Linen variables of the model,
                                       plus 'discriminator' for a GAN}
  init_opt_state(params) -> opt_state
  step(params, opt_state, x, w, *, key, kl_weight) -> (params, opt_state, metrics)

``ELBOTrainer`` (one Adam on -Eq. 1 / -Eq. 4) serves JMVAE-kl, JMVAE-zero and the
VAE; ``jmvae_jax.tasks.celeba.gan.GANTrainer`` (three Adams) the GAN variants. In both,
``params['model']`` holds the model's {'params', 'batch_stats'}: the variables
its evaluation-mode methods, and so the bounds, take.

The run's state is ``jmvae_jax.training.train.TrainState`` (params, opt_state, step,
epoch, typed key), which ``jmvae_jax.training.checkpoints.Checkpoints`` saves whole. One
epoch is one ``jax.jit`` region with the state donated: a ``lax.scan`` over the
shuffled batches of uint8 faces held on the device (2.1 GB for all of CelebA,
a quarter of float32), each standardized inside the step.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, NamedTuple, Protocol

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jmvae_jax import objectives
from jmvae_jax.tasks.celeba import gan
from jmvae_jax.tasks.celeba.config import CelebAConfig
from jmvae_jax.training import parallel
from jmvae_jax.training import train as train_lib
from jmvae_jax.training.optim import apply_gradients
from jmvae_jax.training.train import TrainState, scan_epoch

_HOST_CHUNK = 8192
Params = dict[str, Any]
Metrics = dict[str, jax.Array]


class PixelStats(NamedTuple):
  """Per-pixel mean and standard deviation of the training faces, [64, 64, 3]."""

  mean: jax.Array
  std: jax.Array


def pixel_stats(images: np.ndarray) -> PixelStats:
  """Per-pixel statistics of images [N, 64, 64, 3] in [0, 1], as the authors'.

  The authors' Tars (``load_data.celeba(toFloat=True)``) standardizes every
  pixel of every channel with the training set's mean and standard deviation.
  A constant pixel gets standard deviation 1. Accumulated in float64 over
  chunks, so the host never holds a float64 copy of the data set.
  """
  total = np.zeros(images.shape[1:], np.float64)
  total_sq = np.zeros(images.shape[1:], np.float64)
  for start in range(0, len(images), _HOST_CHUNK):
    chunk = images[start:start + _HOST_CHUNK].astype(np.float64)
    total += chunk.sum(axis=0)
    total_sq += np.square(chunk).sum(axis=0)
  mean = total / len(images)
  std = np.sqrt(np.maximum(total_sq / len(images) - np.square(mean), 0.0))
  std[std == 0] = 1.0
  return PixelStats(jnp.asarray(mean, jnp.float32), jnp.asarray(std, jnp.float32))


def to_uint8(images: np.ndarray) -> np.ndarray:
  """Faces in [0, 1] (8-bit values / 255, as loaded) back to exact uint8."""
  out = np.empty(images.shape, np.uint8)
  for start in range(0, len(images), _HOST_CHUNK):
    chunk = images[start:start + _HOST_CHUNK]
    out[start:start + _HOST_CHUNK] = np.rint(chunk * 255)
  return out


def standardize(images: jax.Array, stats: PixelStats) -> jax.Array:
  """uint8 faces [..., 64, 64, 3] -> float32 (x / 255 - mean) / std."""
  x = images.astype(jnp.float32) / 255.0
  return (x - jnp.broadcast_to(stats.mean, x.shape)) / jnp.broadcast_to(
      stats.std, x.shape)


def to_pixels(images: jax.Array, stats: PixelStats) -> jax.Array:
  """Standardized [..., 64, 64, 3] -> RGB in [0, 1]: x std + mean, clipped."""
  images = jnp.asarray(images)
  pixels = (images * jnp.broadcast_to(stats.std, images.shape)
            + jnp.broadcast_to(stats.mean, images.shape))
  return jnp.clip(pixels, 0.0, 1.0)


class Trainer(Protocol):
  """What ``make_train_epoch`` needs (see the module docstring)."""

  def init(self, key: jax.Array) -> Params: ...

  def init_opt_state(self, params: Params) -> Params: ...

  def step(self, params: Params, opt_state: Params, x: jax.Array, w: jax.Array,
           *, key: jax.Array, kl_weight: jax.Array
           ) -> tuple[Params, Params, Metrics]: ...


@dataclasses.dataclass(frozen=True)
class ELBOTrainer:
  """One optimizer on the model's training loss, -Eq. 1 or -Eq. 4 (warmed up).

  Attributes:
    model: a CelebA model (``jmvae_jax.tasks.celeba.models``).
    optimizer: the update rule.
    alpha: weight of Eq. 4's unimodal KL terms.
    anneal_alpha: also warm up the alpha terms.
  """

  model: Any
  optimizer: optax.GradientTransformation
  alpha: float
  anneal_alpha: bool = False

  def init(self, key: jax.Array) -> Params:
    return {'model': self.model.init(key)}

  def init_opt_state(self, params: Params) -> Params:
    return {'model': self.optimizer.init(params['model']['params'])}

  def step(self, params: Params, opt_state: Params, x: jax.Array, w: jax.Array,
           *, key: jax.Array, kl_weight: jax.Array
           ) -> tuple[Params, Params, Metrics]:
    """One update on x [B, 64, 64, 3], w [B, W]; batch norm in training mode.

    Metrics: the batch means of the loss terms, and 'loss'.
    """
    batch_stats = params['model']['batch_stats']

    def loss_fn(model_params):
      def fn(networks):
        terms = objectives.loss_terms(self.model, networks, x, w, key=key)
        return objectives.total_loss(
            terms, kl_weight=kl_weight, alpha=self.alpha,
            anneal_alpha=self.anneal_alpha), terms

      (loss, terms), new_stats = self.model.apply_training(
          {'params': model_params, 'batch_stats': batch_stats}, fn)
      return loss, (terms, new_stats)

    (loss, (terms, batch_stats)), grads = jax.value_and_grad(
        loss_fn, has_aux=True)(params['model']['params'])
    model_params, model_state = apply_gradients(
        self.optimizer, grads, opt_state['model'], params['model']['params'])
    metrics = {name: jnp.mean(v) for name, v in terms.items()}
    metrics['loss'] = loss
    return ({'model': {'params': model_params, 'batch_stats': batch_stats}},
            {'model': model_state}, metrics)


def make_trainer(model: Any, config: CelebAConfig) -> Trainer:
  """The trainer of ``model``: Adam(learning_rate, beta1) for every group."""
  optimizer = optax.adam(config.learning_rate, b1=config.beta1)
  if isinstance(model, gan.GAN):
    return gan.GANTrainer(model, optimizer, alpha=config.alpha,
                          anneal_alpha=config.anneal_alpha)
  return ELBOTrainer(model, optimizer, alpha=config.alpha,
                     anneal_alpha=config.anneal_alpha)


def init_state(trainer: Trainer, seed: int) -> TrainState:
  """A fresh state of ``trainer``'s parameters and optimizer states."""
  return train_lib.init_state(seed, trainer.init, trainer.init_opt_state)


def make_train_epoch(trainer: Trainer, config: CelebAConfig,
                     mesh: jax.sharding.Mesh) -> Callable[
    [TrainState, jax.Array, jax.Array, PixelStats],
    tuple[TrainState, Metrics]]:
  """A jitted epoch: (state, images, attributes, stats) -> (state, metrics).

  The returned function takes uint8 faces [N, 64, 64, 3] and attributes
  float32 [N, W], shuffles them with fold_in(key, epoch), drops the last
  N % batch_size, runs ``trainer.step`` on each batch with key
  fold_in(step stream, step) and the epoch's KL weight, and returns the
  metrics averaged over the steps, plus 'kl_weight'. Data parallel as MNIST's
  epoch: state, faces and stats replicated over ``mesh``, each batch split
  over its devices (config.batch_size a multiple of their number); batch
  norm's statistics are those of the whole batch. ``state`` is donated.
  """

  def train_epoch(state: TrainState, images: jax.Array, attributes: jax.Array,
                  stats: PixelStats):

    def train_step(params, opt_state, batch_indices, key, kl_weight):
      faces, batch_attributes = parallel.shard_batch(
          (images[batch_indices], attributes[batch_indices]), mesh)
      return trainer.step(params, opt_state, standardize(faces, stats),
                          batch_attributes, key=key, kl_weight=kl_weight)

    return scan_epoch(state, num_examples=images.shape[0],
                      batch_size=config.batch_size,
                      warmup_epochs=config.warmup_epochs, step_fn=train_step)

  return jax.jit(train_epoch, donate_argnums=0,
                 out_shardings=parallel.replicated(mesh))
