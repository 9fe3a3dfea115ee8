"""Markov chains in the latent space of a generative autoencoder (paper 000, paper 001).

One transition of the *latent* chain (paper 000 eq. 1) is

    x_{t+1} ~ p(x | z_t),   z_{t+1} ~ q(z | x_{t+1}),

and of the *denoising latent* chain (paper 000 eq. 2; paper 001 eq. 3, needed to sample a DAAE)

    x_{t+1} ~ p(x | z_t),   x~_{t+1} ~ C(x~ | x_{t+1}),   z_{t+1} ~ q(z | x~_{t+1}).

Started anywhere, e.g. at prior samples, the chain converges to the encoder's learned latent
distribution P^(Z) = E_{p(x)} q(z|x), which is what the decoder was trained on; decoding its
states gives better samples than decoding prior draws. ``x ~ p(x|z)`` is the decoder mean, or a
draw ``observe(key, E[x|z])`` from the decoder's likelihood (Bernoulli, Gaussian pixel noise;
see :mod:`~gae_jax.samplers.conditionals`); ``z ~ q(z|x)`` is whatever ``encode_fn`` draws (a
reparameterised sample for Gaussian encoders, the code itself for deterministic ones, whose
q(z|x) is a point mass). With the decoder mean and a deterministic encoder and no corruption a
transition is the deterministic map z <- E(D(z)), not the ergodic chain of paper 000 Lemma 1,
which needs p(x|z) > 0 and q(z|x) > 0: pass ``observe`` to sample x.

The state keeps the decoder mean of the current code next to it, so each transition costs one
decoder and one encoder pass and the images of any recorded step come for free.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from gae_jax.corruption import Corruption
from gae_jax.models.adapter import DecodeFn, EncodeFn
from gae_jax.samplers.base import Kernel, TransitionFn, chain_keys
from gae_jax.samplers.conditionals import Observation
from gae_jax.types import ArrayTree, PRNGKey


class LatentState(NamedTuple):
    z: jax.Array  # float32[chains, D], the code z_t
    x: jax.Array  # float32[chains, *x_shape], the decoder mean E[x | z_t]


class LatentInfo(NamedTuple):
    z_norm: jax.Array  # float32[chains], ||z_{t+1}||
    z_change: jax.Array  # float32[chains], ||z_{t+1} - z_t||
    is_finite: jax.Array  # bool[chains], every entry of z_{t+1} and x_{t+1} is finite


def init(z: jax.Array, decode_fn: DecodeFn, variables: ArrayTree) -> LatentState:
    """The state at codes ``z: float32[chains, D]`` (decodes them once)."""
    return LatentState(z, decode_fn(variables, z))


def _all_finite(a: jax.Array) -> jax.Array:
    return jnp.isfinite(a.reshape(a.shape[0], -1)).all(axis=1)


def build_kernel(
    decode_fn: DecodeFn,
    encode_fn: EncodeFn,
    *,
    corruption: Corruption | None = None,
    observe: Observation | None = None,
) -> TransitionFn[LatentState, LatentInfo]:
    """The transition ``kernel(rng_key, state, variables) -> (LatentState, LatentInfo)``.

    Args:
      decode_fn: ``(variables, z) -> E[x|z]``.
      encode_fn: ``(keys, variables, x) -> z``, one key per chain.
      corruption: ``(key, x) -> x~`` applied to each chain's image before encoding (eq. 2); None
        for the plain chain (eq. 1).
      observe: ``(key, E[x|z]) -> x``, a draw ``x ~ p(x|z)`` per chain (e.g.
        ``conditionals.bernoulli``); None takes the decoder mean.
    """

    def kernel(rng_key: PRNGKey, state: LatentState, variables: ArrayTree):
        keys = jax.vmap(lambda k: jax.random.split(k, 3))(chain_keys(rng_key, state.z.shape[0]))
        x = state.x
        if observe is not None:
            x = jax.vmap(observe)(keys[:, 0], x)
        if corruption is not None:
            x = jax.vmap(corruption)(keys[:, 1], x)
        z = encode_fn(keys[:, 2], variables, x)
        new_state = LatentState(z, decode_fn(variables, z))
        info = LatentInfo(
            z_norm=jnp.linalg.norm(z, axis=-1),
            z_change=jnp.linalg.norm(z - state.z, axis=-1),
            is_finite=_all_finite(z) & _all_finite(new_state.x),
        )
        return new_state, info

    return kernel


def latent_chain(
    decode_fn: DecodeFn,
    encode_fn: EncodeFn,
    variables: ArrayTree,
    *,
    corruption: Corruption | None = None,
    observe: Observation | None = None,
) -> Kernel:
    """The latent chain of paper 000 eq. 1 (or eq. 2 if ``corruption`` is given) as a Kernel.

    ``Kernel.init(z)`` takes codes ``float32[chains, D]``. Build the kernel inside the function
    you ``jit`` and pass ``variables`` as that function's argument, so new weights do not
    trigger recompilation and ``jax.grad`` can reach them::

        @jax.jit
        def run(key, variables, z0):
            kernel = latent_chain(fns.decode_mean, fns.sample_code, variables)
            return sample_chains(key, kernel, kernel.init(z0), 10)
    """
    kernel = build_kernel(decode_fn, encode_fn, corruption=corruption, observe=observe)
    return Kernel(
        init=lambda z: init(z, decode_fn, variables),
        step=lambda rng_key, state: kernel(rng_key, state, variables),
    )


def denoising_latent_chain(
    decode_fn: DecodeFn,
    encode_fn: EncodeFn,
    variables: ArrayTree,
    corruption: Corruption,
    *,
    observe: Observation | None = None,
) -> Kernel:
    """The denoising latent chain (paper 000 eq. 2, paper 001 eq. 3): decode, corrupt, encode.

    Pass the model's training corruption (``gae_jax.builders.model_corruption``) to sample a
    denoising model as it was trained, or any other ``(key, x) -> x~``.
    """
    return latent_chain(decode_fn, encode_fn, variables, corruption=corruption, observe=observe)


__all__ = [
    "LatentInfo",
    "LatentState",
    "build_kernel",
    "denoising_latent_chain",
    "init",
    "latent_chain",
]
