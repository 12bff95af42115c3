"""The paper-grid report, end to end on a tiny fake grid of synthetic data.

The grid: JMVAE-kl alpha=0.1 trained for one tiny epoch with learning curves;
VAE and CMMA finished after two epochs, made without training (their
parameters are initial ones, their curves written by hand); JMVAE-kl alpha=1
unfinished (a copy of alpha=0.1's run that has done one of two epochs); CVAE,
JMVAE-zero and JMVAE-kl alpha=0.01 missing.
"""

import dataclasses
import gzip
import json
import os
import pickle
import re
import shutil

import cv2
import numpy as np
import pytest

from jmvae_jax.errors import UserError
from jmvae_jax.metrics import digit_classifier
from jmvae_jax.report import grid_curves
from jmvae_jax.tasks.mnist import export, paper_report, release
from jmvae_jax.tasks.mnist.config import Config
from jmvae_jax.tasks.mnist.experiment import train_and_evaluate
from jmvae_jax.tasks.mnist.tables import MNIST
from tests.binaries import assert_one_line_error, run_module
from tests.fake_runs import fake_run
from tests.synthetic import labelled_blobs

TINY = Config(epochs=1, warmup_epochs=1, batch_size=50, latent_dim=4,
              hidden_width=16, eval_k=2, eval_prior_samples=4,
              eval_batch_size=50, eval_chunk_size=2, curve_every=1,
              curve_k=2, curve_examples=50, verify_data=False)
FINISHED = ('vae', 'cmma', 'jmvae_kl_0.1')
GENERATORS = ('cmma', 'jmvae_kl_0.1')
SMALL = paper_report.ReportSettings(
    fig7_samples=2, label_samples=5, eq9_images=20, eq9_k=3,
    eq9_prior_samples=5)
SMALL_FLAGS = ('--fig7_samples=2', '--label_samples=5', '--eq9_images=20',
               '--eq9_k=3', '--eq9_prior_samples=5')
CLASSIFIER = digit_classifier.ClassifierConfig(epochs=2, batch_size=20,
                                               hidden=(32,))


@pytest.fixture(scope='module')
def grid(tmp_path_factory):
  """The fake grid's root, its data, and a data_dir holding the data."""
  root = tmp_path_factory.mktemp('grid')
  # The released models' check bound uses the first 500 test images.
  data = labelled_blobs(num_train=200, num_test=export.CHECK_IMAGES)
  train_and_evaluate(dataclasses.replace(TINY, model='jmvae_kl', alpha=0.1),
                     str(root / 'jmvae_kl_0.1' / 'seed0'), data=data,
                     log=lambda _: None)
  for name, curve in (('vae', 'marginal_single'),
                      ('cmma', 'conditional_multiple')):
    fake_run(str(root / name / 'seed0'),
             dataclasses.replace(TINY, model=name, epochs=2),
             curves={curve: [-150.0, -120.0]})
  # A run interrupted after epoch 1 of 2.
  unfinished = root / 'jmvae_kl_1' / 'seed0'
  shutil.copytree(root / 'jmvae_kl_0.1' / 'seed0', unfinished)
  (unfinished / 'results.json').unlink()
  config = json.loads((unfinished / 'config.json').read_text())
  (unfinished / 'config.json').write_text(
      json.dumps(dict(config, alpha=1.0, epochs=2)))
  data_dir = root / 'data'
  data_dir.mkdir()
  with gzip.open(data_dir / 'mnist.pkl.gz', 'wb') as f:
    pickle.dump(((data.train_images, data.train_labels),
                 (data.test_images[:10], data.test_labels[:10]),
                 (data.test_images, data.test_labels)), f)
  return root, data, data_dir


@pytest.fixture(scope='module')
def report(grid, tmp_path_factory):
  root, data, data_dir = grid
  out = tmp_path_factory.mktemp('report')
  lines = []
  paths = paper_report.write_paper_report(
      root, out, settings=SMALL, data=data, data_dir=str(data_dir),
      classifier_config=CLASSIFIER, log=lines.append)
  return out, paths, lines


