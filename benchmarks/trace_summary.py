"""Attributes the XLA:CPU op times of a ``jax.profiler`` trace to parts of a train step.

``summarize(trace_dir, hlo_text, steps)`` reads the newest ``*.trace.json.gz``
under ``trace_dir`` (one event per executed XLA thunk, named after its HLO
instruction) and the compiled module's HLO text (``compiled.as_text()``), and
sums the time of every instruction into a category:

  rng          anything under jax's threefry / random_bits (binarization, epsilon)
  fwd matmul   dots (incl. XNNPACK/YNNPACK dot fusions) of the forward pass
  fwd other    the forward pass's elementwise and reduction fusions
  bwd matmul   dots of the backward pass (op names under ``transpose(...)``)
  bwd other    the backward pass's other fusions
  gather       the per-step gather of the batch
  copy         copies (e.g. of while-loop carries)
  optimizer    ops whose source (the HLO's stack-frame chain) is in optax or on
               a line calling ``optimizer.update`` / ``apply_updates``
  other        everything else: metric sums, one-hot, loop bookkeeping

Container thunks (while, call, conditional) are skipped: their bodies' thunks
are counted instead. Times are thread-time: XLA:CPU runs independent thunks on
several threads at once, so the categories' sum can exceed the wall time.
"""

from __future__ import annotations

import collections
import glob
import gzip
import json
import linecache
import os
import re

_INSTRUCTION = re.compile(r'^\s*(?:ROOT\s+)?%([\w.\-]+) = (.*)$')
_OPCODE = re.compile(r'\s?([a-z][a-z0-9_\-]*)\(')
_OP_NAME = re.compile(r'op_name="([^"]*)"')
_FRAME = re.compile(r'stack_frame_id=(\d+)')
_CONTAINERS = ('while', 'call', 'conditional')
_MATMUL_PREFIXES = ('dot', 'ynn_fusion', 'xnn_fusion', 'onednn', 'cublas')
_RNG_WORDS = ('threefry', 'random_bits', 'random_wrap', 'random_unwrap',
              '_normal', '_uniform', 'bernoulli', 'rng')
CATEGORIES = ('rng', 'fwd matmul', 'fwd other', 'bwd matmul', 'bwd other',
              'gather', 'copy', 'optimizer', 'other')
_OPTIMIZER_CALLS = ('/optax/', 'optimizer.update', 'apply_updates')


def frame_sources(hlo_text: str) -> dict[int, str]:
  """stack_frame_id -> 'path:line text' of the frame and its callers, joined.

  Compiled HLO text lists FileNames, FileLocations and StackFrames (each frame a
  location and its parent frame); each instruction's metadata names its
  innermost frame.
  """
  sections: dict[str, dict[int, str]] = collections.defaultdict(dict)
  section = None
  for line in hlo_text.splitlines():
    if line in ('FileNames', 'FunctionNames', 'FileLocations', 'StackFrames'):
      section = line
      continue
    head, _, rest = line.partition(' ')
    if section is None or not head.isdigit():
      section = None
      continue
    sections[section][int(head)] = rest

  def location_text(location_id: int) -> str:
    where = sections['FileLocations'].get(location_id, '')
    file_id = re.search(r'file_name_id=(\d+)', where)
    line_no = re.search(r'\bline=(\d+)', where)
    if not (file_id and line_no):
      return ''
    path = sections['FileNames'].get(int(file_id.group(1)), '').strip('"')
    return f'{path}:{linecache.getline(path, int(line_no.group(1))).strip()}'

  def chain(frame_id: int) -> str:
    texts, seen = [], set()
    while frame_id in sections['StackFrames'] and frame_id not in seen:
      seen.add(frame_id)
      frame = sections['StackFrames'][frame_id]
      location = re.search(r'file_location_id=(\d+)', frame)
      parent = re.search(r'parent_frame_id=(\d+)', frame)
      if location:
        texts.append(location_text(int(location.group(1))))
      frame_id = int(parent.group(1)) if parent else -1
    return '\n'.join(texts)

  return {frame_id: chain(frame_id) for frame_id in sections['StackFrames']}


def parse_hlo(hlo_text: str) -> dict[str, tuple[str, str, str]]:
  """Instruction name -> (opcode, op_name, source chain) for every computation."""
  frames = frame_sources(hlo_text)
  table = {}
  for line in hlo_text.splitlines():
    match = _INSTRUCTION.match(line)
    if not match:
      continue
    name, rest = match.groups()
    body = rest.lstrip()
    if body.startswith('('):  # A tuple type: skip to its closing parenthesis.
      depth = 0
      for i, char in enumerate(body):
        depth += {'(': 1, ')': -1}.get(char, 0)
        if depth == 0:
          body = body[i + 1:]
          break
    opcode = _OPCODE.search(body)
    op_name = _OP_NAME.search(line)
    frame = _FRAME.search(line)
    table[name] = (opcode.group(1) if opcode else '',
                   op_name.group(1) if op_name else '',
                   frames.get(int(frame.group(1)), '') if frame else '')
  return table


def categorize(name: str, opcode: str, op_name: str, source: str
               ) -> str | None:
  """The category of one instruction, or None for a container thunk."""
  if opcode in _CONTAINERS:
    return None
  if any(word in op_name for word in _RNG_WORDS):
    return 'rng'
  is_matmul = opcode in ('dot', 'custom-call') or name.startswith(_MATMUL_PREFIXES)
  if 'transpose(' in op_name:
    return 'bwd matmul' if is_matmul else 'bwd other'
  if 'jvp(' in op_name:
    return 'fwd matmul' if is_matmul else 'fwd other'
  if opcode == 'gather' or 'gather' in name:
    return 'gather'
  if opcode == 'copy' or name.startswith('copy'):
    return 'copy'
  if any(call in source for call in _OPTIMIZER_CALLS):
    return 'optimizer'
  return 'other'


def newest_trace(trace_dir: str) -> str:
  paths = glob.glob(os.path.join(trace_dir, '**', '*.trace.json.gz'),
                    recursive=True)
  if not paths:
    raise FileNotFoundError(f'no *.trace.json.gz under {trace_dir}')
  return max(paths, key=os.path.getmtime)


def summarize(trace_dir: str, hlo_text: str, steps: int
              ) -> tuple[dict[str, float], float]:
  """Per-step thread-milliseconds by category, and the fraction of op time mapped.

  Args:
    trace_dir: the directory given to ``jax.profiler.trace``.
    hlo_text: ``compiled.as_text()`` of the executable that was traced.
    steps: train steps in the traced run (to report per-step times).
  """
  with gzip.open(newest_trace(trace_dir)) as f:
    events = json.load(f)['traceEvents']
  table = parse_hlo(hlo_text)
  totals = collections.Counter()
  mapped = unmapped = 0.0
  for event in events:
    if event.get('ph') != 'X' or event['name'] not in table:
      if event.get('ph') == 'X' and re.fullmatch(r'[a-z_\-]+\.\d+', event['name']):
        unmapped += event['dur']
      continue
    category = categorize(event['name'], *table[event['name']])
    if category is not None:
      totals[category] += event['dur']
      mapped += event['dur']
  per_step = {c: totals[c] / 1e3 / steps for c in CATEGORIES}
  return per_step, mapped / max(mapped + unmapped, 1e-9)
