"""The real entry points as a pod launcher runs them: ``python -m experiments.{train,sample,main}``
as 2 processes x 2 forced CPU devices (``jax.distributed`` over localhost, joined with
``--coordinator_address/--num_processes/--process_id``) give what 1 process x 4 devices gives,
process 0 alone writes the files, and a 2 x 2 checkpoint samples and resumes on 1 x 1.

The tiny DAAE trains with ``mesh.topology_exact`` (its metrics rows must be identical); the
main job's model trains on the default, split path (rows equal up to the all-reduce's
rounding). To keep the wall time down on a small machine, one 2 x 2 training (module fixture)
serves every check of it, each 2-process run is launched beside its 1-process reference, and
the 1 x 1 runs go in-process (this test process has one CPU device), without a process start.
"""

import json
import os
import shutil
import subprocess
import sys
import time

import jax
import numpy as np
import pytest
from helpers import free_port, snapshot, start_process
from tiny_configs import get_config

CONFIG = os.path.join("tests", "multidevice", "tiny_configs.py")
# Training metrics of the split (default) path agree across topologies to float32 rounding of
# the gradient all-reduce.
REDUCTION_ROUNDING = 1e-6
# Evaluation rows on another number of devices: per-example values computed in batches of
# another size per device may round differently.
PER_DEVICE_BATCH_ROUNDING = 1e-6
TIMEOUT = 900  # seconds per group of runs; they take a few seconds each on an idle machine


def _launch(module: str, workdir, processes: int, devices: int, kind: str, *flags: str):
    """Starts ``python -m experiments.<module>`` as ``processes`` processes with ``devices``
    CPU devices each; returns the Popen objects."""
    cluster = []
    port = free_port()
    procs = []
    for i in range(processes):
        if processes > 1:
            cluster = [
                f"--coordinator_address=localhost:{port}",
                f"--num_processes={processes}",
                f"--process_id={i}",
            ]
        cmd = [
            sys.executable,
            "-m",
            f"experiments.{module}",
            f"--config={CONFIG}:{kind}",
            f"--workdir={workdir}",
            *cluster,
            *flags,
        ]
        procs.append(start_process(cmd, devices))
    return procs


def _wait(procs) -> list[str]:
    outputs = []
    for p in procs:
        try:
            output, _ = p.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
            raise
        assert p.returncode == 0, output[-4000:]
        outputs.append(output)
    return outputs


def _run_together(*launches) -> tuple[list[list[str]], float]:
    """Starts every launch at once, waits for all; returns their outputs and the wall time."""
    t0 = time.perf_counter()
    started = [_launch(*args) for args in launches]
    outputs = [_wait(procs) for procs in started]
    return outputs, time.perf_counter() - t0


def _rows(workdir) -> list[dict]:
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


def _samples(workdir) -> dict[str, np.ndarray]:
    with np.load(os.path.join(workdir, "samples", "samples.npz")) as arrays:
        return dict(arrays)


