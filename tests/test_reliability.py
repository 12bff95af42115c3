"""Reliability: divergence, damaged checkpoints, concurrent runs, changed
settings, cut metrics lines, bad data files and SIGKILL anywhere never cost the
good work already done."""

import dataclasses
import gc
import gzip
import json
import os
import pathlib
import pickle
import shutil
import signal
import subprocess
import sys
import threading
import time
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jmvae_jax import models
from jmvae_jax.errors import UserError
from jmvae_jax.training import elbo
from jmvae_jax.tasks.mnist.config import Config
from jmvae_jax.tasks.mnist.experiment import train_and_evaluate
from jmvae_jax.training import checkpoints as checkpoints_lib
from jmvae_jax.training import run_loop
from jmvae_jax.training import train as train_lib
from jmvae_jax.training import workdir as workdir_lib
from jmvae_jax.training.checkpoints import DIGEST_FILE, Checkpoints
from tests.binaries import ROOT, assert_one_line_error
from tests.synthetic import labelled_blobs

TINY = Config(model='jmvae_kl', epochs=3, warmup_epochs=1, batch_size=50,
              latent_dim=4, hidden_width=32, eval_k=3, eval_prior_samples=10,
              eval_batch_size=50, eval_chunk_size=3)


@pytest.fixture(scope='module')
def data():
  return labelled_blobs(num_train=300, num_test=100)


def _quiet(_):
  pass


def _state(config, workdir):
  checkpoints = Checkpoints(os.path.join(workdir, 'checkpoints'), log=_quiet)
  state = checkpoints.restore_latest(
      elbo.init_state(config.build_model(), config))
  checkpoints.close()
  return state


def _assert_same_params(a, b):
  assert int(a.epoch) == int(b.epoch)
  for x, y in zip(jax.tree.leaves((a.params, a.opt_state)),
                  jax.tree.leaves((b.params, b.opt_state))):
    np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def _metric_lines(workdir):
  path = pathlib.Path(workdir) / 'metrics.jsonl'
  if not path.exists():
    return []
  return [json.loads(line) for line in path.read_text().splitlines()]


# Divergence.


@pytest.mark.parametrize('checkpoint_every, saved', [(1, [1, 2]), (2, [2])])
def test_non_finite_epoch_stops_the_run_and_keeps_the_finite_checkpoints(
    tmp_path, checkpoint_every, saved):
  """A fake epoch turns NaN in epoch 3 at its 5th step."""
  config = dataclasses.replace(TINY, epochs=5)
  state = elbo.init_state(config.build_model(), config)
  steps_per_epoch = 10

  def epoch_fn(state):
    epoch = int(state.epoch) + 1
    bad = epoch == 3
    params = jax.tree.map(lambda p: p * np.nan if bad else p + 1.0,
                          state.params)
    metrics = {'loss': jnp.float32(np.nan if bad else 1.0 / epoch),
               'recon/image': jnp.float32(np.nan if bad else 1.0),
               'kl_prior': jnp.float32(2.0),
               train_lib.FIRST_NONFINITE_STEP: jnp.int32(
                   (epoch - 1) * steps_per_epoch + 4 if bad else -1)}
    return state.replace(params=params, epoch=state.epoch + 1,
                         step=state.step + steps_per_epoch), metrics

  checkpoints = Checkpoints(tmp_path / 'checkpoints', log=_quiet)
  with pytest.raises(UserError) as error:
    run_loop.train_epochs(
        state, epochs=5, train_epoch=epoch_fn, checkpoints=checkpoints,
        metrics_path=str(tmp_path / 'metrics.jsonl'), images_per_epoch=500,
        main_process=True, logged_prefixes=('recon_',),
        checkpoint_every=checkpoint_every, log=_quiet)
  checkpoints.close()
  message = str(error.value)
  assert '\n' not in message
  assert 'diverged in epoch 3' in message and 'step 24' in message
  assert 'loss, recon/image not finite' in message
  assert 'after epoch 2 stays the latest' in message
  assert sorted(int(p) for p in os.listdir(tmp_path / 'checkpoints')) == saved
  restored = _state(config, tmp_path)
  assert int(restored.epoch) == 2
  assert all(np.all(np.isfinite(leaf)) for leaf in jax.tree.leaves(
      restored.params))
  assert [r['epoch'] for r in _metric_lines(tmp_path)] == [1, 2]


