r"""Train (once) the five digit classifiers that judge PolyMNIST's coherence.

  python -m experiments.polymnist_classifiers

Each modality's classifier (jmvae_jax.tasks.polymnist.classifiers) is trained on
that modality's training images alone and cached under DATA_DIR/classifiers;
later PolyMNIST runs read them from there to report coherence. Running it again
prints the cached classifiers' test accuracies.
"""

from __future__ import annotations

import os

from absl import flags

from experiments import cli
from jmvae_jax.data import polymnist
from jmvae_jax.tasks.polymnist import classifiers
from jmvae_jax.tasks.polymnist.config import PolyMNISTConfig

_DATA_DIR = flags.DEFINE_string('data_dir', PolyMNISTConfig.data_dir,
                                'Holds PolyMNIST/ or the MNIST it is made from.')
_DATA_SEED = flags.DEFINE_integer('data_seed', PolyMNISTConfig.data_seed,
                                  'The seed of a generated PolyMNIST.')
_VERIFY_DATA = flags.DEFINE_bool(
    'verify_data', True, 'Check the standard MNIST files by SHA-256.')


def main():
  data_dir = os.path.expanduser(_DATA_DIR.value)
  data = polymnist.load_polymnist(data_dir, seed=_DATA_SEED.value,
                                  verify_mnist=_VERIFY_DATA.value)
  found = classifiers.load_or_train(data, cache_dir=data_dir)
  for name, classifier in found.items():
    print(f'{name}: test accuracy {classifier.test_accuracy:.4f} '
          f'({classifier.train_seconds:.0f} s of training), {classifier.path}')


if __name__ == '__main__':
  cli.run(main)