def test_every_part_is_written_for_the_finished_rows(report, grid):
  out, paths, _ = report
  assert paths['index'] == str(out / 'paper_report.md')
  assert sorted(os.listdir(out)) == [
      'eq9_readings.json', 'eq9_readings.md', 'fig7_generation.png',
      'label_accuracy.json', 'label_accuracy.md', 'learning_curves.png',
      'models', 'paper_report.md']
  assert sorted(os.listdir(out / 'models')) == sorted(
      f'{name}_seed0' for name in FINISHED)
  accuracy = json.loads((out / 'label_accuracy.json').read_text())
  assert sorted(accuracy) == sorted(GENERATORS + ('classifier',))
  for name in GENERATORS:
    assert len(accuracy[name]['per_digit']) == 10
    assert accuracy[name]['overall'] == pytest.approx(
        np.mean(accuracy[name]['per_digit']))
  eq9 = json.loads((out / 'eq9_readings.json').read_text())
  assert sorted(eq9) == ['jmvae_kl_0.1']
  for name, values in eq9.items():
    assert np.isfinite([values['ours'], values['tars']]).all()
    results = json.loads(
        (grid[0] / name / 'seed0' / 'results.json').read_text())
    assert values['tables'] == results['conditional_single']
    assert values['paper'] is not None and values['num_images'] == 20
  for stem in ('label_accuracy', 'eq9_readings'):
    table = [line for line in (out / f'{stem}.md').read_text().splitlines()
             if line.startswith('|')]
    # Every line of a Markdown table has as many cells (unescaped bars).
    assert len({len(re.findall(r'(?<!\\)\|', line)) for line in table}) == 1
  index = (out / 'paper_report.md').read_text()
  assert '(models/jmvae_kl_0.1_seed0)' in index  # Links relative to OUT.
  assert 'JMVAE-kl, alpha=1: unfinished (epoch 1 of 2)' in index
  assert 'CVAE: no run in' in index and 'JMVAE-zero: no run in' in index


def test_unfinished_and_missing_rows_are_skipped_with_a_note(report):
  _, _, lines = report
  skipped = [line for line in lines if 'skipped' in line]
  assert any('JMVAE-kl, alpha=1: unfinished (epoch 1 of 2)' in line
             for line in skipped)
  assert any('CVAE: no run in' in line for line in skipped)
  assert any(line.startswith('learning curves: JMVAE-kl, alpha=1') and
             'drawn so far' in line for line in lines)


def test_released_models_give_their_recorded_bound(report, grid):
  out, _, _ = report
  _, data, _ = grid
  path = out / 'models' / 'jmvae_kl_0.1_seed0'
  result = export.recheck(path, data)
  assert abs(result['measured'] - result['recorded']) <= 0.05
  # 'auto' storage: bfloat16 only where it moved the bound by <= 0.01 nats.
  record = release.read_release(path)
  assert record['storage_dtype'] == (
      'bfloat16' if abs(record['bfloat16_check']['difference']) <= 0.01
      else 'float32')


def test_learning_curves_have_a_panel_per_row_with_curves(report):
  out, _, _ = report
  picture = cv2.imread(str(out / 'learning_curves.png'),
                       cv2.IMREAD_GRAYSCALE)
  # Four rows have curves (three finished, one running): one row of 4.
  assert picture.shape == (280 + 60, 330 * 4)
  for c in range(4):
    box = picture[93:277, 330 * c + 63:330 * c + 307]
    assert box.std() > 3.0, f'panel {c} is blank'


def test_a_second_run_keeps_the_models_that_are_up_to_date(report, grid):
  out, _, _ = report
  root, data, data_dir = grid
  before = {name: os.path.getmtime(out / 'models' / f'{name}_seed0' /
                                   'params.npz') for name in FINISHED}
  lines = []
  paper_report.write_paper_report(
      root, out, settings=SMALL, rows=MNIST.rows, data=data,
      data_dir=str(data_dir), classifier_config=CLASSIFIER, log=lines.append)
  assert sum('is up to date' in line for line in lines) == len(FINISHED)
  assert before == {name: os.path.getmtime(
      out / 'models' / f'{name}_seed0' / 'params.npz') for name in FINISHED}


def test_a_model_of_another_storage_dtype_is_exported_again(report, grid,
                                                            tmp_path):
  out, _, _ = report
  root, data, _ = grid
  shutil.copytree(out / 'models', tmp_path / 'models')
  record_path = tmp_path / 'models' / 'vae_seed0' / 'release.json'
  record = json.loads(record_path.read_text())
  record_path.write_text(json.dumps(dict(record, storage_dtype='bfloat16')))
  runs = [run for run in paper_report.grid_runs(root, MNIST.rows,
                                                0) if run.row.name == 'vae']
  for storage_dtype, kept in (('auto', True), ('float32', False)):
    lines = []
    paper_report.export_models(
        runs, str(tmp_path), data=data, log=lines.append,
        settings=dataclasses.replace(SMALL, storage_dtype=storage_dtype))
    assert any('is up to date' in line for line in lines) == kept
  assert json.loads(record_path.read_text())['storage_dtype'] == 'float32'


