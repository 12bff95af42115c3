"""Small synthetic MNIST-shaped data sets whose images depend on their labels."""

import numpy as np

from jmvae_jax.data.mnist import LabelledImages


def labelled_blobs(num_train: int, num_test: int, seed: int = 0) -> LabelledImages:
  """Grey-level images [N, 784] where each class lights its own band of pixels."""
  rng = np.random.default_rng(seed)

  def make(n):
    labels = rng.integers(0, 10, n).astype(np.int32)
    images = rng.uniform(0.0, 0.1, size=(n, 784)).astype(np.float32)
    for i, label in enumerate(labels):
      images[i, label * 70:(label + 1) * 70 + 50] = rng.uniform(0.7, 1.0)
    return images, labels

  train_images, train_labels = make(num_train)
  test_images, test_labels = make(num_test)
  return LabelledImages(train_images, train_labels, test_images, test_labels,
                        source='synthetic label-dependent blobs')
