"""gae_jax.config: the one section validator, the family registry, the generated defaults."""

import dataclasses
import math

import ml_collections
import pytest
from absl import flags
from ml_collections import config_flags

from configs import base, paper004_mnist, quickstart
from gae_jax import config as config_lib
from gae_jax.config import ConfigError


def _set(config, key, value):
    *sections, name = key.split(".")
    for section in sections:
        config = config[section]
    config[name] = value


# ----------------------------------------------------------------------------- unknown keys


@pytest.mark.parametrize(
    "section, typo, closest",
    [
        ("train", "learning_rat", "learning_rate"),
        ("model", "latent_dims", "latent_dim"),
        ("sampler", "num_chain", "num_chains"),
    ],
)
def test_unknown_keys_name_the_section_and_the_closest_valid_keys_first(section, typo, closest):
    config = base.get_config().to_dict()
    config[section][typo] = 1
    with pytest.raises(ConfigError) as info:
        config_lib.validate(config)
    message = str(info.value)
    assert message.startswith(f"unknown key(s) ['{typo}'] in config.{section}; ")
    assert f"did you mean '{closest}'" in message
    valid = message.split("valid keys: ")[1]
    assert valid.startswith(f"['{closest}'")
    # Every valid key of the section is listed.
    for f in dataclasses.fields(type(getattr(config_lib.ExperimentConfig(), section))):
        assert repr(f.name) in valid


def test_an_unknown_key_without_a_close_match_lists_the_sorted_keys():
    config = base.get_config().to_dict()
    config["mesh"]["zzz"] = 1
    with pytest.raises(
        ConfigError, match=r"unknown key\(s\) \['zzz'\] in config.mesh; valid keys: "
    ):
        config_lib.validate(config)


def test_job_and_table_sections_use_the_same_validator():
    config = quickstart.get_config()
    config.evaluation.classifer_steps = 10
    with pytest.raises(ConfigError, match="in config.evaluation; did you mean 'classifier_steps'"):
        config_lib.validate_job(config)
    config = paper004_mnist.get_config("small")
    config.reproduce.num_sample = 10
    with pytest.raises(ConfigError, match="in config.reproduce; did you mean 'num_samples'"):
        config_lib.validate_table(config)
    del config.reproduce["num_sample"]
    del config.reproduce["epochs"]
    with pytest.raises(ConfigError, match="config.reproduce.epochs is missing"):
        config_lib.validate_table(config)


# ----------------------------------------------------------------------------- types


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("train.learning_rate", math.inf, "config.train.learning_rate=inf; valid: a finite number"),
        ("train.learning_rate", math.nan, "learning_rate=nan; valid: a finite number"),
        ("train.learning_rate", -1e-3, "learning_rate=-0.001 must be > 0"),
        ("train.disc_learning_rate", math.inf, "disc_learning_rate=inf; valid: a finite number"),
        ("train.gen_learning_rate", math.inf, "gen_learning_rate=inf; valid: a finite number"),
        ("train.gen_learning_rate", 0.0, "gen_learning_rate=0.0 must be > 0, or None"),
        ("model.corruption_level", math.inf, "corruption_level=inf; valid: a finite number"),
        ("model.kl_weight", math.inf, "kl_weight=inf; valid: a finite number"),
        ("sampler.ascent_noise", math.inf, "ascent_noise=inf; valid: a finite number"),
        ("train.num_steps", 2.5, "config.train.num_steps=2.5; valid: an integer"),
        ("train.num_steps", True, "config.train.num_steps=True; valid: an integer"),
        ("model.encoder_hidden", 64, "encoder_hidden=64; valid: a sequence"),
        ("model.encoder_hidden", (64, 1.5), "encoder_hidden=1.5; valid: an integer"),
        ("sampler.bernoulli_decode", "yes", "bernoulli_decode='yes'; valid: True or False"),
        ("model.family", 3, "config.model.family=3; valid: a string"),
        ("data", 3, "config.data=3; valid: a section"),
    ],
)
def test_bad_types_and_non_finite_floats_are_refused(key, value, message):
    config = base.get_config().to_dict()  # a plain dict: a ConfigDict refuses some types itself
    _set(config, key, value)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        config_lib.validate(config)


def test_non_finite_floats_are_refused_in_job_and_table_sections():
    config = quickstart.get_config()
    config.evaluation.classifier_learning_rate = math.inf
    with pytest.raises(ConfigError, match="classifier_learning_rate=inf; valid: a finite"):
        config_lib.validate_job(config)
    config = paper004_mnist.get_config("small")
    config.reproduce.epochs.vae = math.inf
    with pytest.raises(ConfigError, match="config.reproduce.epochs.vae=inf; valid: a finite"):
        config_lib.validate_table(config)


def test_values_are_coerced_to_the_field_types():
    config = base.get_config().to_dict()
    config["train"]["learning_rate"] = 1  # an int where a float is expected
    config["train"]["disc_learning_rate"] = 1
    config["model"]["encoder_hidden"] = [32, 16]
    config["sampler"]["bernoulli_decode"] = 1
    cfg = config_lib.validate(config)
    assert cfg.train.learning_rate == 1.0 and isinstance(cfg.train.learning_rate, float)
    assert isinstance(cfg.train.disc_learning_rate, float)
    assert cfg.train.gen_learning_rate is None
    assert cfg.model.encoder_hidden == (32, 16)
    assert cfg.sampler.decode == "sample"  # the old bernoulli_decode=1, translated
    hash(cfg)  # frozen all the way down, so usable as a static argument


