"""The Tables 1/3 runner on a tiny budget: every row and column gets filled."""

import csv
import dataclasses
import json
import os

import numpy as np
import pytest

from jmvae_jax import models
from jmvae_jax.errors import UserError
from jmvae_jax.report import comparison, tables
from jmvae_jax.tasks.mnist import grid
from jmvae_jax.tasks.mnist.config import Config
from jmvae_jax.tasks.mnist.experiment import train_and_evaluate
from jmvae_jax.tasks.mnist.tables import MNIST, ROWS_BY_NAME
from jmvae_jax.training.workdir import WorkdirInUse, locked
from tests.synthetic import labelled_blobs

TINY = Config(epochs=1, warmup_epochs=1, batch_size=50, latent_dim=4,
              hidden_width=16, eval_k=3, eval_prior_samples=5,
              eval_batch_size=50, eval_chunk_size=3)


@pytest.mark.slow  # 14 tiny runs, each compiling its own step: minutes.
def test_tiny_grid_fills_every_cell_and_skips_finished_runs(tmp_path):
  data = labelled_blobs(num_train=100, num_test=50)
  messages = []
  tables.run_grid(str(tmp_path), MNIST.rows, [0, 1], TINY,
                  train=train_and_evaluate, data=data, log=messages.append)
  paths = tables.write_tables(MNIST, str(tmp_path), str(tmp_path / 'out'),
                              MNIST.rows, [0, 1], note='tiny budget')
  # The tiny runs measure no coherence (no classifier): its table is left out;
  # the targets are checked beside the paper's tables, and every paper cell
  # is given seed by seed.
  paper_tables = [table for table in MNIST.tables if table.from_paper]
  assert sorted(os.path.basename(path) for path in paths) == sorted(
      f'{stem}.{suffix}' for stem in [t.stem for t in paper_tables]
      + ['targets', 'seeds'] for suffix in ('md', 'csv'))
  with open(tmp_path / 'out' / 'seeds.csv') as f:
    by_seed = list(csv.reader(f))[1:]
  assert len(by_seed) == len(MNIST.paper)
  assert all(line[3] and line[4] and ' ± ' in line[5] for line in by_seed)

  for table in paper_tables:
    with open(tmp_path / 'out' / f'{table.stem}.csv') as f:
      lines = list(csv.reader(f))
    header, body = lines[0], lines[1:]
    # Every row the paper reports for this table is present, every paper cell
    # has ours and a difference beside it, and two seeds give mean ± std.
    expected_rows = {row.label for row in MNIST.rows
                     if any((row.name, key) in MNIST.paper
                            for _, key in table.columns)}
    assert {line[0] for line in body} == expected_rows
    for line in body:
      for i in range(1, len(header), 3):
        paper, ours, difference = line[i:i + 3]
        if paper:
          assert ' ± ' in ours and difference.startswith(('+', '-')), line
    markdown = (tmp_path / 'out' / f'{table.stem}.md').read_text()
    assert markdown.startswith(f'### {table.title}') and 'tiny budget' in markdown

  # A second call finds every run finished and trains nothing.
  messages.clear()
  tables.run_grid(str(tmp_path), MNIST.rows, [0, 1], TINY,
                  train=train_and_evaluate, data=data, log=messages.append)
  assert len(messages) == 2 * len(MNIST.rows)
  assert all(m.endswith('finished, skipped') for m in messages)

  # A larger budget for one row resumes that row only.
  more = dataclasses.replace(TINY, epochs=2)
  messages.clear()
  tables.run_grid(str(tmp_path), [ROWS_BY_NAME['cvae']], [0], more,
                  train=train_and_evaluate, data=data, log=messages.append)
  results = json.loads((tmp_path / 'cvae' / 'seed0' / 'results.json').read_text())
  assert results['epoch'] == 2
  assert any('resuming from the checkpoint after epoch 1' in m for m in messages)


def _fake_train(config, workdir, *, data, log):
  """Stands in for train_and_evaluate: writes a results.json, trains nothing."""
  del data, log
  os.makedirs(workdir, exist_ok=True)
  results = {'model': config.model, 'alpha': config.alpha,
             'epoch': config.epochs, 'eval_k': config.eval_k,
             'marginal_single': -100.0 - config.seed}
  with open(os.path.join(workdir, 'results.json'), 'w') as f:
    json.dump(results, f)
  return results


def _locking_fake_train(config, workdir, *, data, log):
  """_fake_train in a locked workdir, as train_and_evaluate runs."""
  os.makedirs(workdir, exist_ok=True)
  with locked(workdir):
    return _fake_train(config, workdir, data=data, log=log)


