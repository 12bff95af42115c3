"""The CelebA models: JMVAE-kl, JMVAE-zero, a VAE, CVAE and CMMA, with conv networks.

They are written with the x/w methods of ``jmvae_jax.models`` (``encode``,
``encode_x``, ``encode_w``, ``decode_x``, ``decode_w``, ``log_px``, ``log_pw``,
``latent_dim``; CVAE and CMMA, models of x given w, ``encode``,
``conditional_prior``, ``log_px_given``) and name their two modalities
'image' and 'attributes' (``modalities``), so ``models.as_multimodal`` keys
them and the objectives of ``jmvae_jax.objectives`` (Eq. 1, Eq. 3, Eq. 4, the
conditional ELBO), the bounds of ``jmvae_jax.bounds`` and the generation of
``jmvae_jax.generation`` apply to them unchanged. x is a standardized image
[..., 64, 64, 3], w the 40 attributes [..., 40] in {-1, 1}, z has 128
dimensions.

Likelihoods (the authors' code, Tars ``GaussianConstantVar`` with its default
variance 1, on images standardized per pixel with the training set's mean and
standard deviation, see ``jmvae_jax.tasks.celeba.train.pixel_stats``):

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

For the GAN variants (``jmvae_jax.tasks.celeba.gan``) each model also offers
``reconstruct_x``, ``generate_x`` and ``image_log_prob``, and names its image
decoder (the generator) ``GENERATOR`` in its parameters.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from jmvae_jax import distributions, models, objectives
from jmvae_jax.distributions import DiagGaussian
from jmvae_jax.nn.conv import (IMAGE_SHAPE, AttributeDecoder,
                               ConvGaussianEncoder, ImageDecoder)

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


def attribute_probabilities(means: jax.Array) -> jax.Array:
  """P(attribute present) from the means of p(w|z): [..., 40] -> [..., 40].

  p(w|z) is N(w; mean, ATTRIBUTE_VARIANCE) per attribute; restricted to the
  two values an attribute takes, -1 and 1, it gives
  P(w = 1) = N(1; m, v) / (N(1; m, v) + N(-1; m, v)) = sigmoid(2 m / v).
  """
  return jax.nn.sigmoid(2 * jnp.asarray(means) / ATTRIBUTE_VARIANCE)


class CelebANetworks(nn.Module):
  """Every network of one CelebA model, so one ``apply`` can train them all.

  Parameters are named ``encoder_<inputs>`` (e.g. ``encoder_xw`` for q(z|x,w)),
  ``x_decoder``, and ``w_decoder`` and ``prior_network`` where the model has
  them.

  Attributes:
    latent_dim: dimension D of z.
    encoders: the inputs of each encoder: 'xw', 'x' or 'w'.
    num_attributes: width W of w.
    decodes_w: has the attribute decoder p(w|z) (JMVAE).
    prior_from_w: has the prior network p(z|w) (CMMA), shaped as q(z|w).
    decoder_reads_w: the image decoder reads [z, w], p(x|z,w) (CVAE).
    train: batch norm on batch statistics, updating the running averages.
  """

  latent_dim: int
  encoders: tuple[str, ...]
  num_attributes: int
  decodes_w: bool = False
  prior_from_w: bool = False
  decoder_reads_w: bool = False
  train: bool = False

  def setup(self):
    self.encoder = {inputs: ConvGaussianEncoder(self.latent_dim)
                    for inputs in self.encoders}
    self.x_decoder = ImageDecoder()
    if self.decodes_w:
      self.w_decoder = AttributeDecoder(self.num_attributes)
    if self.prior_from_w:
      self.prior_network = ConvGaussianEncoder(self.latent_dim)

  def encode(self, inputs: str, x: jax.Array | None,
             w: jax.Array | None) -> DiagGaussian:
    """q(z | inputs) with inputs 'xw', 'x' or 'w'; the other argument is ignored."""
    return self.encoder[inputs](x if 'x' in inputs else None,
                                w if 'w' in inputs else None, train=self.train)

  def prior(self, w: jax.Array) -> DiagGaussian:
    """The prior network's p(z|w): [..., W] -> fields [..., D]."""
    return self.prior_network(None, w, train=self.train)

  def decode_x(self, z: jax.Array, w: jax.Array | None) -> jax.Array:
    """Mean of p(x|z), or of p(x|z,w) if the decoder reads w: -> [..., 64, 64, 3]."""
    if self.decoder_reads_w:
      z = jnp.concatenate([z, w], axis=-1)
    return self.x_decoder(z, train=self.train)

  def decode_w(self, z: jax.Array) -> jax.Array:
    return self.w_decoder(z, train=self.train)

  def __call__(self, x: jax.Array, w: jax.Array) -> None:
    """Runs every network once, to create their variables in ``init``."""
    for inputs in self.encoders:
      z = self.encode(inputs, x, w).mean
      self.decode_x(z, w)
      if self.decodes_w:
        self.decode_w(z)
    if self.prior_from_w:
      self.prior(w)


