"""A run's curves, results and figures as TensorBoard files, without TensorFlow.

Three event files of ours live in a run's WORKDIR, so ``tensorboard --logdir
WORKDIR`` (or a parent holding several runs) shows one run:

* the training curves (``SCALARS_SUFFIX``): every numeric field of
  metrics.jsonl as 'train/NAME' at step = epoch (each loss term, the KL
  weight, img/s, ...). ``ScalarWriter`` writes them live, once per epoch,
  while a run trains; opening it (``resume_scalars``) replaces the earlier
  file with the epochs the run resumes from, so a resumed run continues the
  same curves without duplicate steps.
* the test results (``RESULTS_SUFFIX``): each numeric field of results.json as
  'test/NAME' at the last epoch's step (``write_test_scalars``), written when
  the run is evaluated.
* the figures (``FILE_SUFFIX``), written by ``summarize_run`` when the
  figures are drawn; it also rewrites the two files above from metrics.jsonl
  and results.json.

All use the ``tensorboard`` package's own pure-Python event writer and
protocol buffers. Writing again replaces our earlier file of the same kind,
so re-drawing the figures never doubles the curves.
"""

from __future__ import annotations

import glob
import json
import os
import time
from collections.abc import Iterable, Mapping, Sequence

from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.summary.writer.event_file_writer import EventFileWriter

from jmvae_jax.training import workdir as workdir_lib
from jmvae_jax.training.workdir import is_number

# Mark our event files, so a re-run finds and replaces only its own.
FILE_SUFFIX = '.jmvae_summaries'
SCALARS_SUFFIX = '.jmvae_scalars'
RESULTS_SUFFIX = '.jmvae_results'
# PNG colour type (IHDR byte 25) -> channels, as TensorBoard's colorspace field.
_PNG_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}


def read_metrics(workdir: str,
                 up_to_epoch: int | None = None) -> list[dict[str, object]]:
  """The records of WORKDIR/metrics.jsonl, one per epoch (none if absent).

  Lines that are not a JSON record with an 'epoch' (a write cut short) are
  skipped, and so are epochs after ``up_to_epoch`` when it is given.
  """
  return workdir_lib.read_metrics(
      os.path.join(workdir, workdir_lib.METRICS_FILE), up_to_epoch)


def _remove_ours(logdir: str, suffix: str) -> None:
  for old in glob.glob(os.path.join(logdir, f'events.out.tfevents.*{suffix}')):
    os.remove(old)


def _new_writer(logdir: str, suffix: str) -> EventFileWriter:
  """An event file writer in logdir, after removing our files of ``suffix``."""
  _remove_ours(logdir, suffix)
  return EventFileWriter(logdir, filename_suffix=suffix)


def _event(step: int, values: list[summary_pb2.Summary.Value]
           ) -> event_pb2.Event:
  return event_pb2.Event(wall_time=time.time(), step=step,
                         summary=summary_pb2.Summary(value=values))


def _scalars(prefix: str, values: Mapping[str, object]
             ) -> list[summary_pb2.Summary.Value]:
  """'PREFIX/NAME' values of the numeric fields, 'epoch' left out."""
  return [summary_pb2.Summary.Value(tag=f'{prefix}/{name}', simple_value=value)
          for name, value in sorted(values.items())
          if name != 'epoch' and is_number(value)]


class ScalarWriter:
  """A run's training curves as they come: 'train/NAME' at step = epoch.

  Opening one replaces our earlier curves and test results in ``logdir`` with
  a file holding ``records`` (the results belong to epochs that may be
  retrained); each ``add_epochs`` is on disk (flushed) when it returns, so
  TensorBoard shows a run while it trains.
  """

  def __init__(self, logdir: str | os.PathLike,
               records: Iterable[Mapping[str, object]] = (), *,
               enabled: bool = True):
    """Opens the writer.

    Args:
      logdir: the run's WORKDIR.
      records: the epochs so far (metrics.jsonl records), e.g. those a resumed
        run keeps; written first.
      enabled: False makes every method do nothing (processes other than 0
        of a multi-process run).
    """
    self._writer = None
    if enabled:
      logdir = os.fspath(logdir)
      _remove_ours(logdir, RESULTS_SUFFIX)
      self._writer = _new_writer(logdir, SCALARS_SUFFIX)
      self.add_epochs(records)

  def add_epochs(self, records: Iterable[Mapping[str, object]]) -> None:
    """Adds each record's numeric fields as 'train/NAME' at step 'epoch'."""
    if self._writer is None:
      return
    for record in records:
      self._writer.add_event(_event(int(record['epoch']),
                                    _scalars('train', record)))
    self._writer.flush()

  def close(self) -> None:
    if self._writer is not None:
      self._writer.close()
      self._writer = None


