"""Models: an ordered set of named modalities, their encoders, decoders and likelihoods.

A model is a frozen dataclass of pure methods that take ``params`` first. The
objectives (``jmvae_jax.objectives``) and the importance-weighted bounds
(``jmvae_jax.bounds``) call the modality-keyed protocol ``MultimodalModel``:

  modality_names                      the modalities' names, in the model's order
  latent_dim                          D
  encode_subset(params, observed)     q(z | the observed modalities), observed a
                                      mapping {name: [..., dim]}: a
                                      DiagGaussian, or a GaussianMixture
                                      (MMVAE, MoPoE)
  log_likelihood(params, name, v, z)  log p(v|z) of modality ``name``: [...]

so any object with these works with them: a linear-Gaussian model with exact
likelihoods, a user's own networks, a model of three or more modalities.
Generation (``jmvae_jax.generation``) also decodes, ``DecodingModel``:

  decode(params, name, z)             the parameters of p(x_name|z)

and reads each modality's ``Modality.readout``. Models of one modality given
another (CVAE, CMMA) follow ``ConditionalModel``.

The x/w shorthands. The paper's two modalities are x (the first) and w (the
second); the models also have ``encode(params, x, w)``, ``encode_x``,
``encode_w``, ``decode_x``, ``decode_w``, ``log_px`` and ``log_pw``, which name
their first and second modality that way (on a JMVAE of more modalities the
others are then unobserved).

Shapes: each observation is [..., dim], z is [..., latent_dim], with the same
leading axes (usually [B]); extra sample axes are added with ``jax.vmap``, as the
bounds do for their k importance samples.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any, Callable, Mapping, Protocol, runtime_checkable

import jax
import jax.numpy as jnp

from jmvae_jax import distributions
from jmvae_jax.distributions import DiagGaussian
from jmvae_jax.nn.dense import MLP, GaussianEncoder

Params = Any
# {modality name: observation [..., dim]}: the modalities seen, in any order.
Observed = Mapping[str, jax.Array]
# (observation [..., D], decoder output [..., D]) -> log-likelihood [...].
LogLikelihood = Callable[[jax.Array, jax.Array], jax.Array]
# Decoder output [..., D] -> what it predicts of the observation [..., D].
Readout = Callable[[jax.Array], jax.Array]


def decoder_output(output: jax.Array) -> jax.Array:
  """The readout of a decoder that outputs the mean itself (Gaussian)."""
  return output


@dataclasses.dataclass(frozen=True)
class Modality:
  """One observed modality: its name, width and the likelihood its decoder parameterizes.

  Attributes:
    name: the key of this modality in observations, parameters and loss terms
      (e.g. 'image', 'label').
    dim: width of the (flattened) observation.
    log_prob: log p(data | decoder output), summed over the last axis.
    readout: decoder output -> what generation returns of this modality:
      Bernoulli means for binary images, class probabilities for labels, the
      mean for a Gaussian (the default).
  """

  name: str
  dim: int
  log_prob: LogLikelihood
  readout: Readout = decoder_output


MNIST_IMAGE = Modality('image', 784, distributions.bernoulli_log_prob,
                       jax.nn.sigmoid)
MNIST_LABEL = Modality('label', 10, distributions.categorical_log_prob,
                       jax.nn.softmax)
# The binary image turned 180 degrees: a third, derived view of each digit, for
# three-modality runs on MNIST (PolyMNIST brings independent views).
MNIST_ROTATED = Modality('rotated', 784, distributions.bernoulli_log_prob,
                         jax.nn.sigmoid)
MNIST_MODALITIES = {m.name: m for m in (MNIST_IMAGE, MNIST_LABEL, MNIST_ROTATED)}

# Parameter names of the MNIST models before modalities had names (the first
# modality was 'x', the second 'w'); checkpoints and released models that use
# them are renamed on load.
LEGACY_PARAM_NAMES = {
    'x_encoder': 'image_encoder', 'x_decoder': 'image_decoder',
    'w_encoder': 'label_encoder', 'w_decoder': 'label_decoder',
}

SUBSET_ENCODERS = ('product_of_experts', 'zeros')


@runtime_checkable
class MultimodalModel(Protocol):
  """The modality-keyed model protocol of the objectives and bounds."""

  latent_dim: int

  @property
  def modality_names(self) -> tuple[str, ...]:
    """The names of the modalities, in the model's order."""

  def encode_subset(self, params: Params,
                    observed: Observed) -> distributions.Posterior:
    """q(z | observed): draws [..., latent_dim] (``distributions.sample``)."""

  def log_likelihood(self, params: Params, name: str, value: jax.Array,
                     z: jax.Array) -> jax.Array:
    """log p(value | z) of modality ``name``: [..., dim], [..., D] -> [...]."""