def test_a_run_another_process_trains_stops_the_grid_unless_skipped(tmp_path):
  rows = [ROWS_BY_NAME['vae'], ROWS_BY_NAME['cvae']]
  busy = tables.run_dir(str(tmp_path), rows[0], 1)
  os.makedirs(busy)
  with locked(busy):  # Another launch of the same grid is training VAE seed 1.
    with pytest.raises(WorkdirInUse, match='in use by another run'):
      tables.run_grid(str(tmp_path), rows, [0, 1], TINY,
                      train=_locking_fake_train, log=lambda _: None)
    messages = []
    tables.run_grid(str(tmp_path), rows, [0, 1], TINY,
                    train=_locking_fake_train, log=messages.append,
                    skip_busy=True)
  # The first call trained VAE seed 0, then stopped at the busy run.
  assert messages[0] == 'VAE, seed 0: finished, skipped'
  busy_lines = [m for m in messages if m.startswith('VAE, seed 1')]
  assert len(busy_lines) == 2  # 'training in ...', then the skip.
  assert busy_lines[1].startswith('VAE, seed 1: another process is training '
                                  f'it (process {os.getpid()} on ')
  assert busy_lines[1].endswith(', skipped')
  # The other runs were trained; the busy one was left to its owner.
  finished = {(row.name, seed) for row in rows for seed in (0, 1)
              if os.path.exists(os.path.join(
                  tables.run_dir(str(tmp_path), row, seed), 'results.json'))}
  assert finished == {('vae', 0), ('cvae', 0), ('cvae', 1)}


def test_a_run_finished_by_another_process_meanwhile_is_not_retrained(tmp_path):
  rows = [ROWS_BY_NAME['vae'], ROWS_BY_NAME['cvae']]
  trained = []

  def train_and_finish_the_next(config, workdir, *, data, log):
    # While this run trains, another process finishes CVAE seed 0.
    trained.append((config.model, config.seed))
    _fake_train(dataclasses.replace(config, model='cvae'),
                tables.run_dir(str(tmp_path), rows[1], 0), data=data, log=log)
    return _fake_train(config, workdir, data=data, log=log)

  messages = []
  tables.run_grid(str(tmp_path), rows, [0], TINY,
                  train=train_and_finish_the_next, log=messages.append)
  assert trained == [('vae', 0)]
  assert 'CVAE, seed 0: finished by another process, skipped' in messages
  # The progress line after VAE counts the run the other process finished.
  (progress,) = [m for m in messages if m.startswith('grid: ')]
  assert progress.startswith('grid: 2 of 2 runs finished, 1 trained here in ')


def test_progress_line_counts_runs_and_extrapolates_the_mean_run_time():
  assert tables.progress_line(1, 4, 1, 90.0) == (
      'grid: 1 of 4 runs finished, 1 trained here in 1m30s, ETA 4m30s')
  assert tables.progress_line(3, 3, 3, 4000.0).endswith('ETA 0s')
  # Another process finished two runs meanwhile: four are left, not five.
  assert tables.progress_line(3, 7, 1, 90.0, shared=True) == (
      'grid: 3 of 7 runs finished, 1 trained here in 1m30s, ETA 6m00s if no '
      'other process shared the rest')


def test_grid_reports_progress_and_where_it_wrote_the_tables(tmp_path):
  rows = [ROWS_BY_NAME['vae'], ROWS_BY_NAME['cvae']]
  _fake_train(dataclasses.replace(TINY, model='vae', seed=0),
              tables.run_dir(str(tmp_path), rows[0], 0), data=None, log=None)
  messages = []
  out_dir = tmp_path / 'out'
  paths = tables.reproduce(MNIST, TINY, rows, [0, 1], train=_fake_train,
                           root=str(tmp_path),
                           out_dir=str(out_dir), log=messages.append)
  # One run was finished already: the other three count as the grid.
  assert messages[0] == 'VAE, seed 0: finished, skipped'
  started = [m for m in messages if ': training in ' in m]
  assert [m.rsplit('(', 1)[1] for m in started] == [
      'run 1 of 3)', 'run 2 of 3)', 'run 3 of 3)']
  progress = [m for m in messages if m.startswith('grid: ')]
  assert [m.split(', ')[0] for m in progress] == [
      f'grid: {i} of 3 runs finished' for i in (1, 2, 3)]
  assert progress[-1].endswith('ETA 0s')
  # Last, every file written, as absolute paths that exist. VAE and CVAE have
  # no joint bound and no run measured coherence: those tables, empty, are
  # not written; their targets are checked, and with two seeds each bound is
  # given seed by seed.
  written = [str(out_dir / f'{stem}.{suffix}')
             for stem in ('table1_marginal', 'table1_conditional', 'targets',
                          'seeds')
             for suffix in ('md', 'csv')] + [str(out_dir / 'budget.json')]
  assert not any(os.path.exists(out_dir / f'{stem}.md')
                 for stem in ('table3_joint', 'coherence'))
  assert paths == written[:-1]
  assert messages[-len(written) - 1] == (
      f'wrote the tables (Markdown and CSV) and the budget into {out_dir}:')
  assert messages[-len(written):] == [f'  {path}' for path in written]
  assert all(os.path.isfile(path) for path in written)
  # This call trained: its wall time is in the budget.
  budget = json.loads((out_dir / 'budget.json').read_text())
  assert 0 < budget['wall_seconds'] < 3600


