"""A run's metrics and figures as TensorBoard event files, written without TensorFlow.

``summarize_run(WORKDIR, figures)`` (through ``write_summaries``) writes one
event file into WORKDIR, so ``tensorboard --logdir WORKDIR`` (or a parent
holding several runs) shows every loss term per epoch, the test metrics and
the figures. It uses the ``tensorboard`` package's own pure-Python event
writer and protocol buffers. Writing again replaces the file written before,
so re-drawing the figures never doubles the curves.
"""

from __future__ import annotations

import glob
import json
import os
import time
from collections.abc import Mapping, Sequence

from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.summary.writer.event_file_writer import EventFileWriter

# Marks our event files, so a re-run finds and replaces only its own.
FILE_SUFFIX = '.jmvae_summaries'
# PNG colour type (IHDR byte 25) -> channels, as TensorBoard's colorspace field.
_PNG_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}


def is_number(value: object) -> bool:
  """Whether a JSON value is a number (not a bool, a string or null)."""
  return isinstance(value, (int, float)) and not isinstance(value, bool)


def read_metrics(workdir: str) -> list[dict[str, object]]:
  """The records of WORKDIR/metrics.jsonl, one per epoch (none if absent)."""
  path = os.path.join(workdir, 'metrics.jsonl')
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


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
  """Writes training curves, final metrics and images as one event file.

  Args:
    logdir: the directory (a run's WORKDIR); earlier files of ours are removed.
    epochs: one record per epoch (metrics.jsonl lines): every numeric field but
      'epoch' becomes the scalar 'train/NAME' at step 'epoch'.
    final: results (results.json): each numeric one becomes the scalar
      'test/NAME' at the last epoch's step (0 without epochs).
    images: tag -> PNG bytes, shown under 'figures/TAG' at the last step.

  Returns:
    The event file's path.
  """
  logdir = os.fspath(logdir)
  pattern = os.path.join(logdir, f'events.out.tfevents.*{FILE_SUFFIX}')
  for old in glob.glob(pattern):
    os.remove(old)
  writer = EventFileWriter(logdir, filename_suffix=FILE_SUFFIX)
  wall_time = time.time()

  def add(step: int, values: list[summary_pb2.Summary.Value]) -> None:
    writer.add_event(event_pb2.Event(
        wall_time=wall_time, step=step,
        summary=summary_pb2.Summary(value=values)))

  for record in epochs:
    add(int(record['epoch']), [
        summary_pb2.Summary.Value(tag=f'train/{name}', simple_value=value)
        for name, value in sorted(record.items())
        if name != 'epoch' and is_number(value)])
  last = int(epochs[-1]['epoch']) if epochs else 0
  add(last, [summary_pb2.Summary.Value(tag=f'test/{name}', simple_value=value)
             for name, value in sorted(final.items()) if is_number(value)])
  add(last, [summary_pb2.Summary.Value(tag=f'figures/{tag}',
                                       image=_png_image(png))
             for tag, png in sorted(images.items())])
  writer.close()
  (path,) = glob.glob(pattern)
  return path


def summarize_run(workdir: str, figures: Mapping[str, str]) -> str:
  """``write_summaries`` of a run: its metrics.jsonl, results.json and PNGs.

  Args:
    workdir: the run's directory (MNIST or CelebA).
    figures: file name (e.g. 'fig6_reconstructions.png') -> path of each PNG;
      each is shown under 'figures/' and its name without the extension.

  Returns:
    The event file's path.
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
