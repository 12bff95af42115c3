"""Bi-directional inference with a trained model: image -> label, label -> image.

JMVAE models the joint p(x, w) through one latent z (Suzuki et al. 2016, Sec. 3),
so either modality is generated from the other by going through z: encode what
is given with its encoder, decode the other modality from z. JMVAE-kl learns
the single encoders q(z|x) and q(z|w) for this (Eq. 4); JMVAE-zero feeds the
missing modality to q(z|x,w) as zeros (Sec. 3.2).

Every function is pure and jitted (the model and sample counts are static);
images are [B, x_dim] with values in [0, 1], labels one-hot [B, w_dim] or class
indices [B]. The image decoder is assumed to output Bernoulli logits, as the
MNIST models do.

References:
  Suzuki, Nakayama & Matsuo, "Joint Multimodal Learning with Deep Generative
  Models", 2016 (arXiv 1611.01891): Sec. 3.2; Figs. 3, 6 and 7.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jmvae_jax import distributions


class GeneratedImages(NamedTuple):
  """Images decoded from latent draws.

  Attributes:
    means: Bernoulli means sigmoid(decoder(z)), [S, B, x_dim] in [0, 1].
    samples: one binary draw x ~ p(x|z) per mean, [S, B, x_dim].
  """

  means: jax.Array
  samples: jax.Array


class Reconstructions(NamedTuple):
  """Bernoulli means of p(x|z) for z from each encoder, [B, x_dim] each.

  Attributes:
    multiple: z from the joint encoder q(z|x,w).
    single: z from the image-only encoder q(z|x).
  """

  multiple: jax.Array
  single: jax.Array


def _one_hot(model: Any, labels: ArrayLike) -> jax.Array:
  """Class indices [B] -> one-hot [B, w_dim]; one-hot [B, w_dim] passes through."""
  labels = jnp.asarray(labels)
  if jnp.issubdtype(labels.dtype, jnp.integer):
    return jax.nn.one_hot(labels, model.w.dim, dtype=jnp.float32)
  return labels.astype(jnp.float32)


def _latent(q: distributions.DiagGaussian, key: jax.Array | None) -> jax.Array:
  """q's mean when ``key`` is None, else one draw from q: fields [..., D] -> [..., D]."""
  return q.mean if key is None else distributions.sample_gaussian(key, q)


@functools.partial(jax.jit, static_argnames='model')
def latent_means(model: Any, params: Any, images: ArrayLike,
                 labels: ArrayLike) -> jax.Array:
  """The representation of Fig. 3: the mean of the model's richest encoder.

  q(z|x,w) for models with a joint encoder (JMVAE, CVAE, CMMA: the joint
  representation that Fig. 3 shows to separate the digits for JMVAE and not for
  CVAE), else q(z|x) (VAE).

  Args:
    model: a model of ``jmvae_jax.models``.
    params: its parameters.
    images: [B, x_dim].
    labels: [B] class indices or [B, w_dim] one-hot (ignored by a VAE).

  Returns:
    [B, latent_dim].
  """
  images = jnp.asarray(images, jnp.float32)
  if hasattr(model, 'encode'):
    return model.encode(params, images, _one_hot(model, labels)).mean
  return model.encode_x(params, images).mean


@functools.partial(jax.jit, static_argnames=('model', 'num_samples'))
def predict_labels(model: Any, params: Any, images: ArrayLike, *,
                   key: jax.Array | None, num_samples: int = 10) -> jax.Array:
  """Image -> label: p(w|x) = E_q(z|x)[p(w|z)] (JMVAE; Sec. 3.2, x to w).

  With ``key`` None, z is the mean of q(z|x) and the result is softmax of the
  label decoder at that point (deterministic). With a key, the softmax of
  p(w|z) is averaged over ``num_samples`` draws z ~ q(z|x): a Monte Carlo
  estimate of the predictive distribution, which also counts the encoder's
  uncertainty. For JMVAE-zero q(z|x) is q(z|x, w=0).

  Args:
    model: a JMVAE (it needs ``encode_x`` and ``decode_w``).
    params: its parameters.
    images: [B, x_dim] in [0, 1]; the encoders were trained on binarized images,
      and grey levels are taken as their expectation.
    key: typed PRNG key for the draws, or None for the mean.
    num_samples: draws of z per image when ``key`` is given.

  Returns:
    Label probabilities [B, w_dim], each row summing to 1.
  """
  q = model.encode_x(params, jnp.asarray(images, jnp.float32))
  if key is None:
    return jax.nn.softmax(model.decode_w(params, q.mean), axis=-1)
  z = distributions.sample_gaussian(key, q, (num_samples,))
  return jnp.mean(jax.nn.softmax(model.decode_w(params, z), axis=-1), axis=0)


@functools.partial(jax.jit, static_argnames=('model', 'num_samples'))
def generate_images(model: Any, params: Any, labels: ArrayLike, *,
                    key: jax.Array, num_samples: int) -> GeneratedImages:
  """Label -> image: z ~ q(z|w), x ~ p(x|z) (JMVAE; Fig. 7).

  For JMVAE-zero q(z|w) is q(z|x=0, w), which Fig. 7 shows to fail. Models of x
  given w (CVAE, CMMA) draw z from their conditional prior p(z|w) and x from
  p(x|z,w) instead.

  Args:
    model: a JMVAE or ``models.ConditionalVAE``.
    params: its parameters.
    labels: [B] class indices or [B, w_dim] one-hot.
    key: typed PRNG key.
    num_samples: images S per label.

  Returns:
    Means and binary samples, [S, B, x_dim] each.
  """
  w = _one_hot(model, labels)
  z_key, x_key = jax.random.split(key)
  if hasattr(model, 'conditional_prior'):
    q = model.conditional_prior(params, w)
    z = distributions.sample_gaussian(z_key, q, (num_samples,))
    w_per_draw = jnp.broadcast_to(w, z.shape[:-1] + w.shape[-1:])
    logits = model.decode_x(params, z, w_per_draw)
  else:
    z = distributions.sample_gaussian(z_key, model.encode_w(params, w),
                                      (num_samples,))
    logits = model.decode_x(params, z)
  means = jax.nn.sigmoid(logits)
  samples = jax.random.bernoulli(x_key, means).astype(means.dtype)
  return GeneratedImages(means=means, samples=samples)


@functools.partial(jax.jit, static_argnames='model')
def reconstruct(model: Any, params: Any, images: ArrayLike, labels: ArrayLike,
                *, key: jax.Array | None = None) -> Reconstructions:
  """x -> z -> x through the multiple and the single encoder (JMVAE; Fig. 6).

  Args:
    model: a JMVAE.
    params: its parameters.
    images: [B, x_dim] in [0, 1].
    labels: [B] class indices or [B, w_dim] one-hot, for q(z|x,w).
    key: typed PRNG key to draw z from each encoder, or None to decode the
      encoders' means.

  Returns:
    The Bernoulli means of p(x|z), [B, x_dim] for each encoder.
  """
  x = jnp.asarray(images, jnp.float32)
  w = _one_hot(model, labels)
  keys = (None, None) if key is None else tuple(jax.random.split(key))
  z_multiple = _latent(model.encode(params, x, w), keys[0])
  z_single = _latent(model.encode_x(params, x), keys[1])
  return Reconstructions(
      multiple=jax.nn.sigmoid(model.decode_x(params, z_multiple)),
      single=jax.nn.sigmoid(model.decode_x(params, z_single)))
