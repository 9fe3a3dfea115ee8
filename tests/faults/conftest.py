"""Shared fixtures of the fault-injection tests: a finished tiny run, and a fresh copy of it."""

import shutil
from pathlib import Path

import pytest
from helpers import tiny_config

from gae_jax.jobs import train_and_evaluate


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """A finished 20-step run with checkpoints at steps 10 and 20; tests work on copies."""
    workdir = tmp_path_factory.mktemp("trained") / "run"
    train_and_evaluate(tiny_config(num_steps=20, log_every=10, checkpoint_every=10), str(workdir))
    return workdir


@pytest.fixture
def run_copy(trained, tmp_path):
    return Path(shutil.copytree(trained, tmp_path / "run"))
