"""Initial states for the samplers: prior draws, noise images, data encodings and slerp paths.

Every function returns arrays with the chain axis first and, like the kernels, draws chain
``i``'s randomness from ``fold_in(rng_key, i)``, so chain ``i`` starts at the same point however
many chains run and however they are sharded.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp

from gae_jax.models.adapter import EncodeFn
from gae_jax.samplers.base import chain_keys
from gae_jax.types import ArrayTree, PRNGKey

# Anything with ``sample(key, n) -> float32[n, D]`` (e.g. the priors of gae_jax.priors), or a
# function ``(key, n) -> float32[n, D]``.
Prior = Any


def normal_noise(rng_key: PRNGKey, num_chains: int, shape: Sequence[int]) -> jax.Array:
    """N(0, I) draws: float32[num_chains, *shape] (prior codes, or paper 002's x_0)."""
    return jax.vmap(lambda k: jax.random.normal(k, tuple(shape)))(chain_keys(rng_key, num_chains))


def uniform_noise(
    rng_key: PRNGKey,
    num_chains: int,
    shape: Sequence[int],
    minval: float = 0.0,
    maxval: float = 1.0,
) -> jax.Array:
    """U(minval, maxval) draws: float32[num_chains, *shape] (paper 003's x_0 ~ U(0, 1))."""
    return jax.vmap(lambda k: jax.random.uniform(k, tuple(shape), minval=minval, maxval=maxval))(
        chain_keys(rng_key, num_chains)
    )


def prior_samples(
    rng_key: PRNGKey, num_chains: int, latent_dim: int, prior: Prior | None = None
) -> jax.Array:
    """Codes z_0 ~ P(Z): float32[num_chains, latent_dim].

    Args:
      prior: None for the standard normal N(0, I); otherwise an object with
        ``sample(key, n)`` or a function ``(key, n)``, returning float32[n, latent_dim]. Its
        draws are only as sharding-invariant as its own sampling.
    """
    if prior is None:
        return normal_noise(rng_key, num_chains, (latent_dim,))
    sample = prior.sample if hasattr(prior, "sample") else prior
    z = sample(rng_key, num_chains)
    if z.shape != (num_chains, latent_dim):
        raise ValueError(f"prior returned shape {z.shape}, expected {(num_chains, latent_dim)}")
    return z


def encode_data(
    rng_key: PRNGKey, encode_fn: EncodeFn, variables: ArrayTree, x: jax.Array
) -> jax.Array:
    """Codes of data ``x: float32[chains, *x_shape]``, one encoder draw per chain."""
    return encode_fn(chain_keys(rng_key, x.shape[0]), variables, x)


def slerp(z0: jax.Array, z1: jax.Array, t: jax.Array) -> jax.Array:
    """Spherical linear interpolation (White, 2016) between ``z0, z1: float32[D]``.

    ``slerp(t) = sin((1 - t) W) / sin W * z0 + sin(t W) / sin W * z1`` with W the angle
    between z0 and z1: the path sweeps the angle at constant speed, and keeps a constant norm
    when the endpoints share one (unlike the linear path, which cuts through the low-density
    centre of a Gaussian prior). Falls back to linear interpolation for (anti)parallel
    endpoints, where the great circle is undefined.

    Args:
      t: float32[T], interpolation times (0 gives z0, 1 gives z1).

    Returns:
      float32[T, D].
    """
    cos = jnp.dot(z0, z1) / (jnp.linalg.norm(z0) * jnp.linalg.norm(z1))
    parallel = jnp.abs(cos) > 1.0 - 1e-6
    # Feeding arccos a harmless value on the fallback branch keeps gradients finite there.
    omega = jnp.arccos(jnp.where(parallel, 0.0, cos))
    sin = jnp.sin(omega)
    t = jnp.asarray(t, z0.dtype)[:, None]
    w0 = jnp.where(parallel, 1.0 - t, jnp.sin((1.0 - t) * omega) / sin)
    w1 = jnp.where(parallel, t, jnp.sin(t * omega) / sin)
    return w0 * z0 + w1 * z1


def slerp_paths(starts: jax.Array, ends: jax.Array, num_points: int) -> jax.Array:
    """``num_points`` evenly spaced slerp points from each start to its end, endpoints included.

    Args:
      starts, ends: float32[pairs, D], e.g. encodings of test images.

    Returns:
      float32[pairs, num_points, D]; ``reshape(-1, D)`` turns the paths into chains whose
      interpolated codes the latent chain then refines (paper 000 Fig. 2).
    """
    t = jnp.linspace(0.0, 1.0, num_points)
    return jax.vmap(slerp, in_axes=(0, 0, None))(starts, ends, t)


__all__ = [
    "encode_data",
    "normal_noise",
    "prior_samples",
    "slerp",
    "slerp_paths",
    "uniform_noise",
]
