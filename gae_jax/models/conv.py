"""DCGAN-style convolutional encoder and decoder (paper 000 Sec. 5; Radford et al., 2015).

The encoder mirrors the DCGAN discriminator: 4x4 convolutions with stride 2 (no pooling), each
followed by batch norm and ReLU, down to a 4x4 feature map, then a linear layer to the code. The
decoder mirrors the generator: a linear layer to a small feature map, then 4x4 fractionally
strided convolutions with batch norm and ReLU, ending in a transposed convolution that emits
logits (apply a sigmoid for images). Supported image sizes are 28, 32 and 64 pixels.
"""

from __future__ import annotations

import flax.linen as nn
import jax

# image size -> (number of stride-2 stages, spatial size of the decoder's first feature map)
_STAGES = {28: (2, 7), 32: (3, 4), 64: (4, 4)}
SUPPORTED_SIZES = tuple(_STAGES)


def _check_size(size: int) -> tuple[int, int]:
    if size not in _STAGES:
        raise ValueError(f"DCGAN networks support image sizes {SUPPORTED_SIZES}, got {size}")
    return _STAGES[size]


def _bn(train: bool) -> nn.BatchNorm:
    # momentum 0.9 and eps 1e-5 follow the PyTorch/Torch defaults the papers trained with.
    return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5)


class DCGANEncoder(nn.Module):
    """x: float32[B, S, S, C] -> float32[B, out_dim], S in {28, 32, 64}."""

    out_dim: int
    width: int = 64

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        stages, _ = _check_size(x.shape[1])
        # 28 -> 14 -> 7 -> 4 needs three stages, like 32 -> 16 -> 8 -> 4.
        stages = max(stages, 3)
        h = x
        for i in range(stages):
            h = nn.Conv(self.width * 2**i, (4, 4), strides=(2, 2), padding="SAME", use_bias=False)(
                h
            )
            h = nn.relu(_bn(train)(h))
        return nn.Dense(self.out_dim)(h.reshape(h.shape[0], -1))


class DCGANDecoder(nn.Module):
    """z: float32[B, D] -> logits float32[B, S, S, C], S in {28, 32, 64}."""

    image_shape: tuple[int, int, int]
    width: int = 64

    @nn.compact
    def __call__(self, z: jax.Array, train: bool = False) -> jax.Array:
        size, _, channels = self.image_shape
        stages, start = _check_size(size)
        features = self.width * 2 ** (stages - 1)
        h = nn.Dense(start * start * features, use_bias=False)(z)
        h = nn.relu(_bn(train)(h.reshape(z.shape[0], start, start, features)))
        for _ in range(stages - 1):
            features //= 2
            h = nn.ConvTranspose(features, (4, 4), strides=(2, 2), padding="SAME", use_bias=False)(
                h
            )
            h = nn.relu(_bn(train)(h))
        return nn.ConvTranspose(channels, (4, 4), strides=(2, 2), padding="SAME")(h)
