"""Training objectives: the terms of Eq. 1, Eq. 3 and Eq. 4, returned by name.

``multimodal_loss_terms`` returns a dict of per-example arrays [B], each in nats
and each a quantity to minimize, named by modality m:

  recon/m          -log p(x_m|z), z ~ q(z|X) (JMVAE, MVAE, MoPoE: one sample
                   per example) or q(z|x) (VAE); -log p(x|z,w) for CVAE and
                   CMMA; for MMVAE the mean over its M components' draws
  kl_prior         KL(q(z|X) || p(z)) (JMVAE, MVAE), KL(q(z|x) || p(z)) (VAE),
                   KL(q(z|x,w) || p(z|w)) (CVAE, CMMA: the conditional ELBO);
                   for the mixtures, MMVAE's one-draw-per-component estimate
                   of KL(q(z|X) || p(z)) and MoPoE's mean KL of the components
                   (an upper bound of the mixture's, by convexity)
  kl_unimodal/m    KL(q(z|X) || q(z|x_m))   (JMVAE-kl only, Eq. 4)
  elbo_of/m/recon, elbo_of/m/kl_prior
                   the terms of the ELBO of x_m alone, z ~ q(z|x_m) (MVAE)

where X is every modality. ``loss_terms`` is the same for the two-modality call
form (x, w). Reductions and weights (warm-up, alpha) are applied outside, in
``total_loss``, so every term can be logged and tested on its own.
"""

from __future__ import annotations

import functools
from typing import Any, Mapping

import jax
import jax.numpy as jnp

from jmvae_jax import distributions, inputs, models
from jmvae_jax.distributions import DiagGaussian
from jmvae_jax.models import JMVAE, MMVAE, MVAE, VAE, ConditionalVAE, MoPoE

LossTerms = dict[str, jax.Array]
RECON = 'recon/'
KL_UNIMODAL = 'kl_unimodal/'
# 'elbo_of/<m>/recon' and 'elbo_of/<m>/kl_prior': the ELBO of x_m alone.
UNIMODAL_ELBO = 'elbo_of/'


def multimodal_loss_terms(model: Any, params: Any,
                          observed: Mapping[str, jax.Array], *,
                          key: jax.Array) -> LossTerms:
  """Per-example loss terms of ``model`` on a batch {modality name: [B, dim]}.

  Raises:
    ValueError: a modality of the wrong dtype, width or rank, or different
      batch sizes (checked when traced: free inside jit).
    TypeError: no objective is registered for the model's type.
  """
  inputs.check_observed(model, dict(observed))
  return _terms_of(model, params, dict(observed), key=key)


def loss_terms(model: Any, params: Any, x: jax.Array, w: jax.Array | None, *,
               key: jax.Array) -> LossTerms:
  """``multimodal_loss_terms`` of x [B, x_dim] and w [B, w_dim] (or None).

  x is the model's first modality, w its second (``models`` docstring).
  """
  inputs.check_observations(model, x, w)
  names = models.names_of(model)
  observed = {names[0]: x}
  if w is not None and len(names) > 1:
    observed[names[1]] = w
  return multimodal_loss_terms(model, params, observed, key=key)


@functools.singledispatch
def _terms_of(model: Any, params: Any, observed: dict[str, jax.Array], *,
              key: jax.Array) -> LossTerms:
  raise TypeError(f'no objective is defined for {type(model).__name__}')


# register_objective(ModelType, fn) adds a model type; objective_for(Type) is
# the function registered for it (e.g. to reuse JMVAE's for a conv JMVAE).
register_objective = _terms_of.register
objective_for = _terms_of.dispatch


@_terms_of.register
def _jmvae_terms(model: JMVAE, params: Any, observed: dict[str, jax.Array], *,
                 key: jax.Array) -> LossTerms:
  """-L(X) of Eq. 3 by term, plus Eq. 4's KLs when the model has them."""
  keyed = models.as_multimodal(model)
  terms, joint = _elbo_terms(keyed, params, observed, key)
  if model.unimodal_encoders:
    for name in keyed.modality_names:
      terms[f'{KL_UNIMODAL}{name}'] = distributions.gaussian_kl(
          joint, keyed.encode_subset(params, {name: observed[name]}))
  return terms