@runtime_checkable
class DecodingModel(MultimodalModel, Protocol):
  """A keyed model whose decoders generation can call."""

  def decode(self, params: Params, name: str, z: jax.Array) -> jax.Array:
    """The parameters of p(x_name|z): [..., D] -> [..., dim]."""


@runtime_checkable
class ConditionalModel(Protocol):
  """A model of its first modality x given its second w only (CVAE, CMMA)."""

  def encode(self, params: Params, x: jax.Array, w: jax.Array) -> DiagGaussian:
    """q(z|x,w)."""

  def conditional_prior(self, params: Params, w: jax.Array) -> DiagGaussian:
    """p(z|w)."""

  def log_px_given(self, params: Params, x: jax.Array, z: jax.Array,
                   w: jax.Array) -> jax.Array:
    """log p(x|z,w): [...]."""


@dataclasses.dataclass(frozen=True)
class TwoModalityView:
  """The keyed protocol of a model written with the x/w methods.

  Such a model (a user's own, the CelebA conv models) has ``encode(params, x,
  w)``, ``encode_x``, ``encode_w``, ``decode_x``, ``decode_w``, ``log_px`` and
  ``log_pw``, or only the x ones (a VAE). Its modalities are named by its
  ``modalities`` (a tuple of ``Modality``) when it has them, else 'x' and
  'w'. ``as_multimodal`` makes a view when needed.
  """

  model: Any

  @property
  def latent_dim(self) -> int:
    return self.model.latent_dim

  @property
  def modality_names(self) -> tuple[str, ...]:
    count = 2 if hasattr(self.model, 'encode') else 1
    named = getattr(self.model, 'modalities', None)
    return (tuple(m.name for m in named) if named is not None
            else ('x', 'w'))[:count]

  def _is_x(self, name: str) -> bool:
    """Whether ``name`` (one of this view's names) is the model's x."""
    return name == self.modality_names[0]

  def encode_subset(self, params: Params, observed: Observed) -> DiagGaussian:
    names = _check_observed_names(self, observed)
    values = [observed[name] for name in names]
    if len(names) == 2:
      return self.model.encode(params, *values)
    if self._is_x(names[0]):
      return self.model.encode_x(params, values[0])
    return self.model.encode_w(params, values[0])

  def log_likelihood(self, params: Params, name: str, value: jax.Array,
                     z: jax.Array) -> jax.Array:
    _check_observed_names(self, {name: value})
    if self._is_x(name):
      return self.model.log_px(params, value, z)
    return self.model.log_pw(params, value, z)

  def decode(self, params: Params, name: str, z: jax.Array) -> jax.Array:
    _check_observed_names(self, {name: z})
    if self._is_x(name):
      return self.model.decode_x(params, z)
    return self.model.decode_w(params, z)


def names_of(model: Any) -> tuple[str, ...]:
  """The modality names of any model: its own, else 'x' (and 'w')."""
  names = getattr(model, 'modality_names', None)
  return names if names is not None else TwoModalityView(model).modality_names


def as_multimodal(model: Any) -> MultimodalModel:
  """``model`` if it has the keyed protocol, else its ``TwoModalityView``."""
  if isinstance(model, MultimodalModel):
    return model
  return TwoModalityView(model)


def modality_of(model: Any, name: str) -> Modality:
  """The ``Modality`` called ``name`` among ``model.modalities``."""
  for modality in getattr(model, 'modalities', ()):
    if modality.name == name:
      return modality
  raise ValueError(f'no modality {name!r}; this model has {names_of(model)}')


def mnist_observed(model: Any, x: jax.Array,
                   w: jax.Array | None) -> dict[str, jax.Array]:
  """An MNIST batch as ``model``'s modalities: {name: [B, dim]}.

  Args:
    model: a model over modalities of ``MNIST_MODALITIES``.
    x: binary images [B, 784].
    w: one-hot labels [B, 10], or None for a model of images alone.
  """
  views = {'image': lambda: x, 'label': lambda: w,
           'rotated': lambda: x[..., ::-1]}
  return {name: views[name]() for name in names_of(model)}