def test_job_and_table_errors_name_the_model():
    config = quickstart.get_config()
    config.models.daae.train.learning_rate = math.inf
    with pytest.raises(ConfigError, match=r"^config.models.daae: config.train.learning_rate=inf"):
        config_lib.validate_job(config)
    config = paper004_mnist.get_config("small")
    config.models.gae1.model.prior = "normal"
    with pytest.raises(
        ConfigError, match="^config.models.gae1: .*family 'gae'; valid: 'aggregate'"
    ):
        config_lib.validate_table(config)


def test_job_and_table_model_configs_share_seed_and_data():
    config = quickstart.get_config()
    config.seed, config.data.name, config.sampler.num_chains = 7, "digits", 5
    experiments, evaluation = config_lib.validate_job(config)
    assert evaluation == config_lib.EvaluationConfig()
    assert {e.seed for e in experiments.values()} == {7}
    assert {e.data.name for e in experiments.values()} == {"digits"}
    assert {e.sampler.num_chains for e in experiments.values()} == {5}
    assert experiments["aae"].model.family == "aae"
    table = paper004_mnist.get_config("small")
    table.seed, table.data.name = 3, "digits"
    cfg = config_lib.validate(config_lib.table_model_config(table, "vae", num_steps=11))
    assert (cfg.seed, cfg.data.name, cfg.train.num_steps) == (3, "digits", 11)


# ----------------------------------------------------------------------------- families


def test_family_registry_answers_what_the_trainers_ask():
    fams = config_lib.FAMILIES
    assert list(fams) == ["ae", "dae", "vae", "dvae", "aae", "daae", "idaae", "gae"]
    assert "daae" in fams and "gan" not in fams
    assert {n for n, f in fams.items() if f.adversarial} == {"aae", "daae", "idaae"}
    assert {n for n, f in fams.items() if f.denoising} == {"dae", "dvae", "daae", "idaae"}
    assert {n for n, f in fams.items() if f.variational} == {"vae", "dvae"}
    assert {n for n, f in fams.items() if f.posterior == "gaussian"} == {"vae", "dvae", "gae"}
    assert {n for n, f in fams.items() if f.integrating} == {"idaae"}
    assert {f.step for f in fams.values()} == {"ae", "vae", "adversarial", "gae"}
    for name, family in fams.items():
        model = config_lib.ModelConfig(family=name)
        assert model.family_spec is family and family.name == name
        assert model.posterior == family.posterior
        assert (
            model.is_denoising,
            model.is_adversarial,
            model.is_variational,
            model.is_integrating,
        ) == (family.denoising, family.adversarial, family.variational, family.integrating)
    with pytest.raises(ConfigError, match="config.model.family='gan'"):
        _ = config_lib.ModelConfig(family="gan").is_denoising


@pytest.mark.parametrize(
    "family, prior, message",
    [
        ("gae", "normal", "config.model.prior='normal' for family 'gae'; valid: 'aggregate'"),
        ("dvae", "gmm_ring", "config.model.prior='gmm_ring' for family 'dvae'; valid: 'normal'"),
        (
            "daae",
            "aggregate",
            "'aggregate' is the GAE's prior; for family 'daae' valid: 'normal', ",
        ),
    ],
)
def test_priors_follow_the_family(family, prior, message):
    config = base.get_config()
    config.model.family, config.model.prior, config.model.latent_dim = family, prior, 2
    with pytest.raises(ConfigError, match=message):
        config_lib.validate(config)


# ----------------------------------------------------------------------------- defaults


def test_base_config_is_the_dataclass_defaults():
    config = base.get_config()
    assert config_lib.validate(config) == config_lib.ExperimentConfig()
    # Not one value restated: every key comes from a field and equals its default (the one
    # paper choice configs relied on, 3000 training steps, is now the dataclass default).
    assert config.to_dict() == dataclasses.asdict(config_lib.ExperimentConfig())
    assert config_lib.TrainConfig().num_steps == 3000
    assert config_lib.section_defaults(config_lib.EvaluationConfig).to_dict() == (
        dataclasses.asdict(config_lib.EvaluationConfig())
    )
    # Fields without a default are left to the config.
    assert set(config_lib.section_defaults(config_lib.TableConfig)) == {
        f.name for f in dataclasses.fields(config_lib.TableConfig)
    } - {"protocol", "scale", "epochs"}


def test_optional_defaults_can_be_set_from_the_command_line():
    argv = [
        "prog",
        f"--config={base.__file__}",
        "--config.train.disc_learning_rate=1e-4",
        "--config.data.tfds_data_dir=/data/tfds",
        "--config.model.encoder_hidden=(32,)",
    ]
    values = flags.FlagValues()
    config_flags.DEFINE_config_file("config", flag_values=values, sys_argv=argv)
    values(argv)
    cfg = config_lib.validate(values.config)
    assert cfg.train.disc_learning_rate == 1e-4 and cfg.data.tfds_data_dir == "/data/tfds"
    assert cfg.model.encoder_hidden == (32,)


def test_configs_without_optional_sections_get_their_defaults():
    config = ml_collections.ConfigDict(
        {"seed": 1, "data": {}, "model": {"family": "ae", "corruption": "none"}, "train": {}}
    )
    cfg = config_lib.validate(config)
    assert cfg.sampler == config_lib.SamplerConfig() and cfg.mesh == config_lib.MeshConfig()
    assert cfg.train == config_lib.TrainConfig() and cfg.seed == 1