@pytest.mark.slow  # 6 tiny runs and 2 grids: about 3 minutes.
def test_fresh_runs_train_as_one_program_per_model_type(tmp_path):
  data = labelled_blobs(num_train=100, num_test=50)
  rows = [ROWS_BY_NAME[name]
          for name in ('jmvae_kl_0.1', 'jmvae_kl_1', 'vae')]
  messages = []
  tables.run_grid(str(tmp_path), rows, [0, 1], TINY,
                  train=train_and_evaluate, train_grid=grid.train_grid,
                  data=data, log=messages.append, as_grids=True)
  assert 'training 4 jmvae_kl runs as one program' in messages
  assert 'training 2 vae runs as one program' in messages
  grids = sorted(p.split('-')[0] for p in os.listdir(tmp_path / '_grids'))
  assert grids == ['jmvae_kl', 'vae']
  for row in rows:
    for seed in (0, 1):
      run = tmp_path / row.name / f'seed{seed}'
      results = json.loads((run / 'results.json').read_text())
      assert results['model'] == row.model and results['epoch'] == 1
      config = json.loads((run / 'config.json').read_text())
      assert (config['alpha'], config['seed']) == (row.alpha, seed)
      assert [json.loads(l)['epoch'] for l in
              (run / 'metrics.jsonl').read_text().splitlines()] == [1]


def test_coherence_is_tabulated_without_paper_columns(tmp_path):
  values = {('jmvae_kl_0.1', 0): 0.7, ('jmvae_kl_0.1', 1): 0.72,
            ('cvae', 0): 0.951}
  for (row, seed), value in values.items():
    workdir = tables.run_dir(str(tmp_path), ROWS_BY_NAME[row], seed)
    os.makedirs(workdir)
    with open(os.path.join(workdir, 'results.json'), 'w') as f:
      json.dump({'coherence/label->image': value, 'marginal_single': -90.0}, f)
  tables.write_tables(MNIST, str(tmp_path), str(tmp_path / 'out'),
                      [ROWS_BY_NAME['cvae'], ROWS_BY_NAME['jmvae_kl_0.1']],
                      [0, 1])
  with open(tmp_path / 'out' / 'coherence.csv') as f:
    lines = list(csv.reader(f))
  assert lines == [
      ['model', 'label -> image', 'image -> label', 'unconditional'],
      ['CVAE', '0.951 (1 of 2 seeds)', '', ''],
      ['JMVAE-kl, alpha=0.1', '0.710 ± 0.014', '', '']]


def test_the_successors_run_only_when_named_and_have_no_paper_cells(tmp_path):
  # The binary's default rows are the paper's seven; --rows adds the others.
  assert [row.name for row in MNIST.rows] == [
      'vae', 'cvae', 'cmma', 'jmvae_zero', 'jmvae_kl_0.01', 'jmvae_kl_0.1',
      'jmvae_kl_1']
  rows = tables.select_rows(MNIST, ['jmvae_zero', 'mvae', 'mmvae', 'mopoe'])
  tables.reproduce(MNIST, TINY, rows, [0], train=_fake_train,
                   root=str(tmp_path), out_dir=str(tmp_path / 'out'),
                   log=lambda _: None)
  with open(tmp_path / 'out' / 'table1_marginal.csv') as f:
    lines = list(csv.reader(f))
  assert [line[0] for line in lines[1:]] == ['JMVAE-zero', 'MVAE', 'MMVAE',
                                             'MoPoE']
  single = lines[0].index('single: paper')
  assert lines[1][single:single + 3] == ['-86.89', '-100.00', '-13.11']
  for line in lines[2:]:
    assert line[single:single + 3] == ['', '-100.00', '']
  with pytest.raises(UserError, match='unknown --rows'):
    tables.select_rows(MNIST, ['mixture'])


