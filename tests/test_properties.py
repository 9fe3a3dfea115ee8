"""Property tests (hypothesis) of the corruption processes, the priors, slerp and the Parzen
estimator: invariants that must hold for every input, not just the hand-picked ones."""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.special import logsumexp

from gae_jax import corruption, priors
from gae_jax.evaluation.parzen import parzen_log_likelihood
from gae_jax.samplers.starts import slerp

FEW = settings(max_examples=25, deadline=None)
_seeds = st.integers(0, 2**31 - 1)
# A few fixed shapes: every new shape compiles the eager ops afresh, and values are what vary.
_shapes = st.sampled_from(((1,), (7,), (3, 5), (2, 3, 4)))
_probabilities = st.floats(0.0, 1.0)


def _image(seed, shape):
    """Values in [0.5, 1): never 0 or 1, so a corrupted entry is always recognisable."""
    return jax.random.uniform(jax.random.key(seed), shape, minval=0.5, maxval=1.0)


# ----------------------------------------------------------------------------- corruption


@FEW
@given(shape=_shapes, seed=_seeds, p=_probabilities, q=_probabilities)
def test_masking_zeroes_a_set_that_grows_with_the_level(shape, seed, p, q):
    x, key = _image(seed, shape), jax.random.key(seed + 1)
    low, high = sorted((p, q))
    out_low = np.asarray(corruption.make_corruption("masking", low)(key, x))
    out_high = np.asarray(corruption.make_corruption("masking", high)(key, x))
    for out in (out_low, out_high):
        assert out.shape == x.shape and out.dtype == x.dtype
        assert np.all((out == 0) | (out == np.asarray(x)))
    # With one key, every entry masked at the lower level is masked at the higher one.
    assert np.all(out_high[out_low == 0] == 0)


@FEW
@given(shape=_shapes, seed=_seeds, p=_probabilities, q=_probabilities)
def test_salt_and_pepper_hits_a_growing_set_with_fixed_values(shape, seed, p, q):
    x, key = _image(seed, shape), jax.random.key(seed + 1)
    low, high = sorted((p, q))
    out_low = np.asarray(corruption.make_corruption("salt_and_pepper", low)(key, x))
    out_high = np.asarray(corruption.make_corruption("salt_and_pepper", high)(key, x))
    hit_low = out_low != np.asarray(x)
    assert np.all(np.isin(out_low[hit_low], (0.0, 1.0)))
    # A hit at the lower level is a hit at the higher one, with the same salt or pepper value.
    np.testing.assert_array_equal(out_high[hit_low], out_low[hit_low])


@FEW
@given(shape=_shapes, seed=_seeds, sigma=st.floats(0.0, 3.0))
def test_gaussian_noise_is_linear_in_sigma(shape, seed, sigma):
    x, key = _image(seed, shape), jax.random.key(seed + 1)
    unit = corruption.make_corruption("gaussian", 1.0)(key, x) - x
    out = corruption.make_corruption("gaussian", sigma)(key, x)
    np.testing.assert_allclose(out, x + sigma * unit, rtol=1e-5, atol=1e-5)


# ----------------------------------------------------------------------------- priors

_coords = st.floats(-8.0, 8.0, width=32)


@FEW
@given(
    k=st.sampled_from((1, 3, 10)),
    radius=st.floats(0.0, 5.0),
    std=st.floats(0.2, 2.0),
    z=hnp.arrays(np.float32, (5, 2), elements=_coords),
)
def test_gmm_ring_density_is_symmetric_under_rotation_by_one_component(k, radius, std, z):
    prior = priors.make_prior("gmm_ring", 2, num_components=k, radius=radius, std=std)
    angle = 2 * np.pi / k
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    rotated = (z.astype(np.float64) @ rotation.T).astype(np.float32)
    np.testing.assert_allclose(prior.log_prob(rotated), prior.log_prob(z), rtol=1e-4, atol=1e-3)
    # No point is denser than the peak of one component.
    assert np.all(prior.log_prob(z) <= -np.log(2 * np.pi * std**2) + 1e-4)


# One compilation per shape; an eager log_prob would trace its lax.map body on every call.
_aggregate_log_prob = jax.jit(
    lambda means, log_vars, z: priors.make_prior(
        "aggregate", 3, means=means, log_vars=log_vars
    ).log_prob(z)
)


@FEW
@given(
    means=hnp.arrays(np.float32, (4, 3), elements=st.floats(-3.0, 3.0, width=32)),
    log_vars=hnp.arrays(np.float32, (4, 3), elements=st.floats(-2.0, 1.0, width=32)),
    z=hnp.arrays(np.float32, (6, 3), elements=st.floats(-4.0, 4.0, width=32)),
    perm=st.permutations(range(4)),
)
def test_aggregate_posterior_is_the_average_of_its_components(means, log_vars, z, perm):
    log_prob = _aggregate_log_prob
    # Direct float64 mixture of diagonal Gaussians.
    var = np.exp(log_vars.astype(np.float64))
    diff = z.astype(np.float64)[:, None, :] - means[None]
    log_components = -0.5 * np.sum(diff**2 / var + np.log(2 * np.pi * var), axis=-1)
    expected = logsumexp(log_components, axis=1) - np.log(4)
    ll = log_prob(means, log_vars, z)
    np.testing.assert_allclose(ll, expected, rtol=1e-4, atol=1e-3)
    # The order of the components, and duplicating every one, change nothing.
    p = list(perm)
    reordered = log_prob(means[p], log_vars[p], z)
    doubled = log_prob(np.tile(means, (2, 1)), np.tile(log_vars, (2, 1)), z)
    for other in (reordered, doubled):
        np.testing.assert_allclose(other, ll, rtol=1e-5, atol=1e-4)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _sample_and_score(name, n, key):
    prior = priors.make_prior(name, 2)
    z = prior.sample(key, n)
    return z, prior.log_prob(z)


