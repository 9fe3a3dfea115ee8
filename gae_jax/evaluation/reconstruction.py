"""Reconstruction error of corrupted test data (paper 001, Tables I and IV).

Each clean test image x is corrupted, x~ ~ C(x~|x), encoded, decoded, and compared with the
clean x: per-pixel mean squared error between sigmoid(decoder logits) and x. Gaussian encoders
decode their posterior mean, so the score measures the encoder-decoder map rather than the
spread of q(z|x~).
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, PartitionSpec

from gae_jax import parallel
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
    mesh: Mesh | None = None,
) -> jax.Array:
    """Per-example reconstruction MSE of corrupted inputs against the clean images.

    Args:
      rng_key: a ``jax.random.key`` for the corruption.
      images: float32[N, H, W, C] clean images in [0, 1].
      encode_fn: ``x -> (mean, log_var)``.
      decode_fn: ``z -> logits``.
      corruption: ``(key, x) -> x~``, e.g. ``gae_jax.corruption.make_corruption("gaussian",
        0.5)``; ``make_corruption("none")`` gives the uncorrupted error.
      batch_size: examples per encoder/decoder call (per device with a mesh).
      mesh: a 1-D device mesh (of one or several processes) to split the examples over, each
        device scoring its share in batches; ``images`` must then be a host value, the same on
        every process, and the result is a numpy array on every process. Example i gets the same
        corruption key either way, so its error is the same up to float rounding. None: the
        default device.

    Returns:
      float32[N]: mean over pixels of (sigmoid(decode(encode(C(x)))) - x)^2.
    """
    keys = jax.random.split(rng_key, images.shape[0])

    def errors(key_data, x):  # uint32[n, ...], float32[n, H, W, C] -> float32[n]
        def error(key, x):  # one example: key[], float32[H, W, C] -> float32[]
            x = x[None]
            mean, _ = encode_fn(corruption(key, x))
            return mean_squared_error(decode_fn(mean), x)[0]

        keys = jax.random.wrap_key_data(key_data, impl=jax.random.key_impl(rng_key))
        return jax.lax.map(lambda a: error(*a), (keys, x), batch_size=min(batch_size, x.shape[0]))

    key_data = jax.random.key_data(keys)
    if mesh is None:
        return errors(key_data, images)
    (axis,) = mesh.axis_names
    sharded_keys, n = parallel.shard_padded(np.asarray(key_data), mesh)
    sharded_images, _ = parallel.shard_padded(np.asarray(images, np.float32), mesh)
    split = PartitionSpec(axis)
    per_device = jax.shard_map(errors, mesh=mesh, in_specs=(split, split), out_specs=split)
    return parallel.gather(jax.jit(per_device)(sharded_keys, sharded_images))[:n]


def corrupted_reconstruction_error(
    rng_key: jax.Array,
    images: jax.Array,
    encode_fn: EncodeFn,
    decode_fn: DecodeFn,
    corruption: Corruption,
    *,
    batch_size: int = 500,
    mesh: Mesh | None = None,
) -> MeanStderr:
    """Paper 001's reconstruction score: the mean and standard error over test examples of
    :func:`corrupted_reconstruction_errors` (same arguments)."""
    return mean_and_stderr(
        corrupted_reconstruction_errors(
            rng_key, images, encode_fn, decode_fn, corruption, batch_size=batch_size, mesh=mesh
        )
    )
