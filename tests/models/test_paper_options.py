"""Paper-faithful options (issue 16): paper 001's discriminator (ReLU, no dropout), its
saturating generator loss, an optimizer per parameter group; paper 002's denoising
autoencoders (pre-activation noise, salt-and-pepper input, relu bottleneck); validation of each."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from configs import base, paper002_mnist
from gae_jax import builders, losses, models
from gae_jax import config as config_lib
from gae_jax.train import adversarial, steps


def _disc_by_hand(params, z, activation, slope=0.2):
    """The discriminator's logits in numpy: dense, activation, ..., dense to one logit."""
    h = np.asarray(z, np.float64)
    layers = sorted(params, key=lambda name: int(name.split("_")[-1]))
    for name in layers[:-1]:
        h = h @ np.asarray(params[name]["kernel"]) + np.asarray(params[name]["bias"])
        h = np.maximum(h, 0) if activation == "relu" else np.where(h > 0, h, slope * h)
    last = params[layers[-1]]
    return (h @ np.asarray(last["kernel"]) + np.asarray(last["bias"]))[:, 0]


@pytest.mark.parametrize("activation", models.DISC_ACTIVATIONS)
def test_discriminator_activation_by_hand(activation):
    disc = models.Discriminator((5, 4), dropout_rate=0.0, activation=activation)
    z = jax.random.normal(jax.random.key(0), (6, 3))
    params = disc.init(jax.random.key(1), z)["params"]
    # Biases shifted so that some pre-activations are negative: relu and leaky relu differ.
    params = jax.tree.map(lambda p: p - 0.3, params)
    got = disc.apply({"params": params}, z)
    np.testing.assert_allclose(got, _disc_by_hand(params, z, activation), rtol=1e-5, atol=1e-6)


def test_relu_and_leaky_relu_discriminators_differ():
    z = jax.random.normal(jax.random.key(0), (6, 3))
    relu = models.Discriminator((5,), dropout_rate=0.0, activation="relu")
    leaky = models.Discriminator((5,), dropout_rate=0.0)
    params = jax.tree.map(lambda p: p - 0.3, relu.init(jax.random.key(1), z)["params"])
    assert not np.allclose(relu.apply({"params": params}, z), leaky.apply({"params": params}, z))


def test_paper001_discriminator_without_dropout_needs_no_rng_and_ignores_train():
    disc = models.Discriminator((5, 4), dropout_rate=0.0, activation="relu")
    z = jax.random.normal(jax.random.key(0), (6, 3))
    params = disc.init(jax.random.key(1), z)
    np.testing.assert_array_equal(disc.apply(params, z, train=True), disc.apply(params, z))
    with_dropout = models.Discriminator((5, 4), dropout_rate=0.5)
    with pytest.raises(Exception, match="dropout"):  # a positive rate needs the dropout RNG
        with_dropout.apply(params, z, train=True)


def test_discriminator_refuses_an_unknown_activation():
    disc = models.Discriminator((5,), activation="tanh")
    with pytest.raises(ValueError, match=r"one of \('leaky_relu', 'relu'\), got 'tanh'"):
        disc.init(jax.random.key(0), jnp.zeros((2, 3)))


def test_saturating_generator_loss_is_log_one_minus_d_with_a_vanishing_gradient():
    logits = jnp.array([-6.0, -1.0, 0.0, 2.0])
    d = 1 / (1 + np.exp(-np.asarray(logits, np.float64)))
    np.testing.assert_allclose(losses.saturating_generator_loss(logits), np.log(1 - d), rtol=1e-5)
    np.testing.assert_allclose(losses.generator_loss(logits), -np.log(d), rtol=1e-5)
    # d/dl log(1 - sigmoid(l)) = -sigmoid(l): tiny where the discriminator rejects the fakes,
    # while the non-saturating -log D's gradient, sigmoid(l) - 1, is near -1 there.
    sat = jax.grad(lambda x: losses.saturating_generator_loss(x).sum())(logits)
    non = jax.grad(lambda x: losses.generator_loss(x).sum())(logits)
    np.testing.assert_allclose(sat, -d, rtol=1e-5)
    np.testing.assert_allclose(non, d - 1, rtol=1e-5)
    assert abs(sat[0]) < 0.01 < abs(non[0])


