"""Precision, recall, density and coverage: sample quality and diversity measured apart.

Fréchet distance and Parzen windows each fold quality and diversity into one number, so a
chain that sharpens samples while dropping modes can look better or worse depending on which
effect wins. The k-nearest-neighbour manifold measures keep them apart. Let ``r_1..r_N`` be
features of real data, ``f_1..f_M`` features of samples, ``NND_k(a)`` the distance from ``a``
to its k-th nearest neighbour in its own set (itself excluded), and ``B(a, s)`` the closed ball
of radius ``s`` around ``a``:

* **precision** (Kynkäänniemi et al. 2019): the fraction of samples inside the real manifold
  ``U_i B(r_i, NND_k(r_i))`` -- how many samples look real;
* **recall** (same paper): the fraction of real points inside the sample manifold
  ``U_j B(f_j, NND_k(f_j))`` -- how much of the data the samples reach;
* **density** (Naeem et al. 2020): ``(1 / kM) sum_j sum_i 1[f_j in B(r_i, NND_k(r_i))]``, how
  many real balls contain each sample on average, over k. It is about 1 when samples follow
  the data distribution, exceeds 1 where samples crowd into dense regions, and unlike precision
  is not inflated by a few real outliers with huge balls;
* **coverage** (same paper): the fraction of real points whose own ball contains at least one
  sample, ``(1/N) sum_i 1[exists j: f_j in B(r_i, NND_k(r_i))]``. It uses only real balls,
  so outlying samples cannot inflate it as they can recall.

Both papers use k = 3 for precision/recall; Naeem et al. use k = 5 for density/coverage with
their sample sizes. We use one k for all four (default 3), as issue 16 asks.

Balls are closed (``<=``, Kynkäänniemi et al.'s definition; the ``prdc`` package uses ``<``),
and a point within float32 round-off of a ball's edge counts as inside. Edges matter when
samples coincide with real points: the k-th neighbour that defines a radius lies exactly on
the edge, and its distance recomputed in another block or order can round either way. So
identical sets give density exactly (k + 1) / k (each ball holds its centre and k neighbours),
while independent draws of one distribution give density 1 in expectation.

Distances: squared Euclidean distances from ``|a|^2 + |b|^2 - 2 a.b`` (one matrix product per
block of rows), after subtracting the real features' mean (translation invariant, and smaller
norms mean less cancellation); their absolute round-off is a few float32 epsilons times
``|a|^2 + |b|^2``, and the edge tolerance is 4 epsilons times that. (Where nearest-neighbour
distances are 1e-4 of the norms, e.g. tight clusters far from the mean, round-off is as large
as some neighbour gaps and a few ties in a thousand can still go either way.)

Only ``block_size`` rows of a distance matrix exist at a time (``lax.map`` / ``lax.scan`` over
row blocks): a few ``block_size x max(N, M)`` float32 arrays, about 0.2 GB for 10,000 x 10,000
feature sets at the default ``block_size=1024``, which take about 2 s on two CPU cores. Everything
is pure ``jax.numpy``; the blocked kernels are jitted, so repeated calls with the same shapes do
not recompile, and callers may jit the public functions with
``static_argnames=("k", "block_size")``.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

__all__ = ["PRDC", "manifold_radii", "per_step_prdc", "prdc"]


class PRDC(NamedTuple):
    """The four measures, each a float32 scalar in [0, 1] (density can exceed 1)."""

    precision: jax.Array
    recall: jax.Array
    density: jax.Array
    coverage: jax.Array


def _check_features(name: str, features: jax.Array, k: int) -> None:
    if features.ndim != 2:
        raise ValueError(f"{name} must be float[N, F], got shape {features.shape}")
    if features.shape[0] <= k:
        raise ValueError(
            f"{name} needs more than k = {k} points for k-nearest-neighbour radii, "
            f"got {features.shape[0]}"
        )


def _blocks(x: jax.Array, block_size: int) -> tuple[jax.Array, jax.Array]:
    """Pads the rows of ``x: [N, F]`` to a multiple of ``block_size``; returns the blocks
    ``[N_blocks, block_size, F]`` and a validity mask ``bool[N_blocks, block_size]``."""
    n = x.shape[0]
    block_size = max(1, min(block_size, n))
    num_blocks = -(-n // block_size)
    pad = num_blocks * block_size - n
    padded = jnp.pad(x, ((0, pad), (0, 0)))
    valid = jnp.arange(num_blocks * block_size) < n
    return (
        padded.reshape(num_blocks, block_size, x.shape[1]),
        valid.reshape(num_blocks, block_size),
    )


# Squared distances within this multiple of |a|^2 + |b|^2 of a ball's squared radius are ties.
_EDGE_TOLERANCE = 4 * float(jnp.finfo(jnp.float32).eps)


def _sq_distances(a: jax.Array, b: jax.Array, b_sq_norms: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Squared distances float32[Ra, Rb], clipped at 0 (round-off can make them negative), and
    their round-off tolerance float32[Ra, Rb] (see the module docstring)."""
    a_sq = jnp.sum(jnp.square(a), axis=-1)
    norms = a_sq[:, None] + b_sq_norms[None, :]
    d2 = norms - 2.0 * jnp.matmul(a, b.T, precision="highest")
    return jnp.maximum(d2, 0.0), _EDGE_TOLERANCE * norms


