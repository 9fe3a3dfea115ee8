"""Density ascent with a denoising autoencoder in pixel space (paper 003).

A DAE trained with BCE (or MSE) on corruption N(x, sigma^2 I) satisfies
R(x) ~= x + sigma^2 grad log p(x), so iterating (eq. 10)

    x_{t+1} = R(x_t + noise_t)

climbs the data density. The optional ``noise`` (paper 003 Fig. 2 uses N(0, 0.25 I)) smooths the
density and lets samples jump between nearby modes. Start from uniform noise
(``starts.uniform_noise``; eq. 10) or from decoder samples of a generative model (eq. 11:
``z ~ N(0, I)``, ``x_0 = d(z)``). A ``reconstruct_draw`` replaces the deterministic R by one
stochastic pass ``x' ~ p(x|z), z ~ q(z|x)`` (:func:`conditionals.reconstruction_draw
<gae_jax.samplers.conditionals.reconstruction_draw>`).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from gae_jax.corruption import Corruption
from gae_jax.models.adapter import ReconstructFn
from gae_jax.samplers.base import Kernel, TransitionFn, chain_keys
from gae_jax.samplers.conditionals import ReconstructDrawFn
from gae_jax.types import ArrayTree, PRNGKey


class AscentState(NamedTuple):
    x: jax.Array  # float32[chains, *x_shape], the current image x_t


class AscentInfo(NamedTuple):
    change: jax.Array  # float32[chains], ||x_{t+1} - x_t||
    is_finite: jax.Array  # bool[chains], every entry of x_{t+1} is finite


def init(x: jax.Array) -> AscentState:
    """The state at images ``x: float32[chains, *x_shape]``."""
    return AscentState(x)


def build_kernel(
    reconstruct_fn: ReconstructFn,
    *,
    noise: Corruption | None = None,
    reconstruct_draw: ReconstructDrawFn | None = None,
) -> TransitionFn[AscentState, AscentInfo]:
    """The transition ``kernel(rng_key, state, variables) -> (AscentState, AscentInfo)``.

    Args:
      reconstruct_fn: ``(variables, x) -> R(x)``.
      noise: ``(key, x) -> x~`` applied to each chain before reconstructing, e.g.
        ``corruption.make_corruption('gaussian', 0.5)``; None for the noiseless eq. 10.
      reconstruct_draw: ``(keys: key[chains], variables, x) -> x'``, a stochastic
        reconstruction used instead of ``reconstruct_fn`` (keys derived with ``fold_in``, so
        the deterministic kernel's randomness is unchanged); None: R(x).
    """

    def kernel(rng_key: PRNGKey, state: AscentState, variables: ArrayTree):
        x = state.x
        keys = chain_keys(rng_key, x.shape[0])
        if noise is not None:
            x = jax.vmap(noise)(keys, x)
        if reconstruct_draw is None:
            new_x = reconstruct_fn(variables, x)
        else:
            recon_keys = jax.vmap(lambda k: jax.random.fold_in(k, 1))(keys)
            new_x = reconstruct_draw(recon_keys, variables, x)
        flat_new = new_x.reshape(new_x.shape[0], -1)
        info = AscentInfo(
            change=jnp.linalg.norm(flat_new - state.x.reshape(flat_new.shape), axis=1),
            is_finite=jnp.isfinite(flat_new).all(axis=1),
        )
        return AscentState(new_x), info

    return kernel


def ascent_chain(
    reconstruct_fn: ReconstructFn,
    variables: ArrayTree,
    *,
    noise: Corruption | None = None,
    reconstruct_draw: ReconstructDrawFn | None = None,
) -> Kernel:
    """Paper 003 eq. 10/11 as a Kernel; ``Kernel.init(x0)`` takes images. See
    :func:`build_kernel` for the arguments."""
    kernel = build_kernel(reconstruct_fn, noise=noise, reconstruct_draw=reconstruct_draw)
    return Kernel(init=init, step=lambda rng_key, state: kernel(rng_key, state, variables))


__all__ = ["AscentInfo", "AscentState", "ascent_chain", "build_kernel", "init"]
