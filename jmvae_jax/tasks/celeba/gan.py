"""VAE-GAN training (Larsen et al. 2015) around a CelebA model: Table 2's GAN rows.

The base model's image decoder doubles as the generator of a GAN whose
discriminator Dis (``conv_networks.Discriminator``) sees pixels. Write
x~ = Dec(z) with z ~ q (the base model's ``posterior``: q(z|x,w) for JMVAE,
CVAE and CMMA, q(z|x) for the VAE), x_p = Dec(z_p) with z_p ~ p(z) = N(0, I)
(CMMA: z_p ~ p(z|w); CVAE's Dec also reads w; both with the batch's w),
D = sigmoid(Dis), and L_feat = -log N(Dis_l(x); Dis_l(x~), I) + const
= 0.5 ||Dis_l(x) - Dis_l(x~)||^2, Larsen et al.'s learned similarity (their
Eq. 6, Dis_l the discriminator's last convolution). Every loss is a batch mean.

One training step updates three parameter groups in turn, each with its own
Adam and each loss computed with the groups updated before it (as the authors'
Tars ``MVAEGAN`` and ``VAEGAN`` call three Theano functions in this order on
every batch):

1. encoder group, every base parameter but the image decoder (the encoders
   and, for JMVAE, the attribute decoder, for CMMA the prior network):
     L_enc = -L of the base model (Eq. 1, Eq. 4 or the conditional ELBO, with
             the KL warm-up and alpha of the non-GAN runs) + lambda * L_feat
2. generator, the image decoder:
     L_dec = gamma * (-log p(x|z) + lambda * L_feat) - log D(x~) - log D(x_p)
3. discriminator:
     L_dis = -log D(x) - log(1 - D(x~)) - log(1 - D(x_p))

This is Larsen et al.'s Algorithm 1 (L_enc = L_prior + L_llike^Dis,
L_dec = gamma L_llike^Dis - L_GAN, L_dis = -L_GAN with reconstructions and
prior samples both fake) with the choices of the JMVAE authors' code:

* the pixel likelihood stays in both the encoder's and the generator's loss
  (gamma = 1, Tars' ``gan_gamma``): Table 2's bounds are of the pixel
  likelihood, which Larsen et al.'s pure scheme would leave untrained. The
  learned similarity is optional, weighted by lambda (``feature_weight``; 0,
  the authors' choice, turns it off);
* the generator minimizes -log D (the non-saturating loss) rather than
  log(1 - D);
* the updates are sequential, so each group sees the previous ones' updates.

The three losses are pure functions of the base model's loss terms, the
discriminator's logits and features (``encoder_loss``, ``generator_loss``,
``discriminator_loss``, with ``feature_nll`` for L_feat); ``GANTrainer.step``
computes those inputs and calls them.

One difference from the authors' code: z_p ~ N(0, I), the model's prior (and
Larsen et al.'s; p(z|w) for CMMA), where Tars draws z_p from U(-1, 1)^D.

The GAN wraps any base model with ``init``, ``apply_training``,
``loss_terms`` (``jmvae_jax.objectives``), ``reconstruct_x``, ``generate_x``,
``image_log_prob`` and its image decoder named ``celeba_models.GENERATOR``
in its parameters (see ``jmvae_jax.tasks.celeba.models``); the conditional models
(CVAE, CMMA) supply these with their own posterior, prior and decoder inputs.
Test bounds are those of the base model: the VAE part, as in the paper.

References:
  Larsen, Sonderby, Larochelle, Winther. Autoencoding beyond pixels using a
  learned similarity metric. ICML 2016 (arXiv:1512.09300).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import optax

from jmvae_jax import objectives
from jmvae_jax.nn.conv import IMAGE_SHAPE, Discriminator
from jmvae_jax.tasks.celeba.models import GENERATOR
from jmvae_jax.training.optim import apply_gradients

# The GAN models and the base model each wraps.
GAN_BASES = {'jmvae_gan': 'jmvae_kl', 'vae_gan': 'vae', 'cvae_gan': 'cvae',
             'cmma_gan': 'cmma'}

Params = dict[str, Any]


@dataclasses.dataclass(frozen=True)
class GAN:
  """A base model whose image decoder is also a GAN generator.

  Attributes:
    base: the VAE part (e.g. ``celeba_models.ConvJMVAE``).
    gamma: weight of the generator's reconstruction terms against its
      adversarial term (Larsen et al.'s gamma; Tars' gan_gamma = 1).
    feature_weight: lambda, the weight of the learned similarity L_feat; 0 for
      the authors' scheme.
  """

  base: Any
  gamma: float = 1.0
  feature_weight: float = 0.0

  def init(self, key: jax.Array) -> Params:
    """{'model': the base model's variables, 'discriminator': Dis's}."""
    model_key, discriminator_key = jax.random.split(key)
    return {
        'model': self.base.init(model_key),
        'discriminator': Discriminator().init(
            discriminator_key, jnp.zeros((1,) + IMAGE_SHAPE, jnp.float32)),
    }


def evaluation_model(model: Any) -> Any:
  """The model whose bounds are reported: a GAN's VAE part, else the model."""
  return model.base if isinstance(model, GAN) else model


