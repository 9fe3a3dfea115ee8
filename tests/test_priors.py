"""Priors: sample moments against exact ones (Monte-Carlo error bounds), densities against
direct computation and numerical integration, and use under jit / vmap."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import tiny_model
from scipy import stats

from configs import base
from gae_jax import builders, priors
from gae_jax import config as config_lib


def _grid_integral(log_prob, half_width: float, step: float) -> float:
    """Riemann sum of exp(log_prob) over the square [-half_width, half_width]^2."""
    ticks = np.arange(-half_width, half_width, step) + step / 2
    xx, yy = np.meshgrid(ticks, ticks)
    z = jnp.asarray(np.stack([xx.ravel(), yy.ravel()], axis=-1), jnp.float32)
    return float(jnp.exp(log_prob(z)).sum()) * step**2


def test_normal_sample_moments_and_log_prob(key):
    prior = priors.make_prior("normal", 5)
    z = np.asarray(prior.sample(key, 20_000), np.float64)
    assert z.shape == (20_000, 5)
    # Mean: standard error 1/sqrt(n) per coordinate; covariance entries: about sqrt(2/n).
    assert np.abs(z.mean(0)).max() < 5 / np.sqrt(z.shape[0])
    assert np.abs(np.cov(z, rowvar=False) - np.eye(5)).max() < 5 * np.sqrt(2 / z.shape[0])
    expected = stats.multivariate_normal(np.zeros(5), np.eye(5)).logpdf(z[:7])
    np.testing.assert_allclose(prior.log_prob(jnp.asarray(z[:7])), expected, rtol=1e-5)


@pytest.mark.parametrize("params", [{}, {"num_components": 3, "radius": 2.0, "std": 0.3}])
def test_gmm_ring_sample_moments(key, params):
    prior = priors.make_prior("gmm_ring", 2, **params)
    k, r, s = prior.num_components, prior.radius, prior.std
    z = np.asarray(prior.sample(key, 40_000), np.float64)
    # Exact moments: mean 0 (K >= 3 evenly spaced means), covariance (s^2 + r^2 / 2) I.
    var = s**2 + r**2 / 2
    np.testing.assert_allclose(prior.mean(), [0.0, 0.0], atol=1e-5)
    np.testing.assert_allclose(prior.covariance(), var * np.eye(2), rtol=1e-5, atol=1e-5)
    n = z.shape[0]
    assert np.abs(z.mean(0)).max() < 5 * np.sqrt(var / n)
    # Var of a squared coordinate <= E z^4, bounded here by (r + 4 s)^4; loose but valid.
    assert np.abs(np.cov(z, rowvar=False) - var * np.eye(2)).max() < 5 * (r + 4 * s) ** 2 / np.sqrt(
        n
    )
    # Every draw sits near one of the K centres on the ring, each chosen about 1/K of the time.
    centres = np.asarray(prior.centres())
    np.testing.assert_allclose(np.linalg.norm(centres, axis=1), r, rtol=1e-5)
    nearest = np.argmin(((z[:, None] - centres) ** 2).sum(-1), axis=1)
    counts = np.bincount(nearest, minlength=k) / n
    assert np.abs(counts - 1 / k).max() < 5 * np.sqrt((1 / k) / n) + 0.01


@pytest.mark.parametrize("params", [{}, {"num_components": 3, "radius": 2.0, "std": 0.3}])
def test_gmm_ring_log_prob_integrates_to_one(params):
    prior = priors.make_prior("gmm_ring", 2, **params)
    total = _grid_integral(prior.log_prob, half_width=prior.radius + 8 * prior.std, step=0.02)
    assert abs(total - 1.0) < 1e-3


def test_gmm_ring_log_prob_matches_direct_mixture():
    prior = priors.make_prior("gmm_ring", 2, num_components=4, radius=3.0, std=0.7)
    z = np.array([[0.0, 0.0], [3.0, 0.1], [-1.0, 2.5], [10.0, -10.0]])
    # Means at angles 0, 90, 180, 270 degrees.
    centres = 3.0 * np.array([[1, 0], [0, 1], [-1, 0], [0, -1]])
    dens = sum(stats.multivariate_normal(c, 0.49 * np.eye(2)).pdf(z) for c in centres) / 4
    np.testing.assert_allclose(prior.log_prob(jnp.asarray(z, jnp.float32)), np.log(dens), rtol=1e-5)


def _random_aggregate(key, n=37, d=3):
    k_mean, k_var = jax.random.split(key)
    means = 2.0 * jax.random.normal(k_mean, (n, d))
    log_vars = jax.random.uniform(k_var, (n, d), minval=-2.0, maxval=0.5)
    return priors.make_prior("aggregate", d, means=means, log_vars=log_vars)


def _direct_mixture_log_prob(means, log_vars, z):
    means, variances = np.asarray(means, np.float64), np.exp(np.asarray(log_vars, np.float64))
    dens = np.mean(
        [
            stats.multivariate_normal(m, np.diag(v)).pdf(z)
            for m, v in zip(means, variances, strict=True)
        ],
        axis=0,
    )
    return np.log(dens)


@pytest.mark.parametrize("chunk_elements", [1 << 24, 200])  # one chunk; many with a remainder
def test_aggregate_log_prob_matches_direct_computation(key, monkeypatch, chunk_elements):
    monkeypatch.setattr(priors, "_LOG_PROB_CHUNK_ELEMENTS", chunk_elements)
    prior = _random_aggregate(key)
    z = np.asarray(jax.random.normal(jax.random.key(1), (11, 3)) * 2.0)
    expected = _direct_mixture_log_prob(prior.means, prior.log_vars, z)
    np.testing.assert_allclose(prior.log_prob(jnp.asarray(z)), expected, rtol=1e-5, atol=1e-5)


def test_aggregate_sample_moments(key):
    prior = _random_aggregate(key)
    z = np.asarray(prior.sample(jax.random.key(2), 50_000), np.float64)
    cov = np.asarray(prior.covariance(), np.float64)
    # Check the exact moments against a direct formula, then the samples against them.
    means, variances = np.asarray(prior.means, np.float64), np.exp(np.asarray(prior.log_vars))
    direct_cov = np.cov(means, rowvar=False, bias=True) + np.diag(variances.mean(0))
    np.testing.assert_allclose(cov, direct_cov, rtol=1e-4, atol=1e-5)
    se = np.sqrt(np.diag(cov) / z.shape[0])
    assert np.all(np.abs(z.mean(0) - np.asarray(prior.mean())) < 5 * se)
    assert np.abs(np.cov(z, rowvar=False) - cov).max() < 0.1 * np.abs(cov).max()


def test_aggregate_of_point_masses_samples_stored_codes(key):
    means = jnp.arange(12.0).reshape(4, 3)
    prior = priors.make_prior("aggregate", 3, means=means)
    z = np.asarray(prior.sample(key, 64))
    assert all(any(np.array_equal(row, m) for m in np.asarray(means)) for row in z)
    with pytest.raises(ValueError, match="point masses"):
        prior.log_prob(z)


@pytest.mark.parametrize("name", ["normal", "gmm_ring", "aggregate"])
def test_priors_work_under_jit_and_vmap(key, name):
    prior = _random_aggregate(key, d=2) if name == "aggregate" else priors.make_prior(name, 2)
    z = prior.sample(key, 8)
    # As a jit argument (a pytree: static hyper-parameters, array leaves) and closed over.
    np.testing.assert_allclose(
        jax.jit(lambda p, z: p.log_prob(z))(prior, z), prior.log_prob(z), rtol=1e-5
    )
    per_row = jax.vmap(lambda zi: prior.log_prob(zi[None])[0])(z)
    np.testing.assert_allclose(per_row, prior.log_prob(z), rtol=1e-5)
    keys = jax.random.split(key, 3)
    assert jax.vmap(lambda k: prior.sample(k, 5))(keys).shape == (3, 5, 2)


def test_make_prior_rejects_bad_arguments():
    with pytest.raises(ValueError, match="latent_dim must be 2"):
        priors.make_prior("gmm_ring", 3)
    with pytest.raises(ValueError, match="unknown parameter"):
        priors.make_prior("normal", 2, radius=1.0)
    with pytest.raises(ValueError, match="prior must be one of"):
        priors.make_prior("laplace", 2)
    with pytest.raises(ValueError, match="std > 0"):
        priors.make_prior("gmm_ring", 2, std=0.0)
    with pytest.raises(ValueError, match="means must be"):
        priors.make_prior("aggregate", 2, means=jnp.zeros((5, 3)))


def test_aggregate_posterior_of_an_encoder(key):
    model = tiny_model(image_shape=(4, 4, 1), hidden=(8,))
    images = jax.random.uniform(key, (23, 4, 4, 1))
    variables = model.init({"params": key, "latent": key}, images[:2])
    encode_fn = functools.partial(model.apply, variables, method=model.encode)
    prior = priors.aggregate_posterior(encode_fn, images, batch_size=5)
    direct = encode_fn(images)
    np.testing.assert_allclose(prior.means, direct.mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(prior.log_vars, direct.log_var, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"family": "daae", "prior": "gmm_ring"}, "latent_dim=2"),
        ({"family": "aae", "prior": "aggregate"}, "GAE's prior"),
        ({"family": "gae", "prior": "normal"}, "valid: 'aggregate'"),
        ({"family": "vae", "prior": "gmm_ring", "latent_dim": 2}, "valid: 'normal'"),
        ({"prior": "uniform"}, "config.model.prior='uniform'"),
        ({"prior": "gmm_ring", "latent_dim": 2, "gmm_std": 0.0}, "gmm_std"),
    ],
)
def test_config_validation_of_priors(overrides, message):
    config = base.get_config()
    for name, value in overrides.items():
        setattr(config.model, name, value)
    with pytest.raises(config_lib.ConfigError, match=message):
        config_lib.validate(config)


def test_build_prior_from_config():
    config = base.get_config()
    config.model.prior, config.model.latent_dim = "gmm_ring", 2
    config.model.gmm_components, config.model.gmm_radius = 6, 3.0
    prior = builders.build_prior(config_lib.validate(config).model)
    assert isinstance(prior, priors.GMMRing)
    assert (prior.num_components, prior.radius, prior.std) == (6, 3.0, 0.5)
