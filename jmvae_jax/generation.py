"""Cross-modal generation with a trained model: any observed modalities -> any other.

JMVAE models the joint distribution of its modalities through one latent z
(Suzuki et al. 2016, Sec. 3), so a modality is generated from others by going
through z: encode what is given, decode the target from z. JMVAE-kl learns the
single encoders (q(z|x), q(z|w); Eq. 4) for this, JMVAE-zero feeds the missing
modalities to the joint encoder as zeros (Sec. 3.2); which encoder serves a
given subset is the model's ``encode_subset``. Models of x given w (CVAE, CMMA)
draw z from their conditional prior p(z|w) and decode x from p(x|z,w).

The same functions serve every data set: MNIST images <-> labels (Figs. 6-7),
CelebA faces <-> attributes (Figs. 4-5), any modalities of a keyed model
(``models.DecodingModel``, or a model written with the x/w methods and a
``modalities`` tuple). Observations are passed as a mapping {modality name:
[B, ...]} in the form the model takes them (binary or grey images, one-hot
labels, standardized faces); what comes back of the target is its decoder's
output through ``Modality.readout``: Bernoulli means, class probabilities,
P(attribute present), Gaussian means.

Every function is pure and jitted; the model, the target's name and the sample
counts are static.

References:
  Suzuki, Nakayama & Matsuo, "Joint Multimodal Learning with Deep Generative
  Models", 2016 (arXiv 1611.01891): Sec. 3.2; Figs. 3-7.
"""

from __future__ import annotations

import functools
from typing import Any, Collection, Mapping, NamedTuple

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jmvae_jax import distributions, models
from jmvae_jax.distributions import Posterior

Given = Mapping[str, ArrayLike]


class Generated(NamedTuple):
  """The target modality decoded from the latent distribution given the inputs.

  Attributes:
    average: the readout at the distribution's mean, [B, ...]: the "average
      face" of Fig. 4.
    samples: the readout at S draws of z, [S, B, ...] (Figs. 4 and 7).
  """

  average: jax.Array
  samples: jax.Array


def _as_float(given: Given) -> dict[str, jax.Array]:
  return {name: jnp.asarray(value, jnp.float32) for name, value in given.items()}


def _conditional_names(model: Any) -> tuple[str, str] | None:
  """(x, w) of a model of x given w (CVAE, CMMA), else None."""
  if not isinstance(model, models.ConditionalModel):
    return None
  x_name, w_name = models.names_of(model)[:2]
  return x_name, w_name


def can_decode(model: Any, given: Collection[str], target: str) -> bool:
  """Whether ``model`` has the encoder of ``given`` and the decoder of ``target``.

  A keyed model with decoders: any non-empty subset of its modalities, any
  target among them (a VAE: its one modality to itself). A model of x given w
  (CVAE, CMMA): x from w (its conditional prior) or from x and w.
  """
  names = models.names_of(model)
  given = set(given)
  pair = _conditional_names(model)
  if pair is not None:
    return target == pair[0] and given in ({pair[1]}, set(pair))
  return (bool(given) and given <= set(names) and target in names
          and isinstance(models.as_multimodal(model), models.DecodingModel))


def _posterior(model: Any, params: Any, given: dict[str, jax.Array]
               ) -> Posterior:
  """q(z | given): the keyed encoder, or q(z|x,w) of a model of x given w."""
  pair = _conditional_names(model)
  if pair is None:
    return models.as_multimodal(model).encode_subset(params, given)
  if set(given) != set(pair):
    raise ValueError(f'a {type(model).__name__} encodes {pair} together, got '
                     f'{sorted(given)}')
  return model.encode(params, given[pair[0]], given[pair[1]])


def _readout(model: Any, params: Any, target: str, z: jax.Array,
             given: dict[str, jax.Array]) -> jax.Array:
  """The target's decoder at z, through its readout: [..., D] -> [..., dim]."""
  pair = _conditional_names(model)
  if pair is None:
    output = models.as_multimodal(model).decode(params, target, z)
  elif target == pair[0]:
    w = jnp.broadcast_to(given[pair[1]], z.shape[:-1] + given[pair[1]].shape[-1:])
    output = model.decode_x(params, z, w)
  else:
    raise ValueError(f'a {type(model).__name__} decodes only {pair[0]!r}, '
                     f'not {target!r}')
  return models.modality_of(model, target).readout(output)


def _generating_distribution(model: Any, params: Any,
                             given: dict[str, jax.Array]) -> Posterior:
  """Where generation draws z: q(z|given), or p(z|w) of a model of x given w."""
  pair = _conditional_names(model)
  if pair is None:
    return _posterior(model, params, given)
  return model.conditional_prior(params, given[pair[1]])


@functools.partial(jax.jit, static_argnames='model')
def latent_means(model: Any, params: Any, given: Given) -> jax.Array:
  """The mean of q(z | given): [B, latent_dim] (Fig. 3's representation).

  Fig. 3 shows the joint representation q(z|x,w) of JMVAE, CVAE and CMMA:
  give every modality of the model for it (a VAE takes its one modality).
  """
  return distributions.mean_of(_posterior(model, params, _as_float(given)))


