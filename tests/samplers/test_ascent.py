"""DAE ascent x <- R(x + noise): exact noiseless contraction, noisy stationary law, flax use."""

import jax
import jax.numpy as jnp
import numpy as np

from gae_jax import corruption, models, samplers
from gae_jax.samplers import ascent_chain, sample_chains

MU = jnp.array([0.2, 0.8, 0.5])
SHRINK = 0.6  # the optimal denoiser of N(mu, s^2 I) data is mu + s^2 / (s^2 + sigma^2) (x - mu)


def linear_denoiser(variables, x):
    return MU + SHRINK * (x - MU)


def test_noiseless_ascent_converges_geometrically_to_the_mode(key):
    kernel = ascent_chain(linear_denoiser, None)
    x0 = samplers.starts.uniform_noise(key, 5, (3,))
    _, trace = sample_chains(key, kernel, kernel.init(x0), 6, transform=lambda s, i: s.x)
    expected = MU + SHRINK ** jnp.arange(1, 7)[:, None, None] * (x0 - MU)
    np.testing.assert_allclose(trace, expected, rtol=1e-5, atol=1e-6)


def test_noisy_ascent_has_the_ar1_stationary_variance(key):
    # x' - mu = a (x - mu + sigma e): stationary variance a^2 sigma^2 / (1 - a^2) around mu.
    sigma, n = 0.5, 4000
    kernel = ascent_chain(
        linear_denoiser, None, noise=corruption.make_corruption("gaussian", sigma)
    )
    run = jax.jit(lambda x: sample_chains(key, kernel, kernel.init(x), 40, thin=40)[0].x)
    x = np.asarray(run(jnp.zeros((n, 3))), np.float64)
    var = SHRINK**2 * sigma**2 / (1 - SHRINK**2)
    assert np.all(np.abs(x.mean(0) - MU) < 4.5 * np.sqrt(var / n))
    assert np.all(np.abs(x.var(0) - var) < 4.5 * var * np.sqrt(2.0 / n))


def test_ascent_from_decoded_prior_samples_with_a_flax_model(mlp_model, key):
    # Paper 003 eq. 11: z ~ N(0, I), x_0 = d(z), x_{t+1} = R(x_t + noise).
    model, variables = mlp_model
    fns = models.autoencoder_fns(model)
    x0 = fns.decode_mean(variables, samplers.starts.prior_samples(key, 6, model.latent_dim))
    kernel = ascent_chain(
        fns.reconstruct_mean, variables, noise=corruption.make_corruption("gaussian", 0.5)
    )
    final, (_, info) = jax.jit(lambda x: sample_chains(key, kernel, kernel.init(x), 3))(x0)
    assert final.x.shape == x0.shape and info.is_finite.all()
    assert np.all((final.x >= 0) & (final.x <= 1)) and np.all(info.change > 0)
