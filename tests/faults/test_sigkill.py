"""Fault injection, SIGKILL: a training process killed mid-run resumes to bitwise the result of
the uninterrupted run."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import REPO, TINY_TRAIN_FLAGS, assert_trees_equal, config_from_flags, trained_params

from gae_jax.jobs import train_and_evaluate
from gae_jax.train.writer import read_metrics

# The run under test; the uninterrupted reference builds the same config in-process.
_FLAGS = [
    *TINY_TRAIN_FLAGS,
    "--config.train.checkpoint_every=10",
    "--config.train.log_every=10",
]


def _finished_steps(workdir: Path) -> list[int]:
    directory = workdir / "checkpoints"
    return (
        sorted(int(p) for p in os.listdir(directory) if p.isdigit()) if directory.exists() else []
    )


@pytest.mark.slow
def test_a_run_killed_with_sigkill_resumes_to_bitwise_the_uninterrupted_result(tmp_path):
    num_steps, kill_after = 100, 20
    workdir = tmp_path / "killed"
    flags = [*_FLAGS, f"--config.train.num_steps={num_steps}"]
    # The restarted process reuses the killed one's compiled programs (a second faster, and the
    # same executables) from the entry point's persistent cache, while the uninterrupted run
    # below compiles its own in this process.
    cache = tmp_path / "jax_cache"
    cmd = [
        sys.executable,
        "-m",
        "experiments.train",
        f"--workdir={workdir}",
        f"--compilation_cache={cache}",
        *flags,
    ]
    env = {
        **os.environ,
        "JAX_PLATFORMS": "cpu",
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
        "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
    }
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
    assert any(cache.iterdir()), f"the killed run wrote no compiled program to {cache}"
    assert killed_at < num_steps and not (workdir / "summary.json").exists()

    resumed = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"Resuming from checkpoint {killed_at}" in resumed.stderr

    straight = tmp_path / "straight"
    train_and_evaluate(config_from_flags(flags), str(straight))
    assert_trees_equal(trained_params(workdir), trained_params(straight))
    # The metrics read as if the run had never been interrupted.
    assert read_metrics(str(workdir)) == read_metrics(str(straight))
