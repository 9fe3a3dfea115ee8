"""Latent and denoising latent chains: stationary distributions with known answers, options, BN."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import assert_gaussian_matches, tiny_autoencoder
from scipy import linalg

from gae_jax import corruption, models, samplers
from gae_jax.samplers import denoising_latent_chain, latent_chain, sample_chains

NUM_CHAINS = 4000


def final_state(kernel, z0, num_steps):
    """The state after ``num_steps`` transitions (nothing else recorded)."""
    key = jax.random.key(0)
    run = jax.jit(lambda z: sample_chains(key, kernel, kernel.init(z), num_steps, thin=num_steps))
    return run(z0)[0]


@pytest.mark.parametrize("sigma", [0.0, 3.0])
def test_linear_gaussian_chain_reaches_its_analytic_stationary_distribution(linear_model, sigma):
    # Decoder mean W z + c, encoder q(z|x) = N(A x + b, S) with S = L L^T, corruption x + sigma e.
    # One transition is z' = M z + m + xi with M = A W, m = A c + b and
    # xi ~ N(0, S + sigma^2 A A^T). With spectral radius of M < 1 this AR(1) chain has the unique
    # stationary law N(mu, Sigma): mu = M mu + m, i.e. mu = (I - M)^-1 m, and
    # Sigma = M Sigma M^T + S + sigma^2 A A^T (a discrete Lyapunov equation). ||M|| = 0.7, so after
    # 40 steps the start (far from mu) contributes 0.7^40 ~ 1e-6.
    variables, decode_fn, encode_fn = linear_model
    v = jax.tree.map(lambda a: np.asarray(a, np.float64), variables)
    m_mat, m_vec = v["A"] @ v["W"], v["A"] @ v["c"] + v["b"]
    noise_cov = v["L"] @ v["L"].T + sigma**2 * v["A"] @ v["A"].T
    mu = np.linalg.solve(np.eye(3) - m_mat, m_vec)
    cov = linalg.solve_discrete_lyapunov(m_mat, noise_cov)

    if sigma == 0.0:
        kernel = latent_chain(decode_fn, encode_fn, variables)
    else:
        noise = corruption.make_corruption("gaussian", sigma)
        kernel = denoising_latent_chain(decode_fn, encode_fn, variables, noise)
    z0 = jnp.full((NUM_CHAINS, 3), 5.0)
    assert_gaussian_matches(final_state(kernel, z0, 40).z, mu, cov)


def test_ppca_gibbs_chain_has_the_prior_as_stationary_distribution():
    # Probabilistic PCA: z ~ N(0, I), x | z ~ N(W z + c, s^2 I). Decoding to the mean and
    # corrupting with N(0, s^2 I) draws x ~ p(x|z); encoding with the exact posterior
    # q(z|x) = N(P W^T (x - c) / s^2, P), P = (I + W^T W / s^2)^-1, draws z ~ p(z|x). The
    # denoising chain is then a Gibbs sampler of p(x, z), whose z-marginal -- the encoder's
    # aggregate posterior P^(Z) of paper 000 -- is the prior N(0, I).
    rng = np.random.default_rng(1)
    latent_dim, pixels, s = 2, 6, 0.8
    w, c = rng.normal(size=(pixels, latent_dim)), rng.normal(size=pixels)
    post_cov = np.linalg.inv(np.eye(latent_dim) + w.T @ w / s**2)
    gain = post_cov @ w.T / s**2
    chol = np.linalg.cholesky(post_cov)
    v = jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), dict(W=w, c=c, G=gain, L=chol))
    decode_fn = lambda v, z: z @ v["W"].T + v["c"]

    def encode_fn(keys, v, x):
        eps = jax.vmap(lambda k: jax.random.normal(k, (latent_dim,)))(keys)
        return (x - v["c"]) @ v["G"].T + eps @ v["L"].T

    kernel = denoising_latent_chain(
        decode_fn, encode_fn, v, corruption.make_corruption("gaussian", s)
    )
    z = final_state(kernel, jnp.full((NUM_CHAINS, latent_dim), 3.0), 60).z
    assert_gaussian_matches(z, np.zeros(latent_dim), np.eye(latent_dim))


MOG_MEANS = np.array([[-1.5, 0.0], [1.5, 0.0], [0.0, 2.0]])
MOG_WEIGHTS = np.array([0.5, 0.3, 0.2])
MOG_STD, CORRUPTION_STD = 0.4, 1.0


def mog_posterior_encoder(keys, variables, x_tilde):
    """Draws x ~ p(x | x~) for data p = sum_k pi_k N(mu_k, s^2 I) and x~ = x + sigma e.

    p(x | x~) = sum_k w_k N((sigma^2 mu_k + s^2 x~) / (s^2 + sigma^2), s^2 sigma^2 / (s^2 + sigma^2) I)
    with w_k proportional to pi_k N(x~; mu_k, (s^2 + sigma^2) I).
    """
    means, log_weights = variables["means"], jnp.log(variables["weights"])
    s2, c2 = MOG_STD**2, CORRUPTION_STD**2

    def one(key, xt):
        k_comp, k_noise = jax.random.split(key)
        logits = log_weights - 0.5 * jnp.sum((xt - means) ** 2, axis=-1) / (s2 + c2)
        k = jax.random.categorical(k_comp, logits)
        mean = (c2 * means[k] + s2 * xt) / (s2 + c2)
        return mean + jnp.sqrt(s2 * c2 / (s2 + c2)) * jax.random.normal(k_noise, (2,))

    return jax.vmap(one)(keys, x_tilde)


def test_denoising_chain_on_2d_mixture_recovers_the_mixture():
    # Identity decoder, Gaussian corruption and the exact posterior p(x | x~) as encoder: the
    # denoising chain alternates x~ ~ C(x~|x) and x ~ p(x|x~), a Gibbs sampler whose stationary
    # law is the data distribution (Bengio et al., 2013). All chains start inside one mode, so
    # the weights are only right if the chain mixes between modes.
    variables = {"means": jnp.asarray(MOG_MEANS, jnp.float32), "weights": jnp.asarray(MOG_WEIGHTS)}
    kernel = denoising_latent_chain(
        lambda v, z: z,
        mog_posterior_encoder,
        variables,
        corruption.make_corruption("gaussian", CORRUPTION_STD),
    )
    z = np.asarray(final_state(kernel, jnp.tile(jnp.asarray(MOG_MEANS[1]), (NUM_CHAINS, 1)), 80).z)

    exact = np.random.default_rng(0)
    comp = exact.choice(3, size=400_000, p=MOG_WEIGHTS)
    reference = MOG_MEANS[comp] + MOG_STD * exact.normal(size=(400_000, 2))
    nearest = lambda x: np.argmin(((x[:, None] - MOG_MEANS) ** 2).sum(-1), axis=1)
    expected = np.bincount(nearest(reference), minlength=3) / len(reference)
    observed = np.bincount(nearest(z), minlength=3) / len(z)
    se = np.sqrt(expected * (1 - expected) / len(z))
    assert np.all(np.abs(observed - expected) < 4.5 * se), (observed, expected)
    mean = MOG_WEIGHTS @ MOG_MEANS
    cov = MOG_STD**2 * np.eye(2) + (MOG_MEANS - mean).T @ np.diag(MOG_WEIGHTS) @ (MOG_MEANS - mean)
    assert np.all(np.abs(z.mean(0) - mean) < 4.5 * np.sqrt(np.diag(cov) / len(z)))
    # The mixture's fourth moments are not Gaussian; 0.08 is ~5 standard errors here.
    np.testing.assert_allclose(np.cov(z.T), cov, atol=0.08)


def test_bernoulli_decoding_draws_binary_images_with_the_decoder_mean():
    probs = jnp.linspace(0.05, 0.95, 12)
    kernel = latent_chain(
        lambda v, z: jnp.broadcast_to(v, (z.shape[0], 12)),
        lambda keys, v, x: x,
        probs,
        observe=samplers.conditionals.bernoulli,
    )
    z = np.asarray(final_state(kernel, jnp.zeros((NUM_CHAINS, 12)), 2).z)
    assert set(np.unique(z)) == {0.0, 1.0}
    se = np.sqrt(probs * (1 - probs) / NUM_CHAINS)
    assert np.all(np.abs(z.mean(0) - probs) < 4.5 * se)


def test_deterministic_encoder_chain_is_deterministic(key):
    model, variables = tiny_autoencoder(posterior="deterministic")
    fns = models.autoencoder_fns(model)
    kernel = latent_chain(fns.decode_mean, fns.sample_code, variables)
    z0 = samplers.starts.prior_samples(key, 6, model.latent_dim)
    run = jax.jit(lambda key: sample_chains(key, kernel, kernel.init(z0), 3)[0].z)
    np.testing.assert_array_equal(run(jax.random.key(1)), run(jax.random.key(2)))
    expected = z0
    for _ in range(3):
        logits = model.apply(variables, expected, method=model.decode)
        expected = model.apply(variables, jax.nn.sigmoid(logits), method=model.encode).mean
    np.testing.assert_allclose(run(key), expected, rtol=1e-5, atol=1e-5)


def test_gaussian_encoder_draws_reparameterised_samples(mlp_model, key):
    model, variables = mlp_model
    fns = models.autoencoder_fns(model)
    x = jax.random.uniform(key, (5, 8, 8, 1))
    keys = samplers.chain_keys(jax.random.key(7), 5)
    posterior = model.apply(variables, x, method=model.encode)
    eps = jax.vmap(lambda k: jax.random.normal(k, (model.latent_dim,)))(keys)
    expected = posterior.mean + jnp.exp(0.5 * posterior.log_var) * eps
    np.testing.assert_allclose(fns.sample_code(keys, variables, x), expected, rtol=1e-5, atol=1e-6)
    kernel = latent_chain(fns.decode_mean, fns.sample_code, variables)
    _, info = jax.jit(kernel.step)(key, kernel.init(posterior.mean))
    assert info.is_finite.all() and np.all(info.z_change > 0)


def test_info_reports_non_finite_chains():
    # Identity decoder and a log "encoder": chain 0 stays finite, log(0) = -inf, log(-1) = nan.
    kernel = latent_chain(lambda v, z: z, lambda keys, v, x: jnp.log(x), None)
    z0 = jnp.array([[1.0, 2.0], [0.0, 1.0], [-1.0, 1.0]])
    _, info = kernel.step(jax.random.key(0), kernel.init(z0))
    np.testing.assert_array_equal(info.is_finite, [True, False, False])


class TestBatchNorm:
    """Population statistics keep chains independent; minibatch statistics couple the chains of
    a tile, and only them."""

    def test_population_mode_uses_running_statistics(self, dcgan_model, key):
        model, variables = dcgan_model
        z = jax.random.normal(key, (8, model.latent_dim))
        decode = models.autoencoder_fns(model, batch_stats_mode="population").decode_mean
        expected = model.apply(variables, z, train=False, method=model.decode)
        np.testing.assert_allclose(decode(variables, z), jax.nn.sigmoid(expected), atol=1e-6)
        np.testing.assert_allclose(decode(variables, z[:3]), decode(variables, z)[:3], atol=1e-6)

    def test_minibatch_mode_normalises_each_tile_with_its_own_statistics(self, dcgan_model, key):
        model, variables = dcgan_model
        z = jax.random.normal(key, (8, model.latent_dim))
        whole = models.autoencoder_fns(model, batch_stats_mode="minibatch").decode_mean
        tiled = models.autoencoder_fns(
            model, batch_stats_mode="minibatch", bn_tile_size=4
        ).decode_mean
        expected, _ = model.apply(
            variables, z, train=True, method=model.decode, mutable=["batch_stats"]
        )
        np.testing.assert_allclose(whole(variables, z), jax.nn.sigmoid(expected), atol=1e-6)
        by_tile = jnp.concatenate([whole(variables, z[:4]), whole(variables, z[4:])])
        np.testing.assert_allclose(tiled(variables, z), by_tile, atol=1e-6)
        population = models.autoencoder_fns(model).decode_mean(variables, z)
        assert np.abs(whole(variables, z) - population).max() > 1e-2
        assert np.abs(whole(variables, z)[:4] - by_tile[:4]).max() > 1e-4

    def test_a_tile_of_chains_runs_as_if_alone(self, dcgan_model, key):
        model, variables = dcgan_model
        fns = models.autoencoder_fns(model, batch_stats_mode="minibatch", bn_tile_size=4)
        kernel = denoising_latent_chain(
            fns.decode_mean, fns.sample_code, variables, corruption.make_corruption("gaussian", 0.5)
        )
        z0 = jax.random.normal(key, (8, model.latent_dim))
        run = jax.jit(lambda z: sample_chains(jax.random.key(1), kernel, kernel.init(z), 2)[0].z)
        np.testing.assert_allclose(run(z0)[:4], run(z0[:4]), rtol=1e-4, atol=1e-5)

    def test_bad_settings_are_rejected(self, dcgan_model):
        model, variables = dcgan_model
        with pytest.raises(ValueError, match="batch_stats_mode"):
            models.autoencoder_fns(model, batch_stats_mode="train")
        fns = models.autoencoder_fns(model, batch_stats_mode="minibatch", bn_tile_size=3)
        with pytest.raises(ValueError, match="does not divide"):
            fns.decode_mean(variables, jnp.zeros((8, model.latent_dim)))
