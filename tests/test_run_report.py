"""report.md: settings, bounds beside the paper's, wall times, figure links."""

import dataclasses
import json
import os
import re

import numpy as np
import pytest

from jmvae_jax.errors import UserError
from jmvae_jax.report import run_report
from jmvae_jax.tasks.celeba.config import CelebAConfig
from jmvae_jax.tasks.celeba.tables import CELEBA
from jmvae_jax.tasks.mnist.config import Config
from jmvae_jax.tasks.mnist.tables import MNIST
from tests.tensorboard_events import scalars

RESULTS = {'model': 'jmvae_kl', 'alpha': 0.1, 'epoch': 2, 'eval_k': 1000,
           'num_test_examples': 10000, 'eval_seconds': 330.0,
           'test_elbo': -99.5, 'marginal_multiple': -94.69,
           'marginal_single': -94.38, 'conditional_multiple': -92.0,
           'conditional_single': -130.25, 'joint': -94.78}


def _run(tmp_path, config, results=RESULTS, figures=()):
  (tmp_path / 'config.json').write_text(json.dumps(dataclasses.asdict(config)))
  if results is not None:
    (tmp_path / 'results.json').write_text(json.dumps(results))
  records = [{'epoch': e, 'loss': 120.0 - e, 'seconds': 9.0 + e,
              'images_per_second': 5000.0} for e in (1, 2)]
  (tmp_path / 'metrics.jsonl').write_text(
      ''.join(json.dumps(r) + '\n' for r in records))
  for name in figures:
    (tmp_path / 'figures').mkdir(exist_ok=True)
    (tmp_path / 'figures' / name).write_bytes(b'png')
  return tmp_path


def _table_row(text, key):
  (line,) = [l for l in text.splitlines() if l.startswith(f'| `{key}`')]
  # Cells split at bars that are not escaped (\| inside a cell).
  return [cell.strip() for cell in re.split(r'(?<!\\)\|', line.strip('|'))]


def test_report_puts_the_papers_number_beside_each_bound(tmp_path):
  config = Config(model='jmvae_kl', alpha=0.1, epochs=2, warmup_epochs=1)
  path = run_report.write_report(_run(tmp_path, config), MNIST)
  assert path == str(tmp_path / 'report.md')
  text = (tmp_path / 'report.md').read_text()
  assert text.startswith(f'# Run report: {tmp_path.name}\n')
  assert '**jmvae_kl (alpha 0.1)**, 2 of 2 epochs, seed 0.' in text
  # Table 1 of the paper, JMVAE-kl with alpha = 0.1.
  for key, ours, paper in (('marginal_multiple', '-94.69', '-86.86'),
                           ('marginal_single', '-94.38', '-86.73'),
                           ('conditional_single', '-130.25', '-126')):
    row = _table_row(text, key)
    assert row[1:] == [ours, paper, f'{float(ours) - float(paper):+.2f}']
  assert _table_row(text, 'test_elbo')[1:] == ['-99.50', '', '']
  assert not [l for l in text.splitlines() if l.startswith('| `eval_k`: ')]
  assert '500 epochs' in text  # The paper's budget is stated.
  # Wall times: 10 s + 11 s of training, 330 s of evaluation.
  assert ('- training: 21s over 2 epochs (10.5 s per epoch, 5000 images/s'
          in text)
  assert '- evaluation: 5m30s (k = 1000, 10000 test examples)' in text
  assert 'None yet: `python -m experiments.figures' in text
  # Every setting is listed.
  for name, value in dataclasses.asdict(config).items():
    assert f'| `{name}` | `{json.dumps(value)}` |' in text


def test_a_mean_without_its_outliers_is_named_beside_the_bound(tmp_path):
  config = Config(model='jmvae_kl', alpha=0.1, epochs=2, warmup_epochs=1)
  rest = RESULTS['joint'] + float(np.random.default_rng().uniform(0.31, 2))
  results = {**RESULTS, 'joint/without_outliers': rest}
  run_report.write_report(_run(tmp_path, config, results), MNIST)
  text = (tmp_path / 'report.md').read_text()
  (name, ours, paper, difference) = _table_row(
      text, 'joint/without_outliers')
  assert name == ('`joint/without_outliers`: log p(x,w), without the 0.1% of '
                  'test examples farthest from the median, which move its '
                  'mean by more than 0.3 nats')
  assert (ours, paper, difference) == (f'{rest:.2f}', '', '')
  assert _table_row(text, 'joint')[1:3] == ['-94.78', '-86.93']


def test_report_links_the_figures_once_drawn(tmp_path):
  run = _run(tmp_path, Config(), figures=('fig7_generation.png',
                                          'fig3_latents.png'))
  text = open(run_report.write_report(run)).read()
  assert ('- [fig3_latents.png](figures/fig3_latents.png)\n'
          '- [fig7_generation.png](figures/fig7_generation.png)\n') in text