@dataclasses.dataclass(frozen=True)
class _ConvModel:
  """What the CelebA models share: their networks and the GAN hooks."""

  latent_dim: int = 128
  num_attributes: int = NUM_ATTRIBUTES
  channel_mean: bool = True

  @property
  def modalities(self) -> tuple[models.Modality, models.Modality]:
    """The image (x; read out as the standardized mean) and the attributes
    (w; read out as P(present), ``attribute_probabilities``)."""
    image = models.Modality(
        'image', math.prod(IMAGE_SHAPE),
        functools.partial(image_log_prob, channel_mean=self.channel_mean))
    attributes = models.Modality('attributes', self.num_attributes,
                                 attribute_log_prob, attribute_probabilities)
    return image, attributes

  def _layout(self) -> dict[str, Any]:
    """The fields of ``CelebANetworks`` that choose this model's networks."""
    raise NotImplementedError

  def networks(self, *, train: bool = False) -> CelebANetworks:
    return CelebANetworks(self.latent_dim, num_attributes=self.num_attributes,
                          train=train, **self._layout())

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

  def _decode(self, params: Variables, z: jax.Array,
              w: jax.Array | None) -> jax.Array:
    """Mean of the image given z (and w, for a decoder that reads it)."""
    return self._run(params, 'decode_x', z, w)

  def posterior(self, params: Variables, x: jax.Array,
                w: jax.Array) -> DiagGaussian:
    """The encoder the objective samples z from (q(z|x,w) or q(z|x))."""
    raise NotImplementedError

  def _generation_prior(self, params: Variables, w: jax.Array | None,
                        batch_size: int) -> DiagGaussian:
    """The prior of ``generate_x``'s z: p(z) = N(0, I), fields [batch_size, D]."""
    del params, w
    return distributions.standard_normal((batch_size, self.latent_dim))

  def image_log_prob(self, x: jax.Array, mean: jax.Array) -> jax.Array:
    """log p(x|z) given the decoder's output ``mean``: [..., 64, 64, 3] -> [...]."""
    return image_log_prob(x, mean, channel_mean=self.channel_mean)

  def reconstruct_x(self, params: Variables, x: jax.Array, w: jax.Array, *,
                    key: jax.Array) -> jax.Array:
    """Decoder mean at one z ~ ``posterior``: Larsen et al.'s x~ [B, 64, 64, 3]."""
    z = distributions.sample_gaussian(key, self.posterior(params, x, w))
    return self._decode(params, z, w)

  def generate_x(self, params: Variables, w: jax.Array | None, *,
                 key: jax.Array, batch_size: int) -> jax.Array:
    """Decoder mean at z from the prior: Larsen et al.'s x_p [B, 64, 64, 3].

    z ~ p(z) = N(0, I), or p(z|w) for CMMA; w is also decoded by CVAE and
    unused by the other models.
    """
    z = distributions.sample_gaussian(
        key, self._generation_prior(params, w, batch_size))
    return self._decode(params, z, w)


@dataclasses.dataclass(frozen=True)
class _UnconditionalConvModel(_ConvModel):
  """A model of x (VAE) or of (x, w) (JMVAE): prior N(0, I) and p(x|z)."""

  def decode_x(self, params: Variables, z: jax.Array) -> jax.Array:
    """Mean of p(x|z): [..., D] -> [..., 64, 64, 3]."""
    return self._decode(params, z, None)

  def log_px(self, params: Variables, x: jax.Array, z: jax.Array) -> jax.Array:
    """log p(x|z): [..., 64, 64, 3], [..., D] -> [...]."""
    return self.image_log_prob(x, self.decode_x(params, z))


@dataclasses.dataclass(frozen=True)
class ConvJMVAE(_UnconditionalConvModel):
  """JMVAE over CelebA images and attributes (paper Sec. 4.1; Table 2).

  Attributes:
    unimodal_encoders: True for JMVAE-kl (q(z|x) and q(z|w), Eq. 4); False for
      JMVAE-zero, which feeds a missing modality to q(z|x,w) as zeros (the
      neutral value between the attributes' -1 and 1, and the standardized
      images' mean).
  """

  unimodal_encoders: bool = True

  def _layout(self) -> dict[str, Any]:
    encoders = ('xw', 'x', 'w') if self.unimodal_encoders else ('xw',)
    return {'encoders': encoders, 'decodes_w': True}

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
class ConvVAE(_UnconditionalConvModel):
  """A VAE of CelebA images alone (Eq. 1), the marginal baseline of Table 2.

  It has no joint encoder ``encode``, so ``jmvae_jax.bounds.evaluate_bounds``
  gives it the single marginal bound only.
  """

  def _layout(self) -> dict[str, Any]:
    return {'encoders': ('x',)}

  def encode_x(self, params: Variables, x: jax.Array) -> DiagGaussian:
    """q(z|x): [..., 64, 64, 3] -> DiagGaussian with fields [..., D]."""
    return self._encode(params, 'x', x, None)

  def posterior(self, params: Variables, x: jax.Array,
                w: jax.Array | None) -> DiagGaussian:
    del w
    return self.encode_x(params, x)


