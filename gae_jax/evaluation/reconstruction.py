"""Reconstruction error of corrupted test data (paper 001, Tables I and IV).

Each clean test image x is corrupted, x~ ~ C(x~|x), encoded, decoded, and compared with the
clean x: per-pixel mean squared error between sigmoid(decoder logits) and x. Gaussian encoders
decode their posterior mean, so the score measures the encoder-decoder map rather than the
spread of q(z|x~).
"""

from __future__ import annotations

import jax

from gae_jax.corruption import Corruption
from gae_jax.evaluation.common import DecodeFn, EncodeFn, MeanStderr, mean_and_stderr
from gae_jax.losses import mean_squared_error


def corrupted_reconstruction_errors(
    rng_key: jax.Array,
    images: jax.Array,
    encode_fn: EncodeFn,
    decode_fn: DecodeFn,
    corruption: Corruption,
    *,
    batch_size: int = 500,
) -> jax.Array:
    """Per-example reconstruction MSE of corrupted inputs against the clean images.

    Args:
      rng_key: a ``jax.random.key`` for the corruption.
      images: float32[N, H, W, C] clean images in [0, 1].
      encode_fn: ``x -> (mean, log_var)``.
      decode_fn: ``z -> logits``.
      corruption: ``(key, x) -> x~``, e.g. ``gae_jax.corruption.make_corruption("gaussian",
        0.5)``; ``make_corruption("none")`` gives the uncorrupted error.
      batch_size: examples per encoder/decoder call.

    Returns:
      float32[N]: mean over pixels of (sigmoid(decode(encode(C(x)))) - x)^2.
    """
    keys = jax.random.split(rng_key, images.shape[0])

    def error(key, x):  # one example: key[], float32[H, W, C] -> float32[]
        x = x[None]
        mean, _ = encode_fn(corruption(key, x))
        return mean_squared_error(decode_fn(mean), x)[0]

    batch_size = min(batch_size, images.shape[0])
    return jax.lax.map(lambda args: error(*args), (keys, images), batch_size=batch_size)


def corrupted_reconstruction_error(
    rng_key: jax.Array,
    images: jax.Array,
    encode_fn: EncodeFn,
    decode_fn: DecodeFn,
    corruption: Corruption,
    *,
    batch_size: int = 500,
) -> MeanStderr:
    """Paper 001's reconstruction score: the mean and standard error over test examples of
    :func:`corrupted_reconstruction_errors` (same arguments)."""
    return mean_and_stderr(
        corrupted_reconstruction_errors(
            rng_key, images, encode_fn, decode_fn, corruption, batch_size=batch_size
        )
    )
