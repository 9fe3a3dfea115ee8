"""Fault injection, NaN/Inf in chains: non-finite chains are counted or restarted, and never
change the other chains."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gae_jax import samplers
from gae_jax.samplers import starts


class _WalkState(NamedTuple):
    x: jax.Array  # float32[chains, 2]


class _WalkInfo(NamedTuple):
    is_finite: jax.Array  # bool[chains]


def _walk_step(rng_key, state):
    """A Gaussian random walk that turns NaN (and stays NaN) once |x_0| exceeds 2.5."""
    keys = samplers.chain_keys(rng_key, state.x.shape[0])
    x = state.x + 0.5 * jax.vmap(lambda k: jax.random.normal(k, (2,)))(keys)
    x = jnp.where(jnp.abs(x[:, :1]) > 2.5, jnp.nan, x)
    return _WalkState(x), _WalkInfo(jnp.isfinite(x).all(axis=1))


WALK = samplers.Kernel(init=_WalkState, step=_walk_step)


def _run(kernel, x0, num_steps=12):
    run = jax.jit(lambda key, x0: samplers.sample_chains(key, kernel, kernel.init(x0), num_steps))
    return run(jax.random.key(7), x0)


def test_non_finite_chains_are_counted_and_never_touch_the_others():
    x0 = starts.normal_noise(jax.random.key(3), 16, (2,))
    plain, (states, _) = _run(WALK, x0)
    went_bad = ~np.isfinite(np.asarray(plain.x)).all(axis=1)
    assert 0 < went_bad.sum() < 16
    # Counting only: the same chains, bit for bit; a NaN chain counts once per later step too.
    counted, (_, info) = _run(samplers.guard_non_finite(WALK), x0)
    np.testing.assert_array_equal(counted.state.x, plain.x)
    expected = (~np.isfinite(np.asarray(states.x)).all(axis=2)).sum(axis=0)
    np.testing.assert_array_equal(counted.num_non_finite, expected)
    np.testing.assert_array_equal(info.is_finite, np.isfinite(np.asarray(states.x)).all(axis=2))


def test_restarted_chains_are_redrawn_and_the_others_are_unchanged():
    x0 = starts.normal_noise(jax.random.key(3), 16, (2,))
    plain, _ = _run(WALK, x0)
    fine = np.isfinite(np.asarray(plain.x)).all(axis=1)
    restart = lambda key, n: _WalkState(starts.normal_noise(key, n, (2,)))
    guarded, _ = _run(samplers.guard_non_finite(WALK, restart), x0)
    assert np.isfinite(np.asarray(guarded.state.x)).all()
    np.testing.assert_array_equal(np.asarray(guarded.state.x)[fine], np.asarray(plain.x)[fine])
    assert np.all(np.asarray(guarded.num_non_finite)[~fine] >= 1)
    assert np.all(np.asarray(guarded.num_non_finite)[fine] == 0)


def test_a_real_kernel_restarts_only_its_non_finite_chains():
    # A "reconstruction" that overflows for bright images: those chains blow up, the rest do not.
    reconstruct = lambda v, x: jnp.where(x.mean(axis=(1, 2, 3), keepdims=True) > 0.3, jnp.inf, x)
    kernel = samplers.reinjection_chain(reconstruct, None, step_size=0.01)
    x0 = jnp.concatenate([jnp.zeros((3, 4, 4, 1)), jnp.ones((2, 4, 4, 1))])
    fresh = lambda key, n: kernel.init(0.1 * starts.normal_noise(key, n, (4, 4, 1)))
    plain, _ = _run(kernel, x0, num_steps=3)
    guarded, _ = _run(samplers.guard_non_finite(kernel, fresh), x0, num_steps=3)
    np.testing.assert_array_equal(guarded.num_non_finite, [0, 0, 0, 1, 1])
    np.testing.assert_array_equal(guarded.state.x[:3], plain.x[:3])
    assert np.isfinite(np.asarray(guarded.state.x)).all()
    np.testing.assert_array_equal(guarded.state.step[3:], [2, 2])  # restarted at step 1
