"""End-to-end tests of ``python -m experiments.mnist``: smoke, kill-and-resume, real MNIST."""

import gzip
import json
import os
import pickle
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from jmvae_jax.training import elbo
from jmvae_jax.tasks.mnist.config import Config
from jmvae_jax.training.checkpoints import Checkpoints
from tests.synthetic import labelled_blobs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _write_classic_pickle(directory, num_train, num_test):
  data = labelled_blobs(num_train, num_test)
  split = ((data.train_images, data.train_labels),
           (data.test_images, data.test_labels),
           (data.test_images, data.test_labels))
  with gzip.open(directory / 'mnist.pkl.gz', 'wb') as f:
    pickle.dump(split, f)


def _run(*flags, check=True):
  # The tests' mnist.pkl.gz files are synthetic: skip the standard-file check.
  result = subprocess.run(
      [sys.executable, '-m', 'experiments.mnist', '--noverify_data', *flags],
      cwd=ROOT,
      capture_output=True, text=True, timeout=600)
  if check and result.returncode != 0:
    raise AssertionError(f'exit {result.returncode}\n{result.stderr[-3000:]}')
  return result


def _final_params(workdir, **config):
  config = Config(**config)
  checkpoints = Checkpoints(os.path.join(workdir, 'checkpoints'))
  state = checkpoints.restore_latest(elbo.init_state(config.build_model(), config))
  checkpoints.close()
  return state


@pytest.fixture
def tiny_data_dir(tmp_path):
  _write_classic_pickle(tmp_path, num_train=300, num_test=100)
  return tmp_path


def test_binary_trains_evaluates_and_prints_results(tmp_path, tiny_data_dir):
  workdir = tmp_path / 'run'
  result = _run('--epochs=2', '--warmup_epochs=1', '--eval_k=4',
                '--eval_prior_samples=8', f'--data_dir={tiny_data_dir}',
                f'--workdir={workdir}')
  assert 'epoch 2/2' in result.stdout and 'ETA' in result.stdout
  results = json.loads((workdir / 'results.json').read_text())
  assert results['model'] == 'jmvae_kl' and results['epoch'] == 2
  assert results['num_test_examples'] == 100
  printed = json.loads(result.stdout[result.stdout.index('{'):])
  assert printed == results


def test_binary_trains_a_three_modality_jmvae(tmp_path, tiny_data_dir):
  # JMVAE-kl over image, label and the image turned 180 degrees (Sec. 3.2).
  workdir = tmp_path / 'run'
  _run('--modalities=image,label,rotated', '--epochs=2', '--warmup_epochs=1',
       '--hidden_width=32', '--latent_dim=4', '--eval_k=4',
       '--eval_prior_samples=8', f'--data_dir={tiny_data_dir}',
       f'--workdir={workdir}')
  records = [json.loads(line) for line in
             (workdir / 'metrics.jsonl').read_text().splitlines()]
  assert {'recon/image', 'recon/label', 'recon/rotated', 'kl_prior',
          'kl_unimodal/image', 'kl_unimodal/label',
          'kl_unimodal/rotated'} <= set(records[-1])
  results = json.loads((workdir / 'results.json').read_text())
  assert 'test_recon/rotated' in results
  for bound in ('marginal_multiple', 'marginal_single', 'conditional_multiple',
                'conditional_single', 'joint'):
    assert np.isfinite(results[bound]), bound
  state = _final_params(workdir, modalities='image,label,rotated',
                        hidden_width=32, latent_dim=4)
  assert {'rotated_encoder', 'rotated_decoder'} <= set(state.params)


@pytest.mark.parametrize('flags, message', [
    (['--alpha=-0.1'], 'error: --alpha must be a finite number >= 0'),
    (['--model=cvae2'], "error: unknown --model='cvae2'"),
    (['--workdir=/proc/forbidden'], 'error: cannot write to --workdir'),
    (['--batch_size=600', '--train_examples=500'],
     'error: --batch_size=600 is larger than the training set'),
    (['--train_examples=70000'], 'error: MNIST has 60000 training images'),
    (['--grad_clip_norm=-1'], 'error: --grad_clip_norm must be a finite'),
    (['--learning_rate=0'], 'error: --learning_rate must be > 0'),
    (['--adam_eps=0'], 'error: --adam_eps must be > 0'),
    (['--decoder_layers=0'], 'error: --decoder_layers must be >= 1'),
    (['--curve_every=-1'], 'error: --curve_every must be >= 0'),
    (['--eval_k=0'], 'error: --eval_k must be >= 1'),
    (['--modalities=label,image'], "error: --modalities must be 'image,label'"),
    (['--model=vae', '--modalities=image,label,rotated'],
     'error: --model=vae models image and label only'),
    (['--alpha=nan'], 'error: --alpha must be a finite number >= 0'),
])
def test_binary_reports_bad_input_in_one_line(flags, message, tiny_data_dir):
  # A --workdir of the test's own (the default, runs/mnist, is the user's);
  # later flags win, so a bad --workdir among ``flags`` is still the one used.
  result = _run(f'--data_dir={tiny_data_dir}',
                f'--workdir={tiny_data_dir / "run"}', *flags, check=False)
  assert result.returncode != 0
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith(message), result.stderr


def test_binary_reports_missing_data_in_one_line(tmp_path):
  env_free = tmp_path / 'empty'
  result = subprocess.run(
      [sys.executable, '-m', 'experiments.mnist', f'--data_dir={env_free}',
       f'--workdir={tmp_path / "run"}'],
      cwd=ROOT, capture_output=True, text=True, timeout=600,
      env=dict(os.environ, PIP_NO_INDEX='1', PIP_FIND_LINKS=str(tmp_path)))
  assert result.returncode != 0
  last = result.stderr.strip().splitlines()[-1]
  assert last.startswith('error: ') and 'python -m jmvae_jax.data.fetch' in last
  assert 'Traceback' not in result.stderr


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_parameters(tmp_path):
  _write_classic_pickle(tmp_path, num_train=6_000, num_test=100)
  flags = ['--epochs=3', '--warmup_epochs=2', '--eval_k=2',
           '--eval_prior_samples=4', f'--data_dir={tmp_path}']
  _run(*flags, f'--workdir={tmp_path / "straight"}')

  killed = tmp_path / 'killed'
  process = subprocess.Popen(
      [sys.executable, '-m', 'experiments.mnist', '--noverify_data', *flags,
       f'--workdir={killed}'],
      cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
  # Kill at a random moment after the first epoch's checkpoint, mid-training.
  deadline = time.time() + 300
  while (not (killed / 'checkpoints' / '1').exists()
         and process.poll() is None and time.time() < deadline):
    time.sleep(0.05)
  time.sleep(np.random.default_rng().uniform(0.0, 1.5))
  # Still training when killed (a run that ended, or never started, would
  # make the resume below prove nothing).
  assert process.poll() is None, process.communicate()[1][-2000:]
  assert not (killed / 'results.json').exists()
  process.send_signal(signal.SIGKILL)
  process.wait()
  _run(*flags, f'--workdir={killed}')

  straight = _final_params(str(tmp_path / 'straight'), warmup_epochs=2)
  resumed = _final_params(str(killed), warmup_epochs=2)
  assert int(straight.epoch) == int(resumed.epoch) == 3
  for a, b in zip(jax.tree.leaves(straight.params),
                  jax.tree.leaves(resumed.params)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