@FEW
@given(name=st.sampled_from(("normal", "gmm_ring")), n=st.sampled_from((1, 50)), seed=_seeds)
def test_prior_samples_have_the_right_shape_and_finite_density(name, n, seed):
    z, log_prob = _sample_and_score(name, n, jax.random.key(seed))
    assert z.shape == (n, 2) and z.dtype == jnp.float32
    assert np.isfinite(np.asarray(log_prob)).all()


# ----------------------------------------------------------------------------- slerp


def _endpoints():
    return st.integers(2, 6).flatmap(
        lambda d: st.tuples(
            hnp.arrays(np.float32, (d,), elements=st.floats(-5.0, 5.0, width=32)),
            hnp.arrays(np.float32, (d,), elements=st.floats(-5.0, 5.0, width=32)),
        )
    )


def _angle(a, b):
    cos = np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b))
    return np.arccos(np.clip(cos, -1.0, 1.0))


@FEW
@given(ends=_endpoints(), t=hnp.arrays(np.float32, (5,), elements=st.floats(0.0, 1.0, width=32)))
def test_slerp_walks_the_great_circle_at_constant_angular_speed(ends, t):
    z0, z1 = (e.astype(np.float64) for e in ends)
    assume(min(np.linalg.norm(z0), np.linalg.norm(z1)) > 0.1)
    assume(0.05 < _angle(z0, z1) < np.pi - 0.05)  # away from the (anti)parallel fallback
    u0, u1 = (jnp.asarray(v / np.linalg.norm(v), jnp.float32) for v in (z0, z1))
    path = np.asarray(slerp(u0, u1, jnp.asarray(t)), np.float64)
    omega = _angle(u0, u1)
    np.testing.assert_allclose(np.linalg.norm(path, axis=1), 1.0, atol=1e-4)
    np.testing.assert_allclose([_angle(u0, p) for p in path], t * omega, atol=2e-3)
    # Reversing the endpoints reverses the path.
    back = slerp(u1, u0, 1.0 - jnp.asarray(t))
    np.testing.assert_allclose(back, path, atol=1e-4)


@FEW
@given(ends=_endpoints(), t=hnp.arrays(np.float32, (5,), elements=st.floats(0.0, 1.0, width=32)))
def test_slerp_stays_in_the_plane_of_its_endpoints_and_hits_them(ends, t):
    z0, z1 = (jnp.asarray(e) for e in ends)
    assume(min(float(jnp.linalg.norm(z0)), float(jnp.linalg.norm(z1))) > 0.1)
    ts = jnp.concatenate([jnp.array([0.0, 1.0]), jnp.asarray(t)])
    path = np.asarray(slerp(z0, z1, ts), np.float64)
    scale = max(float(jnp.linalg.norm(z0)), float(jnp.linalg.norm(z1)))
    np.testing.assert_allclose(path[0], z0, atol=1e-4 * scale)
    np.testing.assert_allclose(path[1], z1, atol=1e-4 * scale)
    basis, _ = np.linalg.qr(np.stack([z0, z1], axis=1).astype(np.float64))
    residual = path - (path @ basis) @ basis.T
    assert np.all(np.isfinite(path))
    np.testing.assert_allclose(residual, 0.0, atol=1e-3 * scale)


# ----------------------------------------------------------------------------- Parzen

_N, _M, _D = 9, 5, 3
_points = st.floats(-3.0, 3.0, width=32)


@FEW
@given(
    samples=hnp.arrays(np.float32, (_N, _D), elements=_points),
    points=hnp.arrays(np.float32, (_M, _D), elements=_points),
    sigma=st.floats(0.2, 2.0),
    sample_chunk=st.sampled_from((1, 4, _N)),  # each chunking compiles once
    point_chunk=st.sampled_from((2, _M)),
)
def test_parzen_is_bracketed_by_its_nearest_kernel_for_any_chunking(
    samples, points, sigma, sample_chunk, point_chunk
):
    ll = np.asarray(
        parzen_log_likelihood(
            samples, points, sigma, sample_chunk=sample_chunk, point_chunk=point_chunk
        )
    )
    sq = ((points[:, None, :].astype(np.float64) - samples[None]) ** 2).sum(-1)
    log_kernels = -0.5 * sq / sigma**2 - 0.5 * _D * np.log(2 * np.pi * sigma**2)
    nearest = log_kernels.max(axis=1)
    tol = 1e-4 * np.abs(nearest) + 1e-3  # float32 distances, as in the estimator
    # The mean of N kernels is at most the largest one and at least 1/N of it.
    assert np.all(ll <= nearest + tol)
    assert np.all(ll >= nearest - math.log(_N) - tol)
    np.testing.assert_allclose(
        ll, logsumexp(log_kernels, axis=1) - math.log(_N), rtol=1e-4, atol=1e-3
    )
    # Duplicating every sample leaves the density unchanged.
    doubled = parzen_log_likelihood(np.tile(samples, (2, 1)), points, sigma)
    np.testing.assert_allclose(doubled, ll, rtol=1e-4, atol=1e-3)
