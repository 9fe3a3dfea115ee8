"""Runs chains sharded over 4 forced host devices and on one device; exits non-zero on mismatch.

Started by test_sharded_chains.py with XLA_FLAGS=--xla_force_host_platform_device_count=4 (the
flag must be set before JAX initialises, hence a separate process).
"""

import jax
import numpy as np
from helpers import tiny_autoencoder

from gae_jax import corruption, models, parallel, samplers


def compare(name, make_kernel, variables, init_arg, num_steps, rtol):
    def run(key, variables, init_arg):
        kernel = make_kernel(variables)
        return samplers.sample_chains(key, kernel, kernel.init(init_arg), num_steps)

    run = jax.jit(run)
    key = jax.random.key(42)
    single = run(key, variables, init_arg)
    mesh = parallel.make_mesh(4)
    sharded = run(
        parallel.replicate(key, mesh),
        parallel.replicate(variables, mesh),
        parallel.shard_leading_axis(init_arg, mesh),
    )
    final = sharded[0]
    leaf = jax.tree.leaves(final)[0]
    assert len(leaf.sharding.device_set) == 4, leaf.sharding
    assert leaf.sharding.shard_shape(leaf.shape)[0] == leaf.shape[0] // 4, leaf.sharding
    single, sharded = jax.tree.map(lambda a: np.asarray(a, np.float64), (single, sharded))
    worst = max(jax.tree.leaves(jax.tree.map(lambda a, b: np.abs(a - b).max(), single, sharded)))
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol), single, sharded
    )
    print(f"{name}: sharded == unsharded (max abs diff {worst:.2g})")


def main():
    assert len(jax.devices()) == 4, jax.devices()
    noise = corruption.make_corruption("gaussian", 0.5)

    model, variables = tiny_autoencoder("mlp", "gaussian", (8, 8, 1))
    fns = models.autoencoder_fns(model)
    z0 = samplers.starts.prior_samples(jax.random.key(3), 64, model.latent_dim)
    compare(
        "denoising latent chain, Gaussian encoder",
        lambda v: samplers.denoising_latent_chain(fns.decode_mean, fns.sample_code, v, noise),
        variables,
        z0,
        6,
        1e-5,
    )
    x0 = samplers.starts.normal_noise(jax.random.key(4), 64, (8, 8, 1))
    compare(
        "reinjection with restarts",
        lambda v: samplers.reinjection_chain(
            fns.reconstruct_mean, v, step_size=0.1, restart_every=2
        ),
        variables,
        x0,
        6,
        1e-5,
    )

    model, variables = tiny_autoencoder("dcgan", "deterministic", (28, 28, 1))
    for tile in (None, 16):
        fns = models.autoencoder_fns(model, batch_stats_mode="minibatch", bn_tile_size=tile)
        compare(
            f"latent chain, minibatch batch norm, tile {tile}",
            lambda v, fns=fns: samplers.latent_chain(fns.decode_mean, fns.sample_code, v),
            variables,
            samplers.starts.prior_samples(jax.random.key(5), 64, model.latent_dim),
            3,
            1e-4,
        )
    print("OK")


if __name__ == "__main__":
    main()
