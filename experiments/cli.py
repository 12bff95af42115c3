"""What every experiments binary does around its work.

``run(main)`` parses the flags with absl and calls ``main()``; around it, the
same conventions for every binary:

- logs at WARNING unless ``--verbosity`` is given (Orbax logs every save at
  INFO);
- a stray positional argument is a usage error;
- a ``jmvae_jax.errors.UserError`` ends the program with one line,
  ``error: ...``, and exit status 1, instead of a traceback;
- what ``main`` returns, if not None, is printed as indented JSON.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from absl import app, flags, logging

from jmvae_jax.errors import UserError


def run(main: Callable[[], Any]) -> None:
  """Runs a binary's ``main()`` (no arguments) under absl with the conventions above."""

  def absl_main(argv: list[str]) -> None:
    if not flags.FLAGS['verbosity'].present:
      logging.set_verbosity(logging.WARNING)
    if len(argv) > 1:
      raise app.UsageError(f'unexpected arguments: {" ".join(argv[1:])}')
    try:
      result = main()
    except UserError as error:
      raise SystemExit(f'error: {error}') from None
    if result is not None:
      print(json.dumps(result, indent=2, sort_keys=True))

  app.run(absl_main)
