"""The CelebA models: JMVAE-kl, JMVAE-zero and a VAE with convolutional networks.

They follow the model protocol of ``jmvae_jax.models`` (``encode``, ``encode_x``,
``encode_w``, ``log_px``, ``log_pw``, ``latent_dim``), so the objectives of
``jmvae_jax.objectives`` (Eq. 1, Eq. 3, Eq. 4) and the bounds of
``jmvae_jax.bounds`` apply to them unchanged. x is a standardized image
[..., 64, 64, 3], w the 40 attributes [..., 40] in {-1, 1}, z has 128 dimensions.

Likelihoods (the authors' code, Tars ``GaussianConstantVar`` with its default
variance 1, on images standardized per pixel with the training set's mean and
standard deviation, see ``jmvae_jax.celeba_train.pixel_stats``):

  log p(x|z) = log N(x; mu_x(z), IMAGE_VARIANCE I), mu_x linear, unbounded;
  log p(w|z) = log N(w; mu_w(z), ATTRIBUTE_VARIANCE I), mu_w = tanh(...).

Variance 1 on standardized pixels is a noise level equal to each pixel's own
spread over the data set: coarse, but not flat (on [0, 1] pixels, whose spread
is about 0.25, variance 1 would be almost flat). It is the authors' value, and
Table 2's numbers are only reproducible with it.

Image log-likelihood convention (``channel_mean``): the authors' Tars sums a
4-d [B, C, H, W] log-density over H and W and *averages* it over the C = 3
channels (``mean_sum_samples``), so every image log-likelihood they train on
and report, Table 2 included, is one third of the 12,288-dimensional Gaussian
log-density. Table 2 confirms it: with variance 1, the full log-density of
12,288 values cannot exceed -12,288 * log(2 pi) / 2 = -11,292 nats, yet the
paper reports about -4,140; one third of it is bounded by -3,764. With
``channel_mean=True`` (the default) ``log_px`` returns that third, so the bounds
are on Table 2's scale; ``channel_mean=False`` gives the proper density.

Batch norm: every model's networks live in one Linen module,
``CelebANetworks``, with a ``'batch_stats'`` collection. The protocol methods
take ``params`` = the Linen variables {'params': ..., 'batch_stats': ...} and
run in evaluation mode (batch norm uses the running averages, nothing is
updated), so they are pure functions, as the bounds need. Training goes
through ``apply_training(variables, fn)``: it binds the networks in training
mode and calls ``fn(networks)``, inside which the protocol methods accept the
bound networks in place of ``params``; it returns fn's output and the updated
running averages. For example, the loss of one batch in training mode:

  def fn(networks):
    terms = objectives.loss_terms(model, networks, x, w, key=key)
    return objectives.total_loss(terms, kl_weight=1.0, alpha=0.1)
  loss, batch_stats = model.apply_training(variables, fn)

For the GAN variants (``jmvae_jax.gan``) each model also offers
``reconstruct_x``, ``generate_x`` and ``image_log_prob``, and names its image
decoder (the generator) ``GENERATOR`` in its parameters.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from jmvae_jax import distributions, models, objectives
from jmvae_jax.conv_networks import (IMAGE_SHAPE, AttributeDecoder,
                                     ConvGaussianEncoder, ImageDecoder)
from jmvae_jax.distributions import DiagGaussian

IMAGE_VARIANCE = 1.0
ATTRIBUTE_VARIANCE = 1.0
NUM_ATTRIBUTES = 40
GENERATOR = 'x_decoder'

# {'params': ..., 'batch_stats': ...}, or, inside ``apply_training``, the
# networks bound to them in training mode.
Variables = Any


def image_log_prob(x: jax.Array, mean: jax.Array, *,
                   channel_mean: bool = True,
                   variance: float = IMAGE_VARIANCE) -> jax.Array:
  """log N(x; mean, variance I) of images: [..., H, W, C] -> [...].

  Args:
    x: standardized images.
    mean: the decoder's output, same shape.
    channel_mean: average over the C channels rather than sum (the authors'
      convention, see the module docstring): the result is 1/C of the
      log-density.
    variance: the fixed per-pixel variance.
  """
  flat_shape = x.shape[:-3] + (-1,)
  log_p = distributions.gaussian_log_prob(
      x.reshape(flat_shape), mean.reshape(flat_shape), math.log(variance))
  return log_p / x.shape[-1] if channel_mean else log_p


def attribute_log_prob(w: jax.Array, mean: jax.Array) -> jax.Array:
  """log N(w; mean, ATTRIBUTE_VARIANCE I): [..., W], [..., W] -> [...]."""
  return distributions.gaussian_log_prob(w, mean, math.log(ATTRIBUTE_VARIANCE))


class CelebANetworks(nn.Module):
  """Every network of one CelebA model, so one ``apply`` can train them all.

  Parameters are named ``encoder_<inputs>`` (e.g. ``encoder_xw`` for q(z|x,w)),
  ``x_decoder`` and, when an encoder reads w, ``w_decoder``.

  Attributes:
    latent_dim: dimension D of z.
    encoders: the inputs of each encoder: 'xw', 'x' or 'w'.
    num_attributes: width W of w.
    train: batch norm on batch statistics, updating the running averages.
  """

  latent_dim: int
  encoders: tuple[str, ...]
  num_attributes: int
  train: bool = False

  def setup(self):
    self.encoder = {inputs: ConvGaussianEncoder(self.latent_dim)
                    for inputs in self.encoders}
    self.x_decoder = ImageDecoder()
    if self.decodes_w:
      self.w_decoder = AttributeDecoder(self.num_attributes)

  @property
  def decodes_w(self) -> bool:
    return any('w' in inputs for inputs in self.encoders)

  def encode(self, inputs: str, x: jax.Array | None,
             w: jax.Array | None) -> DiagGaussian:
    """q(z | inputs) with inputs 'xw', 'x' or 'w'; the other argument is ignored."""
    return self.encoder[inputs](x if 'x' in inputs else None,
                                w if 'w' in inputs else None, train=self.train)

  def decode_x(self, z: jax.Array) -> jax.Array:
    return self.x_decoder(z, train=self.train)

  def decode_w(self, z: jax.Array) -> jax.Array:
    return self.w_decoder(z, train=self.train)

  def __call__(self, x: jax.Array, w: jax.Array) -> None:
    """Runs every network once, to create their variables in ``init``."""
    for inputs in self.encoders:
      z = self.encode(inputs, x, w).mean
      self.decode_x(z)
      if self.decodes_w:
        self.decode_w(z)


@dataclasses.dataclass(frozen=True)
class _ConvModel:
  """What the CelebA models share: their networks, p(x|z) and the GAN hooks."""

  latent_dim: int = 128
  num_attributes: int = NUM_ATTRIBUTES
  channel_mean: bool = True

  @property
  def encoders(self) -> tuple[str, ...]:
    raise NotImplementedError

  def networks(self, *, train: bool = False) -> CelebANetworks:
    return CelebANetworks(self.latent_dim, self.encoders, self.num_attributes,
                          train=train)

  def init(self, key: jax.Array) -> Variables:
    """Initial variables {'params': ..., 'batch_stats': ...}."""
    return self.networks().init(
        key, jnp.zeros((1,) + IMAGE_SHAPE, jnp.float32),
        jnp.zeros((1, self.num_attributes), jnp.float32))

  def apply_training(self, variables: Variables,
                     fn: Callable[[CelebANetworks], Any]) -> tuple[Any, Any]:
    """Runs fn(networks) in training mode: (fn's output, new 'batch_stats').

    Inside fn, pass ``networks`` as the ``params`` of this model's methods (or
    of ``jmvae_jax.objectives.loss_terms``); differentiable in
    variables['params'].
    """
    output, updated = nn.apply(fn, self.networks(train=True),
                               mutable=['batch_stats'])(variables)
    return output, updated['batch_stats']

  def _run(self, params: Variables, method: str, *args: Any) -> Any:
    if isinstance(params, CelebANetworks):  # Bound, inside apply_training.
      return getattr(params, method)(*args)
    return self.networks().apply(params, *args, method=method)

  def _encode(self, params: Variables, inputs: str, x: jax.Array | None,
              w: jax.Array | None) -> DiagGaussian:
    return self._run(params, 'encode', inputs, x, w)

  def posterior(self, params: Variables, x: jax.Array,
                w: jax.Array) -> DiagGaussian:
    """The encoder the objective samples z from (q(z|x,w) or q(z|x))."""
    raise NotImplementedError

  def decode_x(self, params: Variables, z: jax.Array) -> jax.Array:
    """Mean of p(x|z): [..., D] -> [..., 64, 64, 3]."""
    return self._run(params, 'decode_x', z)

  def image_log_prob(self, x: jax.Array, mean: jax.Array) -> jax.Array:
    """log p(x|z) given the decoder's output ``mean``: [..., 64, 64, 3] -> [...]."""
    return image_log_prob(x, mean, channel_mean=self.channel_mean)

  def log_px(self, params: Variables, x: jax.Array, z: jax.Array) -> jax.Array:
    """log p(x|z): [..., 64, 64, 3], [..., D] -> [...]."""
    return self.image_log_prob(x, self.decode_x(params, z))

  def reconstruct_x(self, params: Variables, x: jax.Array, w: jax.Array, *,
                    key: jax.Array) -> jax.Array:
    """Decoder mean at one z ~ ``posterior``: Larsen et al.'s x~ [B, 64, 64, 3]."""
    z = distributions.sample_gaussian(key, self.posterior(params, x, w))
    return self.decode_x(params, z)

  def generate_x(self, params: Variables, w: jax.Array | None, *,
                 key: jax.Array, batch_size: int) -> jax.Array:
    """Decoder mean at z ~ p(z) = N(0, I): Larsen et al.'s x_p [B, 64, 64, 3].

    w is unused here; a model with a conditional prior or decoder uses it.
    """
    del w
    z = jax.random.normal(key, (batch_size, self.latent_dim), jnp.float32)
    return self.decode_x(params, z)


