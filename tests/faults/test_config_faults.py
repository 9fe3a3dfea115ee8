"""Fault injection, config: a bad value is named with what is valid, and values that depend on the
data fail before a model is built or a chain compiled."""

import pytest
from helpers import tiny_config

from gae_jax import builders
from gae_jax import config as config_lib
from gae_jax.jobs import sample_and_save, train_and_evaluate


@pytest.mark.parametrize(
    "key, value, expected",
    [
        (
            "model.corruption",
            "blur",
            "config.model.corruption='blur'; valid: \\('none', 'gaussian'",
        ),
        ("model.corruption_level", -0.5, "corruption_level=-0.5 must be >= 0 .*sigma"),
        ("model.activation", "gelu", "config.model.activation='gelu'; valid: \\['elu'"),
        ("model.encoder_hidden", (64, 0), "encoder_hidden=\\(64, 0\\); valid: a tuple of positive"),
        ("model.conv_width", 0, "config.model.conv_width=0 must be positive"),
        ("model.latent_dim", 2.5, "config.model.latent_dim=2.5; valid: an integer"),
        ("train.learning_rate", "fast", "config.train.learning_rate='fast'; valid: a number"),
        ("train.keep_checkpoints", 0, "config.train.keep_checkpoints=0 must be positive"),
        ("train.on_non_finite", "ignore", "on_non_finite='ignore'; valid: \\('stop', 'skip'\\)"),
        ("data.name", "tfds:imagenet", "data.name='tfds:imagenet'; valid: 'tfds:NAME' with NAME"),
        ("sampler.on_non_finite", "drop", "valid: \\('continue', 'restart'\\)"),
        ("sampler.corruption", "blur", "sampler.corruption='blur'; valid: \\('model', 'none'"),
    ],
)
def test_bad_config_values_are_named_with_what_is_valid(key, value, expected):
    # A plain dict: a ConfigDict would itself refuse values of the wrong type.
    config = tiny_config().to_dict()
    section, name = key.split(".")
    config[section][name] = value
    with pytest.raises(config_lib.ConfigError, match=expected):
        config_lib.validate(config)


def test_masking_level_is_a_probability_and_a_vae_needs_its_kl_term():
    config = tiny_config("dae")
    config.model.corruption, config.model.corruption_level = "masking", 1.5
    with pytest.raises(config_lib.ConfigError, match="corruption_level=1.5 .*valid: \\[0, 1\\]"):
        config_lib.validate(config)
    config = tiny_config("vae")
    config.model.kl_weight = 0.0
    with pytest.raises(config_lib.ConfigError, match="kl_weight=0.0 for family 'vae'; valid: > 0"):
        config_lib.validate(config)


def _refuse_to_build(*args, **kwargs):
    raise AssertionError("the model was built although the config cannot work with the data")


@pytest.mark.parametrize(
    "key, value, expected",
    [
        ("model.architecture", "dcgan", "'dcgan' cannot take the 8x8 images of .*'digits'"),
        ("train.batch_size", 2000, "batch_size=2000 exceeds the 1437 training examples"),
        ("sampler.slerp_pairs", 91, "slerp_pairs=91 needs 182 distinct test images .* has 180"),
    ],
)
def test_values_that_depend_on_the_data_fail_before_anything_is_built(
    tmp_path, monkeypatch, key, value, expected
):
    monkeypatch.setattr(builders, "build_model", _refuse_to_build)
    config = tiny_config()
    section, name = key.split(".")
    config[section][name] = value
    with pytest.raises(config_lib.ConfigError, match=expected):
        train_and_evaluate(config, str(tmp_path / "run"))
    assert not (tmp_path / "run").exists()


def test_sampling_checks_the_sampler_against_the_data_before_compiling(run_copy, monkeypatch):
    config = tiny_config(num_steps=20)
    config.sampler.slerp_pairs = 91
    monkeypatch.setattr("gae_jax.jobs.sample._run_chains", _refuse_to_build)
    with pytest.raises(config_lib.ConfigError, match="slerp_pairs=91"):
        sample_and_save(config, str(run_copy))
    assert not (run_copy / "samples").exists()