@functools.partial(jax.jit, static_argnames=("k", "block_size"))
def _kth_nn_sq_radii(x: jax.Array, k: int, block_size: int) -> jax.Array:
    """float32[N]: squared distance from each row of ``x`` to its k-th nearest other row."""
    sq_norms = jnp.sum(jnp.square(x), axis=-1)
    blocks, _ = _blocks(x, block_size)

    def block_radii(block):
        d2, _ = _sq_distances(block, x, sq_norms)
        # The k + 1 smallest include the point itself (distance ~0); the last is the k-th other.
        smallest = -lax.top_k(-d2, k + 1)[0]
        return smallest[:, k]

    return lax.map(block_radii, blocks).reshape(-1)[: x.shape[0]]


def manifold_radii(features: jax.Array, k: int = 3, *, block_size: int = 1024) -> jax.Array:
    """k-nearest-neighbour radii ``NND_k`` of a feature set (each point's own ball).

    Args:
      features: float32[N, F], N > k.
      k: which neighbour; the point itself is not counted.
      block_size: rows of the [N, N] distance matrix held at once.

    Returns:
      float32[N], the Euclidean distance from each point to its k-th nearest neighbour.
    """
    features = jnp.asarray(features, jnp.float32)
    _check_features("features", features, k)
    centred = features - jnp.mean(features, axis=0)
    return jnp.sqrt(_kth_nn_sq_radii(centred, k, block_size))


@functools.partial(jax.jit, static_argnames=("k", "block_size"))
def _prdc_given_real_radii(
    real: jax.Array, real_sq_radii: jax.Array, fake: jax.Array, k: int, block_size: int
) -> PRDC:
    """The four measures for centred ``real: [N, F]`` with squared radii ``[N]`` and centred
    ``fake: [M, F]``."""
    num_real = real.shape[0]
    fake_sq_radii = _kth_nn_sq_radii(fake, k, block_size)
    real_sq_norms = jnp.sum(jnp.square(real), axis=-1)
    fake_blocks, fake_valid = _blocks(fake, block_size)
    radius_blocks, _ = _blocks(fake_sq_radii[:, None], block_size)

    def scan_block(carry, inputs):
        covered, reached = carry  # bool[N], bool[N]: over the fake blocks seen so far
        block, valid, radius = inputs  # [b, F], bool[b], [b, 1]
        d2, tolerance = _sq_distances(block, real, real_sq_norms)  # [b, N]
        in_real_ball = (d2 <= real_sq_radii[None, :] + tolerance) & valid[:, None]
        count = jnp.sum(in_real_ball, axis=-1)  # real balls around each sample
        in_fake_ball = (d2 <= radius + tolerance) & valid[:, None]
        covered = covered | jnp.any(in_real_ball, axis=0)
        reached = reached | jnp.any(in_fake_ball, axis=0)
        return (covered, reached), count

    init = (jnp.zeros((num_real,), bool), jnp.zeros((num_real,), bool))
    (covered, reached), counts = lax.scan(
        scan_block, init, (fake_blocks, fake_valid, radius_blocks)
    )
    counts = counts.reshape(-1)[: fake.shape[0]].astype(jnp.float32)
    return PRDC(
        precision=jnp.mean(counts > 0, dtype=jnp.float32),
        recall=jnp.mean(reached, dtype=jnp.float32),
        density=jnp.mean(counts) / k,
        coverage=jnp.mean(covered, dtype=jnp.float32),
    )