@pytest.mark.parametrize('model, alpha, found', [
    ('vae', 0.1, {'marginal_single': -86.91}),  # alpha plays no part.
    ('jmvae_kl', 1.0, {'marginal_multiple': -89.20}),
    ('jmvae_kl', 0.3, {}),  # The paper has no JMVAE-kl at alpha 0.3.
])
def test_paper_numbers_follow_model_and_alpha(model, alpha, found):
  numbers, budget = MNIST.paper_numbers({'model': model, 'alpha': alpha})
  assert found.items() <= numbers.items() and bool(numbers) == bool(found)
  assert bool(budget) == bool(found)


# What a CelebA run writes to results.json.
CELEBA_RESULTS = {'model': 'jmvae_gan', 'alpha': 0.1, 'epoch': 2, 'eval_k': 10,
                  'eval_prior_samples': 1000, 'image_log_prob': 'channel_mean',
                  'num_test_examples': 19190, 'eval_seconds': 60.0,
                  'marginal_multiple': -4150.5,
                  'marginal_single': -4151.25,
                  'conditional_multiple': -4140.0,
                  'conditional_single': -4200.0, 'joint': -4160.0}


def test_celeba_report_puts_table_2_beside_each_bound(tmp_path):
  config = CelebAConfig(model='jmvae_gan', alpha=0.1, epochs=2)
  text = open(run_report.write_report(
      _run(tmp_path, config, CELEBA_RESULTS), CELEBA)).read()
  assert '**jmvae_gan (alpha 0.1)**, 2 of 2 epochs, seed 0.' in text
  # Table 2 of the paper, JMVAE-GAN.
  for key, ours, paper in (('marginal_multiple', '-4150.50', '-4141'),
                           ('marginal_single', '-4151.25', '-4144'),
                           ('conditional_multiple', '-4140.00', '-4130')):
    row = _table_row(text, key)
    assert row[1:] == [ours, paper, f'{float(ours) - float(paper):+.2f}']
  for key, ours in (('conditional_single', '-4200.00'),
                    ('joint', '-4160.00')):
    assert _table_row(text, key)[1:] == [ours, '', '']
  # The evaluation's settings are no bounds.
  bounds = text.split('## Test bounds')[1].split('## Wall time')[0]
  assert '`eval_prior_samples`' not in bounds and '`eval_k`' not in bounds
  assert 'channel_mean' in bounds  # The paper's budget is stated.
  assert '- evaluation: 1m00s (k = 10, 19190 test examples)' in text


def test_celeba_bounds_on_another_scale_get_no_paper_numbers(tmp_path):
  config = CelebAConfig(model='jmvae_gan', alpha=0.1, image_log_prob='sum')
  text = open(run_report.write_report(_run(
      tmp_path, config, dict(CELEBA_RESULTS, image_log_prob='sum')),
      CELEBA)).read()
  assert _table_row(text, 'marginal_multiple')[1:] == ['-4150.50', '', '']
  assert CELEBA.paper_numbers(dataclasses.asdict(config)) == ({}, '')


def test_celeba_runs_get_table_2(tmp_path):
  numbers, _ = CELEBA.paper_numbers(
      {'model': 'jmvae_gan', 'alpha': 0.1, 'image_log_prob': 'channel_mean'})
  assert numbers['marginal_multiple'] == -4141.0
  numbers, _ = CELEBA.paper_numbers(
      {'model': 'jmvae_kl', 'alpha': 0.1, 'image_log_prob': 'channel_mean'})
  assert numbers == {}  # Table 2 has GAN models only.


def test_record_results_writes_results_test_scalars_and_report(tmp_path):
  run = _run(tmp_path, Config(model='jmvae_kl', alpha=0.1, epochs=2),
             results=None)
  run_report.record_results(run, RESULTS, MNIST)
  assert json.loads((run / 'results.json').read_text()) == RESULTS
  assert scalars(run)['test/joint'] == [(2, pytest.approx(-94.78))]
  assert _table_row((run / 'report.md').read_text(), 'joint')[1] == '-94.78'


def test_record_results_refuses_non_finite_results(tmp_path):
  with pytest.raises(UserError, match='not finite'):
    run_report.record_results(tmp_path, dict(RESULTS, joint=float('nan')))
  assert not os.listdir(tmp_path)


def test_a_run_not_evaluated_yet_says_so(tmp_path):
  text = open(run_report.write_report(
      _run(tmp_path, Config(), results=None))).read()
  assert 'Not evaluated yet: results.json is missing.' in text
  assert '- training: 21s over 2 epochs' in text


