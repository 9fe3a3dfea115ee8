"""The adversary of the adversarial autoencoders: an MLP on codes z (papers 000 and 001)."""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax

from gae_jax.models.mlp import dense

# Hidden-layer activations: paper 000's adversary uses leaky ReLU (slope ``negative_slope``),
# paper 001 Sec. IV-A ReLU ("intermediate layers of the network have ReLU activation functions").
DISC_ACTIVATIONS = ("leaky_relu", "relu")


class Discriminator(nn.Module):
    """z: float32[B, D] -> logits float32[B] of "z was drawn from the prior".

    Hidden layers are dense, then the activation, then dropout (paper 000's adversary: leaky
    ReLU and dropout, the defaults; paper 001's: ReLU without dropout, 1000-1000-1 on MNIST).
    The sigmoid is left to the loss, which works on logits for stability. Dropout with a
    positive rate needs the ``dropout`` RNG when ``train=True``.
    """

    hidden: Sequence[int] = (1000, 1000)
    dropout_rate: float = 0.2
    negative_slope: float = 0.2
    matmul_dtype: str = "float32"  # see gae_jax.models.mlp.MATMUL_DTYPES
    activation: str = "leaky_relu"  # see DISC_ACTIVATIONS

    @nn.compact
    def __call__(self, z: jax.Array, train: bool = False) -> jax.Array:
        if self.activation not in DISC_ACTIVATIONS:
            raise ValueError(
                f"discriminator activation must be one of {DISC_ACTIVATIONS}, "
                f"got {self.activation!r}"
            )
        h = z
        for width in self.hidden:
            h = dense(width, self.matmul_dtype)(h)
            relu = self.activation == "relu"
            h = nn.relu(h) if relu else nn.leaky_relu(h, self.negative_slope)
            h = nn.Dropout(self.dropout_rate, deterministic=not train)(h)  # rate 0: identity
        return dense(1, self.matmul_dtype)(h)[..., 0]