def _files(workdir) -> list[str]:
    return sorted(
        os.path.relpath(os.path.join(d, f), workdir) for d, _, fs in os.walk(workdir) for f in fs
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Trains the tiny DAAE as 2 x 2 and as 1 x 4, then samples the 2 x 2 run's workdir as
    2 x 2 and a copy of it as 1 x 4."""
    root = tmp_path_factory.mktemp("entry_points")
    pod, single, copy = root / "pod_2x2", root / "single_1x4", root / "sample_1x4"
    (train_pod, _), train_seconds = _run_together(
        ("train", pod, 2, 2, "train"), ("train", single, 1, 4, "train")
    )
    shutil.copytree(pod, copy)
    (sample_pod, _), sample_seconds = _run_together(
        ("sample", pod, 2, 2, "train"), ("sample", copy, 1, 4, "train")
    )
    print(f"train 2x2 beside 1x4: {train_seconds:.0f}s; sample likewise: {sample_seconds:.0f}s")
    return {
        "pod": pod,
        "single": single,
        "sample_1x4": copy,
        "logs": {"train": train_pod, "sample": sample_pod},
    }


def _copy_of_trained(pod, to):
    """A copy of the 2 x 2 workdir as training left it (its samples removed)."""
    shutil.copytree(pod, to, ignore=shutil.ignore_patterns("samples"))
    return to


def _as_killed_after_step_4(workdir):
    """The run as if killed after its step-4 checkpoint (rows after it are trimmed on resume)."""
    shutil.rmtree(workdir / "checkpoints" / "8")
    for name in ("summary.json", "encodings_hist.png", "encodings_moments.json"):
        os.remove(workdir / name)


def _assert_rows_match(rows, expected, rel=0.0):
    """Equal steps, splits and metric names; values equal up to ``rel`` (0: exactly)."""
    assert [(r["step"], r["split"]) for r in rows] == [(r["step"], r["split"]) for r in expected]
    for got, want in zip(rows, expected, strict=True):
        assert got.keys() == want.keys()
        for key, value in want.items():
            if key not in ("step", "split"):
                assert got[key] == pytest.approx(value, rel=rel, abs=rel), (got["step"], key)


def test_every_process_joins_the_cluster_and_logs_it(runs):
    for outputs in runs["logs"].values():
        for i, output in enumerate(outputs):
            assert f"process {i}/2, 2 local / 4 global devices" in output


def test_two_processes_train_as_one(runs):
    rows = _rows(runs["pod"])
    assert [r["step"] for r in rows if r["split"] == "train"] == [4, 8]
    assert rows == _rows(runs["single"])  # topology_exact: identical rows


def test_two_processes_sample_as_one(runs):
    a, b = _samples(runs["pod"]), _samples(runs["sample_1x4"])
    assert sorted(a) == sorted(b) and a["latent_x_step_0"].shape[0] == 6  # 6 chains on 4 devices
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    summary = json.loads((runs["pod"] / "samples" / "sample_summary.json").read_text())
    assert summary["timings"]["latent"]["devices"] == 4
    assert summary["timings"]["latent"]["processes"] == 2


def test_process_zero_alone_writes_the_files(runs):
    pod, single = runs["pod"], runs["sample_1x4"]  # trained by 2 x 2, sampled by 1 x 4
    files = _files(pod)
    assert len([f for f in files if f.startswith("tensorboard" + os.sep)]) == 1
    assert not [f for f in files if "tmp" in f or f.endswith(".lock")], files
    # The same files as the one-process run, apart from each process's checkpoint shards.
    shards = lambda fs: {f for f in fs if f.startswith("checkpoints")}  # noqa: E731
    others = lambda fs: {f for f in fs if not f.startswith(("checkpoints", "tensorboard"))}  # noqa: E731
    assert others(files) == others(_files(single))
    assert any("process_1" in f for f in shards(files))  # both processes saved their shards


def test_pod_checkpoint_samples_and_resumes_on_one_device(runs, tmp_path):
    from gae_jax.jobs import sample_and_save, train_and_evaluate

    assert len(jax.devices()) == 1
    sampled = _copy_of_trained(runs["pod"], tmp_path / "sample_1x1")
    sample_and_save(get_config("train"), str(sampled))
    a, b = _samples(runs["pod"]), _samples(sampled)
    assert sorted(a) == sorted(b)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    resumed = _copy_of_trained(runs["pod"], tmp_path / "resume_1x1")
    _as_killed_after_step_4(resumed)
    train_and_evaluate(get_config("train"), str(resumed))
    rows, expected = _rows(resumed), _rows(runs["pod"])
    train = lambda rows: [r for r in rows if r["split"] == "train"]  # noqa: E731
    assert train(rows) == train(expected)  # topology_exact: the steps are bitwise the same
    _assert_rows_match(rows, expected, rel=PER_DEVICE_BATCH_ROUNDING)
    assert (resumed / "checkpoints" / "8").is_dir()


def test_main_job_on_two_processes_matches_one(tmp_path):
    pod, single = tmp_path / "pod", tmp_path / "single"
    (outputs, _), seconds = _run_together(
        ("main", pod, 2, 2, "main"), ("main", single, 1, 4, "main")
    )
    assert "Report:" in outputs[0] and "Report:" not in outputs[1]  # process 0 prints it
    a = json.loads((pod / "summary.json").read_text())
    b = json.loads((single / "summary.json").read_text())
    assert a["classifier"] == b["classifier"]  # trained by every process alike, no reduction
    metrics, expected = a["models"]["aae"]["metrics"], b["models"]["aae"]["metrics"]
    assert metrics.keys() == expected.keys()
    for key, values in expected.items():  # downstream of training: its all-reduce rounding
        np.testing.assert_allclose(metrics[key], values, rtol=1e-4, atol=1e-5, err_msg=key)
    _assert_rows_match(_rows(pod / "aae"), _rows(single / "aae"), rel=REDUCTION_ROUNDING)
    assert len(list((pod / "aae" / "tensorboard").iterdir())) == 1
    assert not [f for f in _files(pod) if "tmp" in f], _files(pod)
    print(f"main 2x2 vs 1x4 together: {seconds:.0f}s")


def test_a_process_other_than_zero_writes_only_its_checkpoint_shards(runs, tmp_path, monkeypatch):
    """In-process: with ``jax.process_index()`` patched to 1 for the library, sampling writes
    nothing and training (resumed from step 4) writes no metrics, TensorBoard, JSON or figures:
    only the files of its checkpoint change (orbax writes them as the one process here)."""
    from gae_jax.jobs import sample_and_save, train_and_evaluate

    workdir = _copy_of_trained(runs["pod"], tmp_path / "run")  # written by process 0
    _as_killed_after_step_4(workdir)
    before = snapshot(workdir)

    real_process_index = jax.process_index

    def process_index(*args, **kwargs):
        # Process 1 for the library; orbax, alone here, must stay the primary process (as a
        # non-primary process it would wait for process 0 to commit the checkpoint).
        caller = sys._getframe(1).f_globals.get("__name__", "")
        return 1 if caller.startswith("gae_jax") else real_process_index(*args, **kwargs)

    monkeypatch.setattr(jax, "process_index", process_index)
    sample_and_save(get_config("train"), str(workdir))
    assert snapshot(workdir) == before
    train_and_evaluate(get_config("train"), str(workdir))
    after = snapshot(workdir)
    changed = {f for f in before.keys() | after.keys() if before.get(f) != after.get(f)}
    assert changed and all(f.startswith("checkpoints" + os.sep + "8") for f in changed), changed


@pytest.mark.parametrize(
    "args, message",
    [
        (("localhost:1234", 2, None), "pass all three"),
        ((None, 2, 0), "pass all three"),
        (("localhost:1234", 2, 2), "valid: 0 .. 1"),
        ((None, 0, None), "valid: 1 or more"),
    ],
)
def test_cluster_flags_that_cannot_join_are_refused_before_any_work(args, message):
    from gae_jax import parallel

    with pytest.raises(ValueError, match=message):
        parallel.initialize_cluster(*args)


def test_one_process_is_the_default_without_a_cluster():
    from gae_jax import parallel

    info = parallel.initialize_cluster(num_processes=1)
    assert (info["process"], info["processes"]) == (0, 1)
    assert info["global_devices"] == info["local_devices"]
