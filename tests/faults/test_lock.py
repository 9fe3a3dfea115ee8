"""Fault injection, colliding runs: one run holds a workdir at a time; a second exits at once
naming the holder; a dead holder's lock is taken over; the lock goes when the run does."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import REPO, TINY_TRAIN_FLAGS

from gae_jax import workdir as workdir_lib
from gae_jax.train.writer import read_metrics

_FLAGS = [
    *TINY_TRAIN_FLAGS,
    "--config.train.num_steps=300",
    "--config.train.checkpoint_every=100",
    "--config.train.log_every=50",
    "--config.train.eval_every=100",
]


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def _write_lock(workdir: Path, **holder) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / workdir_lib.LOCK_FILE
    path.write_text(json.dumps({"started": "2026-11-30T09:00:00+00:00", **holder}))
    return path


# The second run: experiments.train's own main, in a process that has done its imports and
# waits for the first run's lock, so that the two meet however fast the first run is.
_SECOND = """
import os, sys, time
from absl import app
from experiments import train
lock = sys.argv[1]
while not os.path.exists(lock):
    time.sleep(0.01)
t0 = time.monotonic()
try:
    app.run(train.main, argv=["experiments.train", *sys.argv[2:]], flags_parser=train._parse_flags)
finally:
    print(f"seconds={time.monotonic() - t0:.2f}", file=sys.stderr, flush=True)
