"""Shared pieces of the evaluation measures: summaries and batched application.

The measures are written against plain functions so they do not depend on Flax internals:

* ``encode_fn(x: float32[B, H, W, C]) -> (mean: float32[B, D], log_var: float32[B, D] | None)``
* ``decode_fn(z: float32[B, D]) -> logits: float32[B, H, W, C]``

Build both from a model with the one adapter, :func:`gae_jax.models.autoencoder_fns`, with the
variables bound: ``functools.partial(fns.encode, variables)`` and
``functools.partial(fns.decode_logits, variables)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import numpy as np

EncodeFn = Callable[[jax.Array], tuple[jax.Array, jax.Array | None]]
DecodeFn = Callable[[jax.Array], jax.Array]


class MeanStderr(NamedTuple):
    """A sample mean and its standard error ``std(ddof=1) / sqrt(n)``."""

    mean: float
    stderr: float


def mean_and_stderr(values) -> MeanStderr:
    """Summarises per-example values.

    Args:
      values: float[N], N >= 2.

    Returns:
      The mean and the standard error of the mean (unbiased variance, ``ddof=1``).
    """
    values = np.asarray(values, np.float64).reshape(-1)
    if values.size < 2:
        raise ValueError(f"need at least 2 values for a standard error, got {values.size}")
    return MeanStderr(float(values.mean()), float(values.std(ddof=1) / np.sqrt(values.size)))


def apply_in_batches(fn: Callable, x: jax.Array, batch_size: int):
    """Applies a batch function to ``x`` in batches of at most ``batch_size`` rows.

    ``jax.lax.map`` keeps peak memory at one batch and compiles one loop, so this works for
    datasets far larger than what a single call of ``fn`` could hold.

    Args:
      fn: maps float32[B, ...] to a pytree of arrays with leading axis B; it must treat rows
        independently (true for networks in evaluation mode).
      x: float32[N, ...].
      batch_size: rows per call of ``fn``.

    Returns:
      The pytree ``fn(x)`` would return, with leading axis N.
    """
    per_example = lambda xi: jax.tree.map(lambda a: a[0], fn(xi[None]))
    return jax.lax.map(per_example, x, batch_size=min(batch_size, x.shape[0]))


def encode_dataset(encode_fn: EncodeFn, images: jax.Array, batch_size: int = 500) -> jax.Array:
    """The posterior means of a whole dataset, e.g. the features of the SVM probes.

    Args:
      encode_fn: ``x -> (mean, log_var)``.
      images: float32[N, H, W, C].
      batch_size: examples per encoder call.

    Returns:
      float32[N, D].
    """
    return apply_in_batches(lambda x: encode_fn(x)[0], images, batch_size)