def test_rows_carry_the_names_readers_know():
  assert [(row.name, row.label) for row in MNIST.rows] == [
      ('vae', 'VAE'), ('cvae', 'CVAE'), ('cmma', 'CMMA'),
      ('jmvae_zero', 'JMVAE-zero'), ('jmvae_kl_0.01', 'JMVAE-kl, alpha=0.01'),
      ('jmvae_kl_0.1', 'JMVAE-kl, alpha=0.1'), ('jmvae_kl_1', 'JMVAE-kl, alpha=1')]
  assert [MNIST.rows_by_name[name].label for name in ('mvae', 'mmvae', 'mopoe')
          ] == ['MVAE', 'MMVAE', 'MoPoE']
  assert models.display_name('jmvae_zero', alpha=0.1) == 'JMVAE-zero'
  assert models.display_name('a_new_model') == 'a_new_model'


def test_collapsed_bounds_are_written_in_scientific_notation():
  rng = np.random.default_rng()
  ordinary = -float(rng.uniform(80, 200))
  collapsed = -float(rng.uniform(1e6, 1e18))
  conditional = next(t for t in MNIST.tables if t.stem == 'table1_conditional')
  found = {'jmvae_zero': {'conditional_multiple': [ordinary],
                          'conditional_single': [collapsed]}}
  lines = tables.table_rows(conditional, [ROWS_BY_NAME['jmvae_zero']], found,
                            MNIST.paper)
  paper_single = MNIST.paper[('jmvae_zero', 'conditional_single')]
  assert lines[1] == [
      'JMVAE-zero', '-84.64', f'{ordinary:.2f}', f'{ordinary + 84.64:+.2f}',
      f'{paper_single:g}', f'{collapsed:.2e}', f'{collapsed - paper_single:+.2e}']
  # Mean ± standard deviation over seeds, each formatted by its own size.
  assert tables.format_mean([collapsed, 0.0]) == (
      f'{collapsed / 2:.2e} ± {np.std([collapsed, 0.0], ddof=1):.2e}')


def test_targets_and_unfinished_seeds_are_written_beside_the_tables(tmp_path):
  rng = np.random.default_rng()
  values = {'cvae': -83.80 + rng.uniform(-0.6, 0.6, size=3),  # Every seed.
            'cmma': -86.12 + rng.uniform(-0.6, 0.6, size=2)}  # 2 of 3 seeds.
  for row, bounds in values.items():
    for seed, bound in enumerate(bounds):
      workdir = tables.run_dir(str(tmp_path), ROWS_BY_NAME[row], seed)
      os.makedirs(workdir)
      with open(os.path.join(workdir, 'results.json'), 'w') as f:
        json.dump({'conditional_multiple': bound}, f)
  rows = [ROWS_BY_NAME['cvae'], ROWS_BY_NAME['cmma']]
  tables.write_tables(MNIST, str(tmp_path), str(tmp_path / 'out'), rows,
                      [0, 1, 2])

  def ours(bounds, of=''):
    return (f'{np.mean(bounds):.2f} ± {np.std(bounds, ddof=1):.2f}' + of)

  with open(tmp_path / 'out' / 'table1_conditional.csv') as f:
    lines = list(csv.reader(f))
  assert [line[2] for line in lines[1:]] == [
      ours(values['cvae']), ours(values['cmma'], ' (2 of 3 seeds)')]

  # Only the targets whose rows were asked for: two cells and their order.
  with open(tmp_path / 'out' / 'targets.csv') as f:
    lines = list(csv.reader(f))
  held = {row: abs(np.mean(bounds) - paper) <= 0.3
          for (row, bounds), paper in zip(values.items(), (-83.80, -86.12))}
  gap = np.mean(values['cvae']) - np.mean(values['cmma'])
  assert lines == [
      ['target', 'paper', 'ours', 'ours - paper', 'held'],
      ['CVAE, conditional multiple within 0.3 nats of the paper', '-83.80',
       ours(values['cvae']), f'{np.mean(values["cvae"]) + 83.80:+.2f}',
       'yes' if held['cvae'] else 'no'],
      ['CMMA, conditional multiple within 0.3 nats of the paper', '-86.12',
       ours(values['cmma'], ' (2 of 3 seeds)'),
       f'{np.mean(values["cmma"]) + 86.12:+.2f}',
       'yes' if held['cmma'] else 'no'],
      ['CVAE, conditional multiple above CMMA, conditional multiple', '+2.32',
       f'{gap:+.2f}', '', 'yes' if gap > 0 else 'no']]
  markdown = (tmp_path / 'out' / 'targets.md').read_text()
  assert (f'{sum(held.values())} of 2 cell targets held; '
          f'{int(gap > 0)} of 1 order targets held.') in markdown