def _encoder(model: Any) -> GaussianEncoder:
  """A Gaussian encoder of ``model``'s tower widths, latent size and products."""
  return GaussianEncoder(model.encoder_hidden, model.latent_dim,
                         model.matmul_dtype)


def _joint_encoder(model: Any) -> GaussianEncoder:
  """The joint encoder q(z|X) of ``model``: towers of ``joint_encoder_hidden``
  (``encoder_hidden`` when None), then ``joint_encoder_shared`` layers."""
  towers = (model.encoder_hidden if model.joint_encoder_hidden is None
            else model.joint_encoder_hidden)
  return GaussianEncoder(towers, model.latent_dim, model.matmul_dtype,
                         shared=model.joint_encoder_shared)


def _decoder(model: Any, out_dim: int) -> MLP:
  """A decoder MLP of ``model``'s widths and products, with ``out_dim`` outputs."""
  return MLP(model.decoder_hidden, out_dim, model.matmul_dtype)


def _init_networks(modules: dict[str, Any], inputs: dict[str, tuple[Any, ...]],
                   key: jax.Array, order: list[str]) -> Params:
  """{name: module.init(key_i, *inputs[name])}, key i going to order[i]."""
  keys = jax.random.split(key, len(order))
  return {name: modules[name].init(k, *inputs[name])
          for k, name in zip(keys, order)}


def _check_observed_names(model: Any, observed: Observed) -> list[str]:
  """The observed modalities' names in the model's order; unknown names raise."""
  names = model.modality_names
  unknown = sorted(set(observed) - set(names))
  if unknown or not observed:
    raise ValueError(f'observed modalities must be a non-empty subset of '
                     f'{names}, got {sorted(observed)}')
  return [name for name in names if name in observed]


@dataclasses.dataclass(frozen=True)
class _DecoderPerModality:
  """What JMVAE and the expert models (MVAE, MMVAE, MoPoE) share: the fields
  of their MLPs, one decoder and one likelihood per modality, unimodal
  encoders named '<name>_encoder', and the x/w shorthands (the module
  docstring). A subclass defines ``_modules`` and ``encode_subset``.

  Attributes:
    modalities: the modalities, in the model's order.
    latent_dim: dimension of z (64 on MNIST).
    encoder_hidden: hidden widths of every encoder tower.
    decoder_hidden: hidden widths of every decoder.
    matmul_dtype: 'float32', or 'bfloat16' to round the inputs of every dense
      product (accumulated in float32; see ``networks.dense_product``).
  """

  modalities: tuple[Modality, ...] = (MNIST_IMAGE, MNIST_LABEL)
  latent_dim: int = 64
  encoder_hidden: tuple[int, ...] = (512, 512)
  decoder_hidden: tuple[int, ...] = (512, 512)
  matmul_dtype: str = 'float32'

  def __post_init__(self):
    names = self.modality_names
    if len(names) < 2 or len(set(names)) != len(names):
      raise ValueError(f'a {type(self).__name__} needs two or more modalities '
                       f'with distinct names, got {names}')

  @property
  def modality_names(self) -> tuple[str, ...]:
    return tuple(modality.name for modality in self.modalities)

  def modality(self, name: str) -> Modality:
    """The modality called ``name``."""
    return modality_of(self, name)

  def _first_networks(self, zeros: dict[str, jax.Array]
                      ) -> dict[str, tuple[jax.Array, ...]]:
    """{network: its example inputs} of the networks not per modality."""
    del zeros
    return {}

  def init(self, key: jax.Array) -> Params:
    """Initial parameters: a dict of one Linen variable tree per network.

    Networks: those of ``_first_networks`` (JMVAE: 'joint_encoder'), and per
    modality '<name>_decoder' and '<name>_encoder' (if the model has it). The
    key is split in the order first networks, then from the last modality to
    the first its decoder and encoder: the order of the two-modality models
    before modalities had names, so a seed gives the same initial parameters
    as it did then.
    """
    zeros = {m.name: jnp.zeros((1, m.dim)) for m in self.modalities}
    z = jnp.zeros((1, self.latent_dim))
    modules = self._modules()
    inputs = self._first_networks(zeros)
    order = list(inputs)
    for modality in reversed(self.modalities):
      inputs[f'{modality.name}_decoder'] = (z,)
      inputs[f'{modality.name}_encoder'] = (zeros[modality.name],)
      order += [name for name in (f'{modality.name}_decoder',
                                  f'{modality.name}_encoder') if name in modules]
    return _init_networks(modules, inputs, key, order)

  def _unimodal(self, params: Params, name: str,
                value: jax.Array) -> DiagGaussian:
    return self._modules()[f'{name}_encoder'].apply(params[f'{name}_encoder'],
                                                    value)

  def decode(self, params: Params, name: str, z: jax.Array) -> jax.Array:
    """Parameters of p(x_name|z) (MNIST: logits): [..., D] -> [..., dim]."""
    self.modality(name)
    return self._modules()[f'{name}_decoder'].apply(
        params[f'{name}_decoder'], z)

  def log_likelihood(self, params: Params, name: str, value: jax.Array,
                     z: jax.Array) -> jax.Array:
    """log p(value|z) of modality ``name``: [..., dim], [..., D] -> [...]."""
    return self.modality(name).log_prob(value, self.decode(params, name, z))

  # The x/w shorthands (module docstring): x is the first modality, w the
  # second.

  def _pair(self) -> tuple[str, str]:
    return self.modality_names[0], self.modality_names[1]

  @property
  def x(self) -> Modality:
    return self.modality(self._pair()[0])

  @property
  def w(self) -> Modality:
    return self.modality(self._pair()[1])

  def encode(self, params: Params, x: jax.Array, w: jax.Array) -> DiagGaussian:
    """q(z|x,w): [..., x_dim], [..., w_dim] -> DiagGaussian with fields [..., D]."""
    x_name, w_name = self._pair()
    return self.encode_subset(params, {x_name: x, w_name: w})

  def encode_x(self, params: Params, x: jax.Array) -> DiagGaussian:
    """q(z|x); for JMVAE-zero this is q(z|x, w=0)."""
    return self.encode_subset(params, {self._pair()[0]: x})

  def encode_w(self, params: Params, w: jax.Array) -> DiagGaussian:
    """q(z|w); for JMVAE-zero this is q(z|x=0, w)."""
    return self.encode_subset(params, {self._pair()[1]: w})

  def decode_x(self, params: Params, z: jax.Array) -> jax.Array:
    """Parameters of p(x|z) (MNIST: Bernoulli logits): [..., D] -> [..., x_dim]."""
    return self.decode(params, self._pair()[0], z)

  def decode_w(self, params: Params, z: jax.Array) -> jax.Array:
    """Parameters of p(w|z) (MNIST: class logits): [..., D] -> [..., w_dim]."""
    return self.decode(params, self._pair()[1], z)

  def log_px(self, params: Params, x: jax.Array, z: jax.Array) -> jax.Array:
    """log p(x|z): [..., x_dim], [..., D] -> [...]."""
    return self.log_likelihood(params, self._pair()[0], x, z)

  def log_pw(self, params: Params, w: jax.Array, z: jax.Array) -> jax.Array:
    """log p(w|z): [..., w_dim], [..., D] -> [...]."""
    return self.log_likelihood(params, self._pair()[1], w, z)



