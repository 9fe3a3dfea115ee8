"""Markov-chain samplers as pure kernels, and the ``lax.scan`` driver that runs them.

Kernels (each module exports ``State``/``Info`` NamedTuples, ``init`` and ``build_kernel``, and
a ``Kernel`` with the blackjax ``SamplingAlgorithm`` shape: ``init``, ``step(rng_key, state)
-> (state, info)``):

* :mod:`~gae_jax.samplers.latent` -- latent and denoising latent chains (papers 000, 001);
* :mod:`~gae_jax.samplers.reinjection` -- pixel-space reinjection with restarts (paper 002);
* :mod:`~gae_jax.samplers.ascent` -- DAE density ascent (paper 003);
* :mod:`~gae_jax.samplers.starts` -- starting points: prior draws, noise, encodings, slerp;
* :mod:`~gae_jax.samplers.conditionals` -- the draws x ~ p(x|z) and z ~ q(z|x) kernels take.

This package holds kernels only: no I/O, no plotting, no training code. Kernels take the pure
functions of :mod:`gae_jax.models.adapter`. Typical use on a trained model::

    from gae_jax import models, samplers
    fns = models.autoencoder_fns(model, batch_stats_mode="minibatch")

    @jax.jit
    def run(key, variables, z0):
        kernel = samplers.latent_chain(fns.decode_mean, fns.sample_code, variables)
        return samplers.sample_chains(
            key, kernel, kernel.init(z0), 10, record_steps=(1, 5, 10),
            transform=lambda state, info: state.x)

    z0 = samplers.starts.prior_samples(jax.random.key(1), 4096, model.latent_dim)
    final, images = run(jax.random.key(2), models.model_variables(state), z0)
"""

from gae_jax.samplers import ascent, conditionals, latent, reinjection, starts
from gae_jax.samplers.ascent import ascent_chain
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
    "GuardedState",
    "Kernel",
    "ascent",
    "ascent_chain",
    "chain_keys",
    "conditionals",
    "denoising_latent_chain",
    "guard_non_finite",
    "kept_dataset",
    "label_transform",
    "latent",
    "latent_chain",
    "record_schedule",
    "reinjection",
    "reinjection_chain",
    "sample_chains",
    "starts",
    "steps_for_samples",
]
