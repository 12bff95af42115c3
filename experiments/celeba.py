r"""Train and evaluate a CelebA model of Table 2 (paper Sec. 4.1, 4.3).

Models: jmvae_gan, vae_gan, cvae_gan and cmma_gan (Table 2: JMVAE-kl, a VAE,
CVAE and CMMA trained as VAE-GANs), and the plain jmvae_kl, jmvae_zero, vae,
cvae and cmma. Defaults are the authors' settings (100 epochs, warm-up 20,
Adam lr 1e-4 beta1 0.5, k = 10). python -m experiments.celeba_tables runs
Table 2's grid.

Examples:
  python -m experiments.celeba --model=jmvae_gan --data_dir=~/data/celeba \
      --workdir=runs/celeba_jmvae_gan
  python -m experiments.celeba --model=vae_gan --workdir=runs/celeba_vae_gan
  python -m experiments.celeba --model=cmma_gan --workdir=runs/celeba_cmma_gan
  python -m experiments.celeba --model=jmvae_kl --epochs=1 --max_images=2000 \
      --workdir=/tmp/celeba_quick                          # a quick look

Re-running a command with the same --workdir resumes it from its last checkpoint.
"""

from __future__ import annotations

import dataclasses

from absl import flags

from experiments import cli
from jmvae_jax import celeba_config, celeba_experiment

_DEFAULTS = celeba_config.CelebAConfig()

_MODEL = flags.DEFINE_string(
    'model', _DEFAULTS.model,
    f'One of {", ".join(celeba_config.MODEL_NAMES)}.')
_ALPHA = flags.DEFINE_float(
    'alpha', _DEFAULTS.alpha, 'Weight of the unimodal KL terms (Eq. 4).')
_EPOCHS = flags.DEFINE_integer('epochs', _DEFAULTS.epochs, 'Training epochs.')
_WARMUP = flags.DEFINE_integer(
    'warmup_epochs', _DEFAULTS.warmup_epochs,
    'Epochs over which the KL weight rises linearly to 1.')
_BATCH = flags.DEFINE_integer('batch_size', _DEFAULTS.batch_size,
                              'Training batch size.')
_LR = flags.DEFINE_float('learning_rate', _DEFAULTS.learning_rate,
                         'Adam learning rate (every optimizer).')
_GAN_FEATURE_WEIGHT = flags.DEFINE_float(
    'gan_feature_weight', _DEFAULTS.gan_feature_weight,
    "Weight of Larsen et al.'s learned similarity in the GAN models' encoder "
    "and generator losses; 0 is the authors' pixel-only scheme.")
_IMAGE_LOG_PROB = flags.DEFINE_string(
    'image_log_prob', _DEFAULTS.image_log_prob,
    "channel_mean: the authors' log p(x|z), averaged over the colour channels "
    '(the scale of Table 2); sum: the full Gaussian log-density.')
_SEED = flags.DEFINE_integer('seed', _DEFAULTS.seed, 'Root random seed.')
_EVAL_K = flags.DEFINE_integer(
    'eval_k', _DEFAULTS.eval_k, 'Importance samples per test face and bound.')
_EVAL_PRIOR = flags.DEFINE_integer(
    'eval_prior_samples', _DEFAULTS.eval_prior_samples,
    'Prior samples for log p(w) in the conditional bounds.')
_MAX_IMAGES = flags.DEFINE_integer(
    'max_images', None, 'Use only the first this many CelebA images.')
_WORKDIR = flags.DEFINE_string(
    'workdir', 'runs/celeba', 'Run directory: config, checkpoints, results.')
_DATA_DIR = flags.DEFINE_string(
    'data_dir', _DEFAULTS.data_dir,
    'CelebA in its own layout (img_align_celeba/, list_attr_celeba.txt, '
    'list_eval_partition.txt).')
_CACHE_DIR = flags.DEFINE_string(
    'cache_dir', _DEFAULTS.cache_dir,
    "Where the detected faces are cached; '' for no cache.")


def main():
  config = dataclasses.replace(
      _DEFAULTS, model=_MODEL.value, alpha=_ALPHA.value,
      epochs=_EPOCHS.value, warmup_epochs=_WARMUP.value,
      batch_size=_BATCH.value, learning_rate=_LR.value,
      gan_feature_weight=_GAN_FEATURE_WEIGHT.value,
      image_log_prob=_IMAGE_LOG_PROB.value, seed=_SEED.value,
      eval_k=_EVAL_K.value, eval_prior_samples=_EVAL_PRIOR.value,
      max_images=_MAX_IMAGES.value, data_dir=_DATA_DIR.value,
      cache_dir=_CACHE_DIR.value)
  return celeba_experiment.train_and_evaluate(config, _WORKDIR.value)


if __name__ == '__main__':
  cli.run(main)
