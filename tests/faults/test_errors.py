"""Fault injection, readable errors: an unknown config key names its section and the valid
keys (close matches first); a model mismatch names the differing key; a damaged metrics row
names its file and line; an unusable workdir is one line before any work."""

import os
import subprocess
import sys

import pytest
from helpers import REPO, snapshot, tiny_config

from gae_jax import config as config_lib
from gae_jax import workdir as workdir_lib
from gae_jax.jobs import sample_and_save, train_and_evaluate
from gae_jax.train.writer import read_metrics

_TINY = [
    "--config=configs/dae_mnist5k.py",
    "--config.data.name=digits",
    "--config.model.encoder_hidden=(32,)",
    "--config.model.decoder_hidden=(32,)",
    "--config.train.num_steps=10",
]


@pytest.mark.parametrize(
    "flags, expected",
    [
        (
            ["--config.train.learning_rte=1"],
            "error: --config.train.learning_rte=1: unknown key(s) ['learning_rte'] in "
            "config.train; did you mean 'learning_rate' or 'gen_learning_rate' or "
            "'disc_learning_rate'? valid keys: ['learning_rate', 'gen_learning_rate', ",
        ),
        (
            ["--config.sampler.num_chains=1000000000"],
            "error: ConfigError: config.sampler.num_chains=1,000,000,000 needs at least ",
        ),
        (["--workdir=/dev/null"], "error: WorkdirError: --workdir=/dev/null is a file, not a "),
    ],
    ids=["unknown key", "too many chains", "workdir is a file"],
)
def test_the_entry_point_says_what_is_wrong_in_one_line(tmp_path, flags, expected):
    workdir = tmp_path / "run"
    cmd = [sys.executable, "-m", "experiments.train", f"--workdir={workdir}", *_TINY, *flags]
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    result = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith(expected), result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert not workdir.exists()  # refused before the workdir was created
    if "num_chains" in expected:
        assert "lower config.sampler.num_chains to at most" in lines[-1]


def test_an_unknown_section_is_named_with_the_valid_ones():
    message = config_lib.unknown_override(["--config.trian.batch_size=1"])
    assert message == (
        "--config.trian.batch_size=1: unknown key(s) ['trian'] in config; did you mean "
        "'train'? valid keys: ['train', 'data', 'mesh', 'model', 'sampler', 'seed']"
    )
    assert config_lib.unknown_override(["--config.train.batch_size=1"]) is None


def test_sampling_with_another_model_names_the_differing_key(run_copy):
    config = tiny_config(num_steps=20, log_every=10, checkpoint_every=10)
    config.model.latent_dim = 8
    with pytest.raises(
        config_lib.ConfigError,
        match=r"differs from the model trained in .*: model\.latent_dim: 4 \(trained\) vs 8 "
        r"\(requested\)\. Pass the config",
    ):
        sample_and_save(config, str(run_copy))


def test_a_damaged_metrics_row_names_the_file_and_line(run_copy):
    path = run_copy / "metrics.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    lines[1] = '{"step": 10, "split": "tr\n'  # a complete but damaged row
    path.write_text("".join(lines))
    before = snapshot(run_copy)
    expected = rf"{path}, line 2: damaged metrics row .*repair or delete that line"
    with pytest.raises(ValueError, match=expected):
        read_metrics(str(run_copy))
    with pytest.raises(ValueError, match=expected):  # resuming stops before changing anything
        train_and_evaluate(
            tiny_config(num_steps=30, log_every=10, checkpoint_every=10), str(run_copy)
        )
    assert snapshot(run_copy) == before


def test_a_workdir_under_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(workdir_lib.WorkdirError, match=r"cannot be created: .*file is a file"):
        workdir_lib.check_workdir(str(tmp_path / "file" / "run"))


def test_an_unwritable_workdir_is_refused_before_any_work(tmp_path, monkeypatch):
    """Permissions (patched: the tests run as root, who may write anywhere)."""
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    with pytest.raises(workdir_lib.WorkdirError, match=r"run cannot be created in .* no permis"):
        train_and_evaluate(tiny_config(num_steps=10), str(tmp_path / "run"))
    assert not (tmp_path / "run").exists()


@pytest.fixture
def read_only_dir(tmp_path):
    """A read-only tmpfs (mounted where the test may mount, i.e. as root)."""
    directory = tmp_path / "ro"
    directory.mkdir()
    cmd = ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(directory)]
    mounted = subprocess.run(cmd, capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount here ({mounted.stderr.decode().strip()}); see the test above")
    yield directory
    subprocess.run(["umount", "-l", str(directory)], check=True)


def test_a_read_only_file_system_is_refused_before_any_work(read_only_dir):
    with pytest.raises(workdir_lib.WorkdirError, match=r"is not writable \(read-only file sys"):
        train_and_evaluate(tiny_config(num_steps=10), str(read_only_dir))
