"""Faces <-> attributes with a trained CelebA JMVAE (paper Sec. 4.4.2-4.4.3).

The CelebA counterpart of ``jmvae_jax.generation``: every function is pure and
jitted (the model and sample counts are static), takes the evaluation-mode
variables {'params', 'batch_stats'} of a ``celeba_models.ConvJMVAE`` (JMVAE-kl,
JMVAE-zero, or the VAE part of JMVAE-GAN), images standardized as in training
(``celeba_train.standardize``) [..., 64, 64, 3], and attributes [..., 40] in
[-1, 1] (CelebA's -1 absent, 1 present). Decoded images are standardized too;
``to_pixels`` turns them into RGB in [0, 1].

References:
  Suzuki, Nakayama & Matsuo, "Joint Multimodal Learning with Deep Generative
  Models", 2016 (arXiv 1611.01891): Sec. 4.4.2-4.4.3, Figs. 4 and 5.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jmvae_jax import distributions
from jmvae_jax.tasks.celeba.models import ATTRIBUTE_VARIANCE
from jmvae_jax.tasks.celeba.train import PixelStats


class GeneratedFaces(NamedTuple):
  """Faces decoded from q(z|w), standardized.

  Attributes:
    average: the decoder's mean at the mean of q(z|w), [B, 64, 64, 3]: the
      "average face" of Fig. 4.
    samples: the decoder's mean at draws z ~ q(z|w), [S, B, 64, 64, 3].
  """

  average: jax.Array
  samples: jax.Array


def attribute_probabilities(means: ArrayLike) -> jax.Array:
  """P(attribute present) from the means of p(w|z): [..., 40] -> [..., 40].

  p(w|z) is N(w; mean, ATTRIBUTE_VARIANCE) per attribute; restricted to the
  two values an attribute takes, -1 and 1, it gives
  P(w = 1) = N(1; m, v) / (N(1; m, v) + N(-1; m, v)) = sigmoid(2 m / v).
  """
  return jax.nn.sigmoid(2 * jnp.asarray(means) / ATTRIBUTE_VARIANCE)


def to_pixels(images: ArrayLike, stats: PixelStats) -> jax.Array:
  """Standardized [..., 64, 64, 3] -> RGB in [0, 1]: x std + mean, clipped."""
  images = jnp.asarray(images)
  pixels = (images * jnp.broadcast_to(stats.std, images.shape)
            + jnp.broadcast_to(stats.mean, images.shape))
  return jnp.clip(pixels, 0.0, 1.0)


@functools.partial(jax.jit, static_argnames=('model', 'num_samples'))
def predict_attributes(model: Any, variables: Any, images: ArrayLike, *,
                       key: jax.Array | None,
                       num_samples: int = 10) -> jax.Array:
  """Face -> attributes through q(z|x) and p(w|z) (Sec. 4.4.3, Fig. 5).

  Args:
    model: a ``celeba_models.ConvJMVAE``.
    variables: its evaluation-mode variables.
    images: standardized faces [B, 64, 64, 3].
    key: None to decode the mean of q(z|x); else a typed key, and the
      probabilities are averaged over ``num_samples`` draws z ~ q(z|x).
    num_samples: draws of z per face when ``key`` is given.

  Returns:
    P(attribute present) [B, 40] (``attribute_probabilities``).
  """
  q = model.encode_x(variables, jnp.asarray(images, jnp.float32))
  if key is None:
    return attribute_probabilities(model.decode_w(variables, q.mean))
  z = distributions.sample_gaussian(key, q, (num_samples,))
  return jnp.mean(attribute_probabilities(model.decode_w(variables, z)),
                  axis=0)


@functools.partial(jax.jit, static_argnames=('model', 'num_samples'))
def generate_faces(model: Any, variables: Any, attributes: ArrayLike, *,
                   key: jax.Array, num_samples: int) -> GeneratedFaces:
  """Attributes -> faces: z ~ q(z|w), the mean of p(x|z) (Sec. 4.4.2, Fig. 4).

  Args:
    model: a ``celeba_models.ConvJMVAE`` (for JMVAE-zero q(z|w) is
      q(z|x=0, w)).
    variables: its evaluation-mode variables.
    attributes: [B, 40] in [-1, 1].
    key: typed key of the draws.
    num_samples: faces S per attribute vector.

  Returns:
    The average face and S random faces per vector, standardized.
  """
  q = model.encode_w(variables, jnp.asarray(attributes, jnp.float32))
  z = distributions.sample_gaussian(key, q, (num_samples,))
  return GeneratedFaces(average=model.decode_x(variables, q.mean),
                        samples=model.decode_x(variables, z))


@functools.partial(jax.jit, static_argnames='model')
def reconstruct(model: Any, variables: Any, images: ArrayLike,
                attributes: ArrayLike | None = None) -> jax.Array:
  """Face (and attributes) -> face: the mean of p(x|z) at the mean of q(z|x,w).

  With ``attributes`` None the single encoder q(z|x) is used. Changing the
  attributes of a face (Fig. 5) passes the face with the attributes it should
  have: q(z|x,w) places z by both, and the decoder draws the face they give.

  Args:
    model: a ``celeba_models.ConvJMVAE``.
    variables: its evaluation-mode variables.
    images: standardized faces [..., 64, 64, 3].
    attributes: [..., 40] in [-1, 1] (the same leading shape), or None.

  Returns:
    Standardized faces [..., 64, 64, 3].
  """
  images = jnp.asarray(images, jnp.float32)
  if attributes is None:
    q = model.encode_x(variables, images)
  else:
    q = model.encode(variables, images, jnp.asarray(attributes, jnp.float32))
  return model.decode_x(variables, q.mean)
