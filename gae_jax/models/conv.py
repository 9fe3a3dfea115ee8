"""DCGAN-style convolutional encoder and decoder (paper 000 Sec. 5; Radford et al., 2015).

The encoder mirrors the DCGAN discriminator: 4x4 convolutions with stride 2 (no pooling), each
followed by batch norm and ReLU, down to a 4x4 feature map, then a linear layer to the code. The
decoder mirrors the generator: a linear layer to a small feature map, then 4x4 fractionally
strided convolutions with batch norm and ReLU, ending in a transposed convolution that emits
logits (apply a sigmoid for images). The strided convolutions are :class:`DownConv` and the
transposed ones :class:`UpConv`: the same layers (parameters, values) computed as stride-1
convolutions with canonical-layout gradients (:func:`conv_valid`), which XLA's CPU backend runs
fast inside the training loop's ``lax.scan``. Supported image sizes are 28, 32 and 64 pixels.
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


_SPEC = ("NHWC", "HWIO", "NHWC")


def _conv(x: jax.Array, kernel: jax.Array) -> jax.Array:
    return jax.lax.conv_general_dilated(x, kernel, (1, 1), "VALID", dimension_numbers=_SPEC)


@jax.custom_vjp
def conv_valid(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """The stride-1 VALID convolution x: float32[B, H, W, C], kernel: float32[h, w, C, F] ->
    float32[B, H - h + 1, W - w + 1, F], with gradients written in canonical layouts.

    Autodiff's gradients of a convolution are convolutions with swapped dimensions (the
    kernel's output and input features, the input's batch and features). XLA's CPU backend
    rearranges them into the NHWC/HWIO form its fast (Eigen) convolution takes in a jitted
    function's top level but not inside a loop body (``lax.scan``, ``while``; jax issue 12868),
    where they run on a slow generic path: 7-24x slower fwd+bwd in ``lax.scan`` here
    (``python -m benchmarks.conv_layers``). Here the input gradient is an NHWC/HWIO convolution
    of the padded output gradient with the flipped kernel, and the kernel gradient is one
    matrix product per tap, fast in a loop body too.
    """
    return _conv(x, kernel)


def _conv_valid_fwd(x, kernel):
    return _conv(x, kernel), (x, kernel)


def _conv_valid_bwd(residuals, g):
    x, kernel = residuals
    kh, kw = kernel.shape[:2]
    gp = jnp.pad(g, ((0, 0), (kh - 1, kh - 1), (kw - 1, kw - 1), (0, 0)))
    dx = _conv(gp, jnp.flip(kernel, (0, 1)).swapaxes(2, 3))
    oh, ow = g.shape[1:3]
    dk = jnp.stack(
        [
            jnp.stack(
                [jnp.einsum("nhwc,nhwf->cf", x[:, a : a + oh, b : b + ow], g) for b in range(kw)]
            )
            for a in range(kh)
        ]
    )
    return dx, dk


conv_valid.defvjp(_conv_valid_fwd, _conv_valid_bwd)


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
            conv_valid(jnp.pad(x, ((0, 0), pads[py], pads[px], (0, 0))), kernel[py::2, px::2])
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
    return conv_valid(xs, k)


# UpConv computes at least this many output features as phases. Fewer (the decoders' image
# layers) on an input of at most FALLBACK_MAX_PIXELS pixels run faster as lax.conv_transpose
# (python -m benchmarks.conv_layers, in a scan body: 14x14x64 -> 28x28x1 21 vs 88 ms), larger
# inputs as phases again (32x32x64 -> 64x64x3: 2548 vs 741 ms).
PHASES_MIN_FEATURES = 8
FALLBACK_MAX_PIXELS = 14 * 14


def upconv_uses_phases(height: int, width: int, features: int) -> bool:
    """Whether :class:`UpConv` computes an input of ``height x width`` pixels to ``features``
    outputs as :func:`upconv_phases` (else as ``lax.conv_transpose``)."""
    return features >= PHASES_MIN_FEATURES or height * width > FALLBACK_MAX_PIXELS


class _Conv4x4Stride2(nn.Module):
    """A 4x4, stride-2, SAME layer with flax's parameters (``kernel`` [4, 4, C, features] with
    flax's initialisation, ``bias`` [features]); subclasses compute it (``_compute``)."""

    features: int
    use_bias: bool = True

    def _compute(self, x: jax.Array, kernel: jax.Array) -> jax.Array:
        raise NotImplementedError

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel = self.param(
            "kernel", nn.initializers.lecun_normal(), (4, 4, x.shape[-1], self.features)
        )
        y = self._compute(x, kernel)
        if self.use_bias:
            y = y + self.param("bias", nn.initializers.zeros, (self.features,))
        return y


class UpConv(_Conv4x4Stride2):
    """``nn.ConvTranspose(features, (4, 4), strides=(2, 2), padding="SAME")``, computed fast.

    x: float32[B, H, W, C] -> float32[B, 2H, 2W, features], with the same parameters (names,
    shapes, initialisation) and the same values up to float rounding.

    XLA's CPU backend runs a transposed convolution as a convolution of the input dilated with
    zeros, on a slow generic path: about a seventh of the speed of an ordinary convolution
    (``python -m benchmarks.conv_layers``). The layer is :func:`upconv_phases`, four ordinary
    stride-1 convolutions, except for an image layer (fewer than :data:`PHASES_MIN_FEATURES`
    outputs) on an input of at most :data:`FALLBACK_MAX_PIXELS` pixels: that runs as
    ``lax.conv_transpose``, as in flax, which is faster there.
    """

    def _compute(self, x: jax.Array, kernel: jax.Array) -> jax.Array:
        if upconv_uses_phases(x.shape[1], x.shape[2], self.features):
            return upconv_phases(x, kernel)
        return jax.lax.conv_transpose(x, kernel, (2, 2), "SAME", dimension_numbers=_SPEC)


class DownConv(_Conv4x4Stride2):
    """``nn.Conv(features, (4, 4), strides=(2, 2), padding="SAME")``, computed fast.

    x: float32[B, H, W, C] -> float32[B, ceil(H/2), ceil(W/2), features], with the same
    parameters (names, shapes, initialisation) and the same values up to float rounding.

    The layer is :func:`downconv_space_to_depth`: inside a loop body, XLA's CPU backend
    computes the gradients of a stride-2 convolution (input-dilated for the input,
    kernel-dilated with swapped dimensions for the kernel) on a slow generic path, those of this
    stride-1 form (:func:`conv_valid`) as ordinary convolutions and matrix products
    (``python -m benchmarks.conv_layers``).
    """

    def _compute(self, x: jax.Array, kernel: jax.Array) -> jax.Array:
        return downconv_space_to_depth(x, kernel)


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
