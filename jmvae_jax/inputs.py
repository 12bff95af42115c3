"""Argument checks at the public API: shapes, dtypes and sample counts.

They run when a function is traced (shapes and dtypes are static), so they
cost nothing inside ``jax.jit`` and never cause a retrace. Each raises a
``ValueError`` that names the argument, what it got and what was expected.
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np


def _declared_width(model: Any, modality: str) -> int | None:
  """The width a model declares for 'x' (its first modality) or 'w' (its
  second), if any."""
  names = getattr(model, 'modality_names', ())
  index = 0 if modality == 'x' else 1
  if hasattr(model, 'modality') and index < len(names):
    return model.modality(names[index]).dim
  width = getattr(getattr(model, modality, None), 'dim', None)
  if width is None and modality == 'w':
    width = getattr(model, 'num_attributes', None)
  return width


def _check_batch(what: str, value: Any, width: int | None, model: Any,
                 hint: str = '') -> tuple[int, ...]:
  """Checks one batch [B, ...] named ``what``: float, batched, of ``width``
  (when known); ``hint`` follows the dtype error. Returns its shape."""
  shape, dtype = jnp.shape(value), jnp.result_type(value)
  if not jnp.issubdtype(dtype, jnp.floating):
    raise ValueError(f'{what} must be a float array [batch, '
                     f'{width or "..."}], got {dtype} of shape {shape}{hint}')
  if width is not None and (len(shape) != 2 or shape[-1] != width):
    raise ValueError(f'{what} must have shape [batch, {width}] for this '
                     f'{type(model).__name__}, got {shape}')
  if len(shape) < 2:
    raise ValueError(f'{what} must have a batch axis first, [batch, ...], got '
                     f'shape {shape}')
  return shape


def check_modality(model: Any, name: str, value: Any) -> tuple[int, ...]:
  """Checks one modality's batch [B, ...]: float, batched, the model's width.

  Returns:
    Its shape.
  """
  width = _declared_width(model, name)
  hint = (f'; for class labels pass jax.nn.one_hot(labels, {width or "C"})'
          if name == 'w' else '')
  return _check_batch(name, value, width, model, hint)


def check_observations(model: Any, x: Any, w: Any | None) -> None:
  """Checks a batch of x (and w, when given) against ``model``.

  Raises:
    ValueError: a non-float array, a wrong width or rank, or x and w with
      different numbers of examples.
  """
  x_shape = check_modality(model, 'x', x)
  if w is None:
    return
  w_shape = check_modality(model, 'w', w)
  if x_shape[0] != w_shape[0]:
    raise ValueError(f'x and w must hold the same number of examples, got '
                     f'{x_shape[0]} in x (shape {x_shape}) and {w_shape[0]} '
                     f'in w (shape {w_shape})')


def check_observed(model: Any, observed: dict[str, Any]) -> None:
  """Checks a batch {modality name: [B, dim]} against ``model``'s modalities.

  Widths are checked where the model declares them (``model.modality(name)``).

  Raises:
    ValueError: a non-float array, a wrong width or rank, or modalities with
      different numbers of examples.
  """
  sizes = {}
  for name, value in observed.items():
    width = model.modality(name).dim if hasattr(model, 'modality') else None
    sizes[name] = _check_batch(f'modality {name!r}', value, width, model)[0]
  if len(set(sizes.values())) > 1:
    raise ValueError(f'every modality must hold the same number of examples, '
                     f'got {sizes}')


def check_count(name: str, value: Any, *, allow_none: bool = False) -> None:
  """Checks that ``value`` is a positive integer (or None if allowed).

  Raises:
    ValueError: a float, bool, string, zero or negative count.
  """
  if value is None and allow_none:
    return
  if (isinstance(value, (bool, np.bool_))
      or not isinstance(value, (int, np.integer)) or value < 1):
    raise ValueError(f'{name} must be a positive integer'
                     f'{" or None" if allow_none else ""}, got {value!r} '
                     f'({type(value).__name__})')