def test_a_row_whose_run_is_gone_is_read_from_its_released_model(
    report, grid, tmp_path):
  # The machine that trained a row is gone, its release is committed: the
  # report still shows the row, from the released model and its metrics.
  out, _, _ = report
  root, data, data_dir = grid
  shutil.copytree(root, tmp_path / 'root', ignore=shutil.ignore_patterns(
      'data'))
  shutil.copytree(out, tmp_path / 'out')
  release_dir = tmp_path / 'out' / 'models' / 'jmvae_kl_0.1_seed0'
  assert (release_dir / 'metrics.jsonl').read_text() == (
      root / 'jmvae_kl_0.1' / 'seed0' / 'metrics.jsonl').read_text()
  shutil.rmtree(tmp_path / 'root' / 'jmvae_kl_0.1' / 'seed0' / 'checkpoints')
  (tmp_path / 'out' / 'fig7_generation.png').unlink()
  (tmp_path / 'out' / 'learning_curves.png').unlink()
  lines = []
  paths = paper_report.write_paper_report(
      tmp_path / 'root', tmp_path / 'out', settings=SMALL, data=data,
      data_dir=str(data_dir), classifier_config=CLASSIFIER, log=lines.append)
  assert (f'JMVAE-kl, alpha=0.1: finished (1 epoch), read from its released '
          f'model {release_dir}') in lines
  assert f'models: {release_dir} is the released model; its run is gone' in (
      lines)
  assert os.path.isfile(paths['Fig. 7']) and os.path.isfile(
      paths['learning curves'])
  eq9 = json.loads((tmp_path / 'out' / 'eq9_readings.json').read_text())
  results = json.loads((release_dir / 'results.json').read_text())
  assert eq9['jmvae_kl_0.1']['tables'] == results['conditional_single']
  accuracy = json.loads((tmp_path / 'out' / 'label_accuracy.json').read_text())
  assert sorted(accuracy) == sorted(GENERATORS + ('classifier',))
  picture = cv2.imread(paths['learning curves'], cv2.IMREAD_GRAYSCALE)
  assert picture.shape == (280 + 60, 330 * 4)  # Its curve is still drawn.


def test_read_curves_pairs_epochs_with_values(tmp_path):
  records = [{'epoch': 1, 'loss': 3.0},
             {'epoch': 2, 'curve_joint': -90.0, 'curve_marginal_multiple': -89},
             {'epoch': 4, 'curve_joint': -88.5, 'curve_marginal_multiple': -88}]
  (tmp_path / 'metrics.jsonl').write_text(
      '\n'.join(json.dumps(r) for r in records) + '\n')
  curves = grid_curves.read_curves(str(tmp_path))
  assert sorted(curves) == ['joint', 'marginal_multiple']
  np.testing.assert_array_equal(curves['joint'][0], [2, 4])
  np.testing.assert_array_equal(curves['joint'][1], [-90.0, -88.5])
  assert grid_curves.read_curves(str(tmp_path / 'none')) == {}


def test_the_binary_writes_the_report_and_refuses_bad_flags(grid, tmp_path):
  root, _, data_dir = grid
  result = run_module(
      'experiments.paper_report', f'--root={root}', f'--out_dir={tmp_path}',
      '--rows=vae,jmvae_kl_1', f'--data_dir={data_dir}', '--noverify_data',
      *SMALL_FLAGS)
  assert result.returncode == 0, result.stderr
  assert sorted(os.listdir(tmp_path)) == [
      'learning_curves.png', 'models', 'paper_report.md']
  assert os.listdir(tmp_path / 'models') == ['vae_seed0']
  assert 'JMVAE-kl, alpha=1: unfinished (epoch 1 of 2)' in result.stdout
  assert_one_line_error(
      run_module('experiments.paper_report', f'--root={tmp_path}/none'),
      'error: --root=')
  assert_one_line_error(
      run_module('experiments.paper_report', f'--root={root}', '--eq9_k=0'),
      'error: --eq9_k must be >= 1, got 0')


def test_bad_settings_are_refused():
  with pytest.raises(UserError, match='--label_samples must be >= 1, got 0'):
    paper_report.ReportSettings(label_samples=0)
  with pytest.raises(UserError, match='--storage_dtype'):
    paper_report.ReportSettings(storage_dtype='float16')


def test_rows_of_different_pixel_scales_are_refused(grid, tmp_path):
  # A report's rows share one test set: one --root per MNIST pixel scale.
  root, data, data_dir = grid
  shutil.copytree(root, tmp_path / 'root', ignore=shutil.ignore_patterns(
      'data'))
  config_path = tmp_path / 'root' / 'vae' / 'seed0' / 'config.json'
  config = json.loads(config_path.read_text())
  config_path.write_text(json.dumps(dict(config, pixel_scale=255)))
  with pytest.raises(UserError, match=r'different --pixel_scale \(\[255, 256\]\)'):
    paper_report.write_paper_report(
        tmp_path / 'root', tmp_path / 'out', settings=SMALL,
        data_dir=str(data_dir), classifier_config=CLASSIFIER,
        log=lambda _: None)
