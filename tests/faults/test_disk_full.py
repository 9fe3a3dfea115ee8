"""Fault injection, full disk: training stops within seconds with a CheckpointError naming the
last good checkpoint, which stays intact, and never hangs; a rerun with space resumes to bitwise
the uninterrupted result.

Two ways to fill the disk: patched writes that raise ENOSPC (always run), and a real 3 MB tmpfs
(mounted where the test may mount, i.e. as root; otherwise only the patched variants run).
"""

import errno
import json
import re
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import orbax.checkpoint as ocp
import pytest
from helpers import assert_trees_equal, tiny_config, trained_params

from gae_jax import checkpoint, workdir
from gae_jax.jobs import train_and_evaluate
from gae_jax.train import writer as writer_lib
from gae_jax.train.writer import MetricWriter, read_metrics

_LAST_GOOD = (
    r"(the last good checkpoint is step (?P<step>\d+), intact|no checkpoint was finished yet)"
)


def _config(num_steps=20):
    """The config of the ``trained`` fixture (tests/faults/conftest.py): checkpoints 10, 20."""
    return tiny_config(num_steps=num_steps, log_every=10, checkpoint_every=10)


def _assert_resumes_to_the_uninterrupted_run(run: Path, reference: Path) -> None:
    train_and_evaluate(_config(), str(run))
    assert_trees_equal(trained_params(run), trained_params(reference))
    assert read_metrics(str(run)) == read_metrics(str(reference))


class _FullAfter:
    """A file whose writes raise ENOSPC once ``budget`` characters (or bytes) were written."""

    def __init__(self, f, budget):
        self._f, self._budget = f, budget

    def write(self, text):
        self._budget -= len(text)
        if self._budget < 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        return self._f.write(text)

    def __getattr__(self, name):
        return getattr(self._f, name)


def test_metrics_hitting_a_full_disk_stop_the_run_naming_the_last_good_checkpoint(
    tmp_path, trained, monkeypatch
):
    run = tmp_path / "run"
    real_init = writer_lib._AppendFile.__init__
    # Room for the rows of steps 0 and 10 (as the uninterrupted run wrote them), not step 20's.
    lines = (trained / "metrics.jsonl").read_bytes().splitlines(keepends=True)
    room = sum(len(line) for line in lines if json.loads(line)["step"] <= 10)

    def full_metrics(self, path):
        real_init(self, path)
        if str(path).endswith("metrics.jsonl"):
            self._file = _FullAfter(self._file, room)

    monkeypatch.setattr(writer_lib._AppendFile, "__init__", full_metrics)
    t0 = time.monotonic()
    with pytest.raises(checkpoint.CheckpointError, match=_LAST_GOOD) as e:
        train_and_evaluate(_config(), str(run))
    assert time.monotonic() - t0 < 60
    message = str(e.value)
    assert message.startswith("no space left on device: the run in")
    assert "metrics.jsonl (step " in message and "rerun the same command" in message
    assert "step 10" in message  # the rows of step 0 and 10 fit, step 20's did not
    assert workdir.finished_checkpoints(str(run)) == [10]
    assert not (run / ".lock").exists()
    monkeypatch.undo()
    _assert_resumes_to_the_uninterrupted_run(run, trained)


def test_a_failed_checkpoint_save_names_its_step_and_the_last_good_one(
    tmp_path, trained, monkeypatch
):
    run = tmp_path / "run"
    real_save = ocp.CheckpointManager.save

    def full_at_20(self, step, *args, **kwargs):
        if step == 20:
            raise OSError(errno.ENOSPC, "No space left on device", "checkpoints/20.tmp")
        return real_save(self, step, *args, **kwargs)

    monkeypatch.setattr(ocp.CheckpointManager, "save", full_at_20)
    with pytest.raises(checkpoint.CheckpointError, match=_LAST_GOOD) as e:
        train_and_evaluate(_config(), str(run))
    assert "saving checkpoint 20 in " in str(e.value)
    assert "(no space left on device); the last good checkpoint is step 10" in str(e.value)
    assert not (run / "summary.json").exists()
    monkeypatch.undo()
    _assert_resumes_to_the_uninterrupted_run(run, trained)


def test_a_dead_writer_can_never_block(tmp_path, monkeypatch):
    """Every write is synchronous: a failing TensorBoard file raises at once, naming it."""
    writer = MetricWriter(str(tmp_path))
    monkeypatch.setattr(
        writer._tb._file,
        "append",
        lambda data: (_ for _ in ()).throw(OSError(errno.ENOSPC, "No space left on device")),
    )
    t0 = time.monotonic()
    with pytest.raises(OSError, match=r"tfevents.*\(step 5\): No space left on device; free"):
        writer.write(5, "train", {"loss": 1.0})
    assert time.monotonic() - t0 < 1
    writer.close()


# ----------------------------------------------------------------------------- a real tmpfs


@pytest.fixture
def small_disk(tmp_path):
    """A 3 MB tmpfs at ``tmp_path / "disk"``, unmounted afterwards."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(disk)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(
            f"cannot mount a tmpfs here ({mounted.stderr.decode().strip()}); the "
            "patched variants above cover the same paths"
        )
    yield disk
    subprocess.run(["umount", "-l", str(disk)], check=True)


def _fill(disk: Path, leave: int) -> Path:
    """Fills ``disk`` up to ``leave`` free bytes; returns the filler file."""
    filler = disk / f"filler-{uuid.uuid4().hex}"
    free = shutil.disk_usage(disk).free
    with open(filler, "wb") as f:
        f.write(b"\0" * max(free - leave, 0))
    return filler


@pytest.mark.parametrize("free_kib", [4, 8, 16, 32, 64, 96, 128, 192, 256, 320])
def test_a_full_tmpfs_stops_training_with_the_last_good_checkpoint(small_disk, trained, free_kib):
    """Ten fill levels, all too small for the run: the disk fills during the metrics, the
    checkpoints or the final files. Every run ends within a minute with a CheckpointError (never
    a hang) naming the last finished checkpoint, which restores; with the space back the run
    resumes to the uninterrupted result."""
    run = small_disk / "run"
    filler = _fill(small_disk, free_kib * 1024)
    t0 = time.monotonic()
    with pytest.raises(checkpoint.CheckpointError, match="no space left on device") as e:
        train_and_evaluate(_config(), str(run))
    assert time.monotonic() - t0 < 60
    match = re.search(_LAST_GOOD, str(e.value))
    assert match, str(e.value)
    finished = workdir.finished_checkpoints(str(run))
    assert (int(match["step"]) if match["step"] else None) == (finished[-1] if finished else None)
    if finished:  # the last good checkpoint restores
        assert int(workdir.load_trained(str(run))[2].step) == finished[-1]
    assert not (run / ".lock").exists()
    filler.unlink()
    if free_kib in (16, 96, 320):  # the space back: resumes bitwise (three levels, for time)
        _assert_resumes_to_the_uninterrupted_run(run, trained)