@dataclasses.dataclass(frozen=True)
class JMVAE(_DecoderPerModality):
  """Joint multimodal VAE over M >= 2 modalities with one latent z (Suzuki et al. 2016).

  The joint encoder q(z|X) has one dense tower per modality whose tops are
  concatenated (Sec. 4.1 for M = 2; Sec. 3.2 says the model extends to more).
  Each modality has its own decoder with ``decoder_hidden`` dense layers: the
  paper says three of 512 for MNIST, the authors' released code uses two; we
  default to the code's two.

  Inference from a subset S of the modalities, q(z|X_S):
    * all of them: the joint encoder;
    * JMVAE-zero (no unimodal encoders): the joint encoder with every missing
      modality fed as zeros (Sec. 3.2);
    * JMVAE-kl, one modality m: its unimodal encoder q(z|x_m) (Eq. 4);
    * JMVAE-kl, 2..M-1 modalities (only when M >= 3), by ``subset_encoder``:
      'product_of_experts' multiplies the subset's unimodal Gaussians
      (``distributions.product_of_gaussians``), as MultiVae's JMVAE does;
      'zeros' feeds the missing modalities to the joint encoder as zeros.

  Attributes (and those of ``_DecoderPerModality``; the joint encoder's towers
  follow the order of ``modalities``):
    unimodal_encoders: True for JMVAE-kl, which learns q(z|x_m) for every m
      (Eq. 4); False for JMVAE-zero.
    subset_encoder: the rule for subsets of 2..M-1 modalities (above).
    joint_encoder_hidden: hidden widths of each tower of the joint encoder;
      None: ``encoder_hidden``, as the unimodal encoders.
    joint_encoder_shared: hidden widths applied to the joint encoder's
      concatenated towers before its Gaussian head; () in the paper, (512,)
      in MultiVae's (with towers of (512,)).
  """

  unimodal_encoders: bool = True
  subset_encoder: str = 'product_of_experts'
  joint_encoder_hidden: tuple[int, ...] | None = None
  joint_encoder_shared: tuple[int, ...] = ()

  def __post_init__(self):
    super().__post_init__()
    if self.subset_encoder not in SUBSET_ENCODERS:
      raise ValueError(f'subset_encoder must be one of {SUBSET_ENCODERS}, got '
                       f'{self.subset_encoder!r}')

  def _modules(self) -> dict[str, Any]:
    modules = {'joint_encoder': _joint_encoder(self)}
    for modality in self.modalities:
      modules[f'{modality.name}_decoder'] = _decoder(self, modality.dim)
      if self.unimodal_encoders:
        modules[f'{modality.name}_encoder'] = _encoder(self)
    return modules

  def _first_networks(self, zeros: dict[str, jax.Array]
                      ) -> dict[str, tuple[jax.Array, ...]]:
    return {'joint_encoder': tuple(zeros[m.name] for m in self.modalities)}

  def _joint(self, params: Params, observed: Observed) -> DiagGaussian:
    """The joint encoder, with missing modalities as zeros."""
    batch_shape = next(iter(observed.values())).shape[:-1]
    dtype = next(iter(observed.values())).dtype
    towers = [observed[m.name] if m.name in observed
              else jnp.zeros(batch_shape + (m.dim,), dtype)
              for m in self.modalities]
    return self._modules()['joint_encoder'].apply(params['joint_encoder'],
                                                  *towers)

  def encode_subset(self, params: Params, observed: Observed) -> DiagGaussian:
    """q(z | X_S) for the observed subset S (the rule in the class docstring).

    Args:
      params: the parameters.
      observed: {name: [..., dim]} for one or more of the modalities.

    Returns:
      A DiagGaussian with fields [..., latent_dim].
    """
    names = _check_observed_names(self, observed)
    if len(names) == len(self.modalities) or not self.unimodal_encoders:
      return self._joint(params, observed)
    if len(names) == 1:
      return self._unimodal(params, names[0], observed[names[0]])
    if self.subset_encoder == 'zeros':
      return self._joint(params, observed)
    return distributions.product_of_gaussians(
        [self._unimodal(params, name, observed[name]) for name in names])


