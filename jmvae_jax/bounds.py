"""Importance-weighted estimates of test log-likelihoods (paper Appendix B).

Every estimate is Burda et al.'s (2015) importance-weighted bound

  log p(o) ~ log (1/k) sum_i p(o, z_i) / r(z_i),   z_i ~ r(z),

for some observed set o of modalities and a proposal r (an encoder of some
subset of them, or the prior; for MMVAE and MoPoE an encoder is a mixture of
Gaussians, ``distributions.GaussianMixture``, sampled and scored as one). It is a stochastic lower bound,
E[estimate] <= log p(o), that rises with k and equals log p(o) for every k when
r is the exact posterior p(z|o).

``iw_log_likelihood`` is the general form: log p(X_T) or log p(X_T | X_S) for
any target set T and given set S of a model's modalities, observations passed as
a mapping {modality name: [B, dim]}, with any subset's encoder or the prior as
proposal. The paper's bounds are named cases of it on the two-modality call form
x [B, x_dim], w [B, w_dim] (x the model's first modality, w its second):
``iw_marginal`` (Eqs. 6, 7), ``iw_joint`` (Table 3), ``iw_conditional`` (Eqs. 8,
9), ``iw_prior_marginal`` and ``evaluate_bounds`` (all of them at once).

Functions call the modality-keyed protocol of ``jmvae_jax.models``
(``MultimodalModel``; a model written with the x/w methods is viewed through
``models.as_multimodal``) and return one float32 value per example, shape [B].
They are jitted with the model, ``k``, ``chunk_size`` and the set and string
options static, and may be called inside a user's ``jax.jit`` or ``jax.vmap``.

Random draws: each sample set comes from its own stream of ``key``
(``fold_in(key, stream)``, one stream per proposal and one for the prior;
``proposal_stream`` numbers them), and
draw i of a stream uses ``fold_in(stream_key, i)``. Hence (a) ``chunk_size`` never
changes the draws, only the summation order; (b) a larger k reuses the draws of a
smaller one; (c) the same key gives the same draws in every function, so
``evaluate_bounds`` returns exactly what the single-bound functions return.

Memory: draws are processed ``chunk_size`` at a time by ``jax.lax.scan`` with a
running log-sum-exp (running maximum and rescaled sum of exponentials), so peak
memory scales with chunk_size * B rather than k * B. When chunk_size does not
divide k, the last chunk is filled up with draws whose weights are masked to
zero: any k works, at the cost of at most chunk_size - 1 wasted draws.

Speed: on a CPU, small chunks are also the fast ones. With chunk_size * B around
5,000 rows the decoder activations stay near the caches; on the 2-core
development machine all five bounds at k = 1000 ran 20% faster with
chunk_size=50 than with 250 (``Config.eval_chunk_size`` is 50). On a GPU, larger
chunks fill the device better.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jmvae_jax import distributions, inputs, models

# Any object with the methods listed in jmvae_jax.models' docstring; a frozen
# (hashable) dataclass, since it is a static argument of the jitted functions.
Model = Any
Params = Any

Subset = tuple[str, ...]  # Modality names, in the model's order.
PRIOR = 'prior'  # The proposal p(z).
_EVERY_MODALITY_STREAM = 0  # The stream of the encoder of all the modalities.


def proposal_stream(model: Model, proposal: Subset | str) -> int:
  """The stream of the caller's key that draws from ``proposal`` come from.

  With M modalities: the encoder of all of them is stream 0, the one of the i-th
  modality alone is 1 + i, the prior is M + 1, and the encoder of any other
  subset is M + 2 + its bitmask (bit i for modality i). For the paper's two
  modalities that is q(z|x,w): 0, q(z|x): 1, q(z|w): 2, p(z): 3.
  """
  names = models.as_multimodal(model).modality_names
  if proposal == PRIOR:
    return len(names) + 1
  proposal = _subset(model, proposal, 'proposal')
  if len(proposal) == len(names):
    return _EVERY_MODALITY_STREAM
  if len(proposal) == 1:
    return 1 + names.index(proposal[0])
  return len(names) + 2 + sum(1 << names.index(name) for name in proposal)


def _check_choice(name: str, value: Any, choices: tuple[Any, ...]) -> None:
  if value not in choices:
    raise ValueError(f'{name} must be one of {choices}, got {value!r}')


def _check_sizes(k: int, chunk_size: int | None) -> None:
  inputs.check_count('k (the number of importance samples)', k)
  inputs.check_count('chunk_size', chunk_size, allow_none=True)


def _log_mean_exp_over_draws(
    log_weights: Callable[[jax.Array], dict[str, jax.Array]],
    proposal: distributions.Posterior,
    *,
    key: jax.Array,
    k: int,
    chunk_size: int | None,
) -> dict[str, jax.Array]:
  """log (1/k) sum_i exp(log_weights(z_i)), z_i ~ proposal, for each output.

  Args:
    log_weights: maps one draw z (the proposal's shape) to a dict of log-weights,
      each of shape [B].
    proposal: the distribution of the draws (a Gaussian, or a mixture for
      MMVAE and MoPoE), each draw of shape [..., D].
    key: the stream key; draw i uses fold_in(key, i).
    k: number of draws.
    chunk_size: draws per ``lax.scan`` step; None puts all k in one step. When it
      does not divide k, the last step's draws past k get zero weight.

  Returns:
    The dict of log-mean-exps, each of shape [B].
  """
  _check_sizes(k, chunk_size)
  chunk = k if chunk_size is None else min(chunk_size, k)
  num_chunks = -(-k // chunk)

  def step(state: dict[str, tuple[jax.Array, jax.Array]], first: jax.Array):
    """Folds draws first..first+chunk-1 into (running max, sum of exp(. - max))."""
    indices = first + jnp.arange(chunk)
    keys = jax.vmap(jax.random.fold_in, in_axes=(None, 0))(key, indices)
    z = jax.vmap(lambda draw_key: distributions.sample(draw_key, proposal))(
        keys)
    in_range = (indices < k)[:, None]
    new_state = {}
    for name, log_w in jax.vmap(log_weights)(z).items():  # Each [chunk, B].
      log_w = jnp.where(in_range, log_w, -jnp.inf)
      old_max, total = state[name]
      new_max = jnp.maximum(old_max, jnp.max(log_w, axis=0))
      # While every weight so far is zero (log -inf), shift by 0, not -inf - -inf.
      shift = jnp.where(jnp.isfinite(new_max), new_max, 0.0)
      total = (total * jnp.exp(old_max - shift)
               + jnp.sum(jnp.exp(log_w - shift[None]), axis=0))
      new_state[name] = (new_max, total)
    return new_state, None

  shapes = jax.eval_shape(log_weights, distributions.mean_of(proposal))
  state = {name: (jnp.full(s.shape, -jnp.inf, s.dtype),
                  jnp.zeros(s.shape, s.dtype))
           for name, s in shapes.items()}
  state, _ = jax.lax.scan(step, state, jnp.arange(num_chunks) * chunk)
  return {name: running_max + jnp.log(total) - math.log(k)
          for name, (running_max, total) in state.items()}


def _subset(model: Model, names: Any, what: str) -> Subset:
  """``names`` as a subset in the model's order; unknown or repeated names raise."""
  known = models.as_multimodal(model).modality_names
  names = (names,) if isinstance(names, str) else tuple(names)
  if len(set(names)) != len(names) or not set(names) <= set(known):
    raise ValueError(f'{what} must be distinct modality names of this model '
                     f'{known}, got {names}')
  return tuple(name for name in known if name in names)


def _two_modalities(
    model: Model, x: ArrayLike, w: ArrayLike | None
) -> tuple[dict[str, jax.Array], str, str | None]:
  """({first name: x, second name: w}, first name, second name) of the x/w form.

  On a model of more modalities the others are unobserved (marginalized out).
  """
  names = models.names_of(model)
  observed = {names[0]: jnp.asarray(x)}
  if w is not None:
    observed[names[1]] = jnp.asarray(w)
  return observed, names[0], names[1] if len(names) > 1 else None


def _encoder_bounds(
    model: Model,
    params: Params,
    observed: dict[str, jax.Array],
    *,
    proposal: Subset,
    targets: tuple[Subset, ...],
    key: jax.Array,
    k: int,
    chunk_size: int | None,
) -> dict[Subset, jax.Array]:
  """Importance-weighted bounds that share one set of draws from one encoder.

  For each target set T: log (1/k) sum_i p(X_T|z_i) p(z_i) / q(z_i|X_P),
  z_i ~ q(z|X_P), where P is ``proposal``. Each log p(x_m|z_i) is computed once
  per draw and shared by the targets that contain m.

  Returns:
    A dict from target set to the estimate, shape [B].
  """
  keyed = models.as_multimodal(model)
  q = keyed.encode_subset(params, {name: observed[name] for name in proposal})
  needed = sorted(set().union(*targets))

  def log_weights(z: jax.Array) -> dict[Subset, jax.Array]:
    log_prior_over_q = (distributions.standard_normal_log_prob(z)
                        - distributions.log_prob(z, q))
    log_lik = {m: keyed.log_likelihood(params, m, observed[m], z)
               for m in needed}
    return {t: sum((log_lik[m] for m in t), log_prior_over_q) for t in targets}

  return _log_mean_exp_over_draws(
      log_weights, q,
      key=jax.random.fold_in(key, proposal_stream(model, proposal)), k=k,
      chunk_size=chunk_size)


def _prior_bound(model: Model, params: Params, observed: dict[str, jax.Array],
                 target: Subset, *, key: jax.Array, k: int,
                 chunk_size: int | None) -> jax.Array:
  """log (1/k) sum_i p(X_T|z_i), z_i ~ p(z), the same draws for every row: [B]."""
  keyed = models.as_multimodal(model)

  def log_weights(z: jax.Array) -> dict[str, jax.Array]:
    # z [D] is unbatched here, so vmap over the rows decodes it only once.
    def row(values: dict[str, jax.Array]) -> jax.Array:
      return sum(keyed.log_likelihood(params, m, values[m], z) for m in target)
    return {'target': jax.vmap(row)({m: observed[m] for m in target})}

  return _log_mean_exp_over_draws(
      log_weights, distributions.standard_normal((keyed.latent_dim,)),
      key=jax.random.fold_in(key, proposal_stream(model, PRIOR)), k=k,
      chunk_size=chunk_size)['target']


def iw_log_likelihood(
    model: Model,
    params: Params,
    observed: Mapping[str, ArrayLike],
    *,
    key: jax.Array,
    k: int,
    target: Any = None,
    given: Any = (),
    proposal: Any = None,
    prior_samples: int = 5000,
    chunk_size: int | None = None,
    log_p_given: ArrayLike | None = None,
) -> jax.Array:
  """Importance-weighted estimate of log p(X_T) or log p(X_T | X_S).

  With T the target set, S the given set (disjoint from T, possibly empty) and P
  the proposal (an encoder's subset of T u S, or 'prior'):

    log (1/k) sum_i p(X_T, X_S | z_i) p(z_i) / r(z_i) - log p(X_S),
    z_i ~ r(z) = q(z|X_P)  (or p(z), when the last two factors cancel),

  where log p(X_S) is ``log_p_given`` if passed, else this estimate of it with
  the prior as proposal and ``prior_samples`` draws (0 when S is empty). The
  first term is a lower bound of log p(X_T, X_S) in expectation, exact for every
  k when r = p(z|X_T, X_S); the paper's bounds are the cases P = T u S
  ('multiple'), P = T or P = S with one modality ('single'), on two modalities.

  Args:
    model: a model with the keyed protocol (``models.MultimodalModel``).
    params: its parameters.
    observed: {modality name: [B, dim]}, holding at least T u S.
    key: PRNG key; the draws come from the proposal's stream
      (``proposal_stream``), log p(X_S) from the prior's.
    k: number of importance samples.
    target: modality names T (a name or a tuple); default: all of ``observed``
      not in ``given``.
    given: modality names S; default: none (a marginal or joint bound).
    proposal: modality names P, or 'prior'; default: T u S.
    prior_samples: prior draws for log p(X_S).
    chunk_size: samples per scan step; None for all at once.
    log_p_given: precomputed log p(X_S), shape [B].

  Returns:
    Shape [B], float32.
  """
  given = _subset(model, given, 'given')
  if target is None:
    target = tuple(name for name in observed if name not in given)
  target = _subset(model, target, 'target')
  if not target or set(target) & set(given):
    raise ValueError(f'target must be one or more modalities not in given, '
                     f'got target {target} and given {given}')
  union = _subset(model, target + given, 'target and given')
  if proposal is None:
    proposal = union
  elif proposal != PRIOR:
    proposal = _subset(model, proposal, 'proposal')
    if not proposal or not set(proposal) <= set(union):
      raise ValueError(f"proposal must be 'prior' or modalities among the "
                       f'target and given {union}, got {proposal}')
  _check_sizes(k, chunk_size)
  inputs.check_count('prior_samples', prior_samples)
  missing = sorted(set(union) - set(observed))
  if missing:
    raise ValueError(f'observed lacks the modalities {missing} of the target '
                     f'and given sets')
  return _iw_log_likelihood(
      model, params, {name: observed[name] for name in union}, key=key, k=k,
      target=target, given=given, proposal=proposal,
      prior_samples=prior_samples, chunk_size=chunk_size,
      log_p_given=log_p_given)


@functools.partial(
    jax.jit, static_argnames=('model', 'target', 'given', 'proposal', 'k',
                              'prior_samples', 'chunk_size'))
def _iw_log_likelihood(
    model: Model, params: Params, observed: dict[str, ArrayLike], *,
    key: jax.Array, k: int, target: Subset, given: Subset,
    proposal: Subset | str, prior_samples: int, chunk_size: int | None,
    log_p_given: ArrayLike | None) -> jax.Array:
  """``iw_log_likelihood`` after its argument checks, with T, S and P as
  subsets; observed holds exactly T u S."""
  union = _subset(model, target + given, 'target and given')
  observed = {name: jnp.asarray(observed[name]) for name in union}
  inputs.check_observed(model, observed)
  if proposal == PRIOR:
    log_joint = _prior_bound(model, params, observed, union, key=key, k=k,
                             chunk_size=chunk_size)
  else:
    log_joint = _encoder_bounds(model, params, observed, proposal=proposal,
                                targets=(union,), key=key, k=k,
                                chunk_size=chunk_size)[union]
  if not given:
    return log_joint
  if log_p_given is None:
    log_p_given = _prior_bound(model, params, observed, given, key=key,
                               k=prior_samples, chunk_size=chunk_size)
  return log_joint - jnp.asarray(log_p_given)


def _check_conditional_args(model: Model, x: ArrayLike, w: ArrayLike, *,
                            proposal: str, given: str, k: int,
                            chunk_size: int | None) -> None:
  """The argument checks of the conditional estimates (``iw_conditional``,
  ``iw_conditional_tars``): x [B, x_dim], w [B, w_dim]."""
  _check_choice('proposal', proposal, ('multiple', 'single'))
  _check_choice('given', given, ('x', 'w'))
  _check_sizes(k, chunk_size)
  inputs.check_observations(model, x, w)


def _conditional_model_bound(
    model: Model, params: Params, x: ArrayLike, w: ArrayLike, *,
    key: jax.Array, k: int, chunk_size: int | None) -> jax.Array:
  """log (1/k) sum_i p(x|z_i,w) p(z_i|w) / q(z_i|x,w), z_i ~ q(z|x,w).

  The multiple bound of a model of x given w (CVAE, CMMA), drawn from the same
  'xw' stream as the JMVAE bounds.
  """
  x, w = jnp.asarray(x), jnp.asarray(w)
  q = model.encode(params, x, w)
  prior = model.conditional_prior(params, w)

  def log_weights(z: jax.Array) -> dict[str, jax.Array]:
    return {'x|w': model.log_px_given(params, x, z, w)
                   + distributions.gaussian_log_prob(z, prior.mean, prior.log_var)
                   - distributions.gaussian_log_prob(z, q.mean, q.log_var)}

  return _log_mean_exp_over_draws(
      log_weights, q, key=jax.random.fold_in(key, _EVERY_MODALITY_STREAM), k=k,
      chunk_size=chunk_size)['x|w']


@functools.partial(
    jax.jit, static_argnames=('model', 'k', 'modality', 'chunk_size'))
def iw_prior_marginal(
    model: Model,
    params: Params,
    value: ArrayLike,
    *,
    key: jax.Array,
    k: int,
    modality: str = 'w',
    chunk_size: int | None = None,
) -> jax.Array:
  """Estimate of log p(value) from prior draws, as for log p(w) in paper Eq. 8.

  log (1/k) sum_i p(value|z_i), z_i ~ p(z): importance sampling with the prior as
  proposal.

  The same k prior draws serve every row of ``value``, so the decoder runs k
  times, not k * B times, and the estimate of a row does not depend on the other
  rows. For a discrete modality this gives a table: with one-hot labels,
  ``iw_prior_marginal(model, params, jnp.eye(C), key=key, k=5000)[labels]`` equals
  ``iw_prior_marginal(model, params, one_hot, key=key, k=5000)`` for the same key,
  at the cost of C rows instead of B; pass it to ``iw_conditional`` as
  ``log_p_given`` or to ``evaluate_bounds`` as ``log_pw``. Each row's estimate is
  the usual one, but rows are correlated through the shared draws.

  Args:
    model: the model (see the module docstring).
    params: its parameters.
    value: observations of one modality, shape [B, dim] (B may be the number of
      distinct values, e.g. C classes).
    key: PRNG key; the draws come from its 'prior' stream.
    k: number of prior draws (the authors use 5000 on MNIST).
    modality: 'w' (scored by ``log_pw``) or 'x' (scored by ``log_px``).
    chunk_size: prior draws per scan step; None for all at once.

  Returns:
    Shape [B]: a stochastic lower bound of log p(value) (biased low by Jensen's
    inequality), consistent as k grows.
  """
  _check_choice('modality', modality, ('x', 'w'))
  _check_sizes(k, chunk_size)
  inputs.check_modality(model, modality, value)
  names = models.as_multimodal(model).modality_names
  name = names[0] if modality == 'x' else names[1]
  return _prior_bound(model, params, {name: jnp.asarray(value)}, (name,),
                      key=key, k=k, chunk_size=chunk_size)


@functools.partial(
    jax.jit, static_argnames=('model', 'k', 'proposal', 'chunk_size'))
def iw_marginal(
    model: Model,
    params: Params,
    x: ArrayLike,
    w: ArrayLike | None = None,
    *,
    key: jax.Array,
    k: int,
    proposal: str = 'multiple',
    chunk_size: int | None = None,
) -> jax.Array:
  """Importance-weighted estimate of the marginal log p(x) (paper Eqs. 6 and 7).

  multiple (Eq. 6): log (1/k) sum_i p(x|z_i) p(z_i) / q(z_i|x,w), z_i ~ q(z|x,w).
  single (Eq. 7):   log (1/k) sum_i p(x|z_i) p(z_i) / q(z_i|x),   z_i ~ q(z|x).
  For JMVAE-zero the model's q(z|x) is q(z|x, w=0); for a VAE use 'single'.

  Both are lower bounds in expectation that converge to log p(x) as k grows.
  The single bound is exact for every k when q(z|x) = p(z|x). The multiple bound
  is not exact even when q(z|x,w) = p(z|x,w): that is the posterior given w as
  well, so its k = 1 mean is log p(x) - KL(p(z|x,w) || p(z|x)).

  Args:
    model: the model (see the module docstring).
    params: its parameters.
    x: shape [B, x_dim].
    w: shape [B, w_dim]; needed by the multiple proposal only.
    key: PRNG key; 'multiple' draws from its 'xw' stream (the same draws as
      ``iw_joint``), 'single' from its 'x' stream.
    k: number of importance samples (the authors use 1000 on MNIST).
    proposal: 'multiple' or 'single'.
    chunk_size: samples per scan step; None for all at once.

  Returns:
    Shape [B], float32.
  """
  _check_choice('proposal', proposal, ('multiple', 'single'))
  if proposal == 'multiple' and w is None:
    raise ValueError("proposal='multiple' samples q(z|x,w), so it needs w")
  _check_sizes(k, chunk_size)
  inputs.check_observations(model, x, w)
  observed, x_name, _ = _two_modalities(model, x, w)
  encoder = tuple(observed) if proposal == 'multiple' else (x_name,)
  return _encoder_bounds(model, params, observed, proposal=encoder,
                         targets=((x_name,),), key=key, k=k,
                         chunk_size=chunk_size)[(x_name,)]


@functools.partial(jax.jit, static_argnames=('model', 'k', 'chunk_size'))
def iw_joint(
    model: Model,
    params: Params,
    x: ArrayLike,
    w: ArrayLike,
    *,
    key: jax.Array,
    k: int,
    chunk_size: int | None = None,
) -> jax.Array:
  """Importance-weighted estimate of the joint log p(x,w) (paper Table 3).

  log (1/k) sum_i p(x|z_i) p(w|z_i) p(z_i) / q(z_i|x,w), z_i ~ q(z|x,w): a lower
  bound in expectation, exact for every k when q(z|x,w) = p(z|x,w).

  Args:
    model: the model (see the module docstring).
    params: its parameters.
    x: shape [B, x_dim].
    w: shape [B, w_dim].
    key: PRNG key; draws from its 'xw' stream, as ``iw_marginal('multiple')``.
    k: number of importance samples.
    chunk_size: samples per scan step; None for all at once.

  Returns:
    Shape [B], float32.
  """
  _check_sizes(k, chunk_size)
  inputs.check_observations(model, x, w)
  observed, _, _ = _two_modalities(model, x, w)
  both = tuple(observed)
  return _encoder_bounds(model, params, observed, proposal=both,
                         targets=(both,), key=key, k=k,
                         chunk_size=chunk_size)[both]


@functools.partial(
    jax.jit, static_argnames=('model', 'k', 'proposal', 'given',
                              'prior_samples', 'chunk_size'))
def iw_conditional(
    model: Model,
    params: Params,
    x: ArrayLike,
    w: ArrayLike,
    *,
    key: jax.Array,
    k: int,
    proposal: str = 'multiple',
    given: str = 'w',
    prior_samples: int = 5000,
    chunk_size: int | None = None,
    log_p_given: ArrayLike | None = None,
) -> jax.Array:
  """Estimate of the conditional log p(x|w) (or log p(w|x)) (paper Eqs. 8 and 9).

  Both use log p(x|w) = log p(x,w) - log p(w), shown here for given='w'
  (given='x' swaps the roles of x and w and estimates log p(w|x)):

  multiple (Eq. 8):
    log (1/k) sum_i p(x|z_i) p(w|z_i) p(z_i) / q(z_i|x,w) - log p(w),
    z_i ~ q(z|x,w).
  single (Eq. 9):
    log (1/k) sum_i p(x|z_i) p(w|z_i) p(z_i) / q(z_i|w) - log p(w),
    z_i ~ q(z|w), the unimodal encoder of the given modality.

  log p(w) is ``log_p_given`` if passed, else ``iw_prior_marginal`` with
  ``prior_samples`` draws from p(z).

  Why this reading of Eq. 9: the paper builds both conditional bounds "from
  these two lower bounds" of the joint, which differ only in the proposal, and
  its Appendix B argument (both converge to the same value as k grows) holds for
  this estimator. It is consistent: it tends to log p(x|w) as k and
  prior_samples grow, for any q(z|w) covering the posterior. One version of the
  authors' Theano code (Tars) instead scores log (1/k) sum_i p(x|z_i),
  z_i ~ q(z|w); that equals ours when q(z|w) = p(z|w) and log p(w) is exact, but
  otherwise tends to log of the integral of p(x|z) q(z|w) dz, which is not
  log p(x|w), so we do not use it.

  Models of x given w alone (CVAE, CMMA; see ``models.ConditionalVAE``) have no
  p(w): for them the multiple bound is
    log (1/k) sum_i p(x|z_i,w) p(z_i|w) / q(z_i|x,w),   z_i ~ q(z|x,w),
  with the same draws as the JMVAE multiple bound, and only proposal='multiple',
  given='w' is defined.

  Exactness: with q(z|x,w) = p(z|x,w) and the exact log p(w), 'multiple' is exact
  for every k. 'single' never is, because q(z|w) ignores x: with
  q(z|w) = p(z|w) its weights are p(x|z_i) p(w), its k = 1 mean is
  E_p(z|w)[log p(x|z)] = log p(x|w) - KL(p(z|w) || p(z|x,w)), and it rises to
  log p(x|w) with k. With log p(w) estimated from the prior the result is no
  longer a lower bound in expectation: the estimate of log p(w) is itself biased
  low (by O(1/prior_samples)), which biases the difference up.

  Args:
    model: the model (see the module docstring).
    params: its parameters.
    x: shape [B, x_dim].
    w: shape [B, w_dim].
    key: PRNG key; draws from its 'xw' stream ('multiple', as ``iw_joint``) or its
      'w' / 'x' stream ('single'), and log p(given) from its 'prior' stream.
    k: number of importance samples.
    proposal: 'multiple' or 'single'.
    given: 'w' for log p(x|w), 'x' for log p(w|x).
    prior_samples: prior draws for log p(given) (the authors use 5000).
    chunk_size: samples per scan step for both estimates; None for all at once.
    log_p_given: precomputed log p(given), shape [B] (e.g. looked up in a
      per-class table from ``iw_prior_marginal``); then no prior draws are made.
      For given='x' with images, prior draws estimate log p(x) very poorly, so
      pass ``iw_marginal``'s estimate here instead.

  Returns:
    Shape [B], float32.
  """
  _check_conditional_args(model, x, w, proposal=proposal, given=given, k=k,
                          chunk_size=chunk_size)
  inputs.check_count('prior_samples', prior_samples)
  if isinstance(model, models.ConditionalModel):
    if (proposal, given) != ('multiple', 'w'):
      raise ValueError(f'{type(model).__name__} models only x given w, with '
                       "its joint encoder: use proposal='multiple', given='w'")
    return _conditional_model_bound(model, params, x, w, key=key, k=k,
                                    chunk_size=chunk_size)
  observed, x_name, w_name = _two_modalities(model, x, w)
  given_name, target = (x_name, w_name) if given == 'x' else (w_name, x_name)
  return iw_log_likelihood(
      model, params, observed, key=key, k=k, target=target, given=given_name,
      proposal=None if proposal == 'multiple' else given_name,
      prior_samples=prior_samples, chunk_size=chunk_size,
      log_p_given=log_p_given)


@functools.partial(
    jax.jit, static_argnames=('model', 'k', 'prior_samples', 'chunk_size'))
def evaluate_bounds(
    model: Model,
    params: Params,
    x: ArrayLike,
    w: ArrayLike | None = None,
    *,
    key: jax.Array,
    k: int,
    prior_samples: int = 5000,
    chunk_size: int | None = None,
    log_pw: ArrayLike | None = None,
) -> dict[str, jax.Array]:
  """All of the paper's test bounds for one batch, sharing draws and decoder passes.

  Three proposal passes and one prior pass:
    q(z|x,w): log p(x|z) and log p(w|z) once per draw give 'marginal_multiple'
      (Eq. 6) and 'joint' (Table 3); 'conditional_multiple' (Eq. 8) is
      joint - log p(w).
    q(z|x): 'marginal_single' (Eq. 7).
    q(z|w): the joint with this proposal, minus log p(w), is
      'conditional_single' (Eq. 9; see ``iw_conditional`` for this reading).
    p(z): log p(w) by ``iw_prior_marginal``, skipped when ``log_pw`` is given.

  With the same key every entry equals the corresponding single-bound function
  (``iw_marginal``, ``iw_joint``, ``iw_conditional`` with given='w').

  A model without a joint encoder ``encode`` (a VAE) has only the single
  marginal bound, so for it the dict holds 'marginal_single' alone and w is not
  needed. A model of x given w (CVAE, CMMA) has only 'conditional_multiple'.

  Args:
    model: the model (see the module docstring).
    params: its parameters.
    x: shape [B, x_dim].
    w: shape [B, w_dim]; may be None for a VAE.
    key: PRNG key.
    k: importance samples per bound (the authors use 1000 on MNIST).
    prior_samples: prior draws for log p(w) (the authors use 5000).
    chunk_size: samples per scan step; None for all at once.
    log_pw: precomputed log p(w), shape [B]; see ``iw_prior_marginal`` for a
      per-class table.

  Returns:
    A dict with keys 'marginal_multiple', 'marginal_single',
    'conditional_multiple', 'conditional_single', 'joint', each of shape [B]
    (only 'marginal_single' for a VAE, only 'conditional_multiple' for CVAE and
    CMMA).
  """
  _check_sizes(k, chunk_size)
  inputs.check_count('prior_samples', prior_samples)
  inputs.check_observations(model, x, w)
  if isinstance(model, models.ConditionalModel):
    return {'conditional_multiple': _conditional_model_bound(
        model, params, x, w, key=key, k=k, chunk_size=chunk_size)}
  if len(models.as_multimodal(model).modality_names) == 1:
    w = None
  elif w is None:
    raise ValueError('a model with a joint encoder needs w for its bounds')
  observed, x_name, w_name = _two_modalities(model, x, w)
  bounds = functools.partial(_encoder_bounds, model, params, observed, key=key,
                             k=k, chunk_size=chunk_size)
  x_only, both = (x_name,), tuple(observed)
  marginal_single = bounds(proposal=x_only, targets=(x_only,))[x_only]
  if w is None:
    return {'marginal_single': marginal_single}
  multiple = bounds(proposal=both, targets=(x_only, both))
  joint_from_w = bounds(proposal=(w_name,), targets=(both,))[both]
  if log_pw is None:
    log_pw = _prior_bound(model, params, observed, (w_name,), key=key,
                          k=prior_samples, chunk_size=chunk_size)
  log_pw = jnp.asarray(log_pw)
  return {
      'marginal_multiple': multiple[x_only],
      'marginal_single': marginal_single,
      'conditional_multiple': multiple[both] - log_pw,
      'conditional_single': joint_from_w - log_pw,
      'joint': multiple[both],
  }


@functools.partial(
    jax.jit, static_argnames=('model', 'k', 'proposal', 'given', 'chunk_size'))
def iw_conditional_tars(
    model: Model,
    params: Params,
    x: ArrayLike,
    w: ArrayLike,
    *,
    key: jax.Array,
    k: int,
    proposal: str = 'single',
    given: str = 'w',
    chunk_size: int | None = None,
) -> jax.Array:
  """The authors' code's Eq. 9: log (1/k) sum_i p(x|z_i), z_i ~ q(z|w).

  The other reading of the single conditional bound, beside ``iw_conditional``
  (there: the joint with proposal q(z|w), minus log p(w)). The authors'
  Theano library Tars (``Tars/models/jmvae.py``, ``_log_cd_importance_weight``
  and ``_vr_bound_test(type_p='conditional', missing=True)``) draws z from the
  unimodal encoder of the given modality and averages only the likelihood of
  the other one, with no prior, no proposal density and no log p(w):

    single:   log (1/k) sum_i p(x|z_i),   z_i ~ q(z|w)
    multiple: log (1/k) sum_i p(x|z_i),   z_i ~ q(z|x,w)  (Tars with
              missing=False; not the paper's Eq. 8, listed for comparison)

  shown for given='w' (given='x' swaps x and w: p(w|z_i), z_i ~ q(z|x)).

  What it estimates: for any k, exp of it is an unbiased estimate of
  int p(x|z) q(z|w) dz, so as k grows it tends to the log of that integral.
  That is log p(x|w) when q(z|w) = p(z|w) (x and w are independent given z),
  and otherwise something else: not a bound of log p(x|w) in either
  direction. With q(z|w) = p(z|w) and the exact log p(w) the two readings are
  equal draw by draw: ``iw_conditional``'s weights p(x|z) p(w|z) p(z) /
  p(z|w) = p(x|z) p(w), so with the same key and ``log_p_given`` = log p(w)
  both return the same numbers, whose k = 1 mean is
  E_p(z|w)[log p(x|z)] = log p(x|w) - KL(p(z|w) || p(z|x,w)); neither is
  exact for small k. The 'multiple' form tends to log int p(x|z) q(z|x,w) dz:
  z is chosen knowing x, and at q(z|x,w) = p(z|x,w) that limit is
  log E_p(z|w)[p(x|z)^2] - log p(x|w) >= log p(x|w) (Cauchy-Schwarz).

  Draws come from the same streams as ``iw_conditional`` and
  ``evaluate_bounds`` (the 'w' stream for q(z|w), 'xw' for q(z|x,w)), so on
  one trained model both readings see the same z_i.

  Args:
    model: a model with the unimodal encoder of ``given`` (JMVAE-kl; for
      JMVAE-zero it is q(z|x=0, w)) and, for 'multiple', ``encode``.
    params: its parameters.
    x: shape [B, x_dim].
    w: shape [B, w_dim].
    key: PRNG key.
    k: number of samples.
    proposal: 'single' (the reading of Eq. 9) or 'multiple'.
    given: 'w' for log p(x|w), 'x' for log p(w|x).
    chunk_size: samples per scan step; None for all at once.

  Returns:
    Shape [B], float32.

  References:
    Suzuki, Nakayama & Matsuo 2016, Appendix B (Eq. 9); Tars,
    https://github.com/masa-su/Tars.
  """
  _check_conditional_args(model, x, w, proposal=proposal, given=given, k=k,
                          chunk_size=chunk_size)
  if (isinstance(model, models.ConditionalModel)
      or len(models.as_multimodal(model).modality_names) != 2):
    raise ValueError(f'{type(model).__name__} has no unimodal encoders and '
                     'likelihoods of both modalities; this reading needs a '
                     'JMVAE')
  keyed = models.as_multimodal(model)
  observed, x_name, w_name = _two_modalities(model, x, w)
  given_name, target = (x_name, w_name) if given == 'x' else (w_name, x_name)
  encoder = tuple(observed) if proposal == 'multiple' else (given_name,)
  q = keyed.encode_subset(params, {name: observed[name] for name in encoder})

  def log_weights(z: jax.Array) -> dict[str, jax.Array]:
    return {target: keyed.log_likelihood(params, target, observed[target], z)}

  return _log_mean_exp_over_draws(
      log_weights, q, key=jax.random.fold_in(
          key, proposal_stream(model, encoder)), k=k,
      chunk_size=chunk_size)[target]
