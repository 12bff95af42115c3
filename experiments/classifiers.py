r"""Train (once) the digit classifiers that judge coherence.

  python -m experiments.classifiers --dataset=polymnist   # five, one per modality
  python -m experiments.classifiers --dataset=polymnist --modalities=3,4   # two
  python -m experiments.classifiers --dataset=mnist       # one, for label <-> image
  python -m experiments.classifiers --dataset=mnist --pixel_scale=255   # --paper's
  python -m experiments.classifiers --dataset=celeba --data_dir=PATH_TO_CELEBA

Each classifier (``jmvae_jax.metrics.digit_classifier``; for CelebA one that
reads the 40 attributes of a face) is trained on its data set's training
images alone and cached under DATA_DIR/classifiers (CelebA: under its
--cache_dir, where the detected faces are cached); later
runs on that data set read it from there and report coherence
(``jmvae_jax.metrics.coherence``) beside their likelihoods. Running it again
prints the cached classifiers' test accuracies. The five PolyMNIST
classifiers of the generated data and the MNIST ones of the classic pickle
ship with the library (``jmvae_jax.tasks.polymnist.classifiers.RELEASED_DIR``,
``jmvae_jax.tasks.mnist.digit_judge.RELEASED_DIR``), so this finds them there;
``--release`` (maintainers) writes the ones it loaded or trained into that
folder.
"""

from __future__ import annotations

import os

from absl import flags

from experiments import cli
from jmvae_jax.data import mnist, polymnist
from jmvae_jax.errors import UserError
from jmvae_jax.metrics import digit_classifier
from jmvae_jax.tasks.celeba import attribute_classifier
from jmvae_jax.tasks.celeba import config as celeba_config
from jmvae_jax.tasks.celeba.config import CelebAConfig
from jmvae_jax.tasks.mnist import digit_judge
from jmvae_jax.tasks.polymnist import classifiers
from jmvae_jax.tasks.polymnist.config import PolyMNISTConfig

_DATASET = flags.DEFINE_enum('dataset', 'polymnist',
                             ['polymnist', 'mnist', 'celeba'],
                             'Whose classifiers to train.')
_DATA_DIR = flags.DEFINE_string(
    'data_dir', None, 'Holds MNIST (and PolyMNIST/, or PolyMNIST is made from '
    f'MNIST; default {PolyMNISTConfig.data_dir}), or CelebA in its own layout '
    f'(default {CelebAConfig.data_dir}).')
_CACHE_DIR = flags.DEFINE_string(
    'cache_dir', CelebAConfig.cache_dir,
    'CelebA: where its detected faces and its classifier are cached.')
_MAX_IMAGES = flags.DEFINE_integer(
    'max_images', CelebAConfig.max_images,
    'CelebA: read at most this many images, as the runs it judges did.')
_DATA_SEED = flags.DEFINE_integer('data_seed', PolyMNISTConfig.data_seed,
                                  'The seed of a generated PolyMNIST.')
_MODALITIES = flags.DEFINE_list(
    'modalities', None, 'PolyMNIST: train only these modalities (e.g. 0,1), so '
    'that processes on separate cores share the work; default all five.')
_PIXEL_SCALE = flags.DEFINE_enum(
    'pixel_scale', str(mnist.PICKLE_SCALE), ['255', '256'],
    'MNIST: the grey level is the 8-bit value over this, as in the runs '
    'judged (--paper reads / 255).')
_RELEASE = flags.DEFINE_bool(
    'release', False, 'PolyMNIST and MNIST: also write the classifiers into '
    "the library's released folder, to ship them (maintainers).")
_VERIFY_DATA = flags.DEFINE_bool(
    'verify_data', True, 'Check the standard MNIST files by SHA-256.')


def _classifiers() -> dict[str, digit_classifier.DigitClassifier]:
  """{name: classifier} of --dataset, each from the cache or trained."""
  modalities = _modalities()  # Flags are checked before any data are read.
  if _RELEASE.value and _DATASET.value == 'celeba':
    raise UserError('--release ships PolyMNIST and MNIST classifiers only; '
                    'drop it for --dataset=celeba.')
  if _DATASET.value == 'celeba':
    config = CelebAConfig(data_dir=_DATA_DIR.value or CelebAConfig.data_dir,
                          cache_dir=_CACHE_DIR.value,
                          max_images=_MAX_IMAGES.value)
    return {'attributes': attribute_classifier.load_or_train(
        celeba_config.load_data(config),
        cache_dir=config.cache_dir or config.data_dir)}
  data_dir = os.path.expanduser(_DATA_DIR.value or PolyMNISTConfig.data_dir)
  if _DATASET.value == 'mnist':
    return {'image': digit_judge.load_or_train(
        mnist.load_mnist(data_dir, verify=_VERIFY_DATA.value,
                         pixel_scale=int(_PIXEL_SCALE.value)),
        cache_dir=data_dir)}
  return classifiers.load_or_train(
      polymnist.load_polymnist(data_dir, seed=_DATA_SEED.value,
                               verify_mnist=_VERIFY_DATA.value),
      cache_dir=data_dir, modalities=modalities)


def _modalities() -> list[int] | None:
  """--modalities as indices, or None for all five."""
  if _MODALITIES.value is None:
    return None
  flag = f'--modalities={",".join(_MODALITIES.value)}'
  if _DATASET.value != 'polymnist':
    raise UserError(f'{flag}: only PolyMNIST has several classifiers; drop '
                    f'--modalities for --dataset={_DATASET.value}.')
  try:
    modalities = [int(m) for m in _MODALITIES.value]
  except ValueError:
    raise UserError(f'{flag}: give modality indices such as 0,1 (0-4).'
                    ) from None
  return list(classifiers.check_modalities(modalities))


def main():
  for name, classifier in _classifiers().items():
    print(f'{name}: test accuracy {classifier.test_accuracy:.4f} '
          f'({classifier.train_seconds:.0f} s of training), {classifier.path}')
    if _RELEASE.value:
      path = digit_classifier.release(
          classifier, digit_judge.RELEASED_DIR if _DATASET.value == 'mnist'
          else classifiers.RELEASED_DIR)
      print(f'{name}: released as {path} ({os.path.getsize(path)} bytes)')


if __name__ == '__main__':
  cli.run(main)
