"""Reading the JSON object of a file (config.json, results.json, ...)."""

from __future__ import annotations

import json
import os
from typing import Any

from jmvae_jax.errors import UserError


def read_json_object(path: str | os.PathLike, *,
                     fix: str | None = None) -> dict[str, Any] | None:
  """The JSON object (a dict) held by the file ``path``.

  Args:
    path: the file.
    fix: what the user should do when the file is missing, unreadable, not
      JSON or not an object: the end of the UserError then raised (e.g.
      'export the model again'). None: return None instead.

  Returns:
    The object; None only when it cannot be read and ``fix`` is None.

  Raises:
    UserError: the file holds no readable JSON object and ``fix`` is given.
  """
  path = os.fspath(path)
  try:
    with open(path) as f:
      values = json.load(f)
  except (OSError, ValueError) as error:
    if fix is None:
      return None
    raise UserError(f'cannot read {path} ({error}); {fix}') from error
  if isinstance(values, dict):
    return values
  if fix is None:
    return None
  raise UserError(f'{path} does not hold a JSON object; {fix}')
