"""A run's scalars as TensorBoard shows them, read with its own reader."""

from __future__ import annotations

import json
import os

import pytest
from tensorboard.backend.event_processing import event_accumulator

from jmvae_jax.training.workdir import is_number

Curves = dict[str, list[tuple[int, float]]]


def scalars(logdir: str | os.PathLike) -> Curves:
  """{tag: [(step, value), ...]} of every scalar in the directory's files."""
  accumulator = event_accumulator.EventAccumulator(
      str(logdir), size_guidance={event_accumulator.SCALARS: 0})
  accumulator.Reload()
  return {tag: [(s.step, s.value) for s in accumulator.Scalars(tag)]
          for tag in accumulator.Tags()[event_accumulator.SCALARS]}


def metrics_curves(workdir: str | os.PathLike) -> Curves:
  """The 'train/NAME' curves of WORKDIR/metrics.jsonl: each numeric field."""
  curves: Curves = {}
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    for line in f:
      record = json.loads(line)
      for name, value in sorted(record.items()):
        if name != 'epoch' and is_number(value):
          curves.setdefault(f'train/{name}', []).append(
              (record['epoch'], value))
  return curves


def assert_shows(shown: Curves, want: Curves) -> None:
  """``shown`` has exactly the tags and steps of ``want``, values as float32."""
  assert sorted(shown) == sorted(want)
  for tag, points in want.items():
    assert [step for step, _ in shown[tag]] == [step for step, _ in points], tag
    assert [value for _, value in shown[tag]] == pytest.approx(
        [value for _, value in points], rel=1e-6), tag


def training_curves(logdir: str | os.PathLike) -> Curves:
  """The 'train/' scalars TensorBoard shows of the directory."""
  return {tag: points for tag, points in scalars(logdir).items()
          if tag.startswith('train/')}