def _adversarial_config(**model):
    config = base.get_config()
    config.model.update(family="aae", corruption="none", corruption_level=0.0)
    config.model.update(encoder_hidden=(8,), decoder_hidden=(8,), disc_hidden=(8,), **model)
    return config


@pytest.mark.parametrize("generator_loss", ["non_saturating", "saturating"])
def test_generator_step_minimises_the_configured_loss(generator_loss):
    # Without dropout (paper 001's adversary) the step's discriminator output is exact.
    config = _adversarial_config(generator_loss=generator_loss, disc_dropout=0.0)
    cfg = config_lib.validate(config)
    model = builders.build_model(cfg.model, (8, 8, 1))
    adversary = builders.build_adversary(cfg)
    assert adversary.generator_loss == generator_loss
    state = builders.init_state(cfg, model, builders.build_optimizer(cfg.train), (8, 8, 1))
    x = jax.random.uniform(jax.random.key(2), (16, 8, 8, 1))
    fake_codes = adversarial.make_fake_codes(model, lambda k, x: x)
    _, metrics = adversarial.make_generator_step(adversary, fake_codes)(state, x, jax.random.key(3))
    z, _ = fake_codes(state.params, state.batch_stats, x, jax.random.key(0), train=False)
    logits = adversary.discriminator.apply({"params": state.disc_params}, z)
    expected = losses.GENERATOR_LOSSES[generator_loss](logits).mean()
    np.testing.assert_allclose(metrics["gen_loss"], expected, rtol=1e-5)


def test_generator_step_refuses_an_unknown_loss():
    cfg = config_lib.validate(_adversarial_config())
    adversary = builders.build_adversary(cfg)._replace(generator_loss="wasserstein")
    with pytest.raises(ValueError, match="generator_loss must be one of"):
        adversarial.make_generator_step(adversary, None)


def test_an_optimizer_per_parameter_group():
    # The discriminator on RMSprop, the autoencoder and the generator updates on Adam (paper
    # 001's CelebA): each group's update equals that optimizer's on the same gradient.
    config = _adversarial_config()
    config.train.update(disc_optimizer="rmsprop", momentum=0.1, disc_learning_rate=1e-3)
    cfg = config_lib.validate(config)
    adversary = builders.build_adversary(cfg)
    grads = {"w": jnp.array([0.5, -2.0])}
    params = {"w": jnp.zeros(2)}

    def update(tx):
        return tx.update(grads, tx.init(params), params)[0]["w"]

    expected_disc = update(optax.rmsprop(1e-3, momentum=0.1))
    np.testing.assert_allclose(update(adversary.disc_tx), expected_disc, rtol=1e-6)
    expected_gen = update(optax.adam(2e-4, b1=0.5, b2=0.999))
    np.testing.assert_allclose(update(adversary.gen_tx), expected_gen, rtol=1e-6)
    np.testing.assert_allclose(update(builders.build_optimizer(cfg.train)), expected_gen)
    assert not np.allclose(expected_disc, expected_gen)


@pytest.mark.parametrize(
    "section, key, value, message",
    [
        ("model", "disc_activation", "tanh", "config.model.disc_activation='tanh'; valid: "),
        ("model", "generator_loss", "hinge", "config.model.generator_loss='hinge'; valid: "),
        ("train", "disc_optimizer", "lamb", "config.train.disc_optimizer='lamb'; valid: "),
        ("train", "gen_optimizer", "adagrad", "config.train.gen_optimizer='adagrad'; valid: "),
    ],
)
def test_paper_options_are_validated(section, key, value, message):
    config = _adversarial_config()
    config[section][key] = value
    with pytest.raises(config_lib.ConfigError, match=message):
        config_lib.validate(config)


