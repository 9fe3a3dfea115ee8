"""Initial states: slerp paths, prior draws, noise images and data encodings."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gae_jax import models, priors, samplers
from gae_jax.samplers import starts


def test_slerp_hits_endpoints_and_sweeps_the_angle_uniformly(key):
    z0, z1 = jax.random.normal(key, (2, 16))
    # The angle is uniform in t when the endpoints have equal norms.
    z0, z1 = z0 / jnp.linalg.norm(z0), z1 / jnp.linalg.norm(z1)
    t = jnp.linspace(0.0, 1.0, 7)
    path = starts.slerp(z0, z1, t)
    np.testing.assert_allclose(path[0], z0, atol=1e-5)
    np.testing.assert_allclose(path[-1], z1, atol=1e-5)
    cos = lambda a, b: jnp.dot(a, b) / (jnp.linalg.norm(a) * jnp.linalg.norm(b))
    omega = jnp.arccos(cos(z0, z1))
    angles = jnp.array([jnp.arccos(jnp.clip(cos(z0, p), -1, 1)) for p in path])
    np.testing.assert_allclose(angles, t * omega, atol=2e-3)


def test_slerp_keeps_the_norm_of_equal_norm_endpoints(key):
    z0, z1 = jax.random.normal(key, (2, 32))
    z1 = z1 * jnp.linalg.norm(z0) / jnp.linalg.norm(z1)
    norms = jnp.linalg.norm(starts.slerp(z0, z1, jnp.linspace(0, 1, 11)), axis=1)
    np.testing.assert_allclose(norms, jnp.linalg.norm(z0), rtol=1e-5)
    # The linear path cuts through the inside of the sphere.
    assert jnp.linalg.norm((z0 + z1) / 2) < 0.95 * jnp.linalg.norm(z0)


def test_slerp_of_parallel_endpoints_is_linear_with_finite_gradients():
    z0 = jnp.array([1.0, 2.0, 2.0])
    path = starts.slerp(z0, 3 * z0, jnp.array([0.0, 0.5, 1.0]))
    np.testing.assert_allclose(path, jnp.stack([z0, 2 * z0, 3 * z0]), rtol=1e-6)
    grad = jax.grad(lambda a: starts.slerp(a, 3 * z0, jnp.array([0.5])).sum())(z0)
    assert np.all(np.isfinite(grad))


def test_slerp_paths_shape_and_endpoints(key):
    begin, ends = jax.random.normal(key, (2, 4, 5))
    paths = starts.slerp_paths(begin, ends, 6)
    assert paths.shape == (4, 6, 5)
    np.testing.assert_allclose(paths[:, 0], begin, atol=1e-5)
    np.testing.assert_allclose(paths[:, -1], ends, atol=1e-5)


def test_prior_samples_default_to_standard_normal_per_chain(key):
    z = starts.prior_samples(key, 4000, 3)
    assert z.shape == (4000, 3)
    assert np.all(np.abs(z.mean(0)) < 4.5 * np.sqrt(1 / 4000))
    assert np.all(np.abs(z.var(0) - 1) < 4.5 * np.sqrt(2 / 4000))
    np.testing.assert_array_equal(starts.prior_samples(key, 5, 3), z[:5])


def test_prior_samples_accept_prior_objects_and_functions(key):
    ring = priors.make_prior("gmm_ring", 2)
    np.testing.assert_array_equal(starts.prior_samples(key, 7, 2, ring), ring.sample(key, 7))
    fn = lambda k, n: jnp.ones((n, 2))
    np.testing.assert_array_equal(starts.prior_samples(key, 3, 2, fn), jnp.ones((3, 2)))
    with pytest.raises(ValueError, match="expected"):
        starts.prior_samples(key, 3, 4, fn)


def test_noise_images(key):
    u = starts.uniform_noise(key, 500, (4, 4, 1))
    assert u.shape == (500, 4, 4, 1) and u.min() >= 0 and u.max() < 1
    assert abs(float(u.mean()) - 0.5) < 0.02
    g = starts.normal_noise(key, 3, (2, 2))
    assert g.shape == (3, 2, 2)
    np.testing.assert_array_equal(starts.normal_noise(key, 1, (2, 2)), g[:1])


def test_encode_data_uses_one_key_per_chain(mlp_model, key):
    model, variables = mlp_model
    fns = models.autoencoder_fns(model)
    x = jax.random.uniform(key, (4, 8, 8, 1))
    z = starts.encode_data(jax.random.key(3), fns.sample_code, variables, x)
    np.testing.assert_allclose(
        z, fns.sample_code(samplers.chain_keys(jax.random.key(3), 4), variables, x)
    )
    np.testing.assert_allclose(
        starts.encode_data(jax.random.key(3), fns.sample_code, variables, x[:2]), z[:2], rtol=1e-6
    )
