"""Released models (``jmvae_jax.tasks.mnist.release``, ``jmvae_jax.tasks.mnist.export``).

Fast tests export tiny runs trained on synthetic data. The slow ones check
every committed model under results/mnist_paper*/models/ and
results/mnist_paper*/ablation_*/models/ against the check
bound recorded beside it (load -> bound == recorded within 0.05 nats, on MNIST
at the model's pixel scale), and prove that check on a model exported here
from a tiny run on real MNIST.
"""

import dataclasses
import glob
import json
import os
import pathlib
import shutil

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest

from jmvae_jax import generation, models
from jmvae_jax.data import mnist
from jmvae_jax.errors import UserError
from jmvae_jax.tasks.mnist import export, release
from jmvae_jax.tasks.mnist.config import Config
from jmvae_jax.tasks.mnist.experiment import train_and_evaluate
from jmvae_jax.tasks.mnist.restore import load_run
from tests.binaries import run_module
from tests.fake_runs import fake_run
from tests.synthetic import labelled_blobs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The paper grids on / 256 and on / 255 data, and each ablation beside them
# that ships its models (a reader may load those as readily as the tables').
MODELS_DIRS = sorted(
    glob.glob(os.path.join(ROOT, 'results', 'mnist_paper*', 'models')) +
    glob.glob(os.path.join(ROOT, 'results', 'mnist_paper*', 'ablation_*',
                           'models')))
COMMITTED = sorted(
    os.path.relpath(os.path.join(folder, name), ROOT)
    for folder in MODELS_DIRS if os.path.isdir(folder)
    for name in os.listdir(folder)
    if release.is_released_model(os.path.join(folder, name)))
TINY = Config(model='jmvae_kl', epochs=1, warmup_epochs=1, batch_size=50,
              latent_dim=4, hidden_width=16, eval_k=1, eval_prior_samples=1,
              eval_batch_size=50, eval_chunk_size=1, verify_data=False)


def _quiet(_: str) -> None:
  pass


@pytest.fixture(scope='module')
def blobs():
  # The check bound uses the first 500 test images.
  return labelled_blobs(num_train=200, num_test=export.CHECK_IMAGES)


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
  """Tiny workdirs of JMVAE-kl, VAE and CMMA after one (untrained) epoch."""
  root = tmp_path_factory.mktemp('runs')
  for name in ('jmvae_kl', 'vae', 'cmma'):
    fake_run(str(root / name), dataclasses.replace(TINY, model=name))
  return root


def _assert_matches_record(path, data):
  result = export.recheck(path, data)
  assert abs(result['measured'] - result['recorded']) <= result['tolerance'], (
      f'{path}: check bound {result["measured"]:.4f}, recorded '
      f'{result["recorded"]:.4f}')


@pytest.mark.parametrize('name', ['jmvae_kl', 'vae', 'cmma'])
def test_export_keeps_the_parameters_and_the_bound(runs, blobs, tmp_path,
                                                   name):
  run = load_run(runs / name)
  out = export.export_run(runs / name, tmp_path / 'model', data=blobs,
                          log=_quiet)
  model, params, config = release.load_model(out)
  assert config == run.config
  assert model == run.config.build_model(training=False)
  # Parameters only, bit for bit.
  for got, want in zip(jax.tree.leaves(params), jax.tree.leaves(run.params),
                       strict=True):
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
  assert sorted(os.listdir(out)) == ['config.json', 'metrics.jsonl',
                                     'params.npz', 'release.json',
                                     'results.json']
  # The run's metrics (its learning curves) outlive the run directory.
  assert (pathlib.Path(out) / 'metrics.jsonl').read_text() == (
      runs / name / 'metrics.jsonl').read_text()
  record = release.read_release(out)
  assert record['check']['bound'] == {
      'jmvae_kl': 'marginal_multiple', 'vae': 'marginal_single',
      'cmma': 'conditional_multiple'}[name]
  assert record['params_bytes'] == os.path.getsize(out + '/params.npz')
  # The recorded bound is the one the bounds module gives the loaded model.
  images, labels = export.check_images(blobs)
  assert record['check']['value'] == pytest.approx(
      export.check_bound(model, params, images, labels), abs=1e-5)
  _assert_matches_record(out, blobs)


