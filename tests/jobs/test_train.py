"""The training job end to end on real data (digits): losses fall, checkpoints are kept, runs
resume exactly, bad configs are refused, and the entry point trains and resumes."""

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest
from helpers import REPO, tiny_config, trained_params

from gae_jax import checkpoint
from gae_jax import config as config_lib
from gae_jax.jobs import train_and_evaluate
from gae_jax.train.writer import read_metrics


@pytest.mark.slow
@pytest.mark.parametrize("family", ["ae", "dae", "vae", "dvae"])
def test_every_family_learns_on_digits(tmp_path, family):
    summary = train_and_evaluate(tiny_config(family, num_steps=300), str(tmp_path))
    untrained = read_metrics(str(tmp_path), "test")[0]
    assert untrained["step"] == 0
    # Clearly below the untrained model on held-out data, in both measures.
    assert summary["test"]["bce"] < 0.8 * untrained["bce"]
    assert summary["test"]["mse"] < 0.5 * untrained["mse"]
    train_rows = read_metrics(str(tmp_path), "train")
    assert train_rows[-1]["loss"] < train_rows[0]["loss"]
    if family in ("vae", "dvae"):
        assert "kl" in train_rows[-1] and summary["test"]["kl"] > 0
    assert sorted(os.listdir(tmp_path / "checkpoints")) == ["260", "280", "300"]  # keep 3


@pytest.mark.slow
def test_dcgan_autoencoder_trains_with_batch_stats(tmp_path):
    config = tiny_config("dvae", num_steps=4)
    config.data.name = "mnist5k"
    config.model.architecture = "dcgan"
    config.model.conv_width = 4
    summary = train_and_evaluate(config, str(tmp_path))
    assert summary["step"] == 4 and np.isfinite(summary["test"]["neg_elbo"])


def test_resume_continues_exactly_where_it_stopped(tmp_path):
    straight, split = tmp_path / "straight", tmp_path / "split"
    train_and_evaluate(tiny_config(num_steps=60), str(straight))
    train_and_evaluate(tiny_config(num_steps=40), str(split))
    summary = train_and_evaluate(tiny_config(num_steps=60), str(split))
    assert summary["steps_this_run"] == 20  # resumed at 40, not restarted
    # Same data order and keys from the step number: bitwise-equal parameters on CPU.
    for a, b in zip(
        jax.tree.leaves(trained_params(straight)),
        jax.tree.leaves(trained_params(split)),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)


def test_resume_refuses_a_different_model(tmp_path):
    train_and_evaluate(tiny_config(num_steps=20), str(tmp_path))
    changed = tiny_config(num_steps=40)
    changed.model.latent_dim = 5
    with pytest.raises(ValueError, match="model.latent_dim: 4 -> 5"):
        train_and_evaluate(changed, str(tmp_path))


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    train_and_evaluate(tiny_config("ae", num_steps=20, checkpoint_every=10), str(tmp_path))
    # Resume with a learning rate that blows the parameters up within a few steps.
    config = tiny_config("ae", num_steps=200, learning_rate=1e30, log_every=10, checkpoint_every=10)
    with pytest.raises(
        FloatingPointError, match="non-finite .* at step 30 .* family 'ae'.* step 20"
    ):
        train_and_evaluate(config, str(tmp_path), allow_config_change=True)
    assert checkpoint.Checkpointer(str(tmp_path)).latest_step() == 20
    assert all(np.isfinite(x).all() for x in jax.tree.leaves(trained_params(tmp_path)))


@pytest.mark.parametrize(
    "key, value, match",
    [
        ("model.family", "gan", "config.model.family='gan'"),
        ("model.latent_dim", 0, "latent_dim=0 must be positive"),
        ("model.corruption_level", -1.0, "must be >= 0"),
        ("model.architecture", "resnet", "valid: \\('mlp', 'dcgan'\\)"),
        ("train.num_steps", 0, "num_steps=0 must be positive"),
        ("train.optimizer", "lion", "optimizer='lion'"),
        ("train.b1", 1.0, "b1=1.0 must be in"),
        ("data.name", "imagenet", "data.name='imagenet'"),
    ],
)
def test_config_validation_names_the_bad_value(key, value, match):
    config = tiny_config()
    section, name = key.split(".")
    config[section][name] = value
    with pytest.raises(config_lib.ConfigError, match=match):
        config_lib.validate(config)


