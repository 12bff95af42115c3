"""Convolutional networks of the CelebA models (paper Sec. 4.1, the authors' code).

Shapes follow the authors' Lasagne code (masa-su/jmvae, ``main_mvaegan_kl_z_x.py``):

  image tower     conv 64-128-256-256, kernel 4, stride 2, padding 1, ReLU, batch
                  norm on all but the first; flattened: [..., 64, 64, 3] -> [..., 4096]
  attribute tower dense 512, dense 512 with batch norm, ReLU: [..., 40] -> [..., 512]
  encoder         the towers of its inputs, concatenated; a dense 1024 (ReLU) when the
                  image is an input; a linear head to the mean and log-variance of z
  image decoder   dense 4096 (ReLU), reshaped to 4x4x256, transposed convs 256-128-64
                  with batch norm and ReLU, a last transposed conv to 3 linear channels
  attribute dec.  dense 4096 (ReLU), dense 512 with batch norm (ReLU), dense 40, tanh
  discriminator   the image tower without batch norm and with leaky ReLU, a dense
                  1024 (leaky ReLU), one logit (Larsen et al. 2015's Dis)

Batch norm sits between a bias-free layer and its nonlinearity and keeps running
averages that decay by 0.9 per training step with epsilon 1e-4 (Lasagne's
``batch_norm`` defaults). ``train=True`` normalizes with the batch's statistics
and updates the running averages in the ``'batch_stats'`` collection (apply with
``mutable=['batch_stats']``); ``train=False`` uses the running averages.

Images are NHWC, [..., 64, 64, 3]; any number of leading axes is allowed (Flax
convolutions fold them into one batch axis), so the same module serves one
example, a batch, or a stack of importance samples in evaluation.

The one deliberate difference from the authors' networks: the encoders output a
log-variance through a linear layer, as the MNIST networks of
``jmvae_jax.nn.dense`` do, where the authors' code has a softplus variance.
"""

from __future__ import annotations

from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from jmvae_jax.distributions import DiagGaussian

CHANNELS = (64, 128, 256, 256)
IMAGE_SHAPE = (64, 64, 3)
# 64x64 halved four times: the tower's last feature map, flattened to 4096.
_SMALLEST_MAP = (4, 4, CHANNELS[-1])
_KERNEL = (4, 4)
_STRIDES = (2, 2)
# A stride-2 conv with kernel 4 and padding 1 halves the size; its transpose pads
# the stride-dilated input by kernel - 1 - 1 = 2 on each side and doubles it.
_CONV_PADDING = ((1, 1), (1, 1))
_TRANSPOSE_PADDING = ((2, 2), (2, 2))
_BN_MOMENTUM = 0.9
_BN_EPSILON = 1e-4
_IMAGE_TOP = 1024
_ATTRIBUTE_WIDTH = 512
_DECODER_WIDTH = 4096

Activation = Callable[[jax.Array], jax.Array]


def _batch_norm(train: bool) -> nn.BatchNorm:
  return nn.BatchNorm(use_running_average=not train, momentum=_BN_MOMENTUM,
                      epsilon=_BN_EPSILON)


class ImageTower(nn.Module):
  """Four stride-2 convolutions, flattened: [..., 64, 64, 3] -> [..., 4096].

  Attributes:
    batch_norm: batch norm on every convolution but the first (the encoders);
      False for the discriminator.
    activation: ReLU in the encoders, leaky ReLU (slope 0.01) in the
      discriminator.
  """

  batch_norm: bool = True
  activation: Activation = nn.relu

  @nn.compact
  def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
    for i, channels in enumerate(CHANNELS):
      normalize = self.batch_norm and i > 0
      x = nn.Conv(channels, _KERNEL, _STRIDES, padding=_CONV_PADDING,
                  use_bias=not normalize)(x)
      if normalize:
        x = _batch_norm(train)(x)
      x = self.activation(x)
    return x.reshape(x.shape[:-3] + (-1,))