@dataclasses.dataclass(frozen=True)
class _UnimodalExperts(_DecoderPerModality):
  """What MVAE, MMVAE and MoPoE share: no joint encoder; every modality m has
  a unimodal encoder (an expert, a Gaussian in z of x_m) and a decoder. A
  subclass defines how the experts of a subset combine into q(z|X_S)
  (``encode_subset``)."""

  def _modules(self) -> dict[str, Any]:
    modules = {}
    for modality in self.modalities:
      modules[f'{modality.name}_decoder'] = _decoder(self, modality.dim)
      modules[f'{modality.name}_encoder'] = _encoder(self)
    return modules

  def _experts(self, params: Params, observed: Observed) -> list[DiagGaussian]:
    """The experts of the observed modalities, in the model's order."""
    return [self._unimodal(params, name, observed[name])
            for name in _check_observed_names(self, observed)]


@dataclasses.dataclass(frozen=True)
class MVAE(_UnimodalExperts):
  """Multimodal VAE with a product of experts (Wu & Goodman 2018, MVAE).

  The posterior of any subset S of the modalities is the product of the prior
  expert p(z) = N(0, I) and the experts of S:

    q(z | X_S) ∝ p(z) prod_{m in S} q~(z | x_m)       (their Eq. 4)

  normalized in closed form (``distributions.product_of_gaussians``). With
  experts proportional to the exact likelihoods p(x_m | z) of a linear-Gaussian
  model this is the exact posterior p(z | X_S) (tested). Training is
  ``objectives``' MVAE objective; each modality has its own decoder as in
  ``JMVAE``.

  Attributes: those of ``_DecoderPerModality``.
  """

  def encode_subset(self, params: Params, observed: Observed) -> DiagGaussian:
    """q(z | X_S), the product of the prior and S's experts: fields [..., D]."""
    return product_with_prior(self._experts(params, observed))


