"""Test-wide JAX settings: strict dtype promotion and rank-promotion errors."""

import jax

jax.config.update('jax_numpy_dtype_promotion', 'strict')
jax.config.update('jax_numpy_rank_promotion', 'raise')