def test_coherence_and_accuracies_are_fractions_beside_the_bounds(tmp_path):
  results = dict(RESULTS, **{'coherence/label->image': 0.70214,
                             'classifier_accuracy/m0': 0.975,
                             'separability_given_1': 0.4432})
  text = open(run_report.write_report(
      _run(tmp_path, Config(model='jmvae_kl', alpha=0.1, epochs=2), results),
      MNIST)).read()
  bounds = text.split('## Test bounds')[1].split('## Coherence')[0]
  fractions = text.split('## Coherence')[1].split('## Wall time')[0]
  assert '`marginal_multiple`' in bounds and 'coherence' not in bounds
  assert _table_row(fractions, 'coherence/label->image')[1:] == ['0.702']
  assert _table_row(fractions, 'classifier_accuracy/m0')[1:] == ['0.975']
  assert _table_row(fractions, 'separability_given_1')[1:] == ['0.443']


def _curve(rng, epochs=100):
  """Training records: a fast early fall, then a slow one, with noise."""
  records = []
  for epoch in range(1, epochs + 1):
    kl = 25.0 + 40.0 / epoch + rng.normal(0, 0.2)
    recon = 66.0 + 30.0 / epoch + rng.normal(0, 0.2)
    records.append({'epoch': epoch, 'loss': kl + recon, 'kl_prior': kl,
                    'recon/image': recon, 'kl_weight': 1.0, 'seconds': 10.0,
                    'images_per_second': 6000.0 + rng.normal(0, 500),
                    'curve_joint': -90.0})
  return records


def test_a_loss_spike_is_reported_with_the_term_that_rose():
  rng = np.random.default_rng()
  records = _curve(rng)
  assert run_report.loss_spikes(records) == []  # Falling fast is no spike.
  spike = int(rng.integers(10, 90))
  jump = float(rng.uniform(60, 1e6))
  records[spike - 1]['kl_prior'] += jump
  records[spike - 1]['loss'] += jump
  (found,) = run_report.loss_spikes(records)
  around = [r['loss'] for r in records[spike - 6:spike - 1] + records[spike:spike + 5]]
  assert found == (spike, records[spike - 1]['loss'], float(np.median(around)),
                   'kl_prior')
  # A rise under half the loss is no spike.
  records[spike - 1]['loss'] -= jump - 40.0
  assert run_report.loss_spikes(records) == []
  # The last epoch, with none after it, is held to the epochs before it.
  records[-1]['recon/image'] += jump
  records[-1]['loss'] += jump
  before = [r['loss'] for r in records[-6:-1]]
  assert run_report.loss_spikes(records) == [
      (len(records), records[-1]['loss'], float(np.median(before)),
       'recon/image')]
  records[-1]['loss'] -= jump - 40.0
  assert run_report.loss_spikes(records) == []


def test_report_lists_loss_spikes_or_says_there_were_none(tmp_path):
  rng = np.random.default_rng()
  run = _run(tmp_path, Config(), results={**RESULTS, 'epoch': 100})
  records = _curve(rng)
  (run / 'metrics.jsonl').write_text(
      ''.join(json.dumps(r) + '\n' for r in records))
  text = run_report.render_report(str(run))
  assert "## Loss spikes\n\nNone: no epoch's mean training loss rose" in text
  records[49]['kl_prior'] += 500.0
  records[49]['loss'] += 500.0
  (run / 'metrics.jsonl').write_text(
      ''.join(json.dumps(r) + '\n' for r in records))
  text = run_report.render_report(str(run))
  assert f'| 50 | {records[49]["loss"]:.2f} |' in text
  assert text.split('| 50 |')[1].splitlines()[0].endswith('| `kl_prior` |')
  assert 'the last' not in text
  records[-1]['kl_prior'] += 500.0
  records[-1]['loss'] += 500.0
  (run / 'metrics.jsonl').write_text(
      ''.join(json.dumps(r) + '\n' for r in records))
  text = run_report.render_report(str(run))
  assert f'| 100 (the last) | {records[-1]["loss"]:.2f} |' in text
  assert 'Epoch 100 is the last recorded, measured against the epochs before' in text


def test_report_lists_the_warnings_training_recorded(tmp_path):
  rng = np.random.default_rng()
  run = _run(tmp_path, Config(), results={**RESULTS, 'epoch': 100})
  records = _curve(rng)
  epoch = int(rng.integers(20, 100))
  records[epoch - 1]['warning'] = 'kl_prior 9e+03 is 300x its median 30'
  (run / 'metrics.jsonl').write_text(
      ''.join(json.dumps(r) + '\n' for r in records))
  text = run_report.render_report(str(run))
  # The loss rose too little for a spike; the term's warning is still shown.
  assert "None: no epoch's mean training loss rose" in text
  section = text.split('## Loss spikes')[1].split('## Figures')[0]
  assert 'Warnings training wrote as it went' in section
  assert (f'- epoch {epoch}: kl_prior 9e+03 is 300x its median 30'
          in section.splitlines())
  del records[epoch - 1]['warning']
  (run / 'metrics.jsonl').write_text(
      ''.join(json.dumps(r) + '\n' for r in records))
  assert 'Warnings training' not in run_report.render_report(str(run))
