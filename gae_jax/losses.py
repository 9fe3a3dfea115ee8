"""Losses. Per-example functions return float32[B] so callers choose how to reduce."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

RECONSTRUCTION_LOSSES = ("bce", "mse")


def _sum_per_example(x: jax.Array) -> jax.Array:
    return x.reshape(x.shape[0], -1).sum(axis=-1)


def bernoulli_nll(logits: jax.Array, x: jax.Array) -> jax.Array:
    """-log p(x | logits) summed over pixels: binary cross-entropy from logits.

    Args:
      logits: float32[B, ...] decoder outputs before the sigmoid.
      x: float32[B, ...] targets in [0, 1] (need not be binary).

    Returns:
      float32[B].
    """
    return _sum_per_example(optax.sigmoid_binary_cross_entropy(logits, x))


def squared_error(logits: jax.Array, x: jax.Array) -> jax.Array:
    """Sum over pixels of (sigmoid(logits) - x)^2, float32[B]."""
    return _sum_per_example(jnp.square(jax.nn.sigmoid(logits) - x))


def mean_squared_error(logits: jax.Array, x: jax.Array) -> jax.Array:
    """Per-pixel mean of (sigmoid(logits) - x)^2, float32[B] (the papers' reconstruction MSE)."""
    return squared_error(logits, x) / (x.size // x.shape[0])


def reconstruction_loss(name: str):
    """``bce`` -> :func:`bernoulli_nll`, ``mse`` -> :func:`squared_error`."""
    if name not in RECONSTRUCTION_LOSSES:
        raise ValueError(
            f"reconstruction loss must be one of {RECONSTRUCTION_LOSSES}, got {name!r}"
        )
    return {"bce": bernoulli_nll, "mse": squared_error}[name]


def gaussian_kl(mean: jax.Array, log_var: jax.Array) -> jax.Array:
    """KL(N(mean, exp(log_var)) || N(0, I)) summed over latent dimensions, float32[B]."""
    return 0.5 * jnp.sum(jnp.square(mean) + jnp.exp(log_var) - 1.0 - log_var, axis=-1)