@dataclasses.dataclass(frozen=True)
class ConvConditionalVAE(_ConvModel):
  """CVAE and CMMA over CelebA: models of the image x given the attributes w.

  The convolutional ``models.ConditionalVAE`` (see it for both models and the
  conditional ELBO they are trained on), the conditional baselines of
  Table 2. The recognition model q(z|x,w) has the shape of JMVAE's joint
  encoder; there is no attribute decoder.

  * CVAE (``prior_from_w=False``): prior p(z) = N(0, I); the image decoder
    reads [z, w], so the attributes enter its first dense layer: p(x|z,w).
  * CMMA (``prior_from_w=True``): a prior network p(z|w), the attribute tower
    and Gaussian head of JMVAE-kl's q(z|w); the image decoder reads z alone.

  With no p(w), ``jmvae_jax.bounds.evaluate_bounds`` gives them the
  conditional multiple bound only: log (1/k) sum_i p(x|z_i,w) p(z_i|w) /
  q(z_i|x,w), z_i ~ q(z|x,w). As GAN generators (``jmvae_jax.tasks.celeba.gan``) they
  decode z ~ p(z|w) for x_p, with the batch's attributes as w.

  Attributes:
    prior_from_w: False for CVAE, True for CMMA.
  """

  prior_from_w: bool = False

  def _layout(self) -> dict[str, Any]:
    return {'encoders': ('xw',), 'prior_from_w': self.prior_from_w,
            'decoder_reads_w': not self.prior_from_w}

  def encode(self, params: Variables, x: jax.Array,
             w: jax.Array) -> DiagGaussian:
    """q(z|x,w): [..., 64, 64, 3], [..., W] -> DiagGaussian with fields [..., D]."""
    return self._encode(params, 'xw', x, w)

  def posterior(self, params: Variables, x: jax.Array,
                w: jax.Array) -> DiagGaussian:
    return self.encode(params, x, w)

  def conditional_prior(self, params: Variables, w: jax.Array) -> DiagGaussian:
    """p(z|w): N(0, I) for CVAE, the prior network's Gaussian for CMMA."""
    if self.prior_from_w:
      return self._run(params, 'prior', w)
    return distributions.standard_normal(w.shape[:-1] + (self.latent_dim,))

  def _generation_prior(self, params: Variables, w: jax.Array | None,
                        batch_size: int) -> DiagGaussian:
    del batch_size  # One z per row of w.
    return self.conditional_prior(params, w)

  def decode_x(self, params: Variables, z: jax.Array,
               w: jax.Array) -> jax.Array:
    """Mean of p(x|z,w) (CMMA ignores w): [..., D], [..., W] -> [..., 64, 64, 3]."""
    return self._decode(params, z, w)

  def log_px_given(self, params: Variables, x: jax.Array, z: jax.Array,
                   w: jax.Array) -> jax.Array:
    """log p(x|z,w): [..., 64, 64, 3], [..., D], [..., W] -> [...]."""
    return self.image_log_prob(x, self.decode_x(params, z, w))


# The objectives only call the protocol, so the MNIST models' terms serve here.
objectives.register_objective(
    ConvJMVAE, objectives.objective_for(models.JMVAE))
objectives.register_objective(ConvVAE, objectives.objective_for(models.VAE))
objectives.register_objective(
    ConvConditionalVAE, objectives.objective_for(models.ConditionalVAE))

MODEL_NAMES = ('jmvae_kl', 'jmvae_zero', 'vae', 'cvae', 'cmma')


def make_model(name: str, **kwargs: Any
               ) -> ConvJMVAE | ConvVAE | ConvConditionalVAE:
  """The CelebA model called ``name`` (one of MODEL_NAMES); kwargs set fields."""
  if name == 'jmvae_kl':
    return ConvJMVAE(unimodal_encoders=True, **kwargs)
  if name == 'jmvae_zero':
    return ConvJMVAE(unimodal_encoders=False, **kwargs)
  if name == 'vae':
    return ConvVAE(**kwargs)
  if name in ('cvae', 'cmma'):
    return ConvConditionalVAE(prior_from_w=name == 'cmma', **kwargs)
  raise ValueError(
      f'unknown model {name!r}; choose one of: {", ".join(MODEL_NAMES)}')
