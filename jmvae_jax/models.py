"""Models: a set of modalities, their encoders, decoders and likelihoods.

A model is a frozen dataclass of pure methods that take ``params`` first. The
objectives (``jmvae_jax.objectives``) and the importance-weighted bounds
(``jmvae_jax.bounds``) only call these methods, so any object with the same
methods works with them, for example a linear-Gaussian model with exact
likelihoods or a user's own networks:

  encode(params, x, w)   -> DiagGaussian   q(z|x,w), the joint ("multiple") encoder
  encode_x(params, x)    -> DiagGaussian   q(z|x), a "single" encoder
  encode_w(params, w)    -> DiagGaussian   q(z|w), a "single" encoder
  log_px(params, x, z)   -> [...]          log p(x|z)
  log_pw(params, w, z)   -> [...]          log p(w|z)
  latent_dim: int

Shapes: x is [..., x_dim], w is [..., w_dim], z is [..., latent_dim], with the
same leading axes (usually [B]); extra sample axes are added with ``jax.vmap``, as
the bounds do for their k importance samples.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp

from jmvae_jax import distributions
from jmvae_jax.distributions import DiagGaussian
from jmvae_jax.networks import MLP, GaussianEncoder

Params = Any
# (observation [..., D], decoder output [..., D]) -> log-likelihood [...].
LogLikelihood = Callable[[jax.Array, jax.Array], jax.Array]


@dataclasses.dataclass(frozen=True)
class Modality:
  """One observed modality: its width and the likelihood its decoder parameterizes.

  Attributes:
    dim: width of the (flattened) observation.
    log_prob: log p(data | decoder output), summed over the last axis.
  """

  dim: int
  log_prob: LogLikelihood


MNIST_IMAGE = Modality(784, distributions.bernoulli_log_prob)
MNIST_LABEL = Modality(10, distributions.categorical_log_prob)


def _encoder(model: Any) -> GaussianEncoder:
  """A Gaussian encoder of ``model``'s tower widths, latent size and products."""
  return GaussianEncoder(model.encoder_hidden, model.latent_dim,
                         model.matmul_dtype)


def _decoder(model: Any, out_dim: int) -> MLP:
  """A decoder MLP of ``model``'s widths and products, with ``out_dim`` outputs."""
  return MLP(model.decoder_hidden, out_dim, model.matmul_dtype)


def _init_networks(modules: dict[str, Any], inputs: dict[str, tuple[Any, ...]],
                   key: jax.Array) -> Params:
  """{name: module.init(key_i, *inputs[name])}, one key per module, in name order."""
  keys = jax.random.split(key, len(modules))
  return {name: module.init(k, *inputs[name])
          for k, (name, module) in zip(keys, sorted(modules.items()))}


