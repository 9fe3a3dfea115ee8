"""Fully connected encoder and decoder (papers 001, 002, 004 use these on MNIST/Omniglot)."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

ACTIVATIONS = {"relu": nn.relu, "tanh": jnp.tanh, "leaky_relu": nn.leaky_relu, "elu": nn.elu}
# Operand dtypes of the dense layers' matrix products. Parameters, activations, accumulation
# and outputs stay float32 either way; bfloat16 halves the bytes read per weight and runs on
# the bf16 dot-product units of CPUs that have them (avx512_bf16, AMX) and of TPUs/GPUs.
MATMUL_DTYPES = ("float32", "bfloat16")


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _low_precision_matmul(x: jax.Array, w: jax.Array, dtype: str) -> jax.Array:
    """x: float32[B, K] @ w: float32[K, N] -> float32[B, N], operands rounded to ``dtype``."""
    return jnp.matmul(x.astype(dtype), w.astype(dtype), preferred_element_type=jnp.float32)


def _low_precision_matmul_fwd(x, w, dtype):
    x_low, w_low = x.astype(dtype), w.astype(dtype)
    # The rounded operands are the residuals: half the memory of float32 ones.
    return jnp.matmul(x_low, w_low, preferred_element_type=jnp.float32), (x_low, w_low)


def _low_precision_matmul_bwd(dtype, residuals, g):
    # JAX's own transpose would multiply the float32 cotangent with a bf16 operand, which XLA
    # runs in float32; rounding the cotangent keeps both backward products on the fast path.
    x_low, w_low = residuals
    g_low = g.astype(dtype)
    dx = jnp.matmul(g_low, w_low.T, preferred_element_type=jnp.float32)
    dw = jnp.matmul(x_low.T, g_low, preferred_element_type=jnp.float32)
    return dx, dw


_low_precision_matmul.defvjp(_low_precision_matmul_fwd, _low_precision_matmul_bwd)


def _low_precision_dot_general(
    lhs, rhs, dimension_numbers, precision=None, preferred_element_type=None, *, dtype
):
    """The ``dot_general`` of a ``nn.Dense`` (lhs float32[..., K], rhs float32[K, N])."""
    del precision, preferred_element_type  # fixed by the scheme: ``dtype`` in, float32 out
    if dimension_numbers != (((lhs.ndim - 1,), (0,)), ((), ())) or rhs.ndim != 2:
        raise ValueError(f"expected a dense layer's contraction, got {dimension_numbers}")
    y = _low_precision_matmul(lhs.reshape(-1, lhs.shape[-1]), rhs, dtype)
    return y.reshape(*lhs.shape[:-1], rhs.shape[1])


def dense(features: int, matmul_dtype: str = "float32") -> nn.Dense:
    """A ``nn.Dense`` whose matrix product takes ``matmul_dtype`` operands (see
    :data:`MATMUL_DTYPES`) with float32 accumulation; parameters and output are float32, so
    checkpoints do not depend on it. Gradients use the same operand dtype."""
    if matmul_dtype not in MATMUL_DTYPES:
        raise ValueError(f"matmul_dtype must be one of {MATMUL_DTYPES}, got {matmul_dtype!r}")
    if matmul_dtype == "float32":
        return nn.Dense(features)
    dot_general = functools.partial(_low_precision_dot_general, dtype=matmul_dtype)
    return nn.Dense(features, dot_general=dot_general)


# Activations of the encoder's output (the code of a deterministic encoder): "linear" (none),
# or e.g. paper 002's deep autoencoders' "relu" bottleneck.
CODE_ACTIVATIONS = ("linear", *ACTIVATIONS)
# The RNG stream of the encoder's pre-activation noise. The training steps pass it; calls
# without it (evaluation, sampling, initialisation) run the noiseless network.
NOISE_RNG = "noise"


def activation_fn(name: str):
    if name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {name!r}")
    return ACTIVATIONS[name]


class MLPEncoder(nn.Module):
    """Flattens an image and maps it through dense layers to ``out_dim`` outputs.

    Attributes:
      preactivation_noise: sigma >= 0 of the Gaussian noise N(0, sigma^2) added to the first
        layer's pre-activations (the first hidden layer's, or the output's without hidden
        layers) when the :data:`NOISE_RNG` stream is given, i.e. in training: paper 002's
        denoising autoencoders (Sec. IV-D; 0.5 on MNIST). 0: none.
      code_activation: the outputs' activation, one of :data:`CODE_ACTIVATIONS` (``linear``:
        none; paper 002's deep autoencoders have a ``relu`` bottleneck).
    """

    hidden: Sequence[int]
    out_dim: int
    activation: str = "relu"
    matmul_dtype: str = "float32"  # see MATMUL_DTYPES
    preactivation_noise: float = 0.0
    code_activation: str = "linear"

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        """x: float32[B, H, W, C] -> float32[B, out_dim]."""
        del train  # no batch norm or dropout; the noise follows the NOISE_RNG stream
        if self.code_activation not in CODE_ACTIVATIONS:
            raise ValueError(
                f"code_activation must be one of {CODE_ACTIVATIONS}, got {self.code_activation!r}"
            )
        if self.preactivation_noise < 0:
            raise ValueError(f"preactivation_noise must be >= 0, got {self.preactivation_noise}")
        linear = self.code_activation == "linear"
        code_act = (lambda h: h) if linear else activation_fn(self.code_activation)
        acts = [activation_fn(self.activation)] * len(self.hidden) + [code_act]
        widths = (*self.hidden, self.out_dim)
        h = x.reshape(x.shape[0], -1)
        for i, (width, layer_act) in enumerate(zip(widths, acts, strict=True)):
            h = dense(width, self.matmul_dtype)(h)
            if i == 0 and self.preactivation_noise > 0 and self.has_rng(NOISE_RNG):
                noise = jax.random.normal(self.make_rng(NOISE_RNG), h.shape, h.dtype)
                h = h + self.preactivation_noise * noise
            h = layer_act(h)
        return h


class MLPDecoder(nn.Module):
    """Maps a code through dense layers to per-pixel logits of shape ``image_shape``."""

    hidden: Sequence[int]
    image_shape: tuple[int, int, int]
    activation: str = "relu"
    matmul_dtype: str = "float32"  # see MATMUL_DTYPES

    @nn.compact
    def __call__(self, z: jax.Array, train: bool = False) -> jax.Array:
        """z: float32[B, D] -> logits float32[B, H, W, C]."""
        del train
        act = activation_fn(self.activation)
        h = z
        for width in self.hidden:
            h = act(dense(width, self.matmul_dtype)(h))
        size = self.image_shape[0] * self.image_shape[1] * self.image_shape[2]
        return dense(size, self.matmul_dtype)(h).reshape(z.shape[0], *self.image_shape)
