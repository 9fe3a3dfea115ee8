"""Stochastic chains (issue 16): every kernel can draw x ~ p(x|z) and z ~ q(z|x).

Statistical checks of the draws (per-pixel moments across many chains, within 4.5 standard
errors), the AAE chain no longer being a deterministic map once x is sampled, and the default
``sampler.decode='mean'`` / ``encode='paper'`` chains being bit for bit the ones built before the
options existed.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import assert_trees_equal, tiny_autoencoder

from configs import base
from gae_jax import builders, models, samplers
from gae_jax import config as config_lib
from gae_jax.samplers import conditionals, sample_chains

NUM_CHAINS = 4000
PROBS = jnp.linspace(0.05, 0.95, 12)


def _run(kernel, start, num_steps, key=0):
    """The final state after ``num_steps`` transitions from ``kernel.init(start)``."""
    return jax.jit(
        lambda k, s: sample_chains(k, kernel, kernel.init(s), num_steps, thin=num_steps)[0]
    )(jax.random.key(key), start)


def _sampler(**overrides) -> config_lib.SamplerConfig:
    return dataclasses.replace(config_lib.SamplerConfig(), **overrides)


def _within_se(observed, expected, se):
    assert np.all(np.abs(np.asarray(observed) - expected) < 4.5 * se), (observed, expected)


def test_bernoulli_observation_has_the_decoder_mean_per_pixel():
    # A decoder with fixed per-pixel means p and an identity encoder: after one step the code
    # is the sampled image, so its pixels are Bernoulli(p), mean p, se sqrt(p(1-p)/n).
    observe = conditionals.observation("bce", sd=0.1)
    kernel = samplers.latent_chain(
        lambda v, z: jnp.broadcast_to(v, (z.shape[0], 12)),
        lambda k, v, x: x,
        PROBS,
        observe=observe,
    )
    z = np.asarray(_run(kernel, jnp.zeros((NUM_CHAINS, 12)), 1).z)
    assert set(np.unique(z)) == {0.0, 1.0}
    probs = np.asarray(PROBS)
    _within_se(z.mean(0), probs, np.sqrt(probs * (1 - probs) / NUM_CHAINS))


@pytest.mark.parametrize("sd", [0.05, 0.3])
def test_gaussian_observation_has_the_decoder_mean_and_the_configured_sd(sd):
    observe = conditionals.observation("mse", sd=sd)
    mean = jnp.tile(PROBS, (NUM_CHAINS, 1))
    x = np.asarray(jax.vmap(observe)(jax.random.split(jax.random.key(1), NUM_CHAINS), mean))
    _within_se(x.mean(0), np.asarray(PROBS), sd / np.sqrt(NUM_CHAINS))
    # The sample sd of n normals has se ~ sd / sqrt(2 n).
    _within_se(x.std(0), sd, sd / np.sqrt(2 * NUM_CHAINS))


def test_observation_and_code_draw_refuse_unknown_names():
    with pytest.raises(ValueError, match=r"reconstruction_loss must be one of \('bce', 'mse'\)"):
        conditionals.observation("l1", 0.1)
    with pytest.raises(ValueError, match="sd must be > 0, got 0.0"):
        conditionals.gaussian(0.0)
    with pytest.raises(ValueError, match=r"one of \('mean', 'sample'\), got 'paper'"):
        conditionals.code_draw(lambda v, x: None, "paper")


@pytest.fixture(scope="module")
def aae():
    """A tiny deterministic-encoder MLP autoencoder (an AAE's networks)."""
    return tiny_autoencoder("mlp", "deterministic")


@pytest.fixture(scope="module")
def vae():
    return tiny_autoencoder("mlp", "gaussian")


def _latent(model, variables, sampler, loss="bce", corruption=None):
    fns = builders.sampler_fns(model, sampler)
    make = builders.latent_kernel(fns, corruption, sampler, reconstruction_loss=loss)
    return make(variables)


def test_aae_chain_with_sampled_x_is_no_longer_a_deterministic_map(aae):
    model, variables = aae
    z0 = jax.random.normal(jax.random.key(2), (64, model.latent_dim))
    mean_kernel = _latent(model, variables, _sampler(decode="mean"))
    a, b = (_run(mean_kernel, z0, 3, key=k).z for k in (0, 1))
    np.testing.assert_array_equal(a, b)  # z <- E(D(z)): the key does not matter
    sampled = _latent(model, variables, _sampler(decode="sample"))
    a, b = (np.asarray(_run(sampled, z0, 3, key=k).z) for k in (0, 1))
    assert np.mean(np.any(a != b, axis=1)) > 0.9  # (almost) every chain moves differently


def test_vae_encode_mean_makes_the_chain_deterministic_and_sample_does_not(vae):
    model, variables = vae
    z0 = jax.random.normal(jax.random.key(3), (64, model.latent_dim))
    for encode, deterministic in (("mean", True), ("sample", False), ("paper", False)):
        kernel = _latent(model, variables, _sampler(encode=encode))
        a, b = (np.asarray(_run(kernel, z0, 2, key=k).z) for k in (0, 1))
        assert np.array_equal(a, b) == deterministic, encode


@pytest.mark.parametrize("kernel", ["latent", "reinjection", "ascent"])
def test_default_options_run_the_chains_built_before_they_existed_bit_for_bit(vae, kernel):
    model, variables = vae
    shape = (8, 8, 1)
    s = config_lib.SamplerConfig()  # decode "mean", encode "paper", minibatch batch norm
    fns = builders.sampler_fns(model, s)
    key = jax.random.key(6)
    if kernel == "latent":
        new = builders.latent_kernel(fns, None, s, reconstruction_loss="bce")(variables)
        old = samplers.latent_chain(fns.decode_mean, fns.sample_code, variables)
        start = jax.random.normal(key, (16, model.latent_dim))
    elif kernel == "reinjection":
        new = builders.reinjection_kernel(fns, s, reconstruction_loss="bce")(variables)
        old = samplers.reinjection_chain(
            fns.reconstruct_mean,
            variables,
            step_size=s.reinjection_step_size,
            restart_every=s.reinjection_restart_every,
            burn_in_restarts=s.reinjection_burn_in_restarts,
        )
        start = samplers.starts.normal_noise(key, 16, shape)
    else:
        new = builders.ascent_kernel(fns, s, reconstruction_loss="bce")(variables)
        old = samplers.ascent_chain(
            fns.reconstruct_mean,
            variables,
            noise=samplers.conditionals.gaussian(s.ascent_noise),
        )
        start = samplers.starts.uniform_noise(key, 16, shape)
    assert_trees_equal(_run(new, start, 2), _run(old, start, 2))


def test_code_draw_sample_is_sample_code_bit_for_bit(vae):
    model, variables = vae
    fns = models.autoencoder_fns(model)
    x = jax.random.uniform(jax.random.key(7), (16, 8, 8, 1))
    keys = samplers.chain_keys(jax.random.key(8), 16)
    np.testing.assert_array_equal(
        conditionals.code_draw(fns.encode, "sample")(keys, variables, x),
        fns.sample_code(keys, variables, x),
    )
    np.testing.assert_array_equal(
        conditionals.code_draw(fns.encode, "mean")(keys, variables, x),
        fns.encode(variables, x).mean,
    )


def test_pixel_kernels_draw_binary_images_around_the_reconstruction(vae):
    # Ascent without noise, sampled x and the mean code: x' ~ Bernoulli(r(x)), so from one x
    # repeated over the chains the images are binary with per-pixel mean r(x).
    model, variables = vae
    s = _sampler(decode="sample", ascent_noise=0.0)
    fns = builders.sampler_fns(model, s)
    x0 = jnp.tile(jax.random.uniform(jax.random.key(9), (1, 8, 8, 1)), (NUM_CHAINS, 1, 1, 1))
    x = np.asarray(
        _run(builders.ascent_kernel(fns, s, reconstruction_loss="bce")(variables), x0, 1).x
    )
    assert set(np.unique(x)) == {0.0, 1.0}
    p = np.asarray(fns.reconstruct_mean(variables, x0[:1])).ravel()
    _within_se(x.reshape(NUM_CHAINS, -1).mean(0), p, np.sqrt(p * (1 - p) / NUM_CHAINS) + 1e-6)


@pytest.mark.parametrize("encode, deterministic", [("paper", True), ("sample", False)])
def test_reinjection_draws_codes_when_asked(vae, encode, deterministic):
    # Without reinjected noise (lambda = 0) and restarts, the paper's r(x) is a deterministic
    # map; drawing z ~ q(z|x) makes the key matter.
    model, variables = vae
    s = _sampler(encode=encode, reinjection_step_size=0.0, reinjection_restart_every=0)
    fns = builders.sampler_fns(model, s)
    kernel = builders.reinjection_kernel(fns, s, reconstruction_loss="bce")(variables)
    x0 = jax.random.uniform(jax.random.key(10), (16, 8, 8, 1))
    a, b = (np.asarray(_run(kernel, x0, 2, key=k).x) for k in (0, 1))
    assert np.array_equal(a, b) == deterministic


@pytest.mark.parametrize(
    "family, loss, sampler, expected",
    [
        (
            "daae",
            "bce",
            dict(decode="sample"),
            "x ~ Bernoulli(D(z)), x~ ~ gaussian 0.5, z = E(x~) (q(z|x) a point mass)",
        ),
        ("vae", "bce", {}, "x = D(z), no corruption, z ~ q(z|x)"),
        ("vae", "bce", dict(encode="mean"), "x = D(z), no corruption, z = mean of q(z|x)"),
        (
            "aae",
            "mse",
            dict(decode="sample", decode_sd=0.2, corruption="masking", corruption_level=0.3),
            "x ~ N(D(z), 0.2^2 I), x~ ~ masking 0.3, z = E(x~) (q(z|x) a point mass)",
        ),
    ],
)
def test_describe_transition_states_the_latent_step(family, loss, sampler, expected):
    config = base.get_config()
    config.model.family, config.model.reconstruction_loss = family, loss
    config.sampler.update(sampler)
    cfg = config_lib.validate(config)
    assert builders.describe_transition("latent", cfg.model, cfg.sampler) == expected


def test_describe_transition_of_the_pixel_kernels_and_conv_batch_norm():
    config = base.get_config()
    config.model.family, config.model.architecture = "vae", "dcgan"
    config.sampler.update(decode="sample", batch_stats_mode="population")
    cfg = config_lib.validate(config)
    describe = lambda k: builders.describe_transition(k, cfg.model, cfg.sampler)  # noqa: E731
    assert describe("reinjection") == (
        "z = mean of q(z|x), x' ~ Bernoulli(D(z)), x <- x' + sqrt(0.1) eps, batch norm population"
    )
    assert describe("ascent") == (
        "x~ ~ gaussian 0.5, z = mean of q(z|x~), x' ~ Bernoulli(D(z)), x <- x', "
        "batch norm population"
    )
    with pytest.raises(ValueError, match="kernel must be one of"):
        describe("langevin")


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("decode", "bernoulli", r"config.sampler.decode='bernoulli'; valid: \('mean', 'sample'\)"),
        ("decode_sd", 0.0, "config.sampler.decode_sd=0.0 must be > 0"),
        ("encode", "mode", r"config.sampler.encode='mode'; valid: \('paper', 'mean', 'sample'\)"),
    ],
)
def test_sampler_draw_options_are_validated(key, value, message):
    config = base.get_config()
    config.sampler[key] = value
    with pytest.raises(config_lib.ConfigError, match=message):
        config_lib.validate(config)


def test_old_bernoulli_decode_is_translated_or_named_with_its_replacement():
    config = base.get_config().to_dict()
    del config["sampler"]["decode"]
    config["sampler"]["bernoulli_decode"] = True  # as a workdir written before decode existed
    assert config_lib.validate(config).sampler.decode == "sample"
    config["sampler"]["bernoulli_decode"] = False
    assert config_lib.validate(config).sampler.decode == "mean"
    message = config_lib.unknown_override(["--config.sampler.bernoulli_decode=True"])
    assert "was replaced by config.sampler.decode" in message
