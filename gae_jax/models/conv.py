"""DCGAN-style convolutional encoder and decoder (paper 000 Sec. 5; Radford et al., 2015).

The encoder mirrors the DCGAN discriminator: 4x4 convolutions with stride 2 (no pooling), each
followed by batch norm and ReLU, down to a 4x4 feature map, then a linear layer to the code. The
decoder mirrors the generator: a linear layer to a small feature map, then 4x4 fractionally
strided convolutions with batch norm and ReLU, ending in a transposed convolution that emits
logits (apply a sigmoid for images). The transposed convolutions are :class:`UpConv`, the same
layer computed without XLA's slow dilated-input path. Supported image sizes are 28, 32 and 64 pixels.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

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


class UpConv(nn.Module):
    """``nn.ConvTranspose(features, (4, 4), strides=(2, 2), padding="SAME")``, computed fast.

    x: float32[B, H, W, C] -> float32[B, 2H, 2W, features], with the same parameters (names,
    shapes, initialisation) and the same values up to float rounding.

    XLA's CPU backend runs a transposed convolution as a convolution of the input dilated with
    zeros, on a slow generic path: about a tenth of the speed of an ordinary convolution
    (``python -m benchmarks.upconv``). Here each of the four output phases is an ordinary stride-1 2x2
    convolution. With the transposed convolution's SAME padding of 2 on each side,
    ``y[2m + p] = x[m + p - 1] w[p] + x[m + p] w[p + 2]`` along each spatial axis, for phase
    p in {0, 1}: the taps ``w[p::2]`` over ``x`` padded by one row before (p = 0) or after
    (p = 1). The phases are then interleaved.
    """

    features: int
    use_bias: bool = True

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel = self.param(
            "kernel", nn.initializers.lecun_normal(), (4, 4, x.shape[-1], self.features)
        )
        pads = ((1, 0), (0, 1))  # phase 0 reads x[m - 1], x[m]; phase 1 reads x[m], x[m + 1]
        phases = [
            [
                jax.lax.conv_general_dilated(
                    x,
                    kernel[py::2, px::2],
                    window_strides=(1, 1),
                    padding=(pads[py], pads[px]),
                    dimension_numbers=("NHWC", "HWIO", "NHWC"),
                )
                for px in range(2)
            ]
            for py in range(2)
        ]
        # [B, H, 2 (py), W, 2 (px), F] -> [B, 2H, 2W, F]
        y = jnp.stack([jnp.stack(row, axis=3) for row in phases], axis=2)
        b, h, _, w, _, f = y.shape
        y = y.reshape(b, 2 * h, 2 * w, f)
        if self.use_bias:
            y = y + self.param("bias", nn.initializers.zeros, (self.features,))
        return y


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
        # Named as nn.ConvTranspose layers were, so earlier checkpoints restore.
        for i in range(stages - 1):
            features //= 2
            h = UpConv(features, use_bias=False, name=f"ConvTranspose_{i}")(h)
            h = nn.relu(_bn(train)(h))
        return UpConv(channels, name=f"ConvTranspose_{stages - 1}")(h)
