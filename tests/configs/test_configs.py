"""Every config in configs/ loads the way the entry points load it and validates."""

import importlib
from pathlib import Path

import pytest
from absl import flags
from ml_collections import config_flags

from configs import base, models
from gae_jax import config as config_lib

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
# Not configs themselves: package marker and shared pieces.
_HELPERS = {"__init__", "tables"}
_TABLES = sorted(p.stem for p in CONFIGS.glob("paper00*_*.py"))
_JOBS = ["quickstart"]
_STUDIES = sorted(p.stem for p in CONFIGS.glob("study_*.py"))
_EXPERIMENTS = sorted(
    p.stem for p in CONFIGS.glob("*.py") if p.stem not in {*_HELPERS, *_TABLES, *_JOBS, *_STUDIES}
)


def _load(spec: str):
    """The ConfigDict ``--config=configs/<spec>`` gives an entry point."""
    values = flags.FlagValues()
    config_flags.DEFINE_config_file("config", flag_values=values)
    values(["prog", f"--config={CONFIGS}/{spec}"])
    return values.config


def test_every_config_file_is_covered():
    assert len(_EXPERIMENTS) > 20 and "base" in _EXPERIMENTS and "models" in _EXPERIMENTS
    assert _TABLES == ["paper001_mnist", "paper002_mnist", "paper004_mnist"]


@pytest.mark.parametrize("name", _EXPERIMENTS)
def test_experiment_configs_validate(name):
    cfg = config_lib.validate(_load(f"{name}.py"))
    if name.count("_") and name != "base":
        # configs/<variant>_<data>.py is configs/models.py:<variant>,<data>.
        variant, data = name.rsplit("_", 1)
        assert cfg == config_lib.validate(_load(f"models.py:{variant},{data}"))


@pytest.mark.parametrize("name", _TABLES)
@pytest.mark.parametrize("scale", config_lib.SCALES)
def test_table_configs_validate_at_every_scale(name, scale):
    config = _load(f"{name}.py:{scale}")
    table = config_lib.validate_table(config)
    assert (table.protocol, table.scale) == (name, scale)
    for model in config.models:
        cfg = config_lib.validate(config_lib.table_model_config(config, model))
        assert cfg.data.name == ("tfds:mnist" if scale == "full" else "mnist5k")
        if scale == "small":
            assert max(cfg.model.encoder_hidden + cfg.model.disc_hidden) <= 128


def test_the_quickstart_job_config_validates():
    experiments, evaluation = config_lib.validate_job(_load("quickstart.py"))
    assert list(experiments) == ["aae", "daae", "idaae"]
    assert evaluation == config_lib.EvaluationConfig()
    assert {e.model.encoder_hidden for e in experiments.values()} == {(512, 512)}


@pytest.mark.parametrize("name", _STUDIES)
def test_study_configs_validate(name):
    experiments, _, study = config_lib.validate_study(_load(f"{name}.py"))
    assert {"vae", "aae", "daae", "gae"} <= set(experiments)
    assert study.seeds and all(m in experiments for m in study.epochs)


def test_models_config_covers_its_grid_and_refuses_unknown_arguments():
    for variant in (*config_lib.FAMILIES, *models.VARIANTS):
        config_lib.validate(models.get_config(f"{variant},mnist5k"))
    assert models.get_config().to_dict() == base.get_config().to_dict()  # dae,mnist5k
    for arg in ("gan,mnist5k", "daae,imagenet", "daae"):
        with pytest.raises(ValueError, match="valid: VARIANT,DATA"):
            models.get_config(arg)


def test_paper_choices_reach_the_configs():
    def get(name):
        return config_lib.validate(importlib.import_module(f"configs.{name}").get_config())

    assert get("aae_mnist5k").train.num_steps == 100 * (4000 // 64)  # paper 001: 100 epochs
    assert get("aae_mnist5k").model.corruption == "none"
    assert get("daae_mnist").train.num_steps == 100 * (54_000 // 64)
    assert get("dae_mnist5k").train.num_steps == 3000
    celeba = get("idaae_celeba")
    assert (celeba.model.corruption_level, celeba.train.disc_optimizer) == (0.25, "rmsprop")
    assert get("dvae_celeba").model.corruption_level == 0.5  # paper 000
    assert get("dvae_celeba").train.num_steps == 20 * (162_770 // 64)  # paper 000: 20 epochs
    assert get("idaae_omniglot").model.decoder_hidden == (1000,) * 6
    assert get("gae1_mnist5k").model.encoder_hidden == (1000,)
