"""Corruption processes C(x_tilde | x): pure functions ``(key, x) -> x_tilde``.

All three act element-wise on arrays of any shape and work under ``jit``/``vmap``/``grad``.
:func:`make_corruption` builds one from a name and a level, which is how configs name them.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

Corruption = Callable[[jax.Array, jax.Array], jax.Array]
KINDS = ("none", "gaussian", "salt_and_pepper", "masking")


def gaussian(key: jax.Array, x: jax.Array, sigma: float) -> jax.Array:
    """Additive isotropic Gaussian noise: x_tilde ~ N(x, sigma^2 I). Values are not clipped."""
    return x + sigma * jax.random.normal(key, x.shape, x.dtype)


def salt_and_pepper(key: jax.Array, x: jax.Array, prob: float) -> jax.Array:
    """Each element is, with probability ``prob``, replaced by 0 or 1 with equal chance."""
    k_hit, k_value = jax.random.split(key)
    hit = jax.random.bernoulli(k_hit, prob, x.shape)
    value = jax.random.bernoulli(k_value, 0.5, x.shape).astype(x.dtype)
    return jnp.where(hit, value, x)


def masking(key: jax.Array, x: jax.Array, prob: float) -> jax.Array:
    """Each element is set to zero with probability ``prob`` (masking noise)."""
    keep = jax.random.bernoulli(key, 1.0 - prob, x.shape)
    return jnp.where(keep, x, jnp.zeros_like(x))


def identity(key: jax.Array, x: jax.Array) -> jax.Array:
    del key
    return x


def make_corruption(kind: str, level: float = 0.0) -> Corruption:
    """Returns ``(key, x) -> x_tilde`` for ``kind`` in :data:`KINDS` at the given level.

    ``level`` is the standard deviation for ``gaussian`` and the per-element probability for
    ``salt_and_pepper`` and ``masking``. A level of 0 is the identity.
    """
    if kind not in KINDS:
        raise ValueError(f"corruption kind must be one of {KINDS}, got {kind!r}")
    level = float(level)
    if level < 0:
        raise ValueError(f"corruption level must be >= 0, got {level}")
    if kind in ("salt_and_pepper", "masking") and level > 1:
        raise ValueError(f"{kind} level is a probability and must be in [0, 1], got {level}")
    if kind == "none" or level == 0.0:
        return identity
    fn = {"gaussian": gaussian, "salt_and_pepper": salt_and_pepper, "masking": masking}[kind]
    return lambda key, x: fn(key, x, level)
