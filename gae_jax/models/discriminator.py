"""The adversary of the adversarial autoencoders: an MLP on codes z (papers 000 and 001)."""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax

from gae_jax.models.mlp import dense


class Discriminator(nn.Module):
    """z: float32[B, D] -> logits float32[B] of "z was drawn from the prior".

    Hidden layers are dense, leaky ReLU, then dropout (paper 000's adversary; paper 001 uses
    1000-1000-1 on MNIST). The sigmoid is left to the loss, which works on logits for stability.
    Dropout needs the ``dropout`` RNG when ``train=True``.
    """

    hidden: Sequence[int] = (1000, 1000)
    dropout_rate: float = 0.2
    negative_slope: float = 0.2
    matmul_dtype: str = "float32"  # see gae_jax.models.mlp.MATMUL_DTYPES

    @nn.compact
    def __call__(self, z: jax.Array, train: bool = False) -> jax.Array:
        h = z
        for width in self.hidden:
            h = nn.leaky_relu(dense(width, self.matmul_dtype)(h), self.negative_slope)
            h = nn.Dropout(self.dropout_rate, deterministic=not train)(h)
        return dense(1, self.matmul_dtype)(h)[..., 0]