def test_params_npz_is_plain_numpy_with_slash_joined_names(runs, blobs,
                                                           tmp_path):
  out = export.export_run(runs / 'vae', tmp_path / 'vae', data=blobs,
                          log=_quiet)
  run = load_run(runs / 'vae')
  with np.load(os.path.join(out, 'params.npz')) as stored:
    kernel = stored['image_decoder/params/Dense_0/kernel']
  np.testing.assert_array_equal(
      kernel, np.asarray(run.params['image_decoder']['params']['Dense_0'][
          'kernel']))


def test_a_model_released_before_modality_names_loads(runs, blobs, tmp_path):
  # Released models from before modalities had names store 'x_encoder/...'.
  out = export.export_run(runs / 'jmvae_kl', tmp_path / 'old', data=blobs,
                          log=_quiet)
  old_names = {new: old for old, new in models.LEGACY_PARAM_NAMES.items()}
  params_path = os.path.join(out, 'params.npz')
  with np.load(params_path) as stored:
    flat = {name: stored[name] for name in stored.files}
  renamed = {'/'.join([old_names.get(name.split('/')[0], name.split('/')[0])]
                      + name.split('/')[1:]): value
             for name, value in flat.items()}
  assert any(name.startswith('w_encoder/') for name in renamed)
  np.savez_compressed(params_path, **renamed)
  record = release.read_release(out)
  record['params_sha256'] = release.sha256(params_path)
  with open(os.path.join(out, 'release.json'), 'w') as f:
    json.dump(record, f)
  _, params, _ = release.load_model(out)
  run = load_run(runs / 'jmvae_kl')
  assert set(params) == set(run.params)
  for got, want in zip(jax.tree.leaves(params), jax.tree.leaves(run.params),
                       strict=True):
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


def test_bfloat16_storage_rounds_and_records_both_bounds(runs, blobs,
                                                         tmp_path):
  out = export.export_run(runs / 'jmvae_kl', tmp_path / 'bf16',
                          storage_dtype='auto', data=blobs, log=_quiet)
  record = release.read_release(out)
  check = record['bfloat16_check']
  assert check['difference'] == pytest.approx(
      check['bfloat16'] - check['float32'], abs=1e-4)
  expected = ('bfloat16' if abs(check['difference']) <= 0.01 else 'float32')
  assert record['storage_dtype'] == expected
  _, params, _ = release.load_model(out)
  full = load_run(runs / 'jmvae_kl').params
  cast = ml_dtypes.bfloat16 if expected == 'bfloat16' else np.float32
  for got, want in zip(jax.tree.leaves(params), jax.tree.leaves(full),
                       strict=True):
    assert got.dtype == jnp.float32
    np.testing.assert_array_equal(
        np.asarray(got), np.asarray(want).astype(cast).astype(np.float32))
  _assert_matches_record(out, blobs)


def test_bfloat16_is_refused_when_it_moves_the_bound(runs, blobs, tmp_path,
                                                     monkeypatch):
  monkeypatch.setattr(export, 'BFLOAT16_TOLERANCE', -1.0)
  with pytest.raises(UserError, match='storage_dtype=float32'):
    export.export_run(runs / 'jmvae_kl', tmp_path / 'bf16',
                      storage_dtype='bfloat16', data=blobs, log=_quiet)
  out = export.export_run(runs / 'jmvae_kl', tmp_path / 'auto',
                          storage_dtype='auto', data=blobs, log=_quiet)
  assert release.read_release(out)['storage_dtype'] == 'float32'


def test_a_damaged_or_foreign_folder_is_refused_in_one_line(runs, blobs,
                                                            tmp_path):
  out = export.export_run(runs / 'vae', tmp_path / 'vae', data=blobs,
                          log=_quiet)
  with open(os.path.join(out, 'params.npz'), 'r+b') as f:
    f.seek(100)
    f.write(b'\0\1\2')
  with pytest.raises(UserError, match='SHA-256'):
    release.load_model(out)
  with pytest.raises(UserError, match='not a released model'):
    release.load_model(runs / 'vae')
  with pytest.raises(UserError, match='storage_dtype'):
    export.export_run(runs / 'vae', tmp_path / 'x', storage_dtype='float16',
                      data=blobs, log=_quiet)
  with pytest.raises(UserError, match='is the run itself'):
    export.export_run(runs / 'vae', runs / 'vae', data=blobs, log=_quiet)