class AttributeTower(nn.Module):
  """Dense 512 (ReLU), dense 512 with batch norm (ReLU): [..., W] -> [..., 512]."""

  @nn.compact
  def __call__(self, w: jax.Array, *, train: bool) -> jax.Array:
    h = nn.relu(nn.Dense(_ATTRIBUTE_WIDTH)(w))
    h = nn.Dense(_ATTRIBUTE_WIDTH, use_bias=False)(h)
    return nn.relu(_batch_norm(train)(h))


class ConvGaussianEncoder(nn.Module):
  """q(z | inputs) for any non-empty subset of (image, attributes).

  The joint encoder q(z|x,w) concatenates the flattened image tower and the
  attribute tower, then a dense 1024; q(z|x) has the image tower and the dense
  1024; q(z|w) maps the attribute tower straight to the head (authors' code).

  Attributes:
    latent_dim: dimension D of z.
  """

  latent_dim: int

  @nn.compact
  def __call__(self, x: jax.Array | None, w: jax.Array | None, *,
               train: bool) -> DiagGaussian:
    """x [..., 64, 64, 3] or None, w [..., W] or None -> fields [..., D]."""
    tops = []
    if x is not None:
      tops.append(ImageTower(name='image_tower')(x, train=train))
    if w is not None:
      tops.append(AttributeTower(name='attribute_tower')(w, train=train))
    if not tops:
      raise ValueError('an encoder needs the image, the attributes or both')
    top = tops[0] if len(tops) == 1 else jnp.concatenate(tops, axis=-1)
    if x is not None:
      top = nn.relu(nn.Dense(_IMAGE_TOP)(top))
    mean, log_var = jnp.split(nn.Dense(2 * self.latent_dim, name='head')(top), 2,
                              axis=-1)
    return DiagGaussian(mean, log_var)


class ImageDecoder(nn.Module):
  """Mean of p(x|z): [..., D] -> [..., 64, 64, 3], linear (unbounded) outputs."""

  @nn.compact
  def __call__(self, z: jax.Array, *, train: bool) -> jax.Array:
    h = nn.relu(nn.Dense(_DECODER_WIDTH)(z))
    h = h.reshape(h.shape[:-1] + _SMALLEST_MAP)
    for channels in reversed(CHANNELS[:-1]):
      h = nn.ConvTranspose(channels, _KERNEL, _STRIDES,
                           padding=_TRANSPOSE_PADDING, use_bias=False)(h)
      h = nn.relu(_batch_norm(train)(h))
    return nn.ConvTranspose(IMAGE_SHAPE[-1], _KERNEL, _STRIDES,
                            padding=_TRANSPOSE_PADDING)(h)


class AttributeDecoder(nn.Module):
  """Mean of p(w|z) in [-1, 1]: [..., D] -> [..., num_attributes].

  Attributes:
    num_attributes: width W of w (40 on CelebA).
  """

  num_attributes: int

  @nn.compact
  def __call__(self, z: jax.Array, *, train: bool) -> jax.Array:
    h = nn.relu(nn.Dense(_DECODER_WIDTH)(z))
    h = nn.Dense(_ATTRIBUTE_WIDTH, use_bias=False)(h)
    h = nn.relu(_batch_norm(train)(h))
    return jnp.tanh(nn.Dense(self.num_attributes)(h))


class Discriminator(nn.Module):
  """Dis of Larsen et al. (2015): real-versus-generated logit and its features.

  No batch norm, so it has no training mode.
  """

  @nn.compact
  def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """x [..., 64, 64, 3] -> (logit [...], features [..., 4096]).

    The features are the flattened last convolution, the layer Dis_l whose
    Gaussian likelihood is Larsen et al.'s learned similarity (their Eq. 6).
    """
    features = ImageTower(batch_norm=False, activation=nn.leaky_relu,
                          name='tower')(x, train=False)
    h = nn.leaky_relu(nn.Dense(_IMAGE_TOP)(features))
    return nn.Dense(1)(h)[..., 0], features