def test_a_checkpoint_interval_resumes_to_the_same_bits(tmp_path, data):
  # Saved after epochs 2, 4 and the last (5); a run that lost its last save
  # trains epoch 5 again from epoch 4's and ends where the whole run ended.
  config = dataclasses.replace(TINY, epochs=5, checkpoint_every=2)
  saves = []
  original = Checkpoints.save

  def recording_save(self, state):
    saves.append(int(state.epoch))
    original(self, state)

  with pytest.MonkeyPatch.context() as patch:
    patch.setattr(Checkpoints, 'save', recording_save)
    want = train_and_evaluate(config, str(tmp_path / 'whole'), data=data,
                              log=_quiet)
  assert saves == [2, 4, 5]
  shutil.copytree(tmp_path / 'whole', tmp_path / 'cut')
  shutil.rmtree(tmp_path / 'cut' / 'checkpoints' / '5')
  (tmp_path / 'cut' / 'results.json').unlink()
  lines = []
  got = train_and_evaluate(config, str(tmp_path / 'cut'), data=data,
                           log=lines.append)
  assert 'resuming from the checkpoint after epoch 4' in lines
  assert [line.split('  ')[0] for line in lines if line.startswith('epoch ')
          ] == ['epoch 5/5']
  _assert_same_params(_state(config, tmp_path / 'whole'),
                      _state(config, tmp_path / 'cut'))
  for name in ('marginal_multiple', 'joint', 'conditional_single'):
    assert got[name] == want[name]
  drop = ('seconds', 'images_per_second')
  assert [{k: v for k, v in r.items() if k not in drop}
          for r in _metric_lines(tmp_path / 'cut')] == [
              {k: v for k, v in r.items() if k not in drop}
              for r in _metric_lines(tmp_path / 'whole')]


def test_the_eta_counts_the_time_between_epochs(tmp_path):
  # Training takes no time here and the work after each epoch 1.5 s (as a
  # large checkpoint does on an accelerator): the ETA is the wall time.
  config = dataclasses.replace(TINY, epochs=4)
  state = elbo.init_state(config.build_model(), config)

  def epoch_fn(state):
    return state.replace(epoch=state.epoch + 1), {
        'loss': jnp.float32(1.0), train_lib.FIRST_NONFINITE_STEP: jnp.int32(-1)}

  lines = []
  checkpoints = Checkpoints(tmp_path / 'checkpoints', log=_quiet)
  run_loop.train_epochs(
      state, epochs=4, train_epoch=epoch_fn, checkpoints=checkpoints,
      metrics_path=str(tmp_path / 'metrics.jsonl'), images_per_epoch=500,
      main_process=True, logged_prefixes=(), checkpoint_every=10,
      on_epoch=lambda _: time.sleep(1.5), log=lines.append)
  checkpoints.close()
  etas = [int(line.split('ETA ')[1].rstrip('s')) for line in lines]
  # 3, 2, 1 and 0 epochs left at 1.5 s of wall time each (the training time
  # would give 0s throughout); a loaded machine may add some.
  for eta, left in zip(etas, (3, 2, 1, 0)):
    assert 1.5 * left - 0.5 <= eta <= 2.0 * left + 0.5, etas
  assert all(float(line.split('s (')[0].split()[-1]) < 1.0 for line in lines)


def test_huge_learning_rate_fails_cleanly_with_strict_json(tmp_path, data):
  config = dataclasses.replace(TINY, epochs=4, learning_rate=1e4)
  with pytest.raises(UserError, match=r'training diverged in epoch \d'):
    train_and_evaluate(config, str(tmp_path), data=data, log=_quiet)
  assert not (tmp_path / 'results.json').exists()
  for record in _metric_lines(tmp_path):  # json.loads rejects nothing here,
    assert all(np.isfinite(v) for v in record.values()  # so check values.
               if isinstance(v, float))
  if list((tmp_path / 'checkpoints').iterdir()):
    state = _state(config, tmp_path)
    assert all(np.all(np.isfinite(leaf))
               for leaf in jax.tree.leaves(state.params))