@dataclasses.dataclass(frozen=True)
class JMVAE:
  """Joint multimodal VAE over x and w with one latent z (Suzuki et al. 2016, Sec. 3).

  The joint encoder q(z|x,w) has one dense tower per modality whose tops are
  concatenated (Sec. 4.1). Decoders have ``decoder_hidden`` dense layers: the paper
  says three of 512 for MNIST, the authors' released code uses two; we default to
  the code's two.

  Attributes:
    x: the first modality (MNIST: 784 binary pixels, Bernoulli).
    w: the second modality (MNIST: one-hot digit, categorical).
    latent_dim: dimension of z (64 on MNIST).
    encoder_hidden: hidden widths of every encoder tower.
    decoder_hidden: hidden widths of both decoders.
    matmul_dtype: 'float32', or 'bfloat16' to round the inputs of every dense
      product (accumulated in float32; see ``networks.dense_product``).
    unimodal_encoders: True for JMVAE-kl, which learns q(z|x) and q(z|w) (Eq. 4);
      False for JMVAE-zero, which feeds a missing modality to q(z|x,w) as zeros.
  """

  x: Modality = MNIST_IMAGE
  w: Modality = MNIST_LABEL
  latent_dim: int = 64
  encoder_hidden: tuple[int, ...] = (512, 512)
  decoder_hidden: tuple[int, ...] = (512, 512)
  matmul_dtype: str = 'float32'
  unimodal_encoders: bool = True

  def _modules(self) -> dict[str, Any]:
    modules = {
        'joint_encoder': _encoder(self),
        'x_decoder': _decoder(self, self.x.dim),
        'w_decoder': _decoder(self, self.w.dim),
    }
    if self.unimodal_encoders:
      modules['x_encoder'] = _encoder(self)
      modules['w_encoder'] = _encoder(self)
    return modules

  def init(self, key: jax.Array) -> Params:
    """Initial parameters: a dict of one Linen variable tree per network."""
    x = jnp.zeros((1, self.x.dim))
    w = jnp.zeros((1, self.w.dim))
    z = jnp.zeros((1, self.latent_dim))
    inputs = {'joint_encoder': (x, w), 'x_encoder': (x,), 'w_encoder': (w,),
              'x_decoder': (z,), 'w_decoder': (z,)}
    return _init_networks(self._modules(), inputs, key)

  def encode(self, params: Params, x: jax.Array, w: jax.Array) -> DiagGaussian:
    """q(z|x,w): [..., x_dim], [..., w_dim] -> DiagGaussian with fields [..., D]."""
    return self._modules()['joint_encoder'].apply(params['joint_encoder'], x, w)

  def encode_x(self, params: Params, x: jax.Array) -> DiagGaussian:
    """q(z|x); for JMVAE-zero this is q(z|x, w=0)."""
    if self.unimodal_encoders:
      return self._modules()['x_encoder'].apply(params['x_encoder'], x)
    return self.encode(params, x, jnp.zeros(x.shape[:-1] + (self.w.dim,), x.dtype))

  def encode_w(self, params: Params, w: jax.Array) -> DiagGaussian:
    """q(z|w); for JMVAE-zero this is q(z|x=0, w)."""
    if self.unimodal_encoders:
      return self._modules()['w_encoder'].apply(params['w_encoder'], w)
    return self.encode(params, jnp.zeros(w.shape[:-1] + (self.x.dim,), w.dtype), w)

  def decode_x(self, params: Params, z: jax.Array) -> jax.Array:
    """Parameters of p(x|z) (MNIST: Bernoulli logits): [..., D] -> [..., x_dim]."""
    return self._modules()['x_decoder'].apply(params['x_decoder'], z)

  def decode_w(self, params: Params, z: jax.Array) -> jax.Array:
    """Parameters of p(w|z) (MNIST: class logits): [..., D] -> [..., w_dim]."""
    return self._modules()['w_decoder'].apply(params['w_decoder'], z)

  def log_px(self, params: Params, x: jax.Array, z: jax.Array) -> jax.Array:
    """log p(x|z): [..., x_dim], [..., D] -> [...]."""
    return self.x.log_prob(x, self.decode_x(params, z))

  def log_pw(self, params: Params, w: jax.Array, z: jax.Array) -> jax.Array:
    """log p(w|z): [..., w_dim], [..., D] -> [...]."""
    return self.w.log_prob(w, self.decode_w(params, z))


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

  def _encoder(self) -> GaussianEncoder:
    return _encoder(self)

  def _decoder(self) -> MLP:
    return _decoder(self, self.x.dim)

  def init(self, key: jax.Array) -> Params:
    """Initial parameters: {'x_encoder': ..., 'x_decoder': ...}."""
    enc_key, dec_key = jax.random.split(key)
    return {
        'x_decoder': self._decoder().init(
            dec_key, jnp.zeros((1, self.latent_dim))),
        'x_encoder': self._encoder().init(enc_key, jnp.zeros((1, self.x.dim))),
    }

  def encode_x(self, params: Params, x: jax.Array) -> DiagGaussian:
    """q(z|x): [..., x_dim] -> DiagGaussian with fields [..., D]."""
    return self._encoder().apply(params['x_encoder'], x)

  def decode_x(self, params: Params, z: jax.Array) -> jax.Array:
    """Bernoulli logits of p(x|z): [..., D] -> [..., x_dim]."""
    return self._decoder().apply(params['x_decoder'], z)

  def log_px(self, params: Params, x: jax.Array, z: jax.Array) -> jax.Array:
    """log p(x|z): [..., x_dim], [..., D] -> [...]."""
    return self.x.log_prob(x, self.decode_x(params, z))


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
  """

  x: Modality = MNIST_IMAGE
  w: Modality = MNIST_LABEL
  latent_dim: int = 64
  encoder_hidden: tuple[int, ...] = (512, 512)
  decoder_hidden: tuple[int, ...] = (512, 512)
  matmul_dtype: str = 'float32'
  prior_from_w: bool = False

  def _modules(self) -> dict[str, Any]:
    modules = {
        'joint_encoder': _encoder(self),
        'x_decoder': _decoder(self, self.x.dim),
    }
    if self.prior_from_w:
      modules['prior_network'] = _encoder(self)
    return modules

  def init(self, key: jax.Array) -> Params:
    """Initial parameters: a dict of one Linen variable tree per network."""
    x = jnp.zeros((1, self.x.dim))
    w = jnp.zeros((1, self.w.dim))
    z = jnp.zeros((1, self.latent_dim))
    decoder_input = z if self.prior_from_w else jnp.concatenate([z, w], -1)
    inputs = {'joint_encoder': (x, w), 'prior_network': (w,),
              'x_decoder': (decoder_input,)}
    return _init_networks(self._modules(), inputs, key)

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
    return self._modules()['x_decoder'].apply(params['x_decoder'], decoder_input)

  def log_px_given(self, params: Params, x: jax.Array, z: jax.Array,
                   w: jax.Array) -> jax.Array:
    """log p(x|z,w): [..., x_dim], [..., D], [..., w_dim] -> [...]."""
    return self.x.log_prob(x, self.decode_x(params, z, w))


MODEL_NAMES = ('jmvae_kl', 'jmvae_zero', 'vae', 'cvae', 'cmma')


def make_model(name: str, **kwargs: Any) -> JMVAE | VAE | ConditionalVAE:
  """The MNIST model called ``name`` (one of MODEL_NAMES); kwargs override fields."""
  if name == 'jmvae_kl':
    return JMVAE(unimodal_encoders=True, **kwargs)
  if name == 'jmvae_zero':
    return JMVAE(unimodal_encoders=False, **kwargs)
  if name == 'vae':
    return VAE(**kwargs)
  if name in ('cvae', 'cmma'):
    return ConditionalVAE(prior_from_w=name == 'cmma', **kwargs)
  raise ValueError(
      f'unknown model {name!r}; choose one of: {", ".join(MODEL_NAMES)}')