def test_defaults_are_unchanged():
    cfg = config_lib.validate(base.get_config())
    assert (cfg.model.disc_activation, cfg.model.disc_dropout) == ("leaky_relu", 0.2)
    assert cfg.model.generator_loss == "non_saturating"
    assert cfg.train.disc_optimizer is None and cfg.train.gen_optimizer is None
    assert dataclasses.asdict(cfg.train)["optimizer"] == "adam"
    assert (cfg.model.preactivation_noise, cfg.model.code_activation) == (0.0, "linear")


# ----------------------------------------------------------------------------- paper 002


def _encoder_params(encoder, x, scale=1.0):
    params = encoder.init(jax.random.key(1), x)["params"]
    return jax.tree.map(lambda p: scale * p - 0.1, params)  # some negative pre-activations


@pytest.mark.parametrize("code_activation", ["linear", "relu", "tanh"])
def test_encoder_without_the_noise_stream_by_hand(code_activation):
    """tanh hidden layer, then the code's activation; the noise needs the NOISE_RNG stream."""
    x = jax.random.uniform(jax.random.key(0), (4, 3, 3, 1))
    noisy = models.MLPEncoder(
        (5,), 3, "tanh", preactivation_noise=0.5, code_activation=code_activation
    )
    params = _encoder_params(noisy, x)
    h = np.tanh(
        np.asarray(x).reshape(4, 9) @ params["Dense_0"]["kernel"] + params["Dense_0"]["bias"]
    )
    code = h @ np.asarray(params["Dense_1"]["kernel"]) + np.asarray(params["Dense_1"]["bias"])
    code = {"linear": code, "relu": np.maximum(code, 0), "tanh": np.tanh(code)}[code_activation]
    got = noisy.apply({"params": params}, x, train=True)  # no NOISE_RNG: no noise
    np.testing.assert_allclose(got, code, rtol=1e-5, atol=1e-6)
    if code_activation == "relu":
        assert np.any(code == 0) and np.any(code > 0)


def test_preactivation_noise_is_gaussian_on_the_first_layer_only():
    """Zero first-layer weights, identity second layer, linear code: the output is
    relu(0 + sigma eps) exactly, so half its entries are 0 and the rest have mean
    sigma sqrt(2/pi); noise on the second layer too would leave no exact zeros."""
    sigma, width = 0.5, 4000
    x = jax.random.uniform(jax.random.key(0), (2, 3, 3, 1))
    encoder = models.MLPEncoder((width,), width, "relu", preactivation_noise=sigma)
    params = {
        "Dense_0": {"kernel": jnp.zeros((9, width)), "bias": jnp.zeros(width)},
        "Dense_1": {"kernel": jnp.eye(width), "bias": jnp.zeros(width)},
    }
    out = np.asarray(
        encoder.apply({"params": params}, x, rngs={models.NOISE_RNG: jax.random.key(3)})
    )
    n = out.size
    zero = np.mean(out == 0)
    assert abs(zero - 0.5) < 4 * np.sqrt(0.25 / n), zero
    positive = out[out > 0]
    se = sigma * np.sqrt(1 - 2 / np.pi) / np.sqrt(len(positive))
    assert abs(positive.mean() - sigma * np.sqrt(2 / np.pi)) < 4 * se
    # Without hidden layers the noise goes on the code's own pre-activation: sigma eps.
    single = models.MLPEncoder((), width, preactivation_noise=sigma)
    zeros = {"Dense_0": {"kernel": jnp.zeros((9, width)), "bias": jnp.zeros(width)}}
    eps = single.apply({"params": zeros}, x, rngs={models.NOISE_RNG: jax.random.key(4)}) / sigma
    assert abs(float(eps.mean())) < 4 / np.sqrt(eps.size)
    assert abs(float(eps.std()) - 1.0) < 0.03