@dataclasses.dataclass(frozen=True)
class ConvJMVAE(_ConvModel):
  """JMVAE over CelebA images and attributes (paper Sec. 4.1; Table 2).

  Attributes:
    unimodal_encoders: True for JMVAE-kl (q(z|x) and q(z|w), Eq. 4); False for
      JMVAE-zero, which feeds a missing modality to q(z|x,w) as zeros (the
      neutral value between the attributes' -1 and 1, and the standardized
      images' mean).
  """

  unimodal_encoders: bool = True

  @property
  def encoders(self) -> tuple[str, ...]:
    return ('xw', 'x', 'w') if self.unimodal_encoders else ('xw',)

  def encode(self, params: Variables, x: jax.Array,
             w: jax.Array) -> DiagGaussian:
    """q(z|x,w): [..., 64, 64, 3], [..., W] -> DiagGaussian with fields [..., D]."""
    return self._encode(params, 'xw', x, w)

  def encode_x(self, params: Variables, x: jax.Array) -> DiagGaussian:
    """q(z|x); for JMVAE-zero q(z|x, w=0)."""
    if self.unimodal_encoders:
      return self._encode(params, 'x', x, None)
    zeros = jnp.zeros(x.shape[:-3] + (self.num_attributes,), x.dtype)
    return self.encode(params, x, zeros)

  def encode_w(self, params: Variables, w: jax.Array) -> DiagGaussian:
    """q(z|w); for JMVAE-zero q(z|x=0, w)."""
    if self.unimodal_encoders:
      return self._encode(params, 'w', None, w)
    return self.encode(params, jnp.zeros(w.shape[:-1] + IMAGE_SHAPE, w.dtype), w)

  def posterior(self, params: Variables, x: jax.Array,
                w: jax.Array) -> DiagGaussian:
    return self.encode(params, x, w)

  def decode_w(self, params: Variables, z: jax.Array) -> jax.Array:
    """Mean of p(w|z): [..., D] -> [..., W]."""
    return self._run(params, 'decode_w', z)

  def log_pw(self, params: Variables, w: jax.Array, z: jax.Array) -> jax.Array:
    """log p(w|z): [..., W], [..., D] -> [...]."""
    return attribute_log_prob(w, self.decode_w(params, z))


