import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import tiny_model
from scipy import integrate, special, stats

from gae_jax.data import load_dataset
from gae_jax.evaluation import (
    bernoulli_log_prob_matrix,
    importance_sampled_log_likelihood,
    prior_sampled_log_likelihood,
)
from gae_jax.losses import bernoulli_nll
from gae_jax.models import autoencoder_fns


def standard_normal_log_prob(z):
    return jnp.sum(jax.scipy.stats.norm.logpdf(z), axis=-1)


def standard_normal_sample(dim):
    return lambda key, n: jax.random.normal(key, (n, dim))


def all_binary_patterns(num_pixels):
    return np.array(list(itertools.product([0.0, 1.0], repeat=num_pixels)), np.float32)


def bernoulli_pmf(x, logits):
    p = special.expit(logits)
    return np.prod(np.where(x > 0.5, p, 1 - p), axis=-1)


DIM = 1
W1, B1 = np.array([[2.0, -1.5]]), np.array([0.3, -0.2])


def posterior_moments_1d(x):
    """log p(x) and the posterior mean and sd of z, by adaptive quadrature over z."""
    joint = lambda z: stats.norm.pdf(z) * bernoulli_pmf(x, z * W1[0] + B1)
    moment = lambda k: integrate.quad(lambda z: z**k * joint(z), -12, 12, epsabs=1e-12)[0]
    evidence, mean = moment(0), moment(1) / moment(0)
    return np.log(evidence), mean, np.sqrt(moment(2) / evidence - mean**2)


def test_estimators_match_quadrature_with_a_one_dimensional_latent():
    x = all_binary_patterns(2)
    exact, post_mean, post_sd = (
        np.array(v) for v in zip(*map(posterior_moments_1d, x), strict=True)
    )
    np.testing.assert_allclose(np.exp(exact).sum(), 1.0, rtol=1e-8)  # a proper distribution
    # A proposal like a well-trained encoder's: near the posterior, a little wider, not exact.
    encode = lambda x: (
        jnp.asarray(post_mean[:, None] + 0.1, jnp.float32),
        jnp.asarray(2 * np.log(1.2 * post_sd[:, None]), jnp.float32),
    )
    decode = lambda z: z @ jnp.asarray(W1, jnp.float32) + jnp.asarray(B1, jnp.float32)
    key_is, key_prior = jax.random.split(jax.random.key(0))
    is_ll = importance_sampled_log_likelihood(
        key_is, x, encode, decode, standard_normal_log_prob, num_samples=10000
    )
    prior_ll = prior_sampled_log_likelihood(
        key_prior, x, decode, standard_normal_sample(1), num_samples=20000
    )
    np.testing.assert_allclose(is_ll, exact, atol=0.01)
    np.testing.assert_allclose(prior_ll, exact, atol=0.02)


def test_importance_sampling_matches_grid_quadrature_with_a_two_dimensional_latent():
    w = np.array([[1.5, -2.0, 0.5], [0.7, 1.0, -1.8]])
    b = np.array([0.1, -0.4, 0.2])
    grid = np.linspace(-7, 7, 561)
    z = np.stack(np.meshgrid(grid, grid, indexing="ij"), axis=-1).reshape(-1, 2)
    prior = np.exp(stats.norm.logpdf(z).sum(axis=-1))
    x = all_binary_patterns(3)
    cell = (grid[1] - grid[0]) ** 2
    exact = np.log([np.sum(prior * bernoulli_pmf(xi, z @ w + b)) * cell for xi in x])
    encode = lambda x: (0.5 * (x[:, :2] - 0.5), jnp.full((x.shape[0], 2), -0.2))
    decode = lambda z: z @ jnp.asarray(w, jnp.float32) + jnp.asarray(b, jnp.float32)
    got = importance_sampled_log_likelihood(
        jax.random.key(1), x, encode, decode, standard_normal_log_prob, num_samples=5000
    )
    np.testing.assert_allclose(got, exact, atol=0.03)


def test_zero_variance_when_the_proposal_is_the_exact_posterior():
    # A decoder that ignores z makes the posterior equal to the prior; with q = prior every
    # importance weight equals p(x), so even K = 1 is exact whatever the key.
    logits = jnp.array([[0.5, -1.0, 2.0]])
    x = all_binary_patterns(3)
    decode = lambda z: jnp.broadcast_to(logits, (z.shape[0], 3))
    prior_encoder = lambda x: (jnp.zeros((x.shape[0], 4)), jnp.zeros((x.shape[0], 4)))
    exact = np.log(bernoulli_pmf(x, np.asarray(logits)))
    for seed in range(3):
        got = importance_sampled_log_likelihood(
            jax.random.key(seed), x, prior_encoder, decode, standard_normal_log_prob, num_samples=1
        )
        np.testing.assert_allclose(got, exact, rtol=1e-5)