"""


def test_a_second_run_on_a_workdir_exits_at_once_naming_the_holder(tmp_path):
    """Two simultaneous experiments.train on one workdir: the second stops in seconds with the
    lock message; the first finishes with intact checkpoints and metrics."""
    workdir = tmp_path / "run"
    args = [f"--workdir={workdir}", *_FLAGS]
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    lock = workdir / workdir_lib.LOCK_FILE
    second = subprocess.Popen(
        [sys.executable, "-c", _SECOND, str(lock), *args],
        cwd=REPO,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    with open(tmp_path / "first.log", "w") as log:
        first = subprocess.Popen(
            [sys.executable, "-m", "experiments.train", *args],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=log,
        )
        stderr = second.communicate(timeout=300)[1]
        still_running = first.poll() is None
        assert first.wait(timeout=300) == 0, (tmp_path / "first.log").read_text()[-3000:]
    assert second.returncode == 1, stderr[-3000:]
    *_, timing, message = stderr.strip().splitlines()  # sys.exit's message comes last
    assert message.startswith(f"error: WorkdirLockedError: workdir {workdir} is in use by ")
    assert f"pid {first.pid} on host {socket.gethostname()} since " in message
    assert "experiments/train.py --workdir=" in message  # the holder's command
    assert "Wait for it to finish or use another --workdir" in message
    assert still_running, "the second run must have met the first while it ran"
    assert float(timing.removeprefix("seconds=")) < 30, message  # loads the data, then stops
    # The first run is whole: every step once, its checkpoints restore, the lock is gone.
    assert [r["step"] for r in read_metrics(str(workdir), "train")] == [50, 100, 150, 200, 250, 300]
    assert [r["step"] for r in read_metrics(str(workdir), "test")] == [0, 300]
    assert workdir_lib.finished_checkpoints(str(workdir)) == [100, 200, 300]
    assert int(workdir_lib.load_trained(str(workdir))[2].step) == 300
    assert not lock.exists()


def test_a_live_holder_on_this_host_is_named(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _write_lock(tmp_path, host=socket.gethostname(), pid=holder.pid, command="python x")
        with (
            pytest.raises(workdir_lib.WorkdirLockedError, match=f"pid {holder.pid} on host "),
            workdir_lib.locked(str(tmp_path)),
        ):
            pass
    finally:
        holder.kill()
        holder.wait()
    assert (tmp_path / workdir_lib.LOCK_FILE).exists()  # not ours: left alone


def test_another_hosts_lock_is_refused_with_how_to_clear_it(tmp_path):
    path = _write_lock(tmp_path, host="elsewhere-7", pid=4242)
    with (
        pytest.raises(workdir_lib.WorkdirLockedError, match=f"delete {path} and rerun"),
        workdir_lib.locked(str(tmp_path)),
    ):
        pass


def test_a_dead_processs_lock_is_taken_over_with_a_log_line(tmp_path, caplog):
    dead = _dead_pid()
    _write_lock(tmp_path, host=socket.gethostname(), pid=dead)
    with workdir_lib.locked(str(tmp_path)):
        holder = json.loads((tmp_path / workdir_lib.LOCK_FILE).read_text())
        assert holder["pid"] == os.getpid() and holder["host"] == socket.gethostname()
    assert f"Took over the stale lock {tmp_path / workdir_lib.LOCK_FILE}" in caplog.text
    assert f"pid {dead} on host" in caplog.text
    assert not (tmp_path / workdir_lib.LOCK_FILE).exists()


def test_a_reused_pid_does_not_keep_a_dead_runs_lock(tmp_path):
    """The lock records the process's start time: a live process that got the dead run's PID
    (here: this very process, started at another time) does not hold it."""
    _write_lock(tmp_path, host=socket.gethostname(), pid=os.getpid(), process_start="1")
    with workdir_lib.locked(str(tmp_path)):
        pass


def test_the_lock_is_released_when_the_run_fails(tmp_path):
    with pytest.raises(RuntimeError), workdir_lib.locked(str(tmp_path)):
        assert (tmp_path / workdir_lib.LOCK_FILE).exists()
        raise RuntimeError("the run failed")
    assert not (tmp_path / workdir_lib.LOCK_FILE).exists()


def test_nested_locks_of_one_process_do_not_deadlock(tmp_path):
    """The main job holds its workdir while its models train and sample in sub-workdirs."""
    model_dir = tmp_path / "dae"
    model_dir.mkdir()
    with workdir_lib.locked(str(tmp_path)):
        with workdir_lib.locked(str(tmp_path)), workdir_lib.locked(str(model_dir)):
            assert (model_dir / workdir_lib.LOCK_FILE).exists()
        assert not (model_dir / workdir_lib.LOCK_FILE).exists()
        assert (tmp_path / workdir_lib.LOCK_FILE).exists()
    assert not (tmp_path / workdir_lib.LOCK_FILE).exists()


def test_a_workdir_inside_one_in_use_is_refused(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _write_lock(tmp_path, host=socket.gethostname(), pid=holder.pid)
        (tmp_path / "dae").mkdir()
        with (
            pytest.raises(workdir_lib.WorkdirLockedError, match=f"is inside {tmp_path}, which"),
            workdir_lib.locked(str(tmp_path / "dae")),
        ):
            pass
    finally:
        holder.kill()
        holder.wait()


_RACER = """
import os, sys, time
from gae_jax import workdir
open(sys.argv[2] + f".ready{os.getpid()}", "w").close()
while not os.path.exists(sys.argv[2]):  # all racers start together, their imports done
    time.sleep(0.005)
try:
    with workdir.locked(sys.argv[1]):
        print("got", flush=True)
        time.sleep(5)
except workdir.WorkdirLockedError:
    print("refused", flush=True)
"""


def test_of_several_runs_finding_a_stale_lock_exactly_one_takes_it(tmp_path):
    _write_lock(tmp_path, host=socket.gethostname(), pid=_dead_pid())
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    go = tmp_path / "go"
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", _RACER, str(tmp_path), str(go)],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    deadline = time.monotonic() + 120
    while len(list(tmp_path.glob("go.ready*"))) < len(racers):  # their imports done
        assert time.monotonic() < deadline
        time.sleep(0.05)
    go.touch()
    outcomes = sorted(p.communicate(timeout=120)[0].strip() for p in racers)
    assert outcomes == ["got", "refused", "refused"]
