"""A long-lived MultiVae (PyTorch) worker for ``vs_multivae.py``; runs in the peer venv.

It builds a MultiVae 1.0.3 model (``--model``) from the networks of the peer
harness's ``common.py`` (``MULTIVAE_HARNESS``, default
/work/shared/bench/multivae): its JMVAE with the paper's MNIST architecture,
or MVAE, MMVAE or MoPoE with the same unimodal encoders and decoders (``build``
says how each is set to match ours). It then answers one JSON request per line on stdin
with one JSON line on stdout, so that the caller can alternate it with our side
without paying torch's start-up each round:

  {"cmd": "train", "steps": 100}
      -> {"images": 10000, "seconds": ..., "images_per_s": ..., "loss": ...}
  {"cmd": "joint_nll", "n": 100, "k": 5000, "batch_size_k": 5000, "no_grad": true}
      -> {"n": 100, "seconds": ..., "s_per_example": ..., "mean_joint_nll": ...}
  {"cmd": "quit"}

A train step is what MultiVae's trainer does per batch, without its DataLoader:
a batch of 100 from a shuffled pass over the 50k training images, dynamically
binarized (torch.bernoulli), the model's loss (JMVAE-kl: alpha from the
command line), backward, Adam (lr 1e-3). Only these steps are inside the timer.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

HARNESS = os.environ.get('MULTIVAE_HARNESS', '/work/shared/bench/multivae')
sys.path.insert(0, HARNESS)

import torch  # noqa: E402  pylint: disable=g-import-not-at-top,wrong-import-position
import common  # noqa: E402  pylint: disable=g-import-not-at-top,wrong-import-position
from multivae import models  # noqa: E402  pylint: disable=g-import-not-at-top,wrong-import-position


MODELS = ('jmvae_kl', 'mvae', 'mmvae', 'mopoe')


def parse_args() -> argparse.Namespace:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--model', choices=MODELS, default='jmvae_kl')
  parser.add_argument('--alpha', type=float, default=0.1)
  parser.add_argument('--warmup', type=int, default=5,
                      help="MultiVae's KL warm-up epochs (ours: warmup_epochs)")
  parser.add_argument('--batch_size', type=int, default=100)
  parser.add_argument('--lr', type=float, default=1e-3)
  parser.add_argument('--threads', type=int, default=os.cpu_count())
  parser.add_argument('--seed', type=int, default=0)
  parser.add_argument('--flush_denormal', action='store_true',
                      help='torch.set_flush_denormal(True) (default: as shipped)')
  return parser.parse_args()


def build(name: str, alpha: float, warmup: int) -> torch.nn.Module:
  """MultiVae's model ``name`` on common.py's networks, set as ours are.

  JMVAE-kl: common.build_model (the joint encoder of the paper). The
  successors have no joint encoder: common's unimodal encoder and decoder per
  modality, Bernoulli image and categorical label likelihoods, N(0, I) prior.
  MVAE: the joint and unimodal ELBOs (k=0 random subsets), KL warm-up.
  MMVAE: Gaussian posteriors and a fixed prior (not the original's Laplace
  and learned prior, as ours), K=1 draw per component: the stratified ELBO
  ours trains on. MoPoE: every subset, beta 1.
  """
  if name == 'jmvae_kl':
    return common.build_model(alpha=alpha, warmup=warmup)
  base = dict(n_modalities=2, latent_dim=common.LATENT,
              input_dims={'image': (784,), 'label': (10,)},
              decoders_dist={'image': 'bernoulli', 'label': 'categorical'})
  if name == 'mvae':
    config = models.MVAEConfig(**base, warmup=warmup, k=0)
  elif name == 'mmvae':
    config = models.MMVAEConfig(**base, K=1, prior_and_posterior_dist='normal',
                                learn_prior=False, loss='iwae_looser')
  else:
    config = models.MoPoEConfig(**base)
  model_class = {'mvae': models.MVAE, 'mmvae': models.MMVAE,
                 'mopoe': models.MoPoE}[name]
  return model_class(
      config, encoders={'image': common.UniEncoder(784),
                        'label': common.UniEncoder(10)},
      decoders={'image': common.Decoder(784), 'label': common.Decoder(10)})


class Worker:
  """The model, its optimizer and an endless shuffled stream of training batches."""

  def __init__(self, args: argparse.Namespace):
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(args.flush_denormal)
    torch.manual_seed(args.seed)
    (train_x, train_y), _, (self.test_x, self.test_y) = common.load_mnist()
    self.images = torch.from_numpy(train_x)
    self.labels = torch.from_numpy(common.one_hot(train_y))
    self.batch_size = args.batch_size
    self.model = build(args.model, args.alpha, args.warmup)
    self.optimizer = torch.optim.Adam(self.model.parameters(), lr=args.lr)
    self.order = torch.randperm(len(self.images))
    self.position = 0
    self.epoch = 1

  def _next_indices(self) -> torch.Tensor:
    if self.position + self.batch_size > len(self.order):
      self.order = torch.randperm(len(self.images))
      self.position = 0
      self.epoch += 1
    indices = self.order[self.position:self.position + self.batch_size]
    self.position += self.batch_size
    return indices

  def train(self, steps: int) -> dict[str, float]:
    self.model.train()
    loss = torch.zeros(())
    start = time.perf_counter()
    for _ in range(steps):
      indices = self._next_indices()
      batch = common.MultimodalBaseDataset(data={
          'image': torch.bernoulli(self.images[indices]),
          'label': self.labels[indices]})
      loss = self.model(batch, epoch=self.epoch).loss
      self.optimizer.zero_grad(set_to_none=True)
      loss.backward()
      self.optimizer.step()
    seconds = time.perf_counter() - start
    images = steps * self.batch_size
    return {'images': images, 'seconds': seconds,
            'images_per_s': images / seconds, 'loss': float(loss.detach())}

  def joint_nll(self, n: int, k: int, batch_size_k: int, no_grad: bool
                ) -> dict[str, float]:
    """MultiVae's compute_joint_nll on the first n statically binarized test images."""
    self.model.eval()
    dataset = common.binarized_test(self.test_x, self.test_y, n=n)
    start = time.perf_counter()
    if no_grad:
      with torch.no_grad():
        total = self.model.compute_joint_nll(dataset, K=k, batch_size_K=batch_size_k)
    else:
      total = self.model.compute_joint_nll(dataset, K=k, batch_size_K=batch_size_k)
    seconds = time.perf_counter() - start
    return {'n': n, 'k': k, 'seconds': seconds, 's_per_example': seconds / n,
            'mean_joint_nll': float(total) / n}


def main() -> None:
  args = parse_args()
  worker = Worker(args)
  print(json.dumps({'ready': True, 'torch': torch.__version__,
                    'threads': torch.get_num_threads(),
                    'params': common.n_params(worker.model)}), flush=True)
  for line in sys.stdin:
    request = json.loads(line)
    if request['cmd'] == 'quit':
      break
    if request['cmd'] == 'train':
      reply = worker.train(request['steps'])
    elif request['cmd'] == 'joint_nll':
      reply = worker.joint_nll(request['n'], request['k'],
                               request.get('batch_size_k', request['k']),
                               request.get('no_grad', True))
    else:
      reply = {'error': f'unknown command {request["cmd"]!r}'}
    print(json.dumps(reply), flush=True)


if __name__ == '__main__':
  main()