def _split(params: Params) -> tuple[Params, Any]:
  """Base parameters -> (encoder group, generator)."""
  return ({name: p for name, p in params.items() if name != GENERATOR},
          params[GENERATOR])


def _merge(encoder: Params, generator: Any) -> Params:
  return {**encoder, GENERATOR: generator}


def feature_nll(features: jax.Array, reconstructed: jax.Array) -> jax.Array:
  """L_feat up to its constant: [B, F], [B, F] -> [B].

  -log N(Dis_l(x); Dis_l(x~), I) - (F / 2) log(2 pi), Larsen et al.'s Eq. 6.

  Args:
    features: Dis_l(x) of the real images, [B, F].
    reconstructed: Dis_l(x~) of their reconstructions, [B, F].
  """
  return 0.5 * jnp.sum(jnp.square(features - reconstructed), axis=-1)


def encoder_loss(terms: objectives.LossTerms, *, kl_weight: jax.Array | float,
                 alpha: float, anneal_alpha: bool = False,
                 feature_weight: float = 0.0) -> jax.Array:
  """L_enc = -L + lambda * L_feat, batch means: the encoder group's scalar.

  Args:
    terms: the base model's per-example loss terms [B]
      (``objectives.loss_terms``) and, when ``feature_weight`` > 0,
      'feature_recon' [B] (``feature_nll``).
    kl_weight: the warm-up weight of KL(q || p(z)).
    alpha: weight of Eq. 4's unimodal KL terms.
    anneal_alpha: also warm up the alpha terms.
    feature_weight: lambda; 0 leaves out L_feat.

  Returns:
    The scalar L_enc (``objectives.total_loss`` plus lambda * mean L_feat).
  """
  # total_loss sums recon/*, kl_prior and kl_unimodal/*: not feature_recon.
  loss = objectives.total_loss(terms, kl_weight=kl_weight, alpha=alpha,
                               anneal_alpha=anneal_alpha)
  if feature_weight:
    loss = loss + feature_weight * jnp.mean(terms['feature_recon'])
  return loss


def generator_loss(log_px: jax.Array, logit_rec: jax.Array,
                   logit_gen: jax.Array, feature_recon: jax.Array | None = None,
                   *, gamma: float, feature_weight: float = 0.0
                   ) -> tuple[jax.Array, dict[str, jax.Array]]:
  """L_dec = gamma (-log p(x|z) + lambda L_feat) - log D(x~) - log D(x_p).

  Batch means; -log D = softplus(-logit), the non-saturating generator loss.

  Args:
    log_px: log p(x|z) of each real image under its reconstruction, [B].
    logit_rec: Dis(x~), the discriminator's logits on the reconstructions, [B].
    logit_gen: Dis(x_p), its logits on the prior samples, [B].
    feature_recon: L_feat [B] (``feature_nll``); needed when
      ``feature_weight`` > 0.
    gamma: weight of the reconstruction terms against the adversarial term.
    feature_weight: lambda; 0 leaves out L_feat.

  Returns:
    (L_dec, {'generator_pixel': mean -log p(x|z), 'generator_adversarial':
    mean -log D(x~) - log D(x_p)}), all scalars.
  """
  pixel = -jnp.mean(log_px)
  reconstruction = pixel
  if feature_weight:
    reconstruction = reconstruction + feature_weight * jnp.mean(feature_recon)
  adversarial = jnp.mean(jax.nn.softplus(-logit_rec)
                         + jax.nn.softplus(-logit_gen))
  metrics = {'generator_pixel': pixel, 'generator_adversarial': adversarial}
  return gamma * reconstruction + adversarial, metrics


def discriminator_loss(logit_real: jax.Array, logit_rec: jax.Array,
                       logit_gen: jax.Array) -> jax.Array:
  """L_dis = -log D(x) - log(1 - D(x~)) - log(1 - D(x_p)), a batch mean.

  Args:
    logit_real: Dis(x) on the real images, [B].
    logit_rec: Dis(x~) on their reconstructions, [B].
    logit_gen: Dis(x_p) on the prior samples, [B].

  Returns:
    The scalar L_dis, with -log D = softplus(-logit) and
    -log(1 - D) = softplus(logit).
  """
  return jnp.mean(jax.nn.softplus(-logit_real) + jax.nn.softplus(logit_rec)
                  + jax.nn.softplus(logit_gen))