def test_prior_sampling_leaves_out_the_padding_of_the_last_chunk():
    # K = 7 codes in chunks of 3: a z-independent decoder gives exactly log p(x) only if the
    # estimate averages over 7 codes, not the 9 decoded.
    logits = jnp.array([[0.5, -1.0]])
    decode = lambda z: jnp.broadcast_to(logits, (z.shape[0], 2))
    x = all_binary_patterns(2)
    got = prior_sampled_log_likelihood(
        jax.random.key(0), x, decode, standard_normal_sample(3), num_samples=7, sample_batch_size=3
    )
    np.testing.assert_allclose(got, np.log(bernoulli_pmf(x, np.asarray(logits))), rtol=1e-5)


def test_bernoulli_log_prob_matrix_equals_pairwise_cross_entropy():
    rng = np.random.default_rng(0)
    x = rng.random((5, 4, 4, 1)).astype(np.float32)
    logits = rng.normal(size=(3, 4, 4, 1)).astype(np.float32)
    expected = np.stack([-bernoulli_nll(jnp.broadcast_to(lk, x.shape), x) for lk in logits], 1)
    np.testing.assert_allclose(bernoulli_log_prob_matrix(x, logits), expected, rtol=1e-5)


def test_importance_sampling_needs_a_gaussian_encoder():
    deterministic = lambda x: (x[:, :2], None)
    with pytest.raises(ValueError, match="Gaussian encoder"):
        importance_sampled_log_likelihood(
            jax.random.key(0), jnp.zeros((2, 3)), deterministic, None, None, num_samples=2
        )


def test_autoencoder_adapter_and_agreement_of_the_two_estimators():
    images = (load_dataset("digits", "test").images[:16] > 0.5).astype(np.float32)
    model = tiny_model(latent_dim=2, hidden=(32,))
    variables = model.init(jax.random.key(0), images)
    fns = autoencoder_fns(model)
    encode = functools.partial(fns.encode, variables)
    decode = functools.partial(fns.decode_logits, variables)
    posterior = model.apply(variables, images, method=model.encode)
    np.testing.assert_array_equal(encode(images).mean, posterior.mean)
    np.testing.assert_array_equal(
        decode(posterior.mean), model.apply(variables, posterior.mean, method=model.decode)
    )
    key_is, key_prior = jax.random.split(jax.random.key(1))
    # With a 2-D latent both estimators converge; they must agree on the same model.
    is_ll = importance_sampled_log_likelihood(
        key_is, images, encode, decode, standard_normal_log_prob, num_samples=5000
    )
    prior_ll = prior_sampled_log_likelihood(
        key_prior, images, decode, standard_normal_sample(2), num_samples=50000
    )
    assert is_ll.shape == (16,)
    # An untrained encoder is a poor proposal, so allow a few Monte-Carlo standard errors.
    np.testing.assert_allclose(is_ll, prior_ll, atol=0.1)


def test_paper004_binarized_driver_on_tiny_digits(tmp_path):
    """benchmarks.paper004_binarized_ll on a tiny case: binarized digits written as IDX files
    read back as 0/1 with the intensities' mean; a tiny GAE trained on them is scored with its
    aggregate posterior as prior, and in a 2-D latent paper 004's prior-sampled estimate agrees
    with the importance-sampled one."""
    from helpers import tiny_config

    from benchmarks import paper004_binarized_ll as driver
    from gae_jax.jobs import train_and_evaluate

    train, test = load_dataset("digits", "train"), load_dataset("digits", "test")
    splits = {"train": (train.images, train.labels), "test": (test.images, test.labels)}
    name = driver.write_binarized(splits, str(tmp_path / "binary"))
    read = load_dataset(name, "test")
    assert set(np.unique(read.images).tolist()) == {0.0, 1.0}
    np.testing.assert_array_equal(read.labels, test.labels)
    assert abs(read.images.mean() - test.images.mean()) < 0.02

    config = tiny_config(
        "gae", latent_dim=2, hidden=(32,), model=dict(prior="aggregate"), num_steps=60
    )
    config.data.name = name
    workdir = str(tmp_path / "gae")
    train_and_evaluate(config, workdir)
    result = driver.approximate_log_likelihood(
        workdir, num_samples=4000, importance_samples=400, rng_key=jax.random.key(0)
    )
    assert result["prior"] == "aggregate" and result["test_images"] == len(test.images)
    prior_ll, is_ll = result["prior_sampled"], result["importance_sampled"]
    assert -64 * np.log(2) < is_ll["mean"] < 0  # better than a coin per pixel
    assert abs(prior_ll["mean"] - is_ll["mean"]) < 1.5, result