@dataclasses.dataclass(frozen=True)
class ConvVAE(_ConvModel):
  """A VAE of CelebA images alone (Eq. 1), the marginal baseline of Table 2.

  It has no joint encoder ``encode``, so ``jmvae_jax.bounds.evaluate_bounds``
  gives it the single marginal bound only.
  """

  @property
  def encoders(self) -> tuple[str, ...]:
    return ('x',)

  def encode_x(self, params: Variables, x: jax.Array) -> DiagGaussian:
    """q(z|x): [..., 64, 64, 3] -> DiagGaussian with fields [..., D]."""
    return self._encode(params, 'x', x, None)

  def posterior(self, params: Variables, x: jax.Array,
                w: jax.Array | None) -> DiagGaussian:
    del w
    return self.encode_x(params, x)


# The objectives only call the protocol, so the MNIST models' terms serve here.
objectives.loss_terms.register(
    ConvJMVAE, objectives.loss_terms.dispatch(models.JMVAE))
objectives.loss_terms.register(ConvVAE, objectives.loss_terms.dispatch(models.VAE))

MODEL_NAMES = ('jmvae_kl', 'jmvae_zero', 'vae')


def make_model(name: str, **kwargs: Any) -> ConvJMVAE | ConvVAE:
  """The CelebA model called ``name`` (one of MODEL_NAMES); kwargs set fields."""
  if name == 'jmvae_kl':
    return ConvJMVAE(unimodal_encoders=True, **kwargs)
  if name == 'jmvae_zero':
    return ConvJMVAE(unimodal_encoders=False, **kwargs)
  if name == 'vae':
    return ConvVAE(**kwargs)
  raise ValueError(
      f'unknown model {name!r}; choose one of: {", ".join(MODEL_NAMES)}')
