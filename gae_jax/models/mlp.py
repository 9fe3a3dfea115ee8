"""Fully connected encoder and decoder (papers 001, 002, 004 use these on MNIST/Omniglot)."""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

ACTIVATIONS = {"relu": nn.relu, "tanh": jnp.tanh, "leaky_relu": nn.leaky_relu, "elu": nn.elu}


def activation_fn(name: str):
    if name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {name!r}")
    return ACTIVATIONS[name]


class MLPEncoder(nn.Module):
    """Flattens an image and maps it through dense layers to ``out_dim`` linear outputs."""

    hidden: Sequence[int]
    out_dim: int
    activation: str = "relu"

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        """x: float32[B, H, W, C] -> float32[B, out_dim]."""
        del train  # no batch norm or dropout
        act = activation_fn(self.activation)
        h = x.reshape(x.shape[0], -1)
        for width in self.hidden:
            h = act(nn.Dense(width)(h))
        return nn.Dense(self.out_dim)(h)


class MLPDecoder(nn.Module):
    """Maps a code through dense layers to per-pixel logits of shape ``image_shape``."""

    hidden: Sequence[int]
    image_shape: tuple[int, int, int]
    activation: str = "relu"

    @nn.compact
    def __call__(self, z: jax.Array, train: bool = False) -> jax.Array:
        """z: float32[B, D] -> logits float32[B, H, W, C]."""
        del train
        act = activation_fn(self.activation)
        h = z
        for width in self.hidden:
            h = act(nn.Dense(width)(h))
        size = self.image_shape[0] * self.image_shape[1] * self.image_shape[2]
        return nn.Dense(size)(h).reshape(z.shape[0], *self.image_shape)