def _paper002_dae(depth):
    cfg = config_lib.validate(paper002_mnist.autoencoder(depth, denoising=True))
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, name="digits"))
    return cfg, builders.build_model(cfg.model, (8, 8, 1))


@pytest.mark.parametrize(
    "depth, kernels",
    [
        ("deep", [(64, 600), (600, 400), (400, 100), (100, 400), (400, 600), (600, 64)]),
        ("shallow", [(64, 32), (32, 64)]),
    ],
)
def test_paper002_config_builds_its_autoencoders(depth, kernels):
    cfg, model = _paper002_dae(depth)
    m = cfg.model
    assert (m.corruption, m.corruption_level, m.preactivation_noise) == (
        "salt_and_pepper",
        0.5,
        0.5,
    )
    assert not config_lib.validate(
        paper002_mnist.autoencoder(depth, False)
    ).model.preactivation_noise
    params = model.init({"params": jax.random.key(0)}, jnp.zeros((2, 8, 8, 1)))["params"]
    shapes = [
        p["kernel"].shape
        for net in ("encoder", "decoder")
        for _, p in sorted(params[net].items(), key=lambda item: int(item[0].split("_")[1]))
    ]
    assert shapes == kernels
    x = jax.random.uniform(jax.random.key(1), (16, 8, 8, 1))
    code = model.apply({"params": params}, x, method=model.encode).mean
    if depth == "deep":  # relu bottleneck
        assert code.shape == (16, 100) and jnp.all(code >= 0) and jnp.any(code == 0)
    else:  # the single tanh layer
        assert code.shape == (16, 32) and jnp.all(jnp.abs(code) < 1)


def test_paper002_dae_step_draws_the_preactivation_noise_from_its_key():
    """Same state and key: the same loss; another key: another loss; no pre-activation noise
    (only the salt-and-pepper input, with the same key): yet another."""
    cfg, model = _paper002_dae("shallow")
    tx = builders.build_optimizer(cfg.train)
    state = builders.init_state(cfg, model, tx, (8, 8, 1))
    x = jax.random.uniform(jax.random.key(2), (8, 8, 8, 1))
    step = jax.jit(builders.build_train_step(cfg.model, model, tx))
    loss = [float(step(state, x, jax.random.key(k))[1]["loss"]) for k in (5, 5, 6)]
    assert loss[0] == loss[1] != loss[2]
    quiet = dataclasses.replace(cfg.model, preactivation_noise=0.0)
    quiet_step = jax.jit(
        builders.build_train_step(quiet, builders.build_model(quiet, (8, 8, 1)), tx)
    )
    assert float(quiet_step(state, x, jax.random.key(5))[1]["loss"]) != loss[0]
    # The noise is a training corruption: evaluation is deterministic.
    eval_step = steps.make_eval_step(model)
    np.testing.assert_array_equal(
        eval_step(state, x, jax.random.key(0))["bce"], eval_step(state, x, jax.random.key(1))["bce"]
    )


@pytest.mark.parametrize(
    "model, message",
    [
        (dict(preactivation_noise=-0.1), r"preactivation_noise=-0.1 must be >= 0"),
        (dict(family="aae", preactivation_noise=0.5), r"valid: an 'mlp' of the families ae, dae"),
        (dict(code_activation="softplus"), r"code_activation='softplus'; valid: \('linear'"),
        (dict(family="vae", code_activation="relu"), r"valid: a deterministic 'mlp' encoder"),
    ],
)
def test_paper002_options_are_validated(model, message):
    config = base.get_config()
    config.model.update(**model)
    with pytest.raises(config_lib.ConfigError, match=message):
        config_lib.validate(config)


def test_paper002_options_are_for_mlps():
    with pytest.raises(ValueError, match="are options of architecture='mlp'"):
        models.build_autoencoder(
            architecture="dcgan", image_shape=(32, 32, 1), latent_dim=2, preactivation_noise=0.5
        )
