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


def upconv_phases(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """``lax.conv_transpose(x, kernel, (2, 2), "SAME")`` for a 4x4 kernel, as four stride-1 convs.

    x: float32[B, H, W, C], kernel: float32[4, 4, C, F] -> float32[B, 2H, 2W, F].

    With the transposed convolution's SAME padding of 2 on each side,
    ``y[2m + p] = x[m + p - 1] w[p] + x[m + p] w[p + 2]`` along each spatial axis, for phase
    p in {0, 1}: the taps ``w[p::2]`` over ``x`` padded by one row before (p = 0) or after
    (p = 1). The four phases are then interleaved. Their gradients are stride-1 convolutions too.
    """
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
    return y.reshape(b, 2 * h, 2 * w, f)


def downconv_space_to_depth(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """``lax.conv_general_dilated(x, kernel, (2, 2), "SAME")`` for a 4x4 kernel, as a stride-1
    2x2 convolution of the input rearranged space-to-depth.

    x: float32[B, H, W, C], kernel: float32[4, 4, C, F] -> float32[B, ceil(H/2), ceil(W/2), F].

    SAME pads one row before and 1 (H even) or 2 (H odd) after, so the padded input has
    2 (ceil(H/2) + 1) rows, and along each spatial axis
    ``y[i] = sum_k xpad[2i + k] w[k] = sum_{a, r in {0, 1}} xs[i + a, r] w[2a + r]`` with
    ``xs[j, r] = xpad[2j + r]``: a VALID 2x2 convolution of xs, whose 2 x 2 x C channels are
    (r, s, c), with the kernel ``w[2a + r, 2b + s, c]`` at tap (a, b). Unlike the stride-2
    convolution, whose gradients XLA's CPU backend computes as dilated convolutions on a slow
    generic path, its gradients are stride-1 convolutions.
    """
    b, h, w, c = x.shape
    oh, ow = -(-h // 2), -(-w // 2)
    xp = jnp.pad(x, ((0, 0), (1, 2 * oh + 1 - h), (1, 2 * ow + 1 - w), (0, 0)))
    # [B, oh + 1, 2 (r), ow + 1, 2 (s), C] -> [B, oh + 1, ow + 1, (r, s, C)]
    xs = xp.reshape(b, oh + 1, 2, ow + 1, 2, c).transpose(0, 1, 3, 2, 4, 5)
    xs = xs.reshape(b, oh + 1, ow + 1, 4 * c)
    # [2 (a), 2 (r), 2 (b), 2 (s), C, F] -> [a, b, (r, s, C), F]
    f = kernel.shape[-1]
    k = kernel.reshape(2, 2, 2, 2, c, f).transpose(0, 2, 1, 3, 4, 5).reshape(2, 2, 4 * c, f)
    return jax.lax.conv_general_dilated(
        xs, k, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC")
    )


# UpConv computes at least this many output features as phases; fewer (the decoders' image
# layers) with lax.conv_transpose, which is faster there (python -m benchmarks.conv_layers).
PHASES_MIN_FEATURES = 8


class UpConv(nn.Module):
    """``nn.ConvTranspose(features, (4, 4), strides=(2, 2), padding="SAME")``, computed fast.

    x: float32[B, H, W, C] -> float32[B, 2H, 2W, features], with the same parameters (names,
    shapes, initialisation) and the same values up to float rounding.

    XLA's CPU backend runs a transposed convolution as a convolution of the input dilated with
    zeros, on a slow generic path: about a seventh of the speed of an ordinary convolution
    (``python -m benchmarks.conv_layers``). From :data:`PHASES_MIN_FEATURES` output features on,
    the layer is :func:`upconv_phases`, four ordinary stride-1 convolutions; below (a 1- or
    3-channel image), ``lax.conv_transpose`` as in flax, which is faster there.
    """

    features: int
    use_bias: bool = True

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel = self.param(
            "kernel", nn.initializers.lecun_normal(), (4, 4, x.shape[-1], self.features)
        )
        if self.features >= PHASES_MIN_FEATURES:
            y = upconv_phases(x, kernel)
        else:
            y = jax.lax.conv_transpose(
                x, kernel, (2, 2), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
            )
        if self.use_bias:
            y = y + self.param("bias", nn.initializers.zeros, (self.features,))
        return y


class DownConv(nn.Module):
    """``nn.Conv(features, (4, 4), strides=(2, 2), padding="SAME")``, computed fast.

    x: float32[B, H, W, C] -> float32[B, ceil(H/2), ceil(W/2), features], with the same
    parameters (names, shapes, initialisation) and the same values up to float rounding.

    The layer is :func:`downconv_space_to_depth`: XLA's CPU backend computes the gradients of a
    stride-2 convolution (input-dilated for the input, kernel-dilated for the kernel) on a slow
    generic path, those of this stride-1 form as ordinary convolutions
    (``python -m benchmarks.conv_layers``).
    """

    features: int
    use_bias: bool = True

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel = self.param(
            "kernel", nn.initializers.lecun_normal(), (4, 4, x.shape[-1], self.features)
        )
        y = downconv_space_to_depth(x, kernel)
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
            # Named as the nn.Conv layers were, so earlier checkpoints restore.
            h = DownConv(self.width * 2**i, use_bias=False, name=f"Conv_{i}")(h)
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
