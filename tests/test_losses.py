"""Loss values against hand computation; corruption processes' statistics."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gae_jax import corruption, losses


def test_bernoulli_nll_by_hand():
    logits = jnp.array([[0.0, 2.0], [-1.0, 3.0]])
    x = jnp.array([[1.0, 0.0], [0.25, 1.0]])
    p = 1 / (1 + np.exp(-np.asarray(logits)))
    expected = -(np.asarray(x) * np.log(p) + (1 - np.asarray(x)) * np.log(1 - p)).sum(-1)
    np.testing.assert_allclose(losses.bernoulli_nll(logits, x), expected, rtol=1e-6)
    # ln 2 per pixel at logit 0, target 1: the first pixel's contribution.
    np.testing.assert_allclose(
        losses.bernoulli_nll(jnp.zeros((1, 1)), jnp.ones((1, 1))), [np.log(2)]
    )


def test_bernoulli_nll_is_stable_for_large_logits():
    value = losses.bernoulli_nll(jnp.array([[200.0, -200.0]]), jnp.array([[1.0, 0.0]]))
    assert np.isfinite(value).all() and value[0] < 1e-6


def test_squared_errors_by_hand():
    logits = jnp.array([[0.0, 0.0, 0.0, 0.0]])  # sigmoid = 0.5
    x = jnp.array([[0.0, 1.0, 0.5, 0.5]])
    np.testing.assert_allclose(losses.squared_error(logits, x), [0.5])
    np.testing.assert_allclose(losses.mean_squared_error(logits, x), [0.125])


def test_gaussian_kl_by_hand():
    mean = jnp.array([[0.0, 0.0], [1.0, -2.0]])
    log_var = jnp.array([[0.0, 0.0], [np.log(4.0), 0.0]])
    # KL(N(m, s2) || N(0, 1)) = 0.5 (m^2 + s2 - 1 - log s2), summed over dimensions.
    expected = [0.0, 0.5 * (1 + 4 - 1 - np.log(4.0)) + 0.5 * 4.0]
    np.testing.assert_allclose(losses.gaussian_kl(mean, log_var), expected, rtol=1e-6)


def test_gaussian_kl_matches_monte_carlo():
    mean, log_var = jnp.array([[0.7, -0.3]]), jnp.array([[-0.5, 0.8]])
    z = mean + jnp.exp(0.5 * log_var) * jax.random.normal(jax.random.key(0), (200_000, 2))
    log_q = jax.scipy.stats.norm.logpdf(z, mean, jnp.exp(0.5 * log_var)).sum(-1)
    log_p = jax.scipy.stats.norm.logpdf(z).sum(-1)
    mc = log_q - log_p
    se = mc.std() / np.sqrt(mc.size)
    assert abs(mc.mean() - losses.gaussian_kl(mean, log_var)[0]) < 4 * se


def test_reconstruction_loss_lookup():
    assert losses.reconstruction_loss("bce") is losses.bernoulli_nll
    with pytest.raises(ValueError, match="must be one of .*'bce'"):
        losses.reconstruction_loss("l1")


X = jnp.full((400, 500), 0.3)


def test_gaussian_corruption_moments():
    noisy = corruption.make_corruption("gaussian", 0.5)(jax.random.key(0), X)
    se = 0.5 / np.sqrt(X.size)
    assert abs(float((noisy - X).mean())) < 4 * se
    assert abs(float((noisy - X).std()) - 0.5) < 0.005


@pytest.mark.parametrize("prob", [0.1, 0.5])
def test_salt_and_pepper_rate(prob):
    noisy = corruption.make_corruption("salt_and_pepper", prob)(jax.random.key(1), X)
    changed = np.asarray(noisy != X)
    assert abs(changed.mean() - prob) < 4 * np.sqrt(prob * (1 - prob) / X.size)
    assert set(np.unique(np.asarray(noisy)[changed])) == {0.0, 1.0}
    assert abs(float((np.asarray(noisy)[changed] == 1.0).mean()) - 0.5) < 0.02


def test_masking_rate_and_values():
    noisy = corruption.make_corruption("masking", 0.25)(jax.random.key(2), X)
    zeroed = np.asarray(noisy == 0)
    assert abs(zeroed.mean() - 0.25) < 4 * np.sqrt(0.25 * 0.75 / X.size)
    np.testing.assert_array_equal(np.asarray(noisy)[~zeroed], np.float32(0.3))


def test_corruption_is_pure_and_jittable():
    fn = corruption.make_corruption("gaussian", 0.2)
    a = jax.jit(fn)(jax.random.key(3), X)
    np.testing.assert_allclose(a, fn(jax.random.key(3), X), atol=1e-6)  # same noise, jit or not
    assert not np.array_equal(a, fn(jax.random.key(4), X))
    assert corruption.make_corruption("gaussian", 0.0) is corruption.identity


@pytest.mark.parametrize(
    "kind, level, match",
    [("blur", 0.1, "must be one of"), ("gaussian", -0.1, ">= 0"), ("masking", 1.5, r"\[0, 1\]")],
)
def test_corruption_rejects_bad_config(kind, level, match):
    with pytest.raises(ValueError, match=match):
        corruption.make_corruption(kind, level)