def test_each_bound_is_written_seed_by_seed(tmp_path):
  rng = np.random.default_rng()
  alpha = {0: {'marginal_multiple': -86.86 + rng.uniform(-1, 1),
               'joint': -86.93 + rng.uniform(-1, 1)},
           2: {'marginal_multiple': -86.86 + rng.uniform(-1, 1),
               'joint': -86.93 + rng.uniform(-1, 1)}}  # Seed 1 not finished.
  vae = {1: {'marginal_single': -86.91 + rng.uniform(-1, 1),
             'test_elbo': -90.0}}  # Not a bound of the paper: no line.
  for row, runs in (('jmvae_kl_0.1', alpha), ('vae', vae)):
    for seed, results in runs.items():
      workdir = tables.run_dir(str(tmp_path), ROWS_BY_NAME[row], seed)
      os.makedirs(workdir)
      with open(os.path.join(workdir, 'results.json'), 'w') as f:
        json.dump(results, f)
  rows = [ROWS_BY_NAME['vae'], ROWS_BY_NAME['jmvae_kl_0.1']]
  tables.write_tables(MNIST, str(tmp_path), str(tmp_path / 'out'), rows,
                      [0, 1, 2])
  with open(tmp_path / 'out' / 'seeds.csv') as f:
    lines = list(csv.reader(f))

  def line(label, key, paper, runs):
    values = [runs[seed][key] for seed in sorted(runs)]
    mean = (f'{np.mean(values):.2f} ± {np.std(values, ddof=1):.2f}'
            if len(values) > 1 else f'{values[0]:.2f}')
    return ([label, key.replace('_', ' '), paper]
            + [f'{runs[seed][key]:.2f}' if seed in runs else ''
               for seed in (0, 1, 2)]
            + [mean, f'{np.mean(values) - float(paper):+.2f}'])

  assert lines == [
      ['model', 'bound', 'paper', 'seed 0', 'seed 1', 'seed 2', 'mean ± sd',
       'mean - paper'],
      line('VAE', 'marginal_single', '-86.91', vae),
      line('JMVAE-kl, alpha=0.1', 'marginal_multiple', '-86.86', alpha),
      line('JMVAE-kl, alpha=0.1', 'joint', '-86.93', alpha)]

  # One seed asks for no spread: no seeds table.
  tables.write_tables(MNIST, str(tmp_path), str(tmp_path / 'one'), rows, [0])
  assert not os.path.exists(tmp_path / 'one' / 'seeds.csv')


def test_a_mean_a_handful_of_test_images_set_is_marked_where_it_is_read(
    tmp_path):
  rng = np.random.default_rng()
  joint = {seed: -86.93 + rng.uniform(-1, 1) for seed in (0, 1)}
  for seed in (0, 1):
    results = {'marginal_multiple': -86.86 + rng.uniform(-1, 1),
               'joint': joint[seed]}
    if seed == 1:  # Its joint is set by a few images: without them, higher.
      results['joint/without_outliers'] = joint[seed] + rng.uniform(0.31, 2)
    workdir = tables.run_dir(str(tmp_path), ROWS_BY_NAME['jmvae_kl_0.1'], seed)
    os.makedirs(workdir)
    with open(os.path.join(workdir, 'results.json'), 'w') as f:
      json.dump(results, f)
  rows = [ROWS_BY_NAME['jmvae_kl_0.1']]
  out = tmp_path / 'out'
  tables.write_tables(MNIST, str(tmp_path), str(out), rows, [0, 1])

  mean = (f'{np.mean(list(joint.values())):.2f} ± '
          f'{np.std(list(joint.values()), ddof=1):.2f}')
  with open(out / 'table3_joint.csv') as f:
    (header, line) = list(csv.reader(f))
  assert line[header.index('joint: ours')] == mean + ' †'
  with open(out / 'table1_marginal.csv') as f:  # Its marginal is not marked.
    assert '†' not in f.read()
  with open(out / 'seeds.csv') as f:
    by_bound = {line[1]: line for line in csv.reader(f)}
  assert by_bound['joint'][3:5] == [f'{joint[0]:.2f}', f'{joint[1]:.2f} †']
  assert '†' not in ''.join(by_bound['marginal multiple'])
  # The pages with a mark say what it means; the others do not.
  for page, marked in (('table3_joint', True), ('seeds', True),
                       ('table1_marginal', False)):
    text = (out / f'{page}.md').read_text()
    assert ('† The 0.1% of test examples farthest from the median move this '
            'mean by more than 0.3 nats' in text) == marked


