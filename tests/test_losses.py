"""Loss values against hand computation; corruption processes' statistics."""

import itertools
import math

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


# --- GAE mixture likelihood (paper 004): the minibatch estimate of the full-n mixture ---------


def _sigmoid(v):
    return 1 / (1 + math.exp(-v))


def test_gae_mixture_nll_by_enumeration():
    # Three one-pixel training images of a set of n = 5, decoded from their codes as logits.
    x = [1.0, 0.0, 1.0]
    logits = [0.0, 2.0, -1.0]
    n, b = 5, 3
    # p(x_i | z_j) = sigmoid(l_j) for a white pixel, 1 - sigmoid(l_j) for a black one.
    p = [[_sigmoid(lj) if xi == 1.0 else 1 - _sigmoid(lj) for lj in logits] for xi in x]
    expected = []
    for i in range(b):
        others = [p[i][j] for j in range(b) if j != i]
        expected.append(-math.log(p[i][i] / n + (n - 1) / n * sum(others) / (b - 1)))
    x_arr = jnp.array(x).reshape(b, 1, 1, 1)
    logits_arr = jnp.array(logits).reshape(b, 1, 1, 1)
    np.testing.assert_allclose(
        losses.mixture_nll("bce", logits_arr, x_arr, num_train=n), expected, rtol=1e-6
    )
    # The regulariser is added unchanged.
    mean, log_var = jnp.zeros((b, 2)), jnp.zeros((b, 2))
    total = losses.gae_loss(
        "bce", logits_arr, x_arr, mean, log_var, lambda1=0.3, lambda2=0.2, num_train=n
    )
    np.testing.assert_allclose(total, expected, rtol=1e-6)  # regulariser 0 at mu=0, s=1
    # num_train = B is the whole set: the plain average over the batch, i.e. the old estimate.
    old = [-math.log(sum(p[i]) / b) for i in range(b)]
    np.testing.assert_allclose(losses.mixture_nll("bce", logits_arr, x_arr), old, rtol=1e-6)
    np.testing.assert_allclose(
        losses.mixture_nll("bce", logits_arr, x_arr, num_train=b), old, rtol=1e-6
    )


def test_mixture_log_weights():
    w = np.exp(np.asarray(losses.mixture_log_weights(4, 10)))
    np.testing.assert_allclose(np.diag(w), 0.1, rtol=1e-6)
    np.testing.assert_allclose(w[0, 1], 0.9 / 3, rtol=1e-6)
    np.testing.assert_allclose(w.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(losses.mixture_log_weights(1, 1), [[0.0]])
    with pytest.raises(ValueError, match="num_train >= 8"):
        losses.mixture_log_weights(8, 5)
    with pytest.raises(ValueError, match="at least 2"):
        losses.mixture_log_weights(1, 5)
    for bad in (0, 2.5, True, None):
        with pytest.raises(ValueError, match="positive int"):
            losses.mixture_log_weights(2, bad)


def _batches(log_lik, subsets):
    """float32[R, B, B]: the rows and columns of each minibatch's members."""
    return log_lik[subsets[:, :, None], subsets[:, None, :]]


@pytest.mark.parametrize("batch_size", [2, 4, 8])
def test_mixture_estimate_is_unbiased_over_all_minibatches(batch_size):
    """Over every minibatch containing i, the mixture estimate averages to the full mixture
    (1/n) sum_j p(x_i|z_j) exactly; its NLL averages to an upper bound (Jensen) that is exact
    for B = n and tightens with B."""
    n = 8
    log_lik = np.random.default_rng(0).normal(-2.0, 1.5, size=(n, n)).astype(np.float32)
    np.fill_diagonal(log_lik, 0.0)
    full_nll = np.asarray(losses.full_mixture_nll(jnp.asarray(log_lik)))
    subsets = np.array(list(itertools.combinations(range(n), batch_size)))
    nll = jax.vmap(lambda ll: losses.batch_mixture_nll(ll, n))(_batches(log_lik, subsets))
    nll = np.asarray(nll, np.float64)
    for i in range(n):
        rows = subsets == i  # [R, B]: where i sits in each minibatch that holds it
        mixture = np.exp(-nll[rows])
        np.testing.assert_allclose(mixture.mean(), np.exp(-full_nll[i]), rtol=1e-5)
        gap = nll[rows].mean() - full_nll[i]
        assert gap >= -1e-5
        if batch_size == n:
            assert abs(gap) < 1e-5
    gaps = {}
    for size in (2, 4):
        subs = np.array(list(itertools.combinations(range(n), size)))
        est = jax.vmap(lambda ll, s=size: losses.batch_mixture_nll(ll, n))(_batches(log_lik, subs))
        gaps[size] = float(np.mean(est)) - float(full_nll.mean())
    assert gaps[2] > gaps[4] > 0


@pytest.mark.parametrize("batch_size", [4, 16])
def test_expected_minibatch_nll_is_the_full_mixture_nll(batch_size):
    """Monte Carlo over random minibatches of a fixed set of fake log-likelihoods in which
    each example's own code is far likelier than the others (so the Jensen gap of the test
    above is negligible; a trained GAE is not in this regime, see losses.batch_mixture_nll):
    the new estimate's mean is the full-n mixture NLL within a few standard errors, whatever
    B; the old batch-only estimate's is off by about log(n / B)."""
    n, draws = 64, 2000
    rng = np.random.default_rng(batch_size)
    log_lik = rng.normal(-12.0, 2.0, size=(n, n))
    log_lik[np.diag_indices(n)] = rng.normal(0.0, 3.0, size=n)
    log_lik = log_lik.astype(np.float32)
    full = float(np.mean(losses.full_mixture_nll(jnp.asarray(log_lik))))
    subsets = np.stack([rng.permutation(n)[:batch_size] for _ in range(draws)])
    batches = _batches(log_lik, subsets)
    for num_train, expected_offset in ((n, 0.0), (None, math.log(batch_size / n))):
        est = jax.vmap(lambda ll, k=num_train: losses.batch_mixture_nll(ll, k).mean())(batches)
        est = np.asarray(est, np.float64)
        stderr = est.std(ddof=1) / math.sqrt(draws)
        offset = est.mean() - full
        if num_train is None:
            assert abs(offset) > 20 * stderr  # the old estimate depends on B
        assert abs(offset - expected_offset) < 4 * stderr + 1e-3, (offset, stderr)
