"""Reinjection sampling: restart and burn-in bookkeeping, the Langevin limit, Alg. 2 labelling."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gae_jax import models, samplers
from gae_jax.samplers import reinjection, reinjection_chain, sample_chains

NUM_CHAINS = 4000


def constant_restart(key, shape, dtype):
    return jnp.full(shape, 16.0, dtype)


def test_restarts_and_burn_in_follow_the_schedule(key):
    # r(x) = x / 2 without noise and fresh points of 16: the walk halves from its start, and every
    # R = 3 transitions the next one starts again from 16.
    kernel = reinjection_chain(
        lambda v, x: x / 2,
        None,
        step_size=0.0,
        restart_every=3,
        burn_in_restarts=2,
        restart_fn=constant_restart,
    )
    state0 = kernel.init(jnp.full((2, 1), 64.0))
    final, (states, info) = sample_chains(key, kernel, state0, 10)
    np.testing.assert_array_equal(states.x[:, 0, 0], [32, 16, 8, 8, 4, 2, 8, 4, 2, 8])
    np.testing.assert_array_equal(states.step[:, 0], np.arange(1, 11))
    np.testing.assert_array_equal(info.restarted[:, 0], [0, 0, 0, 1, 0, 0, 1, 0, 0, 1])
    # Outputs of transitions t = 0..5 (segments 0 and 1, before the second restart) are dropped.
    np.testing.assert_array_equal(info.kept[:, 0], [0, 0, 0, 0, 0, 0, 1, 1, 1, 1])
    np.testing.assert_array_equal(info.kept[:, 0], info.kept[:, 1])
    np.testing.assert_allclose(info.recon_change[:, 0], [32, 16, 8, 8, 4, 2, 8, 4, 2, 8])


def test_without_restarts_every_output_is_kept(key):
    kernel = reinjection_chain(lambda v, x: x, None, step_size=0.25)
    _, (states, info) = sample_chains(key, kernel, kernel.init(jnp.zeros((3, 2))), 4)
    assert info.kept.all() and not info.restarted.any()
    np.testing.assert_array_equal(states.step[-1], [4, 4, 4])


def test_restarts_draw_fresh_normal_points(key):
    # r(x) = 0 and lambda = 0 make every output 0, so only a restart's fresh point is nonzero.
    kernel = reinjection.build_kernel(
        lambda v, x: jnp.zeros_like(x), step_size=0.0, restart_every=2
    )
    state = reinjection.ReinjectionState(jnp.zeros((NUM_CHAINS, 3)), jnp.full((NUM_CHAINS,), 2))
    new_state, info = kernel(key, state, None)
    assert info.restarted.all()
    np.testing.assert_allclose(new_state.x, 0.0)
    # recon_change = ||r(fresh) - fresh|| = ||fresh||, and ||fresh||^2 ~ chi^2 with 3 dof.
    norms_sq = np.asarray(info.recon_change) ** 2
    assert abs(norms_sq.mean() - 3.0) < 4.5 * np.sqrt(6.0 / NUM_CHAINS)


@pytest.mark.parametrize("step_size", [0.05, 0.2])
def test_gaussian_target_gives_the_known_langevin_stationary_law(key, step_size):
    # A perfect lossy AE of N(mu, s^2 I) is r(x) = x + (lambda / 2) grad log p(x)
    # = x - lambda (x - mu) / (2 s^2). Then x' - mu = a (x - mu) + sqrt(lambda) eps with
    # a = 1 - lambda / (2 s^2): an AR(1) chain with stationary N(mu, v I), v = lambda / (1 - a^2)
    # = s^2 / (1 - lambda / (4 s^2)), the O(lambda) bias of unadjusted Langevin.
    mu, s = jnp.array([1.0, -2.0]), 0.8
    kernel = reinjection_chain(
        lambda v, x: x - step_size * (x - mu) / (2 * s**2), None, step_size=step_size
    )
    a = 1 - step_size / (2 * s**2)
    num_steps = int(np.ceil(np.log(1e-6) / np.log(a)))
    run = jax.jit(lambda x: sample_chains(key, kernel, kernel.init(x), num_steps, thin=num_steps))
    x = np.asarray(run(jnp.zeros((NUM_CHAINS, 2)))[0].x, np.float64)
    var = s**2 / (1 - step_size / (4 * s**2))
    assert np.all(np.abs(x.mean(0) - mu) < 4.5 * np.sqrt(var / NUM_CHAINS))
    assert np.all(np.abs(x.var(0) - var) < 4.5 * var * np.sqrt(2.0 / NUM_CHAINS))


def test_vmap_over_step_sizes(key):
    kernel_for = lambda lam: reinjection_chain(lambda v, x: 0.5 * x, None, step_size=lam)

    def final_var(lam):
        k = kernel_for(lam)
        return sample_chains(key, k, k.init(jnp.zeros((NUM_CHAINS, 1))), 30, thin=30)[0].x.var()

    variances = jax.jit(jax.vmap(final_var))(jnp.array([0.1, 0.4]))
    # x' = x / 2 + sqrt(lambda) eps has stationary variance lambda / (1 - 1/4).
    np.testing.assert_allclose(variances, np.array([0.1, 0.4]) / 0.75, rtol=0.1)


def test_steps_for_samples():
    assert samplers.steps_for_samples(100, 10, restart_every=5, burn_in_restarts=2) == 20
    assert samplers.steps_for_samples(101, 10, restart_every=5, burn_in_restarts=2) == 21
    assert samplers.steps_for_samples(100, 10, restart_every=None) == 10


def test_alg2_labels_each_kept_sample(key):
    weights = jnp.array([[1.0, -1.0], [0.5, 2.0], [0.0, 1.0]])  # 2 pixels -> 3 classes
    classifier = lambda x: x @ weights.T
    kernel = reinjection_chain(
        lambda v, x: 0.9 * x, None, step_size=0.1, restart_every=4, burn_in_restarts=2
    )
    num_steps = samplers.steps_for_samples(50, 8, restart_every=4)
    _, labelled = sample_chains(
        key,
        kernel,
        kernel.init(jnp.zeros((8, 2))),
        num_steps,
        transform=samplers.label_transform(classifier),
    )
    assert labelled.kept.sum() == (num_steps - 8) * 8
    x, y = samplers.kept_dataset(labelled, num_samples=50)
    assert x.shape == (50, 2) and y.shape == (50, 3)
    np.testing.assert_allclose(y, jax.nn.softmax(classifier(x)), rtol=1e-5)
    np.testing.assert_array_equal(x, np.asarray(labelled.x)[8:].reshape(-1, 2)[:50])
    with pytest.raises(ValueError, match="only"):
        samplers.kept_dataset(labelled, num_samples=1000)
    _, logits = sample_chains(
        key,
        kernel,
        kernel.init(jnp.zeros((8, 2))),
        num_steps,
        transform=samplers.label_transform(classifier, soft_labels=False),
    )
    np.testing.assert_allclose(logits.y, classifier(logits.x), rtol=1e-5)


def test_flax_reconstruction_chain_runs(mlp_model, key):
    model, variables = mlp_model
    fns = models.autoencoder_fns(model)
    kernel = reinjection_chain(fns.reconstruct_mean, variables, step_size=0.01, restart_every=2)
    x0 = samplers.starts.normal_noise(key, 4, (8, 8, 1))
    state, info = jax.jit(kernel.step)(key, kernel.init(x0))
    expected = jax.nn.sigmoid(model.apply(variables, x0, sample=False).logits)
    assert info.is_finite.all()
    # Without restarts on the first transition, x_1 = r(x_0) + 0.1 eps.
    assert np.abs(np.asarray(state.x - expected)).max() < 0.1 * 6