@dataclasses.dataclass(frozen=True)
class MMVAE(_UnimodalExperts):
  """Mixture-of-experts multimodal VAE (Shi, Siddharth, Paige & Torr 2019).

  The posterior of a subset S is the equal-weight mixture of its modalities'
  unimodal posteriors:

    q(z | X_S) = (1/|S|) sum_{m in S} q(z | x_m)

  a ``distributions.GaussianMixture`` with |S| components (one modality: its
  Gaussian q(z|x_m) itself). Each expert is a posterior here, not a
  likelihood factor as in MVAE: with q(z|x_m) = p(z|x_m) a single modality's
  bounds are exact for any k, while a mixture of several is never p(z|X_S);
  its bounds stay valid lower bounds that rise with k (tested). Trained on
  their stratified ELBO (``objectives``); the original uses Laplace
  likelihoods and a learned prior scale on some data sets, here the
  modalities' own likelihoods and N(0, I), as for every model of this
  library.

  Attributes: those of ``_DecoderPerModality``.
  """

  def encode_subset(self, params: Params,
                    observed: Observed) -> distributions.Posterior:
    """q(z | X_S): the mixture of S's experts, fields [..., |S|, D]."""
    return distributions.mixture(self._experts(params, observed))


@dataclasses.dataclass(frozen=True)
class MoPoE(_UnimodalExperts):
  """Mixture of products of experts (Sutter, Daunhawer & Vogt 2021, MoPoE-VAE).

  The posterior of a subset S is the equal-weight mixture, over every
  non-empty subset S' of S, of the product of the prior expert and the experts
  of S' (MVAE's posterior of S'):

    q(z | X_S) = 1/(2^|S| - 1) sum_{S' in P(S), S' != {}} PoE(p(z), q~(z|x_m), m in S')

  components ordered by size, then by the model's order of the modalities
  (``subsets_of``). Sutter et al. write the product over the unimodal
  posteriors; we include the prior expert as in ``MVAE``, so an expert is a
  likelihood factor and, with exact factors, every component is the exact
  posterior p(z|X_S') of its subset (tested); a single modality's posterior
  is then exact, and the largest component of S is p(z|X_S). Trained on their
  ELBO of the mixture (``objectives``).

  Attributes: those of ``_DecoderPerModality``.
  """

  def encode_subset(self, params: Params,
                    observed: Observed) -> distributions.Posterior:
    """q(z | X_S): fields [..., 2^|S| - 1, D] (one modality: [..., D])."""
    experts = self._experts(params, observed)
    return distributions.mixture([
        product_with_prior([experts[i] for i in subset])
        for subset in subsets_of(len(experts))])


def subsets_of(count: int) -> list[tuple[int, ...]]:
  """The non-empty subsets of range(count), by size, then lexicographically."""
  return [subset for size in range(1, count + 1)
          for subset in itertools.combinations(range(count), size)]


def product_with_prior(experts: list[DiagGaussian]) -> DiagGaussian:
  """p(z) = N(0, I) times the ``experts`` (fields [..., D]), normalized: MVAE's q(z|X_S)."""
  prior = DiagGaussian(jnp.zeros_like(experts[0].mean),
                       jnp.zeros_like(experts[0].log_var))
  return distributions.product_of_gaussians([prior, *experts])