def prdc(
    real_features: jax.Array,
    fake_features: jax.Array,
    k: int = 3,
    *,
    block_size: int = 1024,
) -> PRDC:
    """Improved precision/recall and density/coverage of samples against real data.

    Args:
      real_features: float32[N, F], e.g. a reference classifier's penultimate features of
        held-out real images; N > k.
      fake_features: float32[M, F], the same features of samples; M > k.
      k: neighbour defining each point's ball (3 in Kynkäänniemi et al. 2019).
      block_size: rows of each distance matrix held at once; memory is about
        ``block_size * max(N, M) * 4`` bytes (plus ``top_k``'s workspace).

    Returns:
      :class:`PRDC` of float32 scalars. Identical sets give precision = recall = coverage = 1
      and density near 1.
    """
    real = jnp.asarray(real_features, jnp.float32)
    fake = jnp.asarray(fake_features, jnp.float32)
    _check_features("real_features", real, k)
    _check_features("fake_features", fake, k)
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"feature sizes differ: real {real.shape}, fake {fake.shape}")
    centre = jnp.mean(real, axis=0)
    real, fake = real - centre, fake - centre
    return _prdc_given_real_radii(real, _kth_nn_sq_radii(real, k, block_size), fake, k, block_size)


def per_step_prdc(
    real_features: jax.Array,
    step_features: jax.Array,
    k: int = 3,
    *,
    block_size: int = 1024,
) -> dict[str, jax.Array]:
    """:func:`prdc` of each recorded chain step's samples against the same real features.

    The real radii are computed once and the steps run under one ``lax.map``.

    Args:
      real_features: float32[N, F].
      step_features: float32[S, M, F], the features of the M chains' samples at each of S steps.
      k: see :func:`prdc`.
      block_size: see :func:`prdc`.

    Returns:
      ``{"precision", "recall", "density", "coverage"}``, each float32[S].
    """
    real = jnp.asarray(real_features, jnp.float32)
    steps = jnp.asarray(step_features, jnp.float32)
    _check_features("real_features", real, k)
    if steps.ndim != 3:
        raise ValueError(f"step_features must be float[S, M, F], got shape {steps.shape}")
    _check_features("step_features[0]", steps[0], k)
    if steps.shape[2] != real.shape[1]:
        raise ValueError(f"feature sizes differ: real {real.shape}, steps {steps.shape}")
    return _per_step(real, steps, k, block_size)._asdict()


@functools.partial(jax.jit, static_argnames=("k", "block_size"))
def _per_step(real: jax.Array, steps: jax.Array, k: int, block_size: int) -> PRDC:
    centre = jnp.mean(real, axis=0)
    real = real - centre
    real_sq_radii = _kth_nn_sq_radii(real, k, block_size)
    return lax.map(
        lambda fake: _prdc_given_real_radii(real, real_sq_radii, fake - centre, k, block_size),
        steps,
    )
