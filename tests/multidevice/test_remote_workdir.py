"""A pod's workdir lives on an object store (``gs://bucket/run``): every file the training run
reads and writes besides its checkpoints (metrics.jsonl, TensorBoard events, run_history.jsonl,
config.json, summary.json, the lock) goes through ``etils.epath``, with the path unchanged.

No network: ``epath.testing.mock_epath`` sends every epath call on ``gs://bucket/...`` to a local
directory, and every local file call (``open``, ``os.*``) on a path that still spells ``gs:/`` --
a ``gs://`` path handed to a local call, or one that ``os.path.abspath`` turned into
``<cwd>/gs:/bucket/run`` -- fails the test.
"""

import builtins
import contextlib
import json
import os
import struct

import pytest
from etils import epath
from etils.epath import testing as epath_testing
from helpers import tiny_config

from gae_jax import config as config_lib
from gae_jax import workdir as workdir_lib
from gae_jax.train import writer as metric_writer

RUN = "gs://bucket/run"


class LocalCallOnRemotePath(AssertionError):
    pass


@contextlib.contextmanager
def fake_bucket(root):
    """``gs://`` paths through epath land in ``root``; local calls on them raise."""
    root = os.fspath(root)

    def local(path):
        path = os.fspath(path)
        return os.path.join(root, path[len("gs://") :]) if path.startswith("gs://") else path

    def remote(path):
        path = os.fspath(path)
        return "gs://" + os.path.relpath(path, root) if path.startswith(root) else path

    one = lambda original, path, *args, **kwargs: original(local(path), *args, **kwargs)  # noqa: E731
    two = lambda original, a, b, **kwargs: original(local(a), local(b), **kwargs)  # noqa: E731

    def walk(original, top, **kwargs):
        for directory, dirs, files in original(local(top), **kwargs):
            yield remote(directory), dirs, files

    def glob(original, pattern):
        return [remote(p) for p in original(local(pattern))]

    def open_(original, path, mode):  # an object store has no directories to create first
        if mode[0] in "wa":
            os.makedirs(os.path.dirname(local(path)), exist_ok=True)
        return original(local(path), mode)

    fns = dict.fromkeys(
        ("exists", "isdir", "listdir", "makedirs", "mkdir", "remove", "rmtree", "stat"), one
    )
    fns.update(open=open_, rename=two, replace=two, copy=two, walk=walk, glob=glob)

    def guard(fn):
        def guarded(path, *args, **kwargs):
            if "gs:/" in os.fspath(path) if isinstance(path, (str, os.PathLike)) else False:
                raise LocalCallOnRemotePath(f"{fn.__module__}.{fn.__name__}({path!r})")
            return fn(path, *args, **kwargs)

        return guarded

    guarded = {
        (builtins, "open"): builtins.open,
        **{(os, n): getattr(os, n) for n in ("open", "makedirs", "mkdir", "remove", "replace")},
        **{(os, n): getattr(os, n) for n in ("rename", "listdir", "stat", "unlink")},
        **{(os.path, n): getattr(os.path, n) for n in ("exists", "isdir", "isfile")},
    }
    with contextlib.ExitStack() as stack:
        stack.enter_context(epath_testing.mock_epath(**fns))
        patch = stack.enter_context(pytest.MonkeyPatch.context())
        for (module, name), fn in guarded.items():
            patch.setattr(module, name, guard(fn))
        yield os.path.join(root, "bucket", "run")


@pytest.fixture
def bucket(tmp_path, monkeypatch):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)  # where abspath would put "gs:/bucket/run"
    with fake_bucket(tmp_path / "store") as local_dir:
        yield local_dir
    assert not list(cwd.iterdir()), "a local call wrote under the working directory"


def test_the_guard_catches_local_calls_on_remote_paths(bucket):
    with pytest.raises(LocalCallOnRemotePath), open(f"{RUN}/metrics.jsonl", "a"):
        pass
    with pytest.raises(LocalCallOnRemotePath):
        os.makedirs(os.path.abspath(RUN), exist_ok=True)
    epath.Path(RUN).mkdir(parents=True)  # epath reaches the store
    assert os.path.isdir(bucket)


def _records(data: bytes) -> list[bytes]:
    """The records of a TFRecord file (length, its CRC, data, its CRC)."""
    records, at = [], 0
    while at < len(data):
        (length,) = struct.unpack("Q", data[at : at + 8])
        records.append(data[at + 12 : at + 12 + length])
        at += 16 + length
    return records


def test_training_files_go_through_epath(bucket, caplog):
    from tensorboardX.proto import event_pb2

    cfg = config_lib.validate(tiny_config("dae"))
    with workdir_lib.locked(RUN):
        assert os.path.exists(os.path.join(bucket, workdir_lib.LOCK_FILE))
        assert "advisory" in caplog.text
        assert workdir_lib.start_run(RUN, cfg, (8, 8, 1), None) is None  # a fresh run
        writer = metric_writer.MetricWriter(RUN, resume_step=0)
        for step in (4, 8):
            writer.write(step, "train", {"loss": 1.0 / step})
        writer.close()
        (events,) = os.listdir(os.path.join(bucket, "tensorboard"))
        events = epath.Path(bucket, "tensorboard", events).read_bytes()
        epath.Path(RUN, workdir_lib.CHECKPOINTS_DIR, "4").mkdir(parents=True)
        workdir_lib.record_resume(RUN, cfg, (8, 8, 1), 4)  # as a resumed run would
        metric_writer.MetricWriter(RUN, resume_step=4).close()  # trims the row of step 8
        workdir_lib.write_json(f"{RUN}/{workdir_lib.SUMMARY_FILE}", {"step": 4})
    assert not os.path.exists(os.path.join(bucket, workdir_lib.LOCK_FILE))  # released
    assert [r["step"] for r in metric_writer.read_metrics(RUN)] == [4]
    assert [r["step"] for r in workdir_lib.read_history(RUN)] == [0, 4]
    assert workdir_lib.read_json(f"{RUN}/{workdir_lib.SUMMARY_FILE}") == {"step": 4}
    assert workdir_lib.finished_checkpoints(RUN) == [4]
    assert json.loads(epath.Path(bucket, "config.json").read_text())["model"]["family"] == "dae"
    records = [event_pb2.Event.FromString(r) for r in _records(events)]
    scalars = [(e.step, v.tag, v.simple_value) for e in records for v in e.summary.value]
    assert scalars == [(4, "train/loss", 0.25), (8, "train/loss", 0.125)]
    assert not [f for _, _, fs in os.walk(bucket) for f in fs if ".tmp" in f]


def test_a_remote_lock_held_by_another_run_stops_this_one(bucket):
    lock = epath.Path(RUN, workdir_lib.LOCK_FILE)
    lock.parent.mkdir(parents=True)
    lock.write_text(json.dumps({"host": "other-host", "pid": 1, "started": "today"}))
    stopped = pytest.raises(
        workdir_lib.WorkdirLockedError, match="pid 1 on host other-host.*delete"
    )
    with stopped, workdir_lib.locked(RUN):
        pass
    assert json.loads(lock.read_text())["host"] == "other-host"  # left as it was