def test_blowup_of_a_term_is_warned_and_recorded():
  history = [{'epoch': e, 'loss': 100.0 - e, 'kl_unimodal/image': 8.0 + 0.1 * e,
              'kl_weight': 0.01 * e, 'recon/label': 0.05} for e in range(1, 12)]
  calm = {'epoch': 12, 'loss': 88.0, 'kl_unimodal/image': 9.3, 'kl_weight': 0.12,
          'recon/label': 0.3}
  assert run_loop.blowup_warnings(calm, history) == []
  spike = dict(calm, **{'kl_unimodal/image': 2e7})
  [warning] = run_loop.blowup_warnings(spike, history)
  assert warning.startswith('kl_unimodal/image 2e+07 is')
  median = np.median([8.0 + 0.1 * e for e in range(2, 12)])  # Epochs 2-11.
  assert f'median {median:.4g} of the last 10 epochs' in warning
  # Any model's terms are watched (MVAE's unimodal ELBOs included), and the
  # bookkeeping fields are not.
  for record in history:
    record['elbo_of/image/kl_prior'] = 3.0
  spike = dict(calm, **{'elbo_of/image/kl_prior': 400.0, 'images': 1e9})
  [warning] = run_loop.blowup_warnings(spike, history)
  assert warning.startswith('elbo_of/image/kl_prior 400 is 133x')


def test_blowup_warning_reaches_metrics_and_log(tmp_path):
  config = TINY
  state = elbo.init_state(config.build_model(), config)

  def epoch_fn(state):
    epoch = int(state.epoch) + 1
    kl = 1e6 if epoch == 6 else 5.0
    return state.replace(epoch=state.epoch + 1), {
        'loss': jnp.float32(kl + 90), 'kl_unimodal/image': jnp.float32(kl),
        train_lib.FIRST_NONFINITE_STEP: jnp.int32(-1)}

  lines = []
  checkpoints = Checkpoints(tmp_path / 'checkpoints', log=_quiet)
  run_loop.train_epochs(
      state, epochs=7, train_epoch=epoch_fn, checkpoints=checkpoints,
      metrics_path=str(tmp_path / 'metrics.jsonl'), images_per_epoch=10,
      main_process=True, logged_prefixes=('kl_',), log=lines.append)
  checkpoints.close()
  records = _metric_lines(tmp_path)
  assert [('warning' in r) for r in records] == [False] * 5 + [True, False]
  assert 'kl_unimodal/image' in records[5]['warning']
  assert any(line.startswith('warning: epoch 6: kl_unimodal/image') for line in lines)


# Damaged checkpoints.


def _array_files(checkpoint_dir):
  return sorted((p for p in pathlib.Path(checkpoint_dir).rglob('*')
                 if p.is_file() and p.parent.name == 'd'),
                key=lambda p: p.stat().st_size)


