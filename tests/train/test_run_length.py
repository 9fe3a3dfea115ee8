"""``train.num_epochs``: the run length in epochs, resolved against the training set actually
loaded when the run starts, with clear errors for bad or conflicting values."""

import dataclasses
import json
import os

import pytest
from helpers import tiny_config

from gae_jax import config as config_lib
from gae_jax import data
from gae_jax.jobs import train_and_evaluate

NUM_TRAIN = 1437  # digits' training split


def _cfg(**train):
    return config_lib.validate(tiny_config("ae", **train))


def test_digits_has_the_training_split_the_tests_assume():
    assert len(data.open_source("digits", "train")) == NUM_TRAIN


@pytest.mark.parametrize(
    "num_epochs, num_steps, batch_size, expected",
    [
        (2, 0, 64, 44),  # 1437 // 64 = 22 steps per epoch
        (0.5, 0, 64, 11),
        (1.7, 0, 100, 24),  # 14 per epoch: round(23.8)
        (2, 44, 64, 44),  # both set and agreeing (a resolved config.json)
        (0, 60, 64, 60),  # 0: num_steps as it is
    ],
)
def test_epochs_resolve_against_the_training_set(num_epochs, num_steps, batch_size, expected):
    cfg = _cfg(num_epochs=num_epochs, num_steps=num_steps, batch_size=batch_size)
    resolved = config_lib.resolve_run_length(cfg, NUM_TRAIN)
    assert resolved.train.num_steps == expected
    assert resolved.train.num_epochs == num_epochs
    assert dataclasses.replace(resolved.train, num_steps=cfg.train.num_steps) == cfg.train


def test_conflicting_or_too_few_epochs_are_refused_with_the_numbers():
    cfg = _cfg(num_epochs=2, num_steps=3000, batch_size=64)
    with pytest.raises(config_lib.ConfigError) as conflict:
        config_lib.resolve_run_length(cfg, NUM_TRAIN)
    for part in ("num_epochs=2", "22 steps per epoch", "1437 training", "44 steps", "3000"):
        assert part in str(conflict.value), conflict.value
    assert "num_steps=0" in str(conflict.value)
    with pytest.raises(config_lib.ConfigError, match=r"is 0 steps; valid: num_epochs > 0.0227"):
        config_lib.resolve_run_length(_cfg(num_epochs=0.01, num_steps=0, batch_size=64), NUM_TRAIN)


@pytest.mark.parametrize(
    "train, message",
    [
        (dict(num_epochs=-1), r"config.train.num_epochs=-1.0 must be >= 0"),
        (dict(num_epochs=0, num_steps=0), r"num_steps=0 must be positive, or 0 with"),
        (dict(num_epochs=float("nan")), r"config.train.num_epochs"),
        (dict(num_epochs="ten"), r"config.train.num_epochs"),
    ],
)
def test_bad_values_are_refused_at_validation(train, message):
    raw = tiny_config("ae").to_dict()  # a plain mapping: no ConfigDict type lock before ours
    raw["train"].update(train)
    with pytest.raises(config_lib.ConfigError, match=message):
        config_lib.validate(raw)


def test_training_runs_the_epochs_and_stores_the_resolved_length(tmp_path):
    """One epoch of batch 256 over digits is 5 steps; config.json records them, and the same
    config resumes as a finished run. A conflict fails before the workdir is made."""
    workdir = str(tmp_path / "run")
    config = tiny_config("ae", num_epochs=1, num_steps=0, batch_size=256, checkpoint_every=5)
    summary = train_and_evaluate(config, workdir)
    assert summary["step"] == summary["steps_this_run"] == NUM_TRAIN // 256 == 5
    with open(os.path.join(workdir, "config.json")) as f:
        stored = json.load(f)["train"]
    assert (stored["num_epochs"], stored["num_steps"]) == (1.0, 5)
    assert train_and_evaluate(config, workdir)["steps_this_run"] == 5  # finished: stored summary
    other = str(tmp_path / "conflict")
    config.train.num_steps = 7
    with pytest.raises(config_lib.ConfigError, match="is 5 steps, but config.train.num_steps=7"):
        train_and_evaluate(config, other)
    assert not os.path.exists(other)
