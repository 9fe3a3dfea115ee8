"""Fault injection: bad config values, broken data and checkpoints, NaN/Inf in training and in
chains, and a training process killed with SIGKILL. Each fault must give a clear error (or be
handled as configured), and a failed run must leave the files of the last good run untouched."""

import importlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_data import _write_idx_dir
from test_train import REPO, tiny_config

from gae_jax import builders, checkpoint, data, samplers
from gae_jax import config as config_lib
from gae_jax.jobs import sample_and_save, train_and_evaluate
from gae_jax.samplers import starts
from gae_jax.train import steps
from gae_jax.train.state import create_train_state, make_optimizer
from gae_jax.train.writer import MetricWriter, read_metrics
from gae_jax.workdir import load_trained


def _snapshot(root) -> dict[str, bytes]:
    """Every file under ``root`` with its bytes, to show that a failed run changed nothing."""
    return {str(p.relative_to(root)): p.read_bytes() for p in Path(root).rglob("*") if p.is_file()}


def _params(workdir):
    return load_trained(str(workdir))[2].params


def _assert_trees_equal(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(x, y)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished 20-step run with checkpoints at steps 10 and 20; tests work on copies."""
    workdir = tmp_path_factory.mktemp("trained") / "run"
    train_and_evaluate(tiny_config(num_steps=20, log_every=10, checkpoint_every=10), str(workdir))
    return workdir


@pytest.fixture
def run_copy(trained, tmp_path):
    return Path(shutil.copytree(trained, tmp_path / "run"))


# ----------------------------------------------------------------------------- config (item 1)


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


# ----------------------------------------------------------------------------- data (item 2)


def test_a_corrupted_dataset_stops_the_resumed_run_and_changes_nothing(tmp_path):
    idx_dir = tmp_path / "idx"
    idx_dir.mkdir()
    _write_idx_dir(idx_dir, n_train=60, n_test=12, gz=False, size=8)
    config = tiny_config(num_steps=10, batch_size=10, checkpoint_every=10, log_every=10)
    config.data.name = f"idx:{idx_dir}"
    workdir = tmp_path / "run"
    train_and_evaluate(config, str(workdir))
    before = _snapshot(workdir)
    images = idx_dir / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:-7])  # e.g. a copy that did not finish
    data._load_idx.cache_clear()  # the loader caches files it has read in this process
    config.train.num_steps = 20
    with pytest.raises(data.IdxFormatError, match="train-images-idx3-ubyte.*truncated or corrupt"):
        train_and_evaluate(config, str(workdir))
    assert _snapshot(workdir) == before


# ----------------------------------------------------------------------------- checkpoints (item 2)


def test_sampling_a_workdir_without_a_model_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no trained model in .*config.json is missing"):
        sample_and_save(tiny_config(), str(tmp_path / "missing"))
    assert not (tmp_path / "missing").exists()
    (tmp_path / "untrained").mkdir()
    (tmp_path / "untrained" / "config.json").write_text(json.dumps(tiny_config().to_dict()))
    with pytest.raises(FileNotFoundError, match="no checkpoint in .*untrained/checkpoints"):
        load_trained(str(tmp_path / "untrained"))
    assert os.listdir(tmp_path / "untrained") == ["config.json"]  # read-only: nothing created


def _garbage_metadata(step_dir: Path):
    (step_dir / "default" / "_METADATA").write_bytes(b"\x00garbage")


def _truncate_arrays(step_dir: Path):
    for f in (step_dir / "default" / "d").iterdir():
        f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])


def _flip_bytes(step_dir: Path):
    for f in (step_dir / "default" / "d").iterdir():
        raw = bytearray(f.read_bytes())
        raw[len(raw) // 2] ^= 0xFF
        f.write_bytes(bytes(raw))


def _remove_arrays(step_dir: Path):
    shutil.rmtree(step_dir / "default")


# After a failed array read, orbax's pending tensorstore callbacks may find its private event
# loop closed; Python reports that as "unraisable" although nothing is lost or left running.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize(
    "corrupt", [_garbage_metadata, _truncate_arrays, _flip_bytes, _remove_arrays]
)
def test_a_corrupt_latest_checkpoint_is_refused_and_left_for_the_user(run_copy, corrupt):
    corrupt(run_copy / "checkpoints" / "20")
    before = _snapshot(run_copy)
    expected = "checkpoint 20 in .* is corrupt or incomplete .*Earlier checkpoints: \\[10\\]"
    with pytest.raises(checkpoint.CheckpointError, match=expected):
        train_and_evaluate(tiny_config(num_steps=30, checkpoint_every=10), str(run_copy))
    with pytest.raises(checkpoint.CheckpointError, match=expected):
        load_trained(str(run_copy))
    assert _snapshot(run_copy) == before  # no fallback, no deletion, no overwrite


def test_moving_a_corrupt_checkpoint_aside_resumes_from_the_previous_one(run_copy):
    _remove_arrays(run_copy / "checkpoints" / "20")
    # What the error advises: move the bad checkpoint out of checkpoints/ and rerun.
    (run_copy / "checkpoints" / "20").rename(run_copy / "corrupt-20")
    summary = train_and_evaluate(tiny_config(num_steps=30, checkpoint_every=10), str(run_copy))
    assert summary["steps_this_run"] == 20
    assert checkpoint.Checkpointer(str(run_copy), read_only=True).all_steps() == [10, 20, 30]


@pytest.mark.parametrize(
    "section, name, value, expected",
    [
        # train_and_evaluate refuses a changed config.model before restoring; load_trained with
        # an explicit config goes as far as the checkpoint, which names the mismatching arrays.
        ("model", "latent_dim", 5, "params/encoder/Dense_1/kernel: stored float32\\[64, 4\\], "),
        ("train", "optimizer", "sgd", "opt_state/0/count: stored, not expected"),
    ],
)
def test_a_checkpoint_of_another_model_is_refused_with_the_differences(
    run_copy, section, name, value, expected
):
    config = tiny_config(num_steps=20)
    config[section][name] = value
    before = _snapshot(run_copy)
    with pytest.raises(checkpoint.CheckpointError, match=f"checkpoint 20 in .*{expected}"):
        load_trained(str(run_copy), config)
    if section == "train":  # resuming with another optimizer passes the config.json check
        config.train.num_steps = 30
        with pytest.raises(checkpoint.CheckpointError, match="does not match the configured"):
            train_and_evaluate(config, str(run_copy))
    assert _snapshot(run_copy) == before


def test_an_unfinished_save_is_never_latest_and_is_cleaned_up(run_copy):
    # What a process killed mid-save leaves: a temporary directory orbax never renamed.
    unfinished = run_copy / "checkpoints" / "30.orbax-checkpoint-tmp-1700000000"
    shutil.copytree(run_copy / "checkpoints" / "20", unfinished)
    _garbage_metadata(unfinished)
    assert checkpoint.Checkpointer(str(run_copy), read_only=True).latest_step() == 20
    summary = train_and_evaluate(tiny_config(num_steps=30, checkpoint_every=10), str(run_copy))
    assert summary["steps_this_run"] == 10
    assert sorted(os.listdir(run_copy / "checkpoints")) == ["10", "20", "30"]


def test_metric_rows_of_lost_steps_and_a_cut_last_line_are_dropped_on_resume(tmp_path):
    rows = [
        {"step": 0, "split": "test", "bce": 50.0},
        {"step": 10, "split": "train", "loss": 3.0},
        {"step": 20, "split": "train", "loss": 2.0},
    ]
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"step": 30, "spl')
    MetricWriter(str(tmp_path), resume_step=10).close()  # step 20 was never checkpointed
    assert read_metrics(str(tmp_path)) == rows[:2]
    MetricWriter(str(tmp_path), resume_step=0).close()  # no checkpoint: a fresh start
    assert read_metrics(str(tmp_path)) == []


# ----------------------------------------------------------------------------- NaN/Inf in training


def _poison_training_example(monkeypatch, index):
    """Makes training example ``index`` of every loaded train split contain a NaN pixel."""
    load = data.load_dataset

    def poisoned(name, split, **kwargs):
        ds = load(name, split, **kwargs)
        if split != "train":
            return ds
        images = ds.images.copy()
        images[index, 0, 0, 0] = np.nan
        return data.Dataset(images, ds.labels)

    monkeypatch.setattr(data, "load_dataset", poisoned)


def test_stop_mode_names_the_step_family_and_loss_and_keeps_the_last_good_checkpoint(
    tmp_path, monkeypatch
):
    order = data.BatchOrder(1437, 32, seed=0)
    bad = int(order.indices(23)[0])  # first seen at step 23 (0-based), i.e. in step 24
    _poison_training_example(monkeypatch, bad)
    config = tiny_config(num_steps=60, log_every=10, checkpoint_every=20)
    expected = (
        "non-finite loss metrics \\{.*'loss': nan.*\\} at step 30 while training family 'dae' "
        "\\(finite at step 20.*the latest checkpoint, step 20 in .*, is good"
    )
    with pytest.raises(FloatingPointError, match=expected):
        train_and_evaluate(config, str(tmp_path))
    assert checkpoint.Checkpointer(str(tmp_path), read_only=True).all_steps() == [20]
    assert not (tmp_path / "summary.json").exists()


def test_skip_mode_skips_exactly_the_batches_that_hold_a_nan(tmp_path, monkeypatch):
    num_steps = 60
    order = data.BatchOrder(1437, 32, seed=0)
    # An example of step 3 that epoch 1 (steps 44..87) shows again before step 60.
    bad = next(
        int(i) for i in order.indices(3) if any(i in order.indices(s) for s in range(44, 60))
    )
    expected = [s for s in range(num_steps) if bad in order.indices(s)]
    assert len(expected) == 2
    _poison_training_example(monkeypatch, bad)
    config = tiny_config(num_steps=num_steps, log_every=10, on_non_finite="skip")
    summary = train_and_evaluate(config, str(tmp_path))
    assert summary["step"] == num_steps and summary["skipped_steps"] == len(expected)
    rows = read_metrics(str(tmp_path), "train")
    for row in rows:  # each skipped step is counted in the window that holds it
        window = range(row["step"] - 10, row["step"])
        assert row["skipped_steps"] == sum(s in window for s in expected)
    assert all(np.isfinite(x).all() for x in jax.tree.leaves(_params(tmp_path)))


def test_a_skipped_update_keeps_the_state_and_advances_only_the_step():
    cfg = config_lib.validate(tiny_config())
    model = builders.build_model(cfg.model, (8, 8, 1))
    tx = make_optimizer("adam", 1e-3)
    step_fn = builders.build_train_step(cfg.model, model, tx)
    guarded = jax.jit(steps.skip_non_finite(step_fn))
    state = create_train_state(jax.random.key(0), model, tx, (8, 8, 1))
    clean = jax.random.uniform(jax.random.key(1), (32, 8, 8, 1))
    key = jax.random.key(2)
    # A finite batch: exactly the unguarded update.
    new, metrics = guarded(state, clean, key)
    _assert_trees_equal(new, jax.jit(step_fn)(state, clean, key)[0])
    assert float(metrics["skipped"]) == 0.0
    # A batch with an Inf: parameters, optimiser state and step count of Adam stay as they were.
    skipped, metrics = guarded(state, clean.at[3, 2, 2, 0].set(jnp.inf), key)
    assert float(metrics["skipped"]) == 1.0 and int(skipped.step) == int(state.step) + 1
    _assert_trees_equal(skipped.replace(step=state.step), state)


# ----------------------------------------------------------------------------- NaN/Inf in chains


class _WalkState(NamedTuple):
    x: jax.Array  # float32[chains, 2]


class _WalkInfo(NamedTuple):
    is_finite: jax.Array  # bool[chains]


def _walk_step(rng_key, state):
    """A Gaussian random walk that turns NaN (and stays NaN) once |x_0| exceeds 2.5."""
    keys = samplers.chain_keys(rng_key, state.x.shape[0])
    x = state.x + 0.5 * jax.vmap(lambda k: jax.random.normal(k, (2,)))(keys)
    x = jnp.where(jnp.abs(x[:, :1]) > 2.5, jnp.nan, x)
    return _WalkState(x), _WalkInfo(jnp.isfinite(x).all(axis=1))


WALK = samplers.Kernel(init=_WalkState, step=_walk_step)


def _run(kernel, x0, num_steps=12):
    run = jax.jit(lambda key, x0: samplers.sample_chains(key, kernel, kernel.init(x0), num_steps))
    return run(jax.random.key(7), x0)


def test_non_finite_chains_are_counted_and_never_touch_the_others():
    x0 = starts.normal_noise(jax.random.key(3), 16, (2,))
    plain, (states, _) = _run(WALK, x0)
    went_bad = ~np.isfinite(np.asarray(plain.x)).all(axis=1)
    assert 0 < went_bad.sum() < 16
    # Counting only: the same chains, bit for bit; a NaN chain counts once per later step too.
    counted, (_, info) = _run(samplers.guard_non_finite(WALK), x0)
    np.testing.assert_array_equal(counted.state.x, plain.x)
    expected = (~np.isfinite(np.asarray(states.x)).all(axis=2)).sum(axis=0)
    np.testing.assert_array_equal(counted.num_non_finite, expected)
    np.testing.assert_array_equal(info.is_finite, np.isfinite(np.asarray(states.x)).all(axis=2))


def test_restarted_chains_are_redrawn_and_the_others_are_unchanged():
    x0 = starts.normal_noise(jax.random.key(3), 16, (2,))
    plain, _ = _run(WALK, x0)
    fine = np.isfinite(np.asarray(plain.x)).all(axis=1)
    restart = lambda key, n: _WalkState(starts.normal_noise(key, n, (2,)))
    guarded, _ = _run(samplers.guard_non_finite(WALK, restart), x0)
    assert np.isfinite(np.asarray(guarded.state.x)).all()
    np.testing.assert_array_equal(np.asarray(guarded.state.x)[fine], np.asarray(plain.x)[fine])
    assert np.all(np.asarray(guarded.num_non_finite)[~fine] >= 1)
    assert np.all(np.asarray(guarded.num_non_finite)[fine] == 0)


def test_a_real_kernel_restarts_only_its_non_finite_chains():
    # A "reconstruction" that overflows for bright images: those chains blow up, the rest do not.
    reconstruct = lambda v, x: jnp.where(x.mean(axis=(1, 2, 3), keepdims=True) > 0.3, jnp.inf, x)
    kernel = samplers.reinjection_chain(reconstruct, None, step_size=0.01)
    x0 = jnp.concatenate([jnp.zeros((3, 4, 4, 1)), jnp.ones((2, 4, 4, 1))])
    fresh = lambda key, n: kernel.init(0.1 * starts.normal_noise(key, n, (4, 4, 1)))
    plain, _ = _run(kernel, x0, num_steps=3)
    guarded, _ = _run(samplers.guard_non_finite(kernel, fresh), x0, num_steps=3)
    np.testing.assert_array_equal(guarded.num_non_finite, [0, 0, 0, 1, 1])
    np.testing.assert_array_equal(guarded.state.x[:3], plain.x[:3])
    assert np.isfinite(np.asarray(guarded.state.x)).all()
    np.testing.assert_array_equal(guarded.state.step[3:], [2, 2])  # restarted at step 1


# ----------------------------------------------------------------------------- SIGKILL (item 4)


def _entry_point_config(num_steps):
    """``configs/dae_mnist5k.py`` with the overrides of :data:`_FLAGS`, built in-process."""
    config = importlib.import_module("configs.dae_mnist5k").get_config()
    config.data.name = "digits"
    config.model.latent_dim = 4
    config.model.encoder_hidden = config.model.decoder_hidden = (32,)
    config.train.batch_size = 32
    config.train.num_steps = num_steps
    config.train.checkpoint_every = 10
    config.train.log_every = 10
    return config


_FLAGS = [
    "--config=configs/dae_mnist5k.py",
    "--config.data.name=digits",
    "--config.model.latent_dim=4",
    "--config.model.encoder_hidden=(32,)",
    "--config.model.decoder_hidden=(32,)",
    "--config.train.batch_size=32",
    "--config.train.checkpoint_every=10",
    "--config.train.log_every=10",
]


def _finished_steps(workdir: Path) -> list[int]:
    directory = workdir / "checkpoints"
    return (
        sorted(int(p) for p in os.listdir(directory) if p.isdigit()) if directory.exists() else []
    )


def test_a_run_killed_with_sigkill_resumes_to_bitwise_the_uninterrupted_result(tmp_path):
    num_steps, kill_after = 100, 20
    workdir = tmp_path / "killed"
    cmd = [sys.executable, "-m", "experiments.train", f"--workdir={workdir}", *_FLAGS]
    cmd.append(f"--config.train.num_steps={num_steps}")
    # The restarted process reuses the killed one's compiled programs (a second faster, and the
    # same executables), while the uninterrupted run below compiles its own in this process.
    cache = {
        "JAX_COMPILATION_CACHE_DIR": str(tmp_path / "jax_cache"),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
        "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
    }
    env = {**os.environ, "JAX_PLATFORMS": "cpu", **cache}
    with open(tmp_path / "killed.log", "w") as log:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=log)
        deadline = time.monotonic() + 120
        while not any(s >= kill_after for s in _finished_steps(workdir)):
            assert proc.poll() is None, (tmp_path / "killed.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "no checkpoint within 120 s"
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    killed_at = max(_finished_steps(workdir))
    assert killed_at < num_steps and not (workdir / "summary.json").exists()

    resumed = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"Resuming from checkpoint {killed_at}" in resumed.stderr

    straight = tmp_path / "straight"
    train_and_evaluate(_entry_point_config(num_steps), str(straight))
    _assert_trees_equal(_params(workdir), _params(straight))
    # The metrics read as if the run had never been interrupted.
    assert read_metrics(str(workdir)) == read_metrics(str(straight))
