"""One optimizer update, written once for every trainer."""

from __future__ import annotations

from typing import Any

import jax
import optax


def apply_gradients(optimizer: optax.GradientTransformation, grads: Any,
                    opt_state: Any, params: Any) -> tuple[Any, Any]:
  """(new params, new optimizer state) after one step of ``optimizer``."""
  # Optax mixes Python floats with its int32 step count, which strict dtype
  # promotion (a common user setting, and our tests') rejects.
  with jax.numpy_dtype_promotion('standard'):
    updates, opt_state = optimizer.update(grads, opt_state, params)
  return optax.apply_updates(params, updates), opt_state
