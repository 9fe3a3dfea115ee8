"""Adversarial families (aae, daae, idaae): losses, the integrating fake code, the three phases
of a training step, checkpoints with the adversary's state, and prior matching end to end."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import tiny_config

from gae_jax import builders, checkpoint, data, losses, models
from gae_jax import config as config_lib
from gae_jax import corruption as corruption_lib
from gae_jax import workdir as workdir_lib
from gae_jax.evaluation import prior_match
from gae_jax.jobs import train_and_evaluate
from gae_jax.train import adversarial
from gae_jax.train.state import create_train_state, make_optimizer
from gae_jax.train.writer import read_metrics

IMAGE_SHAPE = (8, 8, 1)


def _config(family: str, **model):
    """Tiny MLPs and discriminator, a 2-D code, the default schedule at learning rate 1e-3."""
    return tiny_config(
        family,
        latent_dim=2,
        hidden=(16,),
        disc_hidden=(16, 16),
        schedule=None,
        model=model,
        learning_rate=1e-3,
    )


def _setup(config):
    """(cfg, model, tx, adversary, state) of a freshly initialised adversarial model."""
    cfg = config_lib.validate(config)
    model = builders.build_model(cfg.model, IMAGE_SHAPE)
    tx = make_optimizer("adam", cfg.train.learning_rate, b1=0.5)
    adversary = builders.build_adversary(cfg)
    state = create_train_state(jax.random.key(0), model, tx, IMAGE_SHAPE)
    state = adversarial.init_adversary(jax.random.key(1), state, adversary, cfg.model.latent_dim)
    return cfg, model, tx, adversary, state


def _batch(n=16):
    return jnp.asarray(data.load_dataset("digits", "train").images[:n])


def _changed(before, after) -> bool:
    return any(
        not np.array_equal(a, b)
        for a, b in zip(jax.tree.leaves(before), jax.tree.leaves(after), strict=True)
    )


def test_adversarial_losses_by_hand():
    real, fake = jnp.array([0.0, 2.0]), jnp.array([0.0, -1.0])
    sig = lambda t: 1 / (1 + np.exp(-t))
    # -log D(real) - log(1 - D(fake)), D = sigmoid(logit).
    expected = [-np.log(0.5) - np.log(0.5), -np.log(sig(2.0)) - np.log(1 - sig(-1.0))]
    np.testing.assert_allclose(losses.discriminator_loss(real, fake), expected, rtol=1e-6)
    np.testing.assert_allclose(
        losses.generator_loss(jnp.array([0.0, 3.0])), [np.log(2.0), -np.log(sig(3.0))], rtol=1e-6
    )


def test_discriminator_outputs_logits_and_uses_dropout_only_in_training(key):
    disc = models.Discriminator(hidden=(32, 32), dropout_rate=0.5)
    z = jax.random.normal(key, (6, 3))
    params = disc.init({"params": key}, z)["params"]
    assert [p["kernel"].shape for p in params.values()] == [(3, 32), (32, 32), (32, 1)]
    eval_out = disc.apply({"params": params}, z)
    assert eval_out.shape == (6,)
    np.testing.assert_array_equal(eval_out, disc.apply({"params": params}, z, train=False))
    rngs = lambda i: {"dropout": jax.random.key(i)}
    train_a = disc.apply({"params": params}, z, train=True, rngs=rngs(1))
    train_b = disc.apply({"params": params}, z, train=True, rngs=rngs(2))
    assert not np.allclose(train_a, train_b) and not np.allclose(train_a, eval_out)


def test_integrating_fake_code_is_the_mean_of_m_encodings(key):
    _, model, _, _, state = _setup(_config("idaae"))
    x, m = _batch(5), 4
    corruption = corruption_lib.make_corruption("gaussian", 0.5)
    fake_codes = adversarial.make_fake_codes(model, corruption, m)
    code, _ = fake_codes(state.params, state.batch_stats, x, key, train=False)

    x_tilde = adversarial.corrupt_copies(key, corruption, x, m)
    assert x_tilde.shape == (m, *x.shape)
    noise = np.asarray(x_tilde - x)
    assert not np.allclose(noise[0], noise[1])  # independent corruptions
    assert abs(noise.std() - 0.5) < 0.05
    variables = {"params": state.params, "batch_stats": state.batch_stats}
    encode = lambda xt: model.apply(variables, xt, method=model.encode).mean
    by_hand = np.mean([np.asarray(encode(x_tilde[i])) for i in range(m)], axis=0)
    np.testing.assert_allclose(code, by_hand, rtol=1e-6, atol=1e-7)
    # Encodings are averaged, not inputs: through a ReLU network the two differ.
    assert np.abs(code - encode(x_tilde.mean(axis=0))).max() > 1e-3
    # Training mode (minibatch statistics; none in an MLP) gives the same codes.
    train_code, _ = fake_codes(state.params, state.batch_stats, x, key, train=True)
    np.testing.assert_allclose(train_code, code, rtol=1e-6, atol=1e-7)


def test_idaae_with_one_sample_takes_the_daae_step():
    _, model, tx, adversary, state = _setup(_config("daae"))
    x, key = _batch(), jax.random.key(7)

    def run(family, **model_overrides):
        model_cfg = config_lib.validate(_config(family, **model_overrides)).model
        new_state, metrics = jax.jit(builders.build_train_step(model_cfg, model, tx, adversary))(
            state, x, key
        )
        return new_state, {k: float(v) for k, v in metrics.items()}

    daae_state, daae_metrics = run("daae")
    idaae_state, idaae_metrics = run("idaae", integration_samples=1)
    for a, b in zip(jax.tree.leaves(daae_state), jax.tree.leaves(idaae_state), strict=True):
        np.testing.assert_array_equal(a, b)
    assert daae_metrics == idaae_metrics
    m3_state, _ = run("idaae", integration_samples=3)
    assert _changed(daae_state.params, m3_state.params)  # M is actually used


def test_each_phase_updates_only_its_own_parameters():
    cfg, model, tx, adversary, state = _setup(_config("daae"))
    corruption = builders.model_corruption(cfg.model)
    fake_codes = adversarial.make_fake_codes(model, corruption)
    x, key = _batch(), jax.random.key(3)

    disc_step = jax.jit(adversarial.make_discriminator_step(adversary, fake_codes))
    disc_state, metrics = disc_step(state, x, key)
    assert set(metrics) == {"disc_loss", "disc_acc"}
    assert _changed(state.disc_params, disc_state.disc_params)
    assert _changed(state.disc_opt_state, disc_state.disc_opt_state)
    assert not _changed(state.params, disc_state.params)
    assert not _changed(state.gen_opt_state, disc_state.gen_opt_state)

    gen_state, metrics = jax.jit(adversarial.make_generator_step(adversary, fake_codes))(
        state, x, key
    )
    assert set(metrics) == {"gen_loss"}
    assert _changed(state.params["encoder"], gen_state.params["encoder"])
    assert not _changed(state.params["decoder"], gen_state.params["decoder"])
    assert not _changed(state.disc_params, gen_state.disc_params)
    assert not _changed(state.opt_state, gen_state.opt_state)
    assert int(disc_state.step) == int(gen_state.step) == 0  # phases of one training step

    step = jax.jit(builders.build_train_step(cfg.model, model, tx, adversary))
    new_state, metrics = step(state, x, key)
    assert int(new_state.step) == 1
    assert {"recon_loss", "disc_loss", "disc_acc", "gen_loss"} <= set(metrics)
    for part in ("disc_params", "disc_opt_state", "gen_opt_state", "opt_state"):
        assert _changed(getattr(state, part), getattr(new_state, part)), part


def test_discriminator_and_generator_steps_descend_their_losses():
    """Sign conventions: the discriminator learns to separate encodings from prior samples, and
    the encoder, against a fixed discriminator, learns to fool it."""
    cfg, model, _, adversary, state = _setup(_config("aae"))
    fake_codes = adversarial.make_fake_codes(model, corruption_lib.identity)
    disc_step = jax.jit(adversarial.make_discriminator_step(adversary, fake_codes))
    gen_step = jax.jit(adversarial.make_generator_step(adversary, fake_codes))
    x = _batch(64)
    accs = []
    for i in range(60):
        state, metrics = disc_step(state, x, jax.random.key(i))
        accs.append(float(metrics["disc_acc"]))
    assert np.mean(accs[-10:]) > 0.8  # untrained codes are concentrated near 0
    gen_losses = []
    for i in range(30):
        state, metrics = gen_step(state, x, jax.random.key(100 + i))
        gen_losses.append(float(metrics["gen_loss"]))
    assert np.mean(gen_losses[-5:]) < np.mean(gen_losses[:5])


def test_adversarial_step_compiles_once():
    cfg, model, tx, adversary, state = _setup(_config("idaae", integration_samples=2))
    step = jax.jit(builders.build_train_step(cfg.model, model, tx, adversary), donate_argnums=0)
    for i in range(3):
        state, _ = step(state, _batch(), jax.random.key(i))
    assert step._cache_size() == 1
    assert int(state.step) == 3


@pytest.mark.parametrize("family", ["ae", "daae"])
def test_checkpoint_round_trip_with_and_without_adversary(tmp_path, family):
    config = _config(family)
    if family == "ae":
        config.model.corruption, config.model.corruption_level = "none", 0.0
    cfg = config_lib.validate(config)
    model = builders.build_model(cfg.model, IMAGE_SHAPE)
    tx = make_optimizer("adam", 1e-3, b1=0.5)
    ckpt = checkpoint.Checkpointer(str(tmp_path))
    state = workdir_lib.restore_or_create(cfg, ckpt, model, tx, IMAGE_SHAPE)
    step = jax.jit(builders.build_train_step(cfg.model, model, tx, builders.build_adversary(cfg)))
    state, _ = step(state, _batch(), jax.random.key(0))
    assert (state.disc_params is None) == (family == "ae")
    ckpt.save(1, state)
    ckpt.wait()
    restored = workdir_lib.restore_or_create(cfg, ckpt, model, tx, IMAGE_SHAPE)
    ckpt.close()
    assert jax.tree.structure(restored) == jax.tree.structure(state)
    for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(restored), strict=True):
        np.testing.assert_array_equal(a, b)
    if family == "ae":
        assert restored.disc_params is None and restored.gen_opt_state is None


@pytest.mark.parametrize(
    "section, name, value, message",
    [
        ("model", "integration_samples", 0, "integration_samples=0"),
        ("model", "disc_dropout", 1.0, "disc_dropout=1.0"),
        ("model", "disc_hidden", (16, 0), "disc_hidden"),
        ("model", "gae_lambda2", -1.0, "gae_lambda2=-1.0"),
        ("train", "disc_learning_rate", -1e-3, "disc_learning_rate=-0.001"),
        ("train", "gen_learning_rate", 0.0, "gen_learning_rate=0.0"),
    ],
)
def test_config_validation_of_adversarial_fields(section, name, value, message):
    config = _config("idaae")
    setattr(config[section], name, value)
    with pytest.raises(config_lib.ConfigError, match=message):
        config_lib.validate(config)


def test_adversarial_learning_rates_default_to_learning_rate():
    cfg = config_lib.validate(_config("daae"))
    assert cfg.train.disc_learning_rate is None and cfg.train.gen_learning_rate is None
    adversary = builders.build_adversary(cfg)
    params = {"w": jnp.ones(3)}
    grads = {"w": jnp.ones(3)}
    # Adam's first update is -lr * sign(grad) (up to eps), which exposes the learning rate.
    update, _ = adversary.disc_tx.update(grads, adversary.disc_tx.init(params), params)
    np.testing.assert_allclose(update["w"], -cfg.train.learning_rate, rtol=1e-4)
    config = _config("daae")
    config.train.gen_learning_rate = 5e-5
    gen_tx = builders.build_adversary(config_lib.validate(config)).gen_tx
    update, _ = gen_tx.update(grads, gen_tx.init(params), params)
    np.testing.assert_allclose(update["w"], -5e-5, rtol=1e-4)


def test_aae_on_digits_matches_the_prior(tmp_path):
    """After training, the discriminator is near chance and the training encodings' mean and
    covariance are near N(0, I)'s. Without prior matching (encoder never moved towards the
    prior) this setting gives accuracy ~0.95 and errors ~3 and ~4, far outside the bounds."""
    config = _config("aae", encoder_hidden=(64,), decoder_hidden=(64,), disc_hidden=(64, 64))
    config.train.num_steps = 1000
    config.train.log_every = 500
    config.train.checkpoint_every = 500
    workdir = str(tmp_path / "aae")
    summary = train_and_evaluate(config, workdir)
    assert summary["step"] == 1000

    validation = read_metrics(workdir, "validation")
    expected = {"disc_acc", "clean_mean_err", "clean_cov_err", "fake_cov_err", "prior_mean_err"}
    assert expected <= set(validation[-1])
    assert "corrupted_mean_err" not in validation[-1]  # aae has no corruption
    assert {"disc_loss", "gen_loss", "recon_loss"} <= set(read_metrics(workdir, "train")[-1])
    with open(tmp_path / "aae" / workdir_lib.MOMENTS_FILE) as f:
        report = json.load(f)
    assert report["latent_dim"] == 2 and set(report) >= {"clean", "fake", "prior", "prior_exact"}
    assert (tmp_path / "aae" / workdir_lib.HISTOGRAM_FILE).stat().st_size > 1000

    # Moments on the 1,437 training images: the Monte-Carlo floor is about 0.03 (mean) and
    # 0.05 (covariance); an adversarially matched code sits a little above it.
    cfg, model, state = workdir_lib.load_trained(workdir)
    evaluate = builders.build_latent_eval(cfg, model, builders.build_adversary(cfg), None)
    train_images = data.load_dataset("digits", "train").images
    metrics = prior_match.latent_metrics(*evaluate(state, train_images))
    assert abs(metrics["disc_acc"] - 0.5) < 0.15, metrics
    assert metrics["clean_mean_err"] < 0.15, metrics
    assert metrics["clean_cov_err"] < 0.2, metrics
    assert metrics["fake_mean_err"] == metrics["clean_mean_err"]  # aae: fake code = E(x)

    # Resuming restores the discriminator and both adversarial optimiser states.
    config.train.num_steps = 1010
    assert train_and_evaluate(config, workdir)["steps_this_run"] == 10


def test_optimizer_states_are_separate():
    _, _, _, _, state = _setup(_config("daae"))
    # Three optimisers: the autoencoder's, the discriminator's and the encoder's generator one.
    ae_mu = state.opt_state[0].mu
    assert set(ae_mu) == {"encoder", "decoder"}
    assert jax.tree.structure(state.gen_opt_state[0].mu) == jax.tree.structure(ae_mu["encoder"])
    assert jax.tree.structure(state.disc_opt_state[0].mu) == jax.tree.structure(state.disc_params)
    assert isinstance(state.gen_opt_state[0], optax.ScaleByAdamState)


def test_moment_errors_by_hand(key):
    z = np.asarray(jax.random.normal(key, (20_000, 4)), np.float64)
    mean, cov = np.zeros(4), np.eye(4)
    mean_err, cov_err = prior_match.moment_errors(z, mean, cov)
    # Monte-Carlo scale: sqrt(1/N) for the mean, sqrt((D + 1)/N) for the covariance.
    assert mean_err < 4 / np.sqrt(20_000) and cov_err < 4 * np.sqrt(5 / 20_000)
    # Shifting by 0.5 in every dimension: RMS mean error 0.5; scaling by 2: ||4I - I|| / ||I|| = 3.
    assert prior_match.moment_errors(z + 0.5, mean, cov)[0] == pytest.approx(0.5, abs=0.03)
    assert prior_match.moment_errors(2 * z, mean, cov)[1] == pytest.approx(3.0, abs=0.1)