@_terms_of.register
def _mvae_terms(model: MVAE, params: Any, observed: dict[str, jax.Array], *,
                key: jax.Array) -> LossTerms:
  """MVAE's objective by term (Wu & Goodman 2018, Sec. 3.2): -ELBO(X) and,
  for every modality m, -ELBO(x_m) with q(z|x_m) = p(z) q~(z|x_m).

  The joint ELBO draws z with ``key``, the one of modality i (in the model's
  order) with fold_in(key, i + 1). Wu & Goodman add the ELBOs of k random
  subsets of 2 .. M-1 modalities; this is their k = 0 (for two modalities,
  every subset is already counted).
  """
  terms, _ = _elbo_terms(model, params, observed, key)
  for i, name in enumerate(model.modality_names):
    alone, _ = _elbo_terms(model, params, {name: observed[name]},
                           jax.random.fold_in(key, i + 1))
    terms[f'{UNIMODAL_ELBO}{name}/recon'] = alone[f'{RECON}{name}']
    terms[f'{UNIMODAL_ELBO}{name}/kl_prior'] = alone['kl_prior']
  return terms


@_terms_of.register
def _mmvae_terms(model: MMVAE, params: Any, observed: dict[str, jax.Array], *,
                 key: jax.Array) -> LossTerms:
  """-ELBO of the mixture q(z|X) by term, sampled stratified (Shi et al. 2019).

  With q(z|X) = (1/M) sum_c q(z|x_c), the ELBO is exactly
  (1/M) sum_c E_{z ~ q(z|x_c)}[log p(X|z) + log p(z) - log q(z|X)]; one
  reparameterized draw z_c from each component c (drawn with fold_in(key, c),
  c in the model's order) estimates it:

    recon/m   = (1/M) sum_c -log p(x_m | z_c)
    kl_prior  = (1/M) sum_c [log q(z_c|X) - log p(z_c)]

  Shi et al.'s own objective is the importance-weighted version of this
  stratified bound (K draws per component, DReG gradients; K = 30 on
  MNIST-SVHN); we train on its K = 1 case, their ELBO variant, since K draws
  cost K decoder passes per component, and measure the importance-weighted
  bounds at test time as for every model here.
  """
  q = model.encode_subset(params, observed)
  components = q.component_means.shape[-2]
  recon = {name: 0.0 for name in model.modality_names}
  kl = 0.0
  for c in range(components):
    z = distributions.sample_gaussian(jax.random.fold_in(key, c), DiagGaussian(
        q.component_means[..., c, :], q.component_log_vars[..., c, :]))
    for name in model.modality_names:
      recon[name] = recon[name] - model.log_likelihood(params, name,
                                                       observed[name], z)
    kl = kl + (distributions.mixture_log_prob(z, q)
               - distributions.standard_normal_log_prob(z))
  terms = {f'{RECON}{name}': value / components for name, value in recon.items()}
  terms['kl_prior'] = kl / components
  return terms


@_terms_of.register
def _mopoe_terms(model: MoPoE, params: Any, observed: dict[str, jax.Array], *,
                 key: jax.Array) -> LossTerms:
  """-ELBO of MoPoE's mixture q(z|X) by term (Sutter et al. 2021, Sec. 3):

    recon/m   = -log p(x_m | z), z ~ q(z|X) drawn with ``key``
                (``distributions.sample``: each example picks one component)
    kl_prior  = the components' mean KL(PoE_S' || p(z)), in closed form

  The mean KL bounds the mixture's KL from above (KL is convex in its first
  argument), so this loss bounds -ELBO from above; Sutter et al. train on
  the same weighted sum of the subsets' KLs.
  """
  q = model.encode_subset(params, observed)
  z = distributions.sample(key, q)
  terms = {f'{RECON}{name}': -model.log_likelihood(params, name,
                                                   observed[name], z)
           for name in model.modality_names}
  terms['kl_prior'] = jnp.mean(distributions.kl_to_standard_normal(
      DiagGaussian(q.component_means, q.component_log_vars)), axis=-1)
  return terms


