r"""Train (once) the digit classifiers that judge coherence.

  python -m experiments.classifiers --dataset=polymnist   # five, one per modality
  python -m experiments.classifiers --dataset=mnist       # one, for label -> image

Each classifier (``jmvae_jax.metrics.digit_classifier``) is trained on its
data set's training images alone and cached under DATA_DIR/classifiers; later
runs on that data set read it from there and report coherence
(``jmvae_jax.metrics.coherence``) beside their likelihoods. Running it again
prints the cached classifiers' test accuracies.
"""

from __future__ import annotations

import os

from absl import flags

from experiments import cli
from jmvae_jax.data import mnist, polymnist
from jmvae_jax.metrics import digit_classifier
from jmvae_jax.tasks.polymnist import classifiers
from jmvae_jax.tasks.polymnist.config import PolyMNISTConfig

_DATASET = flags.DEFINE_enum('dataset', 'polymnist', ['polymnist', 'mnist'],
                             'Whose classifiers to train.')
_DATA_DIR = flags.DEFINE_string(
    'data_dir', PolyMNISTConfig.data_dir,
    'Holds MNIST (and PolyMNIST/, or PolyMNIST is made from MNIST).')
_DATA_SEED = flags.DEFINE_integer('data_seed', PolyMNISTConfig.data_seed,
                                  'The seed of a generated PolyMNIST.')
_VERIFY_DATA = flags.DEFINE_bool(
    'verify_data', True, 'Check the standard MNIST files by SHA-256.')


def main():
  data_dir = os.path.expanduser(_DATA_DIR.value)
  if _DATASET.value == 'mnist':
    found = {'image': digit_classifier.load_or_train(
        mnist.load_mnist(data_dir, verify=_VERIFY_DATA.value),
        cache_dir=data_dir)}
  else:
    found = classifiers.load_or_train(
        polymnist.load_polymnist(data_dir, seed=_DATA_SEED.value,
                                 verify_mnist=_VERIFY_DATA.value),
        cache_dir=data_dir)
  for name, classifier in found.items():
    print(f'{name}: test accuracy {classifier.test_accuracy:.4f} '
          f'({classifier.train_seconds:.0f} s of training), {classifier.path}')


if __name__ == '__main__':
  cli.run(main)
