"""Fault injection, a randomized SIGKILL loop: a real ``python -m experiments.train`` run killed
N times at random moments (while compiling, training, evaluating or saving), then run to the
end, finishes with bitwise the parameters and metrics of an uninterrupted run."""

import os
import random
import signal
import subprocess
import sys
import time

import pytest
from helpers import REPO, TINY_TRAIN_FLAGS, assert_trees_equal, config_from_flags, trained_params

from gae_jax import workdir as workdir_lib
from gae_jax.jobs import train_and_evaluate
from gae_jax.train.writer import read_metrics

_FLAGS = [
    *TINY_TRAIN_FLAGS,
    "--config.train.num_steps=150",
    "--config.train.checkpoint_every=10",
    "--config.train.log_every=10",
    "--config.train.eval_every=30",
]
_KILLS = 3


@pytest.mark.slow
def test_random_sigkills_then_a_finished_run_equal_the_uninterrupted_run(tmp_path):
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    workdir = tmp_path / "killed"
    cmd = [sys.executable, "-m", "experiments.train", f"--workdir={workdir}", *_FLAGS]
    # Restarted processes reuse compiled programs (seconds faster, the same executables).
    env = {
        **os.environ,
        "JAX_PLATFORMS": "cpu",
        "JAX_COMPILATION_CACHE_DIR": str(tmp_path / "jax_cache"),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
        "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "0",
    }
    lock = workdir / workdir_lib.LOCK_FILE
    log_path = tmp_path / "runs.log"
    kills = []
    with open(log_path, "w") as log:
        for _ in range(_KILLS):
            proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=log)
            deadline = time.monotonic() + 120
            while not lock.exists() and proc.poll() is None:  # past imports and data checks
                assert time.monotonic() < deadline, log_path.read_text()[-3000:]
                time.sleep(0.005)
            delay = rng.uniform(0.0, 4.0)
            time.sleep(delay)
            finished = proc.poll() is not None
            if not finished:
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            kills.append((round(delay, 2), workdir_lib.finished_checkpoints(str(workdir))))
            if finished:
                break  # the run outran the kill: nothing left to interrupt
    context = f"seed {seed}, kills (delay after the lock, checkpoints): {kills}"
    final = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert final.returncode == 0, f"{context}\n{final.stderr[-3000:]}"
    assert "Took over the stale lock" in final.stderr or not kills[-1][1], context

    straight = tmp_path / "straight"
    train_and_evaluate(config_from_flags(_FLAGS), str(straight))
    assert_trees_equal(trained_params(workdir), trained_params(straight))
    # Every step once, in order: the metrics read as if the run had never been interrupted.
    assert read_metrics(str(workdir)) == read_metrics(str(straight)), context
    assert not lock.exists()
