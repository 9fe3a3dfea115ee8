"""``experiments.sample`` end to end on a tiny trained model, and the sampler config checks."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from helpers import REPO, tiny_config

from configs import base
from gae_jax import config as config_lib
from gae_jax.jobs import sample_and_save, train_and_evaluate


def sample_config():
    """A tiny dae with every kernel and a few chains of each."""
    sampler = dict(num_chains=32, num_steps=4, record_steps=(0, 2, 4), grid_size=16)
    sampler.update(slerp_pairs=2, slerp_points=4, slerp_steps=2, bn_tile_size=8)
    sampler.update(reinjection_chains=8, reinjection_restart_every=3, reinjection_num_samples=20)
    return tiny_config(
        hidden=(32,),
        schedule=None,
        num_steps=20,
        batch_size=32,
        log_every=10,
        checkpoint_every=20,
        eval_batch_size=180,
        sampler=sampler,
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("dae"))
    train_and_evaluate(sample_config(), workdir)
    return workdir


def test_sample_and_save_writes_figures_arrays_and_timings(trained):
    summary = sample_and_save(sample_config(), trained)
    out = os.path.join(trained, "samples")
    for name in (
        "latent_step_000.png",
        "latent_step_004.png",
        "latent_steps.png",
        "interpolation.png",
        "reinjection_trajectories.png",
        "ascent_steps.png",
        "samples.npz",
        "sample_summary.json",
    ):
        assert os.path.getsize(os.path.join(out, name)) > 0, name
    assert set(summary["files"]) == set(os.listdir(out))
    with open(os.path.join(out, "sample_summary.json")) as f:
        stored = json.load(f)
    assert set(stored["timings"]) == {"latent", "interpolation", "reinjection", "ascent"}
    assert stored["timings"]["latent"]["chains"] == 32
    assert stored["latent"]["chain"] == "denoising latent (eq. 2)"
    # The transition each kernel ran, as the report states it (decoder mean, the DAE's code).
    point_mass = "z = E(x~) (q(z|x) a point mass)"
    assert stored["latent"]["transition"] == f"x = D(z), x~ ~ gaussian 0.5, {point_mass}"
    # 3 restarts-worth of burn-in steps are discarded: 2 * R = 6, then 20 / 8 -> 3 more steps.
    assert stored["reinjection"] == {
        "steps": 9,
        "kept_samples": 20,
        "restart_transitions": [3, 6],
        "transition": "z = E(x) (q(z|x) a point mass), x' = D(z), x <- x' + sqrt(0.1) eps",
    }
    arrays = np.load(os.path.join(out, "samples.npz"))
    assert arrays["latent_x_step_0"].shape == (32, 8, 8, 1)
    assert arrays["latent_z_step_4"].shape == (32, 4)
    assert arrays["interpolation_refined"].shape == (2, 4, 8, 8, 1)
    assert arrays["reinjection_x"].shape == (20, 8, 8, 1)
    assert arrays["ascent_x_step_4"].shape == (32, 8, 8, 1)
    assert np.isfinite(arrays["latent_z_step_4"]).all()


def test_sampling_refuses_a_config_for_another_model(trained):
    config = sample_config()
    config.model.latent_dim = 5
    with pytest.raises(ValueError, match="differs from the model trained"):
        sample_and_save(config, trained)


def test_entry_point_runs(trained):
    config = os.path.join(REPO, "configs", "dae_mnist5k.py")
    overrides = {
        "data.name": "digits",
        "model.latent_dim": 4,
        "model.encoder_hidden": "(32,)",
        "model.decoder_hidden": "(32,)",
        "sampler.kernels": "('ascent',)",
        "sampler.num_chains": 8,
        "sampler.num_steps": 2,
        "sampler.record_steps": "(0,2)",
    }
    flags = [f"--config.{k}={v}" for k, v in overrides.items()]
    result = subprocess.run(
        [sys.executable, "-m", "experiments.sample", f"--config={config}", f"--workdir={trained}"]
        + flags,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    with open(os.path.join(trained, "samples", "sample_summary.json")) as f:
        assert set(json.load(f)["timings"]) == {"ascent"}


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("kernels", ("latent", "mcmc"), "kernels"),
        ("num_chains", 0, "num_chains"),
        ("record_steps", (0, 20), "record_steps"),
        ("record_steps", (5, 1), "record_steps"),
        ("batch_stats_mode", "train", "batch_stats_mode"),
        ("bn_tile_size", 3, "must divide num_chains"),
        ("corruption", "blur", "sampler.corruption"),
        ("slerp_points", 1, "slerp_points"),
        ("reinjection_step_size", -0.1, "reinjection_step_size"),
        ("ascent_init", "zeros", "ascent_init"),
    ],
)
def test_bad_sampler_values_are_rejected(key, value, message):
    config = base.get_config()
    config.sampler[key] = value
    with pytest.raises(config_lib.ConfigError, match=message):
        config_lib.validate(config)


def test_configs_without_a_sampler_section_get_defaults():
    config = base.get_config()
    del config["sampler"]
    assert config_lib.validate(config).sampler == config_lib.SamplerConfig()