@functools.partial(jax.jit, static_argnames=('model', 'target', 'num_samples'))
def predict(model: Any, params: Any, given: Given, target: str, *,
            key: jax.Array | None, num_samples: int = 10) -> jax.Array:
  """E over q(z|given) of the target's readout: x -> w of Sec. 3.2 (Fig. 5).

  With ``key`` None, the readout at the mean of q(z|given) (deterministic).
  With a key, the readout averaged over ``num_samples`` draws z ~ q(z|given):
  a Monte Carlo estimate of the predictive distribution p(target|given) =
  E_q[p(target|z)], which also counts the encoder's uncertainty. For labels
  the result is a distribution over classes.

  Args:
    model: a keyed model with decoders (JMVAE, the CelebA ConvJMVAE, ...).
    params: its parameters (CelebA: the evaluation-mode variables).
    given: {modality name: [B, ...]} the observed modalities.
    target: the name of the modality to predict.
    key: typed PRNG key for the draws, or None for the mean.
    num_samples: draws of z per example when ``key`` is given.

  Returns:
    [B, ...] the target's readout.
  """
  given = _as_float(given)
  q = _posterior(model, params, given)
  if key is None:
    return _readout(model, params, target, distributions.mean_of(q), given)
  z = distributions.sample(key, q, (num_samples,))
  return jnp.mean(_readout(model, params, target, z, given), axis=0)


@functools.partial(jax.jit, static_argnames=('model', 'target', 'num_samples'))
def generate(model: Any, params: Any, given: Given, target: str, *,
             key: jax.Array, num_samples: int) -> Generated:
  """w -> x of Sec. 3.2: the target decoded at z ~ q(z|given) (Figs. 4 and 7).

  For JMVAE-zero q(z|w) is q(z|x=0, w), which Fig. 7 shows to fail. Models of
  x given w (CVAE, CMMA) draw z from their conditional prior p(z|w) and decode
  p(x|z,w).

  Args:
    model: a keyed model with decoders, or a model of x given w.
    params: its parameters.
    given: {modality name: [B, ...]}.
    target: the name of the modality to generate.
    key: typed PRNG key of the draws.
    num_samples: draws S per example.

  Returns:
    The target's readout at the mean [B, ...] and at S draws [S, B, ...].
  """
  given = _as_float(given)
  q = _generating_distribution(model, params, given)
  z = distributions.sample(key, q, (num_samples,))
  return Generated(average=_readout(model, params, target,
                                   distributions.mean_of(q), given),
                   samples=_readout(model, params, target, z, given))


@functools.partial(jax.jit, static_argnames=('model', 'targets'))
def generate_targets(model: Any, params: Any, given: Given,
                     targets: tuple[str, ...], *, key: jax.Array
                     ) -> dict[str, jax.Array]:
  """One draw of z per example as in ``generate``, every target decoded at it.

  Encodes ``given`` once however many targets there are (coherence judges
  all the modalities outside a subset from the same z).

  Args:
    model: a keyed model with decoders, or a model of x given w.
    params: its parameters.
    given: {modality name: [B, ...]}.
    targets: the names of the modalities to generate.
    key: typed PRNG key of the draw.

  Returns:
    {target: its readout [B, ...] at the drawn z}.
  """
  given = _as_float(given)
  z = distributions.sample(
      key, _generating_distribution(model, params, given))
  return {target: _readout(model, params, target, z, given)
          for target in targets}


@functools.partial(jax.jit, static_argnames=('model', 'targets', 'num_samples'))
def generate_from_prior(model: Any, params: Any, targets: tuple[str, ...], *,
                        key: jax.Array, num_samples: int
                        ) -> dict[str, jax.Array]:
  """Unconditional generation: z ~ p(z) = N(0, I), each target decoded at the same z.

  Args:
    model: a keyed model with decoders.
    params: its parameters.
    targets: the names of the modalities to decode.
    key: typed PRNG key of the draws.
    num_samples: draws S of z.

  Returns:
    {target: its readout [S, dim]}.
  """
  if _conditional_names(model) is not None:
    raise ValueError(f'a {type(model).__name__} generates x given w only; '
                     'use generate with the given w')
  keyed = models.as_multimodal(model)
  z = jax.random.normal(key, (num_samples, keyed.latent_dim))
  return {target: _readout(model, params, target, z, {})
          for target in targets}


@functools.partial(jax.jit, static_argnames=('model', 'target'))
def reconstruct(model: Any, params: Any, given: Given, target: str, *,
                key: jax.Array | None = None) -> jax.Array:
  """given -> z -> target through one encoder (Fig. 6: q(z|x,w) and q(z|x) to x).

  Fig. 5 changes a face's attributes this way: the face is given with the
  attributes it should have, q(z|x,w) places z by both, and the decoder draws
  the face they give.

  Args:
    model: a keyed model with decoders.
    params: its parameters.
    given: {modality name: [..., dim]} (any leading shape).
    target: the name of the modality to decode.
    key: typed PRNG key to decode one draw of z, or None for the mean.

  Returns:
    [..., target dim] the target's readout.
  """
  given = _as_float(given)
  q = _posterior(model, params, given)
  z = (distributions.mean_of(q) if key is None
       else distributions.sample(key, q))
  return _readout(model, params, target, z, given)