@dataclasses.dataclass(frozen=True)
class GANTrainer:
  """The three-optimizer VAE-GAN step (module docstring) of a ``GAN``.

  Attributes:
    gan: the model.
    optimizer: the update rule of each group (Adam, lr 1e-4, beta1 0.5 in the
      authors' code); each group keeps its own state.
    alpha: weight of Eq. 4's unimodal KL terms in L_enc.
    anneal_alpha: also warm up the alpha terms.
  """

  gan: GAN
  optimizer: optax.GradientTransformation
  alpha: float
  anneal_alpha: bool = False

  def init(self, key: jax.Array) -> Params:
    return self.gan.init(key)

  def init_opt_state(self, params: Params) -> Params:
    """{'encoder': ..., 'generator': ..., 'discriminator': ...}."""
    encoder, generator = _split(params['model']['params'])
    return {'encoder': self.optimizer.init(encoder),
            'generator': self.optimizer.init(generator),
            'discriminator': self.optimizer.init(params['discriminator'])}

  def step(self, params: Params, opt_state: Params, x: jax.Array, w: jax.Array,
           *, key: jax.Array, kl_weight: jax.Array
           ) -> tuple[Params, Params, dict[str, jax.Array]]:
    """One update of the three groups on a batch x [B, 64, 64, 3], w [B, W].

    Returns the new params and optimizer states, and scalar metrics: the base
    model's loss terms and 'loss' (L_enc), 'generator_pixel' (-log p(x|z)),
    'generator_adversarial' (-log D(x~) - log D(x_p)), 'discriminator'
    (L_dis), and 'feature_recon' (L_feat) when lambda > 0.
    """
    base, discriminator = self.gan.base, Discriminator()
    lam = self.gan.feature_weight
    discriminator_params = params['discriminator']
    batch_stats = params['model']['batch_stats']
    encoder, generator = _split(params['model']['params'])
    keys = [jax.random.fold_in(key, i) for i in range(6)]
    real_features = (discriminator.apply(discriminator_params, x)[1] if lam
                     else None)

    def encoder_objective(encoder, generator, batch_stats):
      def fn(networks):
        terms = objectives.loss_terms(base, networks, x, w, key=keys[0])
        if lam:
          x_rec = base.reconstruct_x(networks, x, w, key=keys[1])
          terms['feature_recon'] = feature_nll(
              real_features, discriminator.apply(discriminator_params, x_rec)[1])
        loss = encoder_loss(terms, kl_weight=kl_weight, alpha=self.alpha,
                            anneal_alpha=self.anneal_alpha, feature_weight=lam)
        return loss, terms

      (loss, terms), new_stats = base.apply_training(
          {'params': _merge(encoder, generator), 'batch_stats': batch_stats}, fn)
      return loss, (terms, new_stats)

    def fakes(encoder, generator, batch_stats, rec_key, prior_key):
      """(x~, x_p) in training mode, and the updated batch statistics."""
      def fn(networks):
        return (base.reconstruct_x(networks, x, w, key=rec_key),
                base.generate_x(networks, w, key=prior_key,
                                batch_size=x.shape[0]))

      return base.apply_training(
          {'params': _merge(encoder, generator), 'batch_stats': batch_stats}, fn)

    def generator_objective(generator, encoder, batch_stats):
      (x_rec, x_gen), new_stats = fakes(encoder, generator, batch_stats,
                                        keys[2], keys[3])
      logit_rec, features_rec = discriminator.apply(discriminator_params, x_rec)
      logit_gen, _ = discriminator.apply(discriminator_params, x_gen)
      loss, metrics = generator_loss(
          base.image_log_prob(x, x_rec), logit_rec, logit_gen,
          feature_nll(real_features, features_rec) if lam else None,
          gamma=self.gan.gamma, feature_weight=lam)
      return loss, (metrics, new_stats)

    def discriminator_objective(discriminator_params, x_rec, x_gen):
      # Dis has no batch norm, so one pass over the three sets is exact.
      logits = discriminator.apply(
          discriminator_params, jnp.concatenate([x, x_rec, x_gen]))[0]
      return discriminator_loss(*jnp.split(logits, 3))

    (loss, (terms, batch_stats)), grads = jax.value_and_grad(
        encoder_objective, has_aux=True)(encoder, generator, batch_stats)
    encoder, encoder_state = apply_gradients(
        self.optimizer, grads, opt_state['encoder'], encoder)

    (_, (generator_metrics, batch_stats)), grads = jax.value_and_grad(
        generator_objective, has_aux=True)(generator, encoder, batch_stats)
    generator, generator_state = apply_gradients(
        self.optimizer, grads, opt_state['generator'], generator)

    (x_rec, x_gen), batch_stats = fakes(encoder, generator, batch_stats,
                                        keys[4], keys[5])
    discriminator_value, grads = jax.value_and_grad(discriminator_objective)(
        discriminator_params, x_rec, x_gen)
    discriminator_params, discriminator_state = apply_gradients(
        self.optimizer, grads, opt_state['discriminator'], discriminator_params)

    new_params = {
        'model': {'params': _merge(encoder, generator),
                  'batch_stats': batch_stats},
        'discriminator': discriminator_params,
    }
    new_opt_state = {'encoder': encoder_state, 'generator': generator_state,
                     'discriminator': discriminator_state}
    metrics = {name: jnp.mean(v) for name, v in terms.items()}
    metrics.update(generator_metrics, loss=loss,
                   discriminator=discriminator_value)
    return new_params, new_opt_state, metrics