def test_config_rejects_unknown_keys_and_denoising_without_noise():
    config = tiny_config()
    config.train.lr = 0.1
    with pytest.raises(config_lib.ConfigError, match=r"unknown key\(s\) \['lr'\] in config.train"):
        config_lib.validate(config)
    config = tiny_config("dae")
    config.model.corruption_level = 0.0
    with pytest.raises(config_lib.ConfigError, match="is denoising"):
        config_lib.validate(config)


@pytest.mark.slow
def test_entry_point_trains_checkpoints_and_resumes(tmp_path):
    cmd = [
        sys.executable,
        "-m",
        "experiments.train",
        "--config=configs/dae_mnist5k.py",
        f"--workdir={tmp_path}",
        "--config.data.name=digits",
        "--config.train.num_steps=30",
        "--config.model.encoder_hidden=(32,)",
        "--config.model.decoder_hidden=(32,)",
        "--config.train.checkpoint_every=10",
    ]
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    first = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "steps/s" in first.stderr and "ETA" in first.stderr  # progress output
    assert sorted(os.listdir(tmp_path / "checkpoints")) == ["10", "20", "30"]
    assert (tmp_path / "metrics.jsonl").exists() and os.listdir(tmp_path / "tensorboard")
    with open(tmp_path / "summary.json") as f:
        assert json.load(f)["step"] == 30
    cmd[cmd.index("--config.train.num_steps=30")] = "--config.train.num_steps=50"
    second = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "Resuming from checkpoint 30" in second.stderr
    with open(tmp_path / "summary.json") as f:
        assert json.load(f)["steps_this_run"] == 20


@pytest.mark.slow
def test_steps_per_dispatch_matches_one_step_per_call_and_resumes_exactly(tmp_path):
    one, many, split = tmp_path / "one", tmp_path / "many", tmp_path / "split"
    train_and_evaluate(tiny_config(num_steps=40), str(one))
    train_and_evaluate(tiny_config(num_steps=40, steps_per_dispatch=8), str(many))
    train_and_evaluate(tiny_config(num_steps=20, steps_per_dispatch=8), str(split))
    summary = train_and_evaluate(tiny_config(num_steps=40, steps_per_dispatch=8), str(split))
    assert summary["steps_this_run"] == 20
    assert [r["step"] for r in read_metrics(str(many), "train")] == [20, 40]
    leaves = [jax.tree.leaves(trained_params(path)) for path in (one, many, split)]
    for a, b, c in zip(*leaves, strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-6)  # the same steps, fused apart
        np.testing.assert_array_equal(c, b)  # a resumed run repeats the same dispatches


def test_resume_accepts_a_model_config_stored_before_a_key_existed(tmp_path):
    train_and_evaluate(tiny_config(num_steps=20), str(tmp_path))
    with open(tmp_path / "config.json") as f:
        stored = json.load(f)
    del stored["model"]["matmul_dtype"]  # as written before the key was added
    with open(tmp_path / "config.json", "w") as f:
        json.dump(stored, f)
    assert train_and_evaluate(tiny_config(num_steps=30), str(tmp_path))["steps_this_run"] == 10


def test_gradient_accumulation_resumes_exactly_from_mid_accumulation(tmp_path):
    """With train.grad_accum_steps = 3, a checkpoint at step 10 falls between updates; its
    optimiser state holds the accumulated gradients, so the split run repeats the straight one."""
    straight, split = tmp_path / "straight", tmp_path / "split"
    config = dict(grad_accum_steps=3, checkpoint_every=10)
    train_and_evaluate(tiny_config(num_steps=30, **config), str(straight))
    train_and_evaluate(tiny_config(num_steps=10, **config), str(split))
    summary = train_and_evaluate(tiny_config(num_steps=30, **config), str(split))
    assert summary["steps_this_run"] == 20
    for a, b in zip(
        jax.tree.leaves(trained_params(straight)),
        jax.tree.leaves(trained_params(split)),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)
