"""The scan driver: recording, key schedule, determinism, compilation and composability."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import tiny_autoencoder

from gae_jax import models, samplers
from gae_jax.samplers import Kernel, chain_keys, latent_chain, sample_chains


def ar1_kernel(coef=0.9):
    """x' = coef * x + eps per chain, with the driver's per-chain key convention."""

    def step(key, x):
        eps = jax.vmap(lambda k: jax.random.normal(k, x.shape[1:]))(chain_keys(key, x.shape[0]))
        new = coef * x + eps
        return new, jnp.linalg.norm(new, axis=1)

    return Kernel(init=lambda x: x, step=step)


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        (dict(), (1, 2, 3, 4, 5, 6)),
        (dict(burn_in=2), (3, 4, 5, 6)),
        (dict(thin=2), (2, 4, 6)),
        (dict(burn_in=1, thin=2), (3, 5)),
        (dict(record_steps=(1, 5, 6)), (1, 5, 6)),
    ],
)
def test_record_schedule(kwargs, expected):
    assert samplers.record_schedule(6, **kwargs) == expected


@pytest.mark.parametrize(
    "kwargs",
    [dict(thin=0), dict(record_steps=(0, 1)), dict(record_steps=(2, 1)), dict(record_steps=(7,))],
)
def test_record_schedule_rejects_bad_values(kwargs):
    with pytest.raises(ValueError):
        samplers.record_schedule(6, **kwargs)


def test_record_steps_and_burn_in_are_exclusive():
    with pytest.raises(ValueError, match="not both"):
        samplers.record_schedule(6, burn_in=1, record_steps=(2,))


def test_recorded_states_are_the_states_at_those_steps(key):
    kernel, x0 = ar1_kernel(), jnp.zeros((5, 2))
    final, every = sample_chains(key, kernel, x0, 12, transform=lambda s, i: s)
    assert every.shape == (12, 5, 2)
    np.testing.assert_array_equal(final, every[-1])
    _, thinned = sample_chains(key, kernel, x0, 12, burn_in=3, thin=3, transform=lambda s, i: s)
    np.testing.assert_array_equal(thinned, every[np.array([6, 9, 12]) - 1])
    _, picked = sample_chains(
        key, kernel, x0, 12, record_steps=(1, 5, 10), transform=lambda s, i: s
    )
    np.testing.assert_array_equal(picked, every[np.array([1, 5, 10]) - 1])


def test_default_trace_is_state_and_info(key):
    final, (states, info) = sample_chains(key, ar1_kernel(), jnp.ones((4, 3)), 3)
    assert states.shape == (3, 4, 3) and info.shape == (3, 4)
    np.testing.assert_allclose(info, jnp.linalg.norm(states, axis=-1), rtol=1e-6)


def test_zero_steps_returns_the_initial_state(key):
    x0 = jnp.ones((4, 3))
    final, trace = sample_chains(key, ar1_kernel(), x0, 0, transform=lambda s, i: s)
    np.testing.assert_array_equal(final, x0)
    assert trace.shape == (0, 4, 3)


def test_same_key_same_chains_and_new_key_new_chains():
    kernel, x0 = ar1_kernel(), jnp.zeros((8, 2))
    a, _ = sample_chains(jax.random.key(1), kernel, x0, 5)
    b, _ = sample_chains(jax.random.key(1), kernel, x0, 5)
    c, _ = sample_chains(jax.random.key(2), kernel, x0, 5)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_a_chain_does_not_depend_on_how_many_chains_run(key):
    kernel = ar1_kernel()
    many, _ = sample_chains(key, kernel, jnp.zeros((64, 2)), 5)
    few, _ = sample_chains(key, kernel, jnp.zeros((3, 2)), 5)
    np.testing.assert_array_equal(many[:3], few)


def test_memory_does_not_grow_with_steps_when_only_summaries_are_kept(key):
    kernel, x0 = ar1_kernel(), jnp.zeros((256, 100))

    def temp_bytes(num_steps, transform):
        run = jax.jit(lambda k, x: sample_chains(k, kernel, x, num_steps, transform=transform))
        return run.lower(key, x0).compile().memory_analysis().temp_size_in_bytes

    summary = lambda state, info: info.mean()
    assert temp_bytes(2000, summary) < 1.05 * temp_bytes(10, summary)
    # Recording whole states does grow, so the comparison above can detect growth.
    assert temp_bytes(200, lambda s, i: s) > 10 * temp_bytes(10, summary)


def test_jitted_sampler_does_not_recompile_for_new_keys_states_or_weights(linear_model):
    variables, decode_fn, encode_fn = linear_model
    traces = []

    @jax.jit
    def run(key, variables, z0):
        traces.append(1)  # runs once per trace
        kernel = latent_chain(decode_fn, encode_fn, variables)
        return sample_chains(key, kernel, kernel.init(z0), 4, transform=lambda s, i: i.z_norm)

    z0 = jnp.zeros((16, 3))
    for seed in range(3):
        new_vars = jax.tree.map(lambda v, s=seed: v * (1.0 + 0.1 * s), variables)
        run(jax.random.key(seed), new_vars, z0 + seed)
    assert len(traces) == 1
    assert run._cache_size() == 1


def test_sampler_inside_caller_jit_matches_eager(key, linear_model):
    variables, decode_fn, encode_fn = linear_model

    def run(key, variables, z0):
        kernel = latent_chain(decode_fn, encode_fn, variables)
        return sample_chains(key, kernel, kernel.init(z0), 6, thin=2)

    z0 = jnp.ones((10, 3))
    eager = run(key, variables, z0)
    jitted = jax.jit(run)(key, variables, z0)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5), eager, jitted)


def test_vmap_over_models_matches_separate_runs(key):
    model, vars_a = tiny_autoencoder(seed=1)
    _, vars_b = tiny_autoencoder(seed=2)
    fns = models.autoencoder_fns(model)
    z0 = samplers.starts.prior_samples(key, 8, model.latent_dim)

    def run(variables):
        kernel = latent_chain(fns.decode_mean, fns.sample_code, variables)
        final, _ = sample_chains(jax.random.key(3), kernel, kernel.init(z0), 3)
        return final.z

    stacked = jax.tree.map(lambda a, b: jnp.stack([a, b]), vars_a, vars_b)
    both = jax.jit(jax.vmap(run))(stacked)
    separate = jax.jit(run)
    np.testing.assert_allclose(both[0], separate(vars_a), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(both[1], separate(vars_b), rtol=1e-5, atol=1e-5)
    assert not np.allclose(both[0], both[1])


def test_grad_of_final_state_wrt_decoder_bias_is_exact_for_a_linear_chain(key, linear_model):
    # The final state is affine in the decoder bias c, so a unit finite difference is exact.
    variables, decode_fn, encode_fn = linear_model
    z0 = jnp.ones((32, 3))

    def loss(c):
        kernel = latent_chain(decode_fn, encode_fn, {**variables, "c": c})
        final, _ = sample_chains(key, kernel, kernel.init(z0), 5)
        return final.z.sum() + final.x.sum()

    c = variables["c"]
    grad = jax.jit(jax.grad(loss))(c)
    shifted = c + jnp.eye(c.shape[0])
    finite_diff = jax.jit(jax.vmap(loss))(shifted) - jax.jit(loss)(c)
    np.testing.assert_allclose(grad, finite_diff, rtol=2e-3, atol=2e-3)


def test_grad_reaches_every_decoder_parameter_of_a_flax_model(key, mlp_model):
    model, variables = mlp_model
    fns = models.autoencoder_fns(model)
    z0 = samplers.starts.prior_samples(key, 16, model.latent_dim)

    def loss(params):
        kernel = latent_chain(fns.decode_mean, fns.sample_code, {**variables, "params": params})
        final, _ = sample_chains(jax.random.key(5), kernel, kernel.init(z0), 3, thin=3)
        return jnp.mean((final.x - 0.5) ** 2)

    grads = jax.jit(jax.grad(loss))(variables["params"])
    for leaf in jax.tree.leaves(grads["decoder"]):
        assert np.all(np.isfinite(leaf)) and np.abs(leaf).max() > 0