def resume_scalars(workdir: str, epoch: int, *,
                   enabled: bool = True) -> ScalarWriter:
  """The live curves of a run that trains on from ``epoch`` (0 when fresh).

  The run's metrics.jsonl records up to ``epoch`` are written first; those
  after it belong to epochs the run trains again, and are left out.
  """
  return ScalarWriter(workdir, read_metrics(workdir, epoch), enabled=enabled)


def write_test_scalars(logdir: str | os.PathLike,
                       results: Mapping[str, object]) -> None:
  """Writes the numeric results as 'test/NAME' at step results['epoch'].

  Replaces our earlier file of test results in ``logdir``.
  """
  writer = _new_writer(os.fspath(logdir), RESULTS_SUFFIX)
  step = results.get('epoch', 0)
  writer.add_event(_event(int(step) if is_number(step) else 0,
                          _scalars('test', results)))
  writer.close()


def _png_image(png: bytes) -> summary_pb2.Summary.Image:
  """An image summary of encoded PNG bytes; its size is read from the IHDR chunk."""
  if png[:8] != b'\x89PNG\r\n\x1a\n':
    raise ValueError('not a PNG file')
  return summary_pb2.Summary.Image(
      width=int.from_bytes(png[16:20], 'big'),
      height=int.from_bytes(png[20:24], 'big'),
      colorspace=_PNG_CHANNELS[png[25]],
      encoded_image_string=png)


def write_summaries(logdir: str | os.PathLike, *,
                    epochs: Sequence[Mapping[str, object]],
                    final: Mapping[str, object],
                    images: Mapping[str, bytes]) -> str:
  """Writes curves, final metrics and images as our three event files.

  Args:
    logdir: the directory (a run's WORKDIR); our earlier files are replaced.
    epochs: one record per epoch (metrics.jsonl lines): every numeric field but
      'epoch' becomes the scalar 'train/NAME' at step 'epoch'.
    final: results (results.json): each numeric one becomes the scalar
      'test/NAME' at the last epoch's step (0 without epochs).
    images: tag -> PNG bytes, shown under 'figures/TAG' at the last step.

  Returns:
    The path of the images' event file.
  """
  logdir = os.fspath(logdir)
  ScalarWriter(logdir, epochs).close()
  last = int(epochs[-1]['epoch']) if epochs else 0
  write_test_scalars(logdir, {**final, 'epoch': last})
  writer = _new_writer(logdir, FILE_SUFFIX)
  writer.add_event(_event(last, [
      summary_pb2.Summary.Value(tag=f'figures/{tag}', image=_png_image(png))
      for tag, png in sorted(images.items())]))
  writer.close()
  (path,) = glob.glob(os.path.join(logdir,
                                   f'events.out.tfevents.*{FILE_SUFFIX}'))
  return path


def summarize_run(workdir: str, figures: Mapping[str, str]) -> str:
  """``write_summaries`` of a run: its metrics.jsonl, results.json and PNGs.

  Args:
    workdir: the run's directory (MNIST or CelebA).
    figures: file name (e.g. 'fig6_reconstructions.png') -> path of each PNG;
      each is shown under 'figures/' and its name without the extension.

  Returns:
    The path of the images' event file.
  """
  results_path = os.path.join(workdir, 'results.json')
  results = {}
  if os.path.exists(results_path):
    with open(results_path) as f:
      results = json.load(f)
  pngs = {}
  for name, path in figures.items():
    with open(path, 'rb') as f:
      pngs[os.path.splitext(name)[0]] = f.read()
  return write_summaries(workdir, epochs=read_metrics(workdir), final=results,
                         images=pngs)
