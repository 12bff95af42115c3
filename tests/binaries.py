"""Running the experiment binaries from tests, and checking their error lines."""

from __future__ import annotations

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_module(module: str, *flags: str) -> subprocess.CompletedProcess:
  """Runs ``python -m module flags...`` from the repository root (5 min cap)."""
  return subprocess.run([sys.executable, '-m', module, *flags], cwd=ROOT,
                        capture_output=True, text=True, timeout=300)


def assert_one_line_error(result: subprocess.CompletedProcess,
                          start: str) -> None:
  """The binary failed with exactly one stderr line, beginning with ``start``."""
  assert result.returncode != 0
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith(start), result.stderr