def _truncate_array_file(checkpoint_dir):
  path = _array_files(checkpoint_dir)[-1]
  path.write_bytes(path.read_bytes()[:path.stat().st_size // 2])


def _empty_metadata(checkpoint_dir):
  (pathlib.Path(checkpoint_dir) / 'default' / '_METADATA').write_text('')


def _flip_a_byte(checkpoint_dir):
  path = _array_files(checkpoint_dir)[-1]
  content = bytearray(path.read_bytes())
  content[len(content) // 2] ^= 0x01
  path.write_bytes(bytes(content))


def _wrong_array_digest(checkpoint_dir):
  path = pathlib.Path(checkpoint_dir) / DIGEST_FILE
  path.write_text(json.dumps(dict(json.loads(path.read_text()),
                                  sha256='0' * 64)))


def _as_an_old_checkpoint(damage):
  """``damage`` done to a checkpoint whose digest covers only its arrays."""
  def damage_old(checkpoint_dir):
    path = pathlib.Path(checkpoint_dir) / DIGEST_FILE
    record = json.loads(path.read_text())
    path.write_text(json.dumps({'sha256': record['sha256']}))
    damage(checkpoint_dir)
  damage_old.__name__ = f'{damage.__name__}_of_an_old_checkpoint'
  return damage_old


# The files' digest catches damage before orbax reads a byte; in an old
# checkpoint, orbax's read fails or the arrays' digest catches what reads
# without error but differs. Which of the two a flipped bit meets depends on
# where in the compressed files it lands, and the files' layout varies from run
# to run (orbax writes them concurrently), so that case accepts either.
@pytest.mark.parametrize('damage, problems', [
    (_truncate_array_file, ['its files do not match']),
    (_empty_metadata, ['its files do not match']),
    (_flip_a_byte, ['its files do not match']),
    (_wrong_array_digest, ['its arrays do not match']),
    (_as_an_old_checkpoint(_truncate_array_file), ['unreadable: ']),
    (_as_an_old_checkpoint(_flip_a_byte),
     ['its arrays do not match', 'unreadable: ']),
])
def test_damaged_latest_checkpoint_falls_back_and_the_run_finishes(
    tmp_path, data, damage, problems):
  straight, damaged = tmp_path / 'straight', tmp_path / 'damaged'
  train_and_evaluate(TINY, str(straight), data=data, log=_quiet)
  train_and_evaluate(dataclasses.replace(TINY, epochs=2), str(damaged),
                     data=data, log=_quiet)
  damage(damaged / 'checkpoints' / '2')
  lines = []
  train_and_evaluate(TINY, str(damaged), data=data, log=lines.append)
  warnings = [line for line in lines if 'is damaged' in line]
  assert len(warnings) == 1 and '\n' not in warnings[0]
  assert warnings[0].startswith('warning: the checkpoint after epoch 2 is '
                                'damaged')
  assert any(problem in warnings[0] for problem in problems), warnings[0]
  assert any('resuming from the checkpoint after epoch 1' in line
             for line in lines)
  # The damaged checkpoint is kept aside, not deleted.
  assert [p.name.split('-')[0]
          for p in (damaged / 'checkpoints_damaged').iterdir()] == ['2']
  # Epoch 2 was retrained exactly: the run ends as if nothing happened.
  _assert_same_params(_state(TINY, straight), _state(TINY, damaged))


def _abandoned_read(name):
  """A coroutine, named ``name``, paused at an await, that raises when closed
  unfinished: what a failed orbax restore leaves of its other array reads."""
  @types.coroutine
  def pause():
    yield

  async def read():
    try:
      await pause()
    except BaseException as error:
      raise Exception('Encountered error while reading array index') from error
  read.__name__ = read.__qualname__ = name
  coroutine = read()
  coroutine.send(None)
  return coroutine


# Restores a run's latest checkpoint, then abandons reads as a failed orbax
# restore does: a TensorStore read that finishes after its event loop closed,
# and a coroutine named as orbax's array read collected unfinished; and one
# coroutine not named so.
_RESTORE_THEN_ABANDON = """
import asyncio, gc, sys
import tensorstore as ts
from jmvae_jax.training import elbo
from jmvae_jax.training.checkpoints import Checkpoints
from tests.test_reliability import TINY, _abandoned_read
checkpoints = Checkpoints(sys.argv[1], log=print)
checkpoints.restore_latest(elbo.init_state(TINY.build_model(), TINY))
checkpoints.close()
promise, read = ts.Promise.new()
async def wait_for_read():
  await read
loop = asyncio.new_event_loop()
task = loop.create_task(wait_for_read())
loop.run_until_complete(asyncio.sleep(0))
loop.close()
promise.set_result(0)
orbax_read = _abandoned_read('_read_array_index_and_device_put')
other = _abandoned_read('some_other_coroutine')
del orbax_read, other
gc.collect()
"""


def test_an_unreadable_checkpoint_is_one_line_not_dozens_of_tracebacks(
    tmp_path, data):
  # Each array read a failed restore abandons prints a traceback through
  # sys.unraisablehook when collected, whenever TensorStore lets go of it.
  # After one line has said the checkpoint is unreadable, those stay quiet;
  # any other exception Python cannot raise is still reported. (In a process
  # of its own: the quieting lasts for the rest of the process.)
  train_and_evaluate(dataclasses.replace(TINY, epochs=2), str(tmp_path),
                     data=data, log=_quiet)
  _as_an_old_checkpoint(_truncate_array_file)(tmp_path / 'checkpoints' / '2')
  result = subprocess.run(
      [sys.executable, '-c', _RESTORE_THEN_ABANDON,
       str(tmp_path / 'checkpoints')],
      cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert result.returncode == 0, result.stderr
  assert result.stdout.count('is damaged (unreadable: ') == 1, result.stdout
  assert ('Exception ignored in: <coroutine object some_other_coroutine'
          in result.stderr), result.stderr
  assert '_read_array_index_and_device_put' not in result.stderr
  assert 'Event loop is closed' not in result.stderr


def test_every_checkpoint_damaged_is_a_one_line_error(tmp_path, data):
  config = dataclasses.replace(TINY, epochs=2)
  train_and_evaluate(config, str(tmp_path), data=data, log=_quiet)
  for epoch in (1, 2):
    _empty_metadata(tmp_path / 'checkpoints' / str(epoch))
  with pytest.raises(UserError, match='every checkpoint in .* is damaged'):
    train_and_evaluate(config, str(tmp_path), data=data, log=_quiet)


# Changed settings, cut metrics lines.


@pytest.mark.parametrize('flag, new', [('alpha', 0.5), ('learning_rate', 3e-3),
                                       ('seed', 7), ('batch_size', 25),
                                       ('train_examples', 200)])
def test_resume_with_a_changed_setting_is_refused(tmp_path, data, flag, new):
  train_and_evaluate(dataclasses.replace(TINY, epochs=1), str(tmp_path),
                     data=data, log=_quiet)
  old = getattr(TINY, flag)
  with pytest.raises(UserError) as error:
    train_and_evaluate(dataclasses.replace(TINY, **{flag: new}), str(tmp_path),
                       data=data, log=_quiet)
  message = str(error.value)
  assert message.startswith(f'--{flag} differs from the run')
  assert f'it was {old!r}, now {new!r}' in message
  assert 'new --workdir' in message
  # Extending the run stays allowed.
  train_and_evaluate(dataclasses.replace(TINY, epochs=2), str(tmp_path),
                     data=data, log=_quiet)


def test_resume_on_other_data_is_refused(tmp_path, data):
  train_and_evaluate(dataclasses.replace(TINY, epochs=1), str(tmp_path),
                     data=data, log=_quiet)
  other = labelled_blobs(num_train=300, num_test=100, seed=1)
  with pytest.raises(UserError, match='training data differs'):
    train_and_evaluate(TINY, str(tmp_path), data=other, log=_quiet)


def test_cut_metrics_line_is_dropped_with_a_warning(tmp_path, data):
  train_and_evaluate(dataclasses.replace(TINY, epochs=2), str(tmp_path),
                     data=data, log=_quiet)
  path = tmp_path / 'metrics.jsonl'
  text = path.read_text()
  path.write_text(text[:-40])  # The second line loses its end.
  lines = []
  train_and_evaluate(TINY, str(tmp_path), data=data, log=lines.append)
  assert any(line.startswith('warning: dropped line 2 of') for line in lines)
  assert [r['epoch'] for r in _metric_lines(tmp_path)] == [1, 3]



def test_reading_metrics_keeps_the_file_and_cutting_rewrites_it(tmp_path):
  records = [{'epoch': e, 'loss': float(np.random.default_rng().normal())}
             for e in range(1, 5)]
  lines = [json.dumps(r) + '\n' for r in records]
  text = lines[0] + lines[1] + '{"epoch": 3, "lo\n' + lines[3] + lines[2][:-1]
  path = tmp_path / 'metrics.jsonl'
  path.write_text(text)
  told = []
  assert workdir_lib.read_metrics(str(path)) == [records[0], records[1],
                                                 records[3], records[2]]
  assert workdir_lib.read_metrics(str(path), 2, log=told.append) == records[:2]
  assert told == [f'warning: dropped line 3 of {path}, which is cut short or '
                  'damaged']
  assert path.read_text() == text  # Reading never writes.
  assert workdir_lib.cut_metrics(str(path), up_to_epoch=2,
                                 log=told.append) == records[:2]
  assert path.read_text() == lines[0] + lines[1]
  assert workdir_lib.read_metrics(str(tmp_path / 'absent.jsonl')) == []
  workdir_lib.cut_metrics(str(tmp_path / 'absent.jsonl'), up_to_epoch=1)
  assert not (tmp_path / 'absent.jsonl').exists()


# Processes, data files and kills: through the binary.


def _write_pickle(directory, num_train=2000, num_test=100):
  data = labelled_blobs(num_train, num_test)
  split = ((data.train_images, data.train_labels),
           (data.test_images, data.test_labels),
           (data.test_images, data.test_labels))
  with gzip.open(directory / 'mnist.pkl.gz', 'wb') as f:
    pickle.dump(split, f)


def _binary(workdir, data_dir, *flags, verify=False):
  return [sys.executable, '-m', 'experiments.mnist', f'--workdir={workdir}',
          f'--data_dir={data_dir}', '--hidden_width=32', '--latent_dim=4',
          '--batch_size=50', '--eval_k=3', '--eval_prior_samples=10',
          '--eval_batch_size=50', '--warmup_epochs=1',
          *([] if verify else ['--noverify_data']), *flags]


def test_second_process_on_a_running_workdir_is_refused(tmp_path):
  _write_pickle(tmp_path)
  workdir = tmp_path / 'run'
  first = subprocess.Popen(_binary(workdir, tmp_path, '--epochs=200'),
                           cwd=ROOT, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
  try:
    deadline = time.time() + 120
    while not (workdir / 'metrics.jsonl').exists() and time.time() < deadline:
      time.sleep(0.1)
    second = subprocess.run(_binary(workdir, tmp_path, '--epochs=200',
                                    '--alpha=0.5'),
                            cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert_one_line_error(second, f'error: --workdir={workdir} is in use')
    assert f'process {first.pid} on' in second.stderr
    assert first.poll() is None  # The first run goes on, untouched.
    assert json.loads((workdir / 'config.json').read_text())['alpha'] == 0.1
  finally:
    first.kill()
    first.wait()
  # The killed run's lock is stale: the next run takes the workdir over.
  resumed = subprocess.run(_binary(workdir, tmp_path, '--epochs=2'), cwd=ROOT,
                           capture_output=True, text=True, timeout=300)
  assert resumed.returncode == 0, resumed.stderr[-2000:]


def test_runners_checking_one_workdir_at_once_do_not_trip_each_other(tmp_path):
  # Runners launched together (``experiments.tables --skip_busy``) all check
  # the workdir before one of them locks it; each must find it writable.
  errors = []

  def check():
    for _ in range(300):
      try:
        workdir_lib.make_writable_dir(str(tmp_path))
      except UserError as error:
        errors.append(str(error))

  threads = [threading.Thread(target=check) for _ in range(8)]
  for thread in threads:
    thread.start()
  for thread in threads:
    thread.join()
  assert errors == []
  assert os.listdir(tmp_path) == []  # No probe left behind.


def test_data_file_with_a_wrong_sha256_is_refused(tmp_path):
  _write_pickle(tmp_path)
  result = subprocess.run(_binary(tmp_path / 'run', tmp_path, '--epochs=1',
                                  verify=True),
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
  assert_one_line_error(result, f'error: {tmp_path / "mnist.pkl.gz"} has '
                        'SHA-256')
  assert '--noverify_data' in result.stderr


# The kill-point sweep. Each trigger is a moment of the run, watched for from
# outside by polling the workdir and the log every 2 ms; the run is killed with
# SIGKILL there, resumed to the end, and compared with an uninterrupted run.
def _log(workdir):
  path = workdir.parent / f'{workdir.name}.log'
  return path.read_text() if path.exists() else ''


def _after(seconds):
  return lambda workdir, started: time.time() - started > seconds


def _exists(relative):
  return lambda workdir, started: (workdir / relative).exists()


def _metrics_lines(n):
  return lambda workdir, started: (
      (workdir / 'metrics.jsonl').exists()
      and (workdir / 'metrics.jsonl').read_text().count('\n') >= n)


def _orbax_writing(workdir, started):
  directory = workdir / 'checkpoints'
  return directory.exists() and any('tmp' in p.name for p in directory.iterdir())


def _in_log(text):
  return lambda workdir, started: text in _log(workdir)


KILL_POINTS = {
    'importing': _after(1.0),
    'config written': _exists('config.json'),
    'data checked': _exists('data.json'),
    'compiling the first epoch': _exists('checkpoints'),
    'first metrics line written': _metrics_lines(1),
    'a checkpoint being written': _orbax_writing,
    'checkpoint 1 committed': _exists('checkpoints/1'),
    'digest of checkpoint 2': _exists('checkpoints/2'),
    'mid-training': _metrics_lines(3),
    'evaluating': _in_log('evaluating:'),
    'results.json being written': _exists('results.json.tmp'),
    'results.json written': _exists('results.json'),
}


@pytest.mark.slow
def test_sigkill_at_every_kill_point_resumes_bit_for_bit(tmp_path):
  _write_pickle(tmp_path, num_train=4000)
  flags = ('--epochs=5',)
  straight = tmp_path / 'straight'
  subprocess.run(_binary(straight, tmp_path, *flags), cwd=ROOT, check=True,
                 capture_output=True, timeout=300)
  config = dataclasses.replace(TINY, epochs=5, batch_size=50)
  want = _state(config, straight)
  want_results = json.loads((straight / 'results.json').read_text())
  killed_at = []
  for name, trigger in KILL_POINTS.items():
    workdir = tmp_path / name.replace(' ', '_')
    with open(tmp_path / f'{workdir.name}.log', 'w') as log:
      process = subprocess.Popen(_binary(workdir, tmp_path, *flags), cwd=ROOT,
                                 stdout=log, stderr=subprocess.STDOUT)
      started = time.time()
      while process.poll() is None and not trigger(workdir, started):
        time.sleep(0.002)
      if process.poll() is None:
        process.send_signal(signal.SIGKILL)
        killed_at.append(name)
      process.wait()
    resumed = subprocess.run(_binary(workdir, tmp_path, *flags), cwd=ROOT,
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, (name, resumed.stderr[-2000:])
    _assert_same_params(want, _state(config, workdir))
    got_results = json.loads((workdir / 'results.json').read_text())
    assert got_results == dict(want_results,
                               eval_seconds=got_results['eval_seconds']), name
  print(f'killed at {len(killed_at)} of {len(KILL_POINTS)} points: {killed_at}')
  assert len(killed_at) >= 10, killed_at


def test_checkpoint_with_the_parameter_names_before_modality_names_loads(
    tmp_path):
  # A state saved by the two-modality models, whose networks were 'x_encoder',
  # 'w_decoder', ...: restored under the modality names and bit-identical.
  config = dataclasses.replace(TINY, seed=5)
  state = elbo.init_state(config.build_model(), config)
  old_names = {new: old for old, new in models.LEGACY_PARAM_NAMES.items()}
  legacy = checkpoints_lib.rename_keys(state, old_names)
  assert 'x_encoder' in legacy.params and 'image_encoder' not in legacy.params
  saver = Checkpoints(tmp_path / 'checkpoints', log=_quiet)
  saver.save(legacy)
  saver.close()
  loader = Checkpoints(tmp_path / 'checkpoints', log=_quiet,
                       legacy_names=models.LEGACY_PARAM_NAMES)
  restored = loader.restore_latest(
      elbo.init_state(config.build_model(), dataclasses.replace(config,
                                                                 seed=6)))
  loader.close()
  assert set(restored.params) == set(state.params)
  _assert_same_params(restored, state)
