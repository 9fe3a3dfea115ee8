"""Type aliases shared across the library."""

from __future__ import annotations

from typing import Any

import jax

PRNGKey = jax.Array  # a typed key from jax.random.key
ArrayTree = Any  # a pytree of arrays
Metrics = dict[str, jax.Array]