_REPRODUCTION = os.path.join(os.path.dirname(__file__), '..', 'results',
                             'mnist_paper')
# The reproduction and each ablation beside it: a folder of tables written
# by `experiments.tables --tables_only` from the runs it holds.
_COMMITTED_GRIDS = ['.'] + sorted(
    name for name in os.listdir(_REPRODUCTION) if name.startswith('ablation_'))


def _budget(grid_dir):
  """A committed grid's settings (budget.json less seeds and wall time), and
  its seeds."""
  with open(os.path.join(_REPRODUCTION, grid_dir, 'budget.json')) as f:
    budget = json.load(f)
  budget.pop('wall_seconds', None)
  return budget, budget.pop('seeds')


def _base_of(ablation):
  """The committed grid an ablation is compared with: the one whose settings
  differ from its own in the fewest, the reproduction on a tie (a setting
  missing counts at its default)."""
  settings = MNIST.run_settings(_budget(ablation)[0])
  candidates = [grid for grid in _COMMITTED_GRIDS if grid != ablation]
  return min(candidates, key=lambda grid: sum(
      settings[name] != value for name, value in
      MNIST.run_settings(_budget(grid)[0]).items()))


@pytest.mark.parametrize('grid_dir', _COMMITTED_GRIDS)
def test_the_committed_paper_tables_are_those_of_the_committed_runs(
    grid_dir, tmp_path):
  # Each folder holds every finished run's config.json and results.json: its
  # tables must be what those give, and every run must have trained with the
  # settings its budget.json states, so neither can drift alone. A setting
  # added after a run was written counts at its default, as on resume.
  committed = os.path.join(_REPRODUCTION, grid_dir)
  budget, seeds = _budget(grid_dir)
  rows = [row for row in MNIST.rows
          if os.path.isdir(os.path.join(committed, 'runs', row.name))]
  if grid_dir == '.':  # The reproduction has every row.
    assert [row.name for row in rows] == [row.name for row in MNIST.rows]
  assert rows, f'{committed} holds no runs'
  for row in rows:
    # An ablation may hold more seeds of one row than of another; the tables
    # then say how many seeds each cell has.
    row_seeds = [seed for seed in seeds if os.path.isdir(
        os.path.join(committed, 'runs', row.name, f'seed{seed}'))]
    if grid_dir == '.':  # The reproduction has every seed of every row.
      assert row_seeds == seeds, row.name
    assert row_seeds, f'{row.name} has no run of the seeds {seeds}'
    for seed in row_seeds:
      with open(os.path.join(committed, 'runs', row.name, f'seed{seed}',
                             'config.json')) as f:
        config = MNIST.run_settings(json.load(f))
      assert {name: config[name] for name in budget} == budget, (row.name,
                                                                 seed)
  paths = tables.write_tables(MNIST, os.path.join(committed, 'runs'),
                              str(tmp_path), rows, seeds)
  expected = ['table1_conditional.csv', 'table1_marginal.csv',
              'table3_joint.csv', 'targets.csv']
  if grid_dir != '.':  # An ablation is set against its nearest grid.
    paths += comparison.write_comparison(
        MNIST, os.path.join(_REPRODUCTION, _base_of(grid_dir), 'runs'),
        os.path.join(committed, 'runs'), str(tmp_path), rows, seeds)
    expected.append('comparison.csv')
  written = sorted(os.path.basename(p) for p in paths if p.endswith('.csv'))
  assert set(expected + (['seeds.csv'] if len(seeds) > 1 else [])) <= set(
      written)
  # Runs that measured coherence (with the digit classifier cached) add its
  # table.
  assert set(written) - set(expected) <= {'seeds.csv', 'coherence.csv'}
  assert written == sorted(name for name in os.listdir(committed)
                           if name.endswith('.csv'))
  for name in written:
    with open(os.path.join(committed, name)) as f, open(tmp_path / name) as g:
      assert f.read() == g.read(), name
