"""Parzen-window (isotropic Gaussian kernel density) log-likelihood, as in paper 001 App. E/F.

A kernel density with bandwidth ``sigma`` is fitted to generated samples s_1..s_N and scored on
real data:

    log p(x) = logsumexp_i[-|x - s_i|^2 / (2 sigma^2)] - log N - (D / 2) log(2 pi sigma^2).

The sum over samples is a streaming logsumexp over blocks of both samples and test points, so
memory stays at one ``[num_sigmas, point_chunk, sample_chunk]`` block: 10^4 samples x 10^4 test
points of 784 pixels need about 40 MB with the default chunks. All candidate bandwidths are
scored in the same pass because the squared distances, the expensive part, do not depend on it.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, PartitionSpec

from gae_jax import parallel
from gae_jax.evaluation.common import mean_and_stderr

# Paper 001 App. E-D: 10 values evenly spaced on a log axis between 10^-1 and 10^0.
PAPER_BANDWIDTHS = tuple(float(s) for s in np.logspace(-1.0, 0.0, 10))


def _blocks(x: jax.Array, chunk: int) -> tuple[jax.Array, jax.Array]:
    """Zero-pads float32[N, D] to a multiple of ``chunk`` rows -> ([B, chunk, D], valid[B, chunk])."""
    n = x.shape[0]
    num_blocks = -(-n // chunk)
    pad = num_blocks * chunk - n
    padded = jnp.pad(x, ((0, pad), (0, 0)))
    valid = jnp.arange(num_blocks * chunk) < n
    return padded.reshape(num_blocks, chunk, -1), valid.reshape(num_blocks, chunk)


def parzen_log_density(
    samples: jax.Array,
    points: jax.Array,
    sigmas: jax.Array,
    *,
    sample_chunk: int = 1000,
    point_chunk: int = 1000,
    mesh: Mesh | None = None,
) -> jax.Array:
    """Log-density of ``points`` under Gaussian kernel densities on ``samples``, for each sigma.

    Args:
      samples: float32[N, ...] kernel centres (generated samples); trailing axes are flattened.
      points: float32[M, ...] points to score, with the same trailing shape.
      sigmas: float32[S] kernel standard deviations (sklearn's ``bandwidth``).
      sample_chunk: samples per block (static).
      point_chunk: points per block (static).
      mesh: a 1-D device mesh (of one or several processes) to split the points over, each
        device scoring its share against all samples; then ``samples``, ``points`` and
        ``sigmas`` must be host values, the same on every process. None: the default device.

    Returns:
      float32[S, M]: log p(points[m]) under the density with bandwidth sigmas[s]; with a mesh,
      a numpy array on every process.
    """
    if mesh is None:
        return _log_density(
            samples, points, sigmas, sample_chunk=sample_chunk, point_chunk=point_chunk
        )
    m = np.shape(points)[0]
    flat = np.asarray(points, np.float32).reshape(m, -1)
    sharded, _ = parallel.shard_padded(flat, mesh)
    score = _sharded_log_density(mesh, sample_chunk, point_chunk)
    replicated = parallel.replicate(
        (np.asarray(samples, np.float32), np.asarray(sigmas, np.float32).reshape(-1)), mesh
    )
    return parallel.gather(score(replicated[0], sharded, replicated[1]))[:, :m]


@functools.lru_cache(maxsize=8)
def _sharded_log_density(mesh: Mesh, sample_chunk: int, point_chunk: int):
    """The compiled :func:`parzen_log_density` with points split over ``mesh``: every device
    scores its share of the points against all (replicated) samples."""
    (axis,) = mesh.axis_names
    per_device = functools.partial(
        _log_density_body, sample_chunk=sample_chunk, point_chunk=point_chunk
    )
    return jax.jit(
        jax.shard_map(
            per_device,
            mesh=mesh,
            in_specs=(PartitionSpec(), PartitionSpec(axis), PartitionSpec()),
            out_specs=PartitionSpec(None, axis),
        )
    )


@functools.partial(jax.jit, static_argnames=("sample_chunk", "point_chunk"))
def _log_density(samples, points, sigmas, *, sample_chunk, point_chunk):
    return _log_density_body(
        samples, points, sigmas, sample_chunk=sample_chunk, point_chunk=point_chunk
    )


def _log_density_body(samples, points, sigmas, *, sample_chunk, point_chunk):
    """:func:`parzen_log_density` on one device: float32[S, M]."""
    samples = samples.reshape(samples.shape[0], -1).astype(jnp.float32)
    points = points.reshape(points.shape[0], -1).astype(jnp.float32)
    sigmas = jnp.asarray(sigmas, jnp.float32).reshape(-1)
    n, dim = samples.shape
    m = points.shape[0]
    # Distances are translation invariant; centring shrinks the norms and so the float32
    # cancellation in |x|^2 + |s|^2 - 2 x.s, which lets us use a matmul instead of differences.
    centre = samples.mean(axis=0)
    sample_blocks, sample_valid = _blocks(samples - centre, min(sample_chunk, n))
    point_blocks, _ = _blocks(points - centre, min(point_chunk, m))
    sample_sq = jnp.sum(jnp.square(sample_blocks), axis=-1)
    neg_inv_two_var = -0.5 / jnp.square(sigmas)

    def score_point_block(p):  # float32[pc, D] -> float32[S, pc]
        p_sq = jnp.sum(jnp.square(p), axis=-1)

        def score_sample_block(carry, block):
            s, s_sq, valid = block
            sq_dist = jnp.maximum(p_sq[:, None] + s_sq[None, :] - 2.0 * p @ s.T, 0.0)
            log_kernel = neg_inv_two_var[:, None, None] * sq_dist[None]  # [S, pc, sc]
            # Padding rows are excluded from the sum rather than given a tiny weight.
            return carry, jax.nn.logsumexp(log_kernel, axis=-1, where=valid[None, None, :])

        _, per_block = jax.lax.scan(
            score_sample_block, None, (sample_blocks, sample_sq, sample_valid)
        )
        return jax.nn.logsumexp(per_block, axis=0)

    log_sums = jax.lax.map(score_point_block, point_blocks)  # [num_point_blocks, S, pc]
    log_sums = jnp.moveaxis(log_sums, 1, 0).reshape(sigmas.shape[0], -1)[:, :m]
    log_norm = jnp.log(n) + 0.5 * dim * jnp.log(2.0 * jnp.pi * jnp.square(sigmas))
    return log_sums - log_norm[:, None]


def parzen_log_likelihood(
    samples: jax.Array,
    points: jax.Array,
    sigma: float,
    *,
    sample_chunk: int = 1000,
    point_chunk: int = 1000,
    mesh: Mesh | None = None,
) -> jax.Array:
    """Per-point log-likelihood under one Parzen window.

    Args:
      samples: float32[N, ...] kernel centres.
      points: float32[M, ...] points to score.
      sigma: kernel standard deviation.
      sample_chunk: samples per block.
      point_chunk: points per block.
      mesh: devices to split the points over (see :func:`parzen_log_density`).

    Returns:
      float32[M].
    """
    return parzen_log_density(
        samples,
        points,
        np.asarray([sigma], np.float32),
        sample_chunk=sample_chunk,
        point_chunk=point_chunk,
        mesh=mesh,
    )[0]


class BandwidthSelection(NamedTuple):
    sigma: float  # the bandwidth with the highest mean validation log-likelihood
    sigmas: np.ndarray  # float64[S], the candidates
    validation_log_likelihood: np.ndarray  # float64[S], mean validation log-likelihood of each


def select_bandwidth(
    samples: jax.Array,
    validation: jax.Array,
    sigmas=PAPER_BANDWIDTHS,
    *,
    sample_chunk: int = 1000,
    point_chunk: int = 1000,
    mesh: Mesh | None = None,
) -> BandwidthSelection:
    """Picks the bandwidth that maximises the mean log-likelihood of a validation set.

    Args:
      samples: float32[N, ...] kernel centres.
      validation: float32[M, ...] held-out real data (disjoint from the test set).
      sigmas: candidate bandwidths; paper 001's 10 log-spaced values in [0.1, 1] by default.
      sample_chunk: samples per block.
      point_chunk: points per block.
      mesh: devices to split the validation points over (see :func:`parzen_log_density`).

    Returns:
      The chosen sigma, the candidates and their mean validation log-likelihoods.
    """
    sigmas = np.asarray(sigmas, np.float64).reshape(-1)
    if sigmas.size == 0 or np.any(sigmas <= 0):
        raise ValueError(f"sigmas must be a non-empty list of positive numbers, got {sigmas}")
    log_density = parzen_log_density(
        samples, validation, sigmas, sample_chunk=sample_chunk, point_chunk=point_chunk, mesh=mesh
    )
    mean_ll = np.asarray(log_density, np.float64).mean(axis=1)
    return BandwidthSelection(float(sigmas[np.argmax(mean_ll)]), sigmas, mean_ll)


class ParzenResult(NamedTuple):
    mean: float  # mean test log-likelihood (nats per example)
    stderr: float  # its standard error over test examples
    sigma: float  # the bandwidth chosen on the validation set
    selection: BandwidthSelection


def parzen_evaluate(
    samples: jax.Array,
    validation: jax.Array,
    test: jax.Array,
    sigmas=PAPER_BANDWIDTHS,
    *,
    sample_chunk: int = 1000,
    point_chunk: int = 1000,
    mesh: Mesh | None = None,
) -> ParzenResult:
    """Paper 001's Parzen protocol: choose sigma on ``validation``, report the test mean and s.e.

    Args:
      samples: float32[N, ...] generated samples (10^4 in paper 001 for MNIST).
      validation: float32[V, ...] real validation data.
      test: float32[M, ...] real test data.
      sigmas: candidate bandwidths.
      sample_chunk: samples per block.
      point_chunk: points per block.
      mesh: devices to split the validation and test points over (see
        :func:`parzen_log_density`).

    Returns:
      A :class:`ParzenResult`.
    """
    chunks = dict(sample_chunk=sample_chunk, point_chunk=point_chunk, mesh=mesh)
    selection = select_bandwidth(samples, validation, sigmas, **chunks)
    test_ll = parzen_log_likelihood(samples, test, selection.sigma, **chunks)
    summary = mean_and_stderr(test_ll)
    return ParzenResult(summary.mean, summary.stderr, selection.sigma, selection)