@dataclasses.dataclass(frozen=True)
class VAE:
  """A VAE of x alone (Kingma & Welling 2013), the paper's marginal baseline.

  Same encoder and decoder shapes as JMVAE's x-side, so the comparison in Table 1
  is between objectives, not capacities. Fields as JMVAE's.
  """

  x: Modality = MNIST_IMAGE
  latent_dim: int = 64
  encoder_hidden: tuple[int, ...] = (512, 512)
  decoder_hidden: tuple[int, ...] = (512, 512)
  matmul_dtype: str = 'float32'

  @property
  def modalities(self) -> tuple[Modality, ...]:
    return (self.x,)

  @property
  def modality_names(self) -> tuple[str, ...]:
    return (self.x.name,)

  def init(self, key: jax.Array) -> Params:
    """Initial parameters: {'<x>_encoder': ..., '<x>_decoder': ...}."""
    modules = {f'{self.x.name}_encoder': _encoder(self),
               f'{self.x.name}_decoder': _decoder(self, self.x.dim)}
    inputs = {f'{self.x.name}_encoder': (jnp.zeros((1, self.x.dim)),),
              f'{self.x.name}_decoder': (jnp.zeros((1, self.latent_dim)),)}
    return _init_networks(modules, inputs, key, list(modules))

  def encode_subset(self, params: Params, observed: Observed) -> DiagGaussian:
    """q(z|x) for observed = {x's name: [..., x_dim]}: fields [..., D]."""
    _check_observed_names(self, observed)
    return _encoder(self).apply(params[f'{self.x.name}_encoder'],
                                observed[self.x.name])

  def log_likelihood(self, params: Params, name: str, value: jax.Array,
                     z: jax.Array) -> jax.Array:
    """log p(x|z) (``name`` is x's): [..., x_dim], [..., D] -> [...]."""
    _check_observed_names(self, {name: value})
    return self.x.log_prob(value, self.decode_x(params, z))

  def decode(self, params: Params, name: str, z: jax.Array) -> jax.Array:
    """Parameters of p(x|z) (``name`` is x's): [..., D] -> [..., x_dim]."""
    _check_observed_names(self, {name: z})
    return _decoder(self, self.x.dim).apply(params[f'{self.x.name}_decoder'], z)

  def encode_x(self, params: Params, x: jax.Array) -> DiagGaussian:
    """q(z|x): [..., x_dim] -> DiagGaussian with fields [..., D]."""
    return self.encode_subset(params, {self.x.name: x})

  def decode_x(self, params: Params, z: jax.Array) -> jax.Array:
    """Bernoulli logits of p(x|z): [..., D] -> [..., x_dim]."""
    return self.decode(params, self.x.name, z)

  def log_px(self, params: Params, x: jax.Array, z: jax.Array) -> jax.Array:
    """log p(x|z): [..., x_dim], [..., D] -> [...]."""
    return self.log_likelihood(params, self.x.name, x, z)


@dataclasses.dataclass(frozen=True)
class ConditionalVAE:
  """A model of x given w only: log p(x|w) = log int p(x|z,w) p(z|w) dz.

  The two conditional baselines of Table 1 share this form and differ in where w
  enters; both are trained on the conditional ELBO

    log p(x|w) >= E_q(z|x,w)[log p(x|z,w)] - KL(q(z|x,w) || p(z|w))

  and measured with the multiple bound (proposal q(z|x,w)), as in the paper.

  * CVAE (Kingma et al. 2014; Sohn et al. 2015): ``prior_from_w=False``. The prior
    is p(z) = N(0, I), independent of w, and the decoder sees w:
    p(x|z,w) = Bernoulli(decoder([z, w])). The latent is meant to carry only what
    w does not (the paper's Sec. 2).
  * CMMA (Pandey & Dukkipati 2016, arXiv 1603.01801): ``prior_from_w=True``. z is
    generated from w by a prior network, p(z|w) = N(mu(w), sigma(w)), and x from
    z alone, p(x|z). Our reading of that paper: its recognition model sees both
    modalities, q(z|x,w), and the KL term pulls the prior network's p(z|w) toward
    it, which is the "latent representation from an input close to the joint
    representation" that the JMVAE paper describes (Sec. 2), and why the JMVAE
    paper counts CMMA among the multiple-bound models (Sec. 4.3.1).

  Layer widths match JMVAE's (towers of ``encoder_hidden``, decoders of
  ``decoder_hidden``), as the paper did for fairness.

  Attributes:
    x: the modeled modality (MNIST image).
    w: the conditioning modality (MNIST label).
    latent_dim: dimension of z.
    encoder_hidden: hidden widths of the encoder towers and the prior network.
    decoder_hidden: hidden widths of the decoder.
    matmul_dtype: the dense products' input type (see JMVAE).
    prior_from_w: False for CVAE, True for CMMA.
    joint_encoder_hidden: hidden widths of each tower of q(z|x,w) (as JMVAE's).
    joint_encoder_shared: hidden widths after q(z|x,w)'s towers (as JMVAE's).
  """

  x: Modality = MNIST_IMAGE
  w: Modality = MNIST_LABEL
  latent_dim: int = 64
  encoder_hidden: tuple[int, ...] = (512, 512)
  decoder_hidden: tuple[int, ...] = (512, 512)
  matmul_dtype: str = 'float32'
  prior_from_w: bool = False
  joint_encoder_hidden: tuple[int, ...] | None = None
  joint_encoder_shared: tuple[int, ...] = ()

  @property
  def modalities(self) -> tuple[Modality, ...]:
    return (self.x, self.w)

  @property
  def modality_names(self) -> tuple[str, ...]:
    return (self.x.name, self.w.name)

  def _modules(self) -> dict[str, Any]:
    modules = {'joint_encoder': _joint_encoder(self)}
    if self.prior_from_w:
      modules['prior_network'] = _encoder(self)
    modules[f'{self.x.name}_decoder'] = _decoder(self, self.x.dim)
    return modules

  def init(self, key: jax.Array) -> Params:
    """Initial parameters: a dict of one Linen variable tree per network.

    Networks 'joint_encoder', 'prior_network' (CMMA) and '<x>_decoder', keyed
    in that order.
    """
    x = jnp.zeros((1, self.x.dim))
    w = jnp.zeros((1, self.w.dim))
    z = jnp.zeros((1, self.latent_dim))
    decoder_input = z if self.prior_from_w else jnp.concatenate([z, w], -1)
    inputs = {'joint_encoder': (x, w), 'prior_network': (w,),
              f'{self.x.name}_decoder': (decoder_input,)}
    modules = self._modules()
    return _init_networks(modules, inputs, key, list(modules))

  def encode(self, params: Params, x: jax.Array, w: jax.Array) -> DiagGaussian:
    """q(z|x,w): [..., x_dim], [..., w_dim] -> DiagGaussian with fields [..., D]."""
    return self._modules()['joint_encoder'].apply(params['joint_encoder'], x, w)

  def conditional_prior(self, params: Params, w: jax.Array) -> DiagGaussian:
    """p(z|w): N(0, I) for CVAE, the prior network's Gaussian for CMMA."""
    if self.prior_from_w:
      return self._modules()['prior_network'].apply(params['prior_network'], w)
    return distributions.standard_normal(w.shape[:-1] + (self.latent_dim,))

  def decode_x(self, params: Params, z: jax.Array, w: jax.Array) -> jax.Array:
    """Bernoulli logits of p(x|z,w) (CMMA ignores w): -> [..., x_dim]."""
    decoder_input = z if self.prior_from_w else jnp.concatenate([z, w], -1)
    name = f'{self.x.name}_decoder'
    return self._modules()[name].apply(params[name], decoder_input)

  def log_px_given(self, params: Params, x: jax.Array, z: jax.Array,
                   w: jax.Array) -> jax.Array:
    """log p(x|z,w): [..., x_dim], [..., D], [..., w_dim] -> [...]."""
    return self.x.log_prob(x, self.decode_x(params, z, w))


