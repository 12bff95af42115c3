"""Data parallelism: 4 and 8 devices, and 2 processes, train like 1 device (MNIST and the CelebA GAN).

A forced CPU device count and the distributed runtime only take effect before
JAX starts, so the parallel runs happen in fresh processes
(tests/parallel_worker.py); the 1-device reference runs here. All runs see the
same batches and the same random draws; only the order of the sums over the
batch differs (each device sums its shard, then an all-reduce adds the shards),
so results agree to float32 rounding, not bit for bit. After 20 Adam steps the
metrics differ by < 2e-7 relative and every parameter and Adam moment array by
< 1e-6 of its norm (measured on this CPU; single elements whose gradients are
near zero differ by up to 5e-5 of the array's largest magnitude, as Adam
normalises them); RTOL = 1e-5 leaves room for other CPUs.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import jax
import numpy as np
import pytest
from jax.sharding import AbstractMesh

from jmvae_jax.errors import UserError
from jmvae_jax.training import parallel
from tests import parallel_worker
from tests.test_experiment import _final_state

RTOL = 1e-5
_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope='module')
def reference(tmp_path_factory):
  """The workdir of the run on this process's single CPU device."""
  assert jax.device_count() == 1, 'the reference run needs exactly one device'
  workdir = tmp_path_factory.mktemp('one_device')
  parallel_worker.run(str(workdir))
  return workdir


def _launch(*args: object) -> subprocess.Popen:
  return subprocess.Popen(
      [sys.executable, '-m', 'tests.parallel_worker', *map(str, args)],
      cwd=_REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_for_all(workers: list[subprocess.Popen]) -> None:
  """Waits for concurrent workers; kills the rest if one fails or hangs."""
  try:
    for worker in workers:
      output, _ = worker.communicate(timeout=300)
      assert worker.returncode == 0, output[-3000:]
  finally:
    for worker in workers:
      worker.kill()


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(('localhost', 0))
    return s.getsockname()[1]


def _assert_runs_match(workdir, reference_workdir) -> None:
  """Per-epoch training metrics, test metrics and final state agree to RTOL."""
  def records(path):
    epochs = [json.loads(line)
              for line in (path / 'metrics.jsonl').read_text().splitlines()]
    return epochs, json.loads((path / 'results.json').read_text())

  (epochs, results), (want_epochs, want_results) = (
      records(workdir), records(reference_workdir))
  assert [e['epoch'] for e in epochs] == [e['epoch'] for e in want_epochs]
  for got, want in zip(epochs, want_epochs):
    for name in ('loss', 'recon/image', 'recon/label', 'kl_prior', 'kl_unimodal/image',
                 'kl_unimodal/label', 'kl_weight'):
      np.testing.assert_allclose(got[name], want[name], rtol=RTOL, err_msg=name)
  test_metrics = sorted(n for n, v in want_results.items()
                        if isinstance(v, float) and n != 'eval_seconds')
  np.testing.assert_allclose([results[n] for n in test_metrics],
                             [want_results[n] for n in test_metrics], rtol=RTOL)

  config = parallel_worker.CONFIG
  state = _final_state(config, str(workdir))
  want_state = _final_state(config, str(reference_workdir))
  assert int(state.step) == int(want_state.step) == 20
  for got, want in zip(jax.tree.leaves((state.params, state.opt_state)),
                       jax.tree.leaves((want_state.params,
                                        want_state.opt_state))):
    # Norm-wise: Adam divides each update by the root of its second moment,
    # which magnifies rounding in the few coordinates whose gradients are near
    # zero, so single elements may differ far more than the array as a whole.
    want = np.asarray(want)
    difference = np.linalg.norm(np.asarray(got) - want)
    assert difference <= RTOL * np.linalg.norm(want), (
        f'{got.shape}: |got - want| = {difference:.3g}, '
        f'|want| = {np.linalg.norm(want):.3g}')


def test_batch_size_must_split_over_the_devices():
  mesh = AbstractMesh((4,), (parallel.DATA_AXIS,))
  parallel.check_divisible('batch_size', 40, mesh)
  with pytest.raises(UserError, match=r'--batch_size=50 must be a multiple of '
                     r'the number of devices \(4\).*--batch_size=48'):
    parallel.check_divisible('batch_size', 50, mesh)


@pytest.mark.slow  # Two subprocesses, each compiling a run on its device count.
def test_four_and_eight_devices_train_like_one(tmp_path, reference):
  _wait_for_all([_launch('mnist', tmp_path / f'{n}_devices', n)
                 for n in (4, 8)])
  for n in (4, 8):
    _assert_runs_match(tmp_path / f'{n}_devices', reference)


@pytest.mark.slow
def test_two_processes_train_like_one(tmp_path, reference):
  # Two devices per process: the mesh spans 4 devices of 2 processes, and
  # both share one workdir, as processes on several hosts share a file system.
  address = f'localhost:{_free_port()}'
  _wait_for_all([_launch('mnist', tmp_path, 2, address, 2, rank)
                 for rank in (0, 1)])
  _assert_runs_match(tmp_path, reference)


@pytest.mark.slow  # Two runs of the GAN, each compiling its conv networks.
def test_celeba_gan_trains_on_two_devices_like_one(tmp_path):
  # CelebA trains on the mesh like MNIST. The first step's losses, at the
  # initial parameters, agree to rounding (measured: 9e-8 relative): batch
  # norm's statistics are those of the whole batch, not of a device's shard,
  # which would move them by far more. After it they agree less closely:
  # Adam's first update of each element is lr * sign(gradient), so a gradient
  # within rounding of zero flips a whole update (measured: 3e-5 relative in
  # the second step's losses, 7e-7 in the test bounds).
  parallel_worker.run_celeba(str(tmp_path / 'one'))
  _wait_for_all([_launch('celeba', tmp_path / 'two', 2)])
  (epochs, results), (want_epochs, want_results) = (
      ([json.loads(line) for line in
        (run / 'metrics.jsonl').read_text().splitlines()],
       json.loads((run / 'results.json').read_text()))
      for run in (tmp_path / 'two' / 'run', tmp_path / 'one' / 'run'))
  assert [e['epoch'] for e in epochs] == [e['epoch'] for e in want_epochs] == [
      1, 2]
  names = ['discriminator', 'generator_adversarial', 'generator_pixel', 'loss',
           'kl_prior', 'kl_unimodal/image', 'kl_unimodal/attributes',
           'recon/image', 'recon/attributes']
  for (got, want), rtol in zip(zip(epochs, want_epochs), (RTOL, 1e-4)):
    np.testing.assert_allclose([got[n] for n in names],
                               [want[n] for n in names], rtol=rtol)
  bounds = ('marginal_multiple', 'marginal_single', 'conditional_multiple',
            'conditional_single', 'joint')
  np.testing.assert_allclose([results[n] for n in bounds],
                             [want_results[n] for n in bounds], rtol=1e-4)