def _elbo_terms(model: Any, params: Any, observed: dict[str, jax.Array],
                key: jax.Array) -> tuple[LossTerms, DiagGaussian]:
  """-ELBO(X_S) of a keyed model by term, for the observed subset S:
  recon/m for m in S (one z ~ q(z|X_S) drawn with ``key``) and kl_prior;
  and q(z|X_S)."""
  posterior = model.encode_subset(params, observed)
  z = distributions.sample_gaussian(key, posterior)
  terms = {f'{RECON}{name}': -model.log_likelihood(params, name,
                                                    observed[name], z)
           for name in model.modality_names if name in observed}
  terms['kl_prior'] = distributions.kl_to_standard_normal(posterior)
  return terms, posterior


@_terms_of.register
def _vae_terms(model: VAE, params: Any, observed: dict[str, jax.Array], *,
               key: jax.Array) -> LossTerms:
  """-L(x) of Eq. 1 by term."""
  keyed = models.as_multimodal(model)
  (name,) = keyed.modality_names
  return _elbo_terms(keyed, params, {name: observed[name]}, key)[0]


@_terms_of.register
def _conditional_terms(model: ConditionalVAE, params: Any,
                       observed: dict[str, jax.Array], *,
                       key: jax.Array) -> LossTerms:
  """The conditional ELBO of CVAE and CMMA by term (see ``ConditionalVAE``)."""
  x_name, w_name = models.names_of(model)
  x, w = observed[x_name], observed[w_name]
  posterior = model.encode(params, x, w)
  z = distributions.sample_gaussian(key, posterior)
  return {
      f'{RECON}{x_name}': -model.log_px_given(params, x, z, w),
      'kl_prior': distributions.gaussian_kl(
          posterior, model.conditional_prior(params, w)),
  }


def negative_elbo(terms: LossTerms) -> jax.Array:
  """-ELBO per example [B]: reconstructions plus KL to the prior (Eq. 1 or Eq. 3)."""
  return sum(v for name, v in terms.items()
             if name.startswith(RECON) or name == 'kl_prior')


def kl_warmup_weight(epoch: jax.Array | int,
                     warmup_epochs: jax.Array | int) -> jax.Array:
  """Linear KL warm-up: (epoch + 1) / warmup_epochs, capped at 1.

  Args:
    epoch: 0-based epoch index.
    warmup_epochs: N_t, the number of epochs over which the weight rises (the
      paper's MNIST setting is 200); 0 disables warm-up. May be traced (a grid
      member's setting).
  """
  warmup = jnp.asarray(warmup_epochs, jnp.float32)
  ratio = (jnp.asarray(epoch, jnp.float32) + 1.0) / jnp.maximum(warmup, 1.0)
  return jnp.where(warmup > 0, jnp.minimum(jnp.float32(1.0), ratio),
                   jnp.float32(1.0))


def total_loss(terms: LossTerms, *, kl_weight: jax.Array | float,
               alpha: float, anneal_alpha: bool = False) -> jax.Array:
  """The scalar minimized in training: the batch mean of the weighted terms.

  loss = sum_m recon/m + kl_weight * kl_prior
         + alpha * [kl_weight if anneal_alpha else 1] * sum_m kl_unimodal/m
         + sum_m (elbo_of/m/recon + kl_weight * elbo_of/m/kl_prior)

  With kl_weight = 1 this is -Eq. 4 (or -Eq. 3 / -Eq. 1 for models without the
  unimodal terms). By default only KL(q(z|x,w) || p(z)) is warmed up, as in the
  authors' code; ``anneal_alpha`` also warms up the alpha terms, as MultiVae does.
  """
  alpha_weight = alpha * (kl_weight if anneal_alpha else 1.0)
  per_example = kl_weight * terms['kl_prior']
  for name, value in terms.items():
    if name.startswith(RECON):
      per_example = per_example + value
    elif name.startswith(KL_UNIMODAL):
      per_example = per_example + alpha_weight * value
    elif name.startswith(UNIMODAL_ELBO):
      weight = kl_weight if name.endswith('/kl_prior') else 1.0
      per_example = per_example + weight * value
  return jnp.mean(per_example)