# Models of two or more modalities sharing one latent, and their successors.
MULTIMODAL_NAMES = ('jmvae_kl', 'jmvae_zero', 'mvae', 'mmvae', 'mopoe')
MODEL_NAMES = MULTIMODAL_NAMES + ('vae', 'cvae', 'cmma')
# Models with a joint encoder q(z|X) (fields joint_encoder_hidden and _shared).
JOINT_ENCODER_NAMES = ('jmvae_kl', 'jmvae_zero', 'cvae', 'cmma')
# How tables, reports and benchmarks name each model.
DISPLAY_NAMES = {'jmvae_kl': 'JMVAE-kl', 'jmvae_zero': 'JMVAE-zero',
                 'mvae': 'MVAE', 'mmvae': 'MMVAE', 'mopoe': 'MoPoE',
                 'vae': 'VAE', 'cvae': 'CVAE', 'cmma': 'CMMA'}


def display_name(name: str, alpha: float | None = None) -> str:
  """A model's name for readers, e.g. 'JMVAE-kl, alpha=0.1' (``alpha`` is
  shown for JMVAE-kl only); an unknown name is returned as it is."""
  if name == 'jmvae_kl' and alpha is not None:
    return f'{DISPLAY_NAMES[name]}, alpha={alpha:g}'
  return DISPLAY_NAMES.get(name, name)
_EXPERT_MODELS = {'mvae': MVAE, 'mmvae': MMVAE, 'mopoe': MoPoE}


def make_model(name: str, **kwargs: Any
               ) -> JMVAE | _UnimodalExperts | VAE | ConditionalVAE:
  """The MNIST model called ``name`` (one of MODEL_NAMES); kwargs override fields."""
  if name == 'jmvae_kl':
    return JMVAE(unimodal_encoders=True, **kwargs)
  if name == 'jmvae_zero':
    return JMVAE(unimodal_encoders=False, **kwargs)
  if name in _EXPERT_MODELS:
    return _EXPERT_MODELS[name](**kwargs)
  if name == 'vae':
    return VAE(**kwargs)
  if name in ('cvae', 'cmma'):
    return ConditionalVAE(prior_from_w=name == 'cmma', **kwargs)
  raise ValueError(
      f'unknown model {name!r}; choose one of: {", ".join(MODEL_NAMES)}')