def test_a_release_json_of_no_known_storage_or_no_object_is_refused(
    runs, blobs, tmp_path):
  out = export.export_run(runs / 'vae', tmp_path / 'vae', data=blobs,
                          log=_quiet)
  path = os.path.join(out, 'release.json')
  with open(path) as f:
    record = json.load(f)
  with open(path, 'w') as f:
    json.dump(dict(record, storage_dtype='float16'), f)
  with pytest.raises(UserError, match="storage dtype 'float16'"):
    release.load_model(out)
  with open(path, 'w') as f:
    json.dump([record], f)
  with pytest.raises(UserError, match='does not hold a JSON object; export '
                     'the model again'):
    release.load_model(out)


def test_exporting_a_run_without_results_drops_earlier_results(runs, blobs,
                                                               tmp_path):
  out = export.export_run(runs / 'vae', tmp_path / 'model', data=blobs,
                          log=_quiet)
  assert 'results.json' in os.listdir(out)
  bare = tmp_path / 'bare'
  shutil.copytree(runs / 'vae', bare)
  (bare / 'results.json').unlink()
  export.export_run(bare, out, data=blobs, log=_quiet)
  assert 'results.json' not in os.listdir(out)


def test_a_record_of_other_settings_is_refused(runs, blobs, tmp_path):
  out = export.export_run(runs / 'vae', tmp_path / 'vae', data=blobs,
                          log=_quiet)
  path = os.path.join(out, 'release.json')
  with open(path) as f:
    record = json.load(f)
  record['check']['k'] = 1000
  with open(path, 'w') as f:
    json.dump(record, f)
  with pytest.raises(UserError, match='export it again'):
    export.recheck(out, blobs)
  # Data at another pixel scale than the check's are refused in one line.
  record['check']['k'] = export.CHECK_K
  with open(path, 'w') as f:
    json.dump(record, f)
  assert record['check']['pixel_scale'] == blobs.pixel_scale == 255
  other = dataclasses.replace(blobs, pixel_scale=256)
  with pytest.raises(UserError, match='load MNIST with pixel_scale=255'):
    export.recheck(out, other)


def test_load_run_and_the_generate_binary_take_a_released_model(runs, blobs,
                                                                tmp_path):
  out = export.export_run(runs / 'jmvae_kl', tmp_path / 'model', data=blobs,
                          log=_quiet)
  run = load_run(out)
  model, params, _ = release.load_model(out)
  assert run.epoch == 1 and run.model == model
  generated = generation.generate(run.model, run.params,
                                  {'label': np.eye(10, dtype=np.float32)},
                                  'image', key=jax.random.key(0), num_samples=2)
  assert generated.samples.shape == (2, 10, 784)
  result = run_module('experiments.generate', f'--workdir={out}', '--label=3',
                      '--num=2', f'--out={tmp_path / "threes"}')
  assert result.returncode == 0, result.stderr
  assert sorted(os.listdir(tmp_path / 'threes')) == [
      'grid.png', 'mean.png', 'sample_000.png', 'sample_001.png']


@pytest.mark.slow
@pytest.mark.parametrize('name', COMMITTED or [
    pytest.param('none', marks=pytest.mark.skip(
        reason=f'no released models are committed under {MODELS_DIRS} yet'))])
def test_committed_model_gives_its_recorded_bound(name, local_mnist):
  path = os.path.join(ROOT, name)
  scale = release.load_model(path)[2].pixel_scale
  data = mnist.load_mnist(os.path.expanduser(Config.data_dir),
                          sources=('local',), pixel_scale=scale)
  assert data.source == local_mnist.source
  _assert_matches_record(path, data)


@pytest.mark.slow
def test_the_committed_model_check_on_a_fresh_real_mnist_export(local_mnist,
                                                                tmp_path):
  """The check above, on a model exported here from a tiny real-MNIST run."""
  data = dataclasses.replace(local_mnist,
                             train_images=local_mnist.train_images[:2000],
                             train_labels=local_mnist.train_labels[:2000])
  config = dataclasses.replace(TINY, verify_data=True, train_examples=2000)
  train_and_evaluate(config, str(tmp_path / 'run'), data=data, log=_quiet)
  out = export.export_run(tmp_path / 'run', tmp_path / 'models' / 'tiny',
                          storage_dtype='auto', data=local_mnist, log=_quiet)
  _assert_matches_record(out, local_mnist)
  assert release.read_release(out)['check']['data_source'] == (
      local_mnist.source)
