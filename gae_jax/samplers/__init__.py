"""Markov-chain samplers as pure kernels, and the ``lax.scan`` driver that runs them.

Kernels (each module exports ``State``/``Info`` NamedTuples, ``init`` and ``build_kernel``):

* :mod:`~gae_jax.samplers.latent` -- latent and denoising latent chains (papers 000, 001);
* :mod:`~gae_jax.samplers.reinjection` -- pixel-space reinjection with restarts (paper 002);
* :mod:`~gae_jax.samplers.ascent` -- DAE density ascent (paper 003).

Typical use on a trained model::

    from gae_jax import samplers
    fns = samplers.autoencoder_fns(model, batch_stats_mode="minibatch")

    @jax.jit
    def run(key, variables, z0):
        kernel = samplers.latent_chain(fns.decode, fns.encode, variables)
        return samplers.sample_chains(
            key, kernel, kernel.init(z0), 10, record_steps=(1, 5, 10),
            transform=lambda state, info: state.x)

    z0 = samplers.init.prior_samples(jax.random.key(1), 4096, model.latent_dim)
    final, images = run(jax.random.key(2), samplers.model_variables(state), z0)
"""

from gae_jax.samplers import ascent, init, latent, reinjection
from gae_jax.samplers.ascent import ascent_chain
from gae_jax.samplers.autoencoder import (
    BATCH_STATS_MODES,
    AutoencoderFns,
    autoencoder_fns,
    model_variables,
    sample_posterior,
)
from gae_jax.samplers.base import (
    GuardedState,
    Kernel,
    chain_keys,
    guard_non_finite,
    record_schedule,
    sample_chains,
)
from gae_jax.samplers.latent import denoising_latent_chain, latent_chain
from gae_jax.samplers.reinjection import (
    kept_dataset,
    label_transform,
    reinjection_chain,
    steps_for_samples,
)

__all__ = [
    "BATCH_STATS_MODES",
    "AutoencoderFns",
    "GuardedState",
    "Kernel",
    "ascent",
    "ascent_chain",
    "autoencoder_fns",
    "chain_keys",
    "denoising_latent_chain",
    "guard_non_finite",
    "init",
    "kept_dataset",
    "label_transform",
    "latent",
    "latent_chain",
    "model_variables",
    "record_schedule",
    "reinjection",
    "reinjection_chain",
    "sample_chains",
    "sample_posterior",
    "steps_for_samples",
]
