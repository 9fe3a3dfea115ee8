"""The real entry point as a pod launcher runs it: ``python -m experiments.main`` (which trains
with ``train_and_evaluate`` and samples with ``sample_and_save``, as ``experiments.train`` and
``experiments.sample`` do) as 2 processes x 2 forced CPU devices (``jax.distributed`` over
localhost, joined with ``--coordinator_address/--num_processes/--process_id``) gives what 1
process gives, process 0 alone writes the files, and a 2 x 2 checkpoint resumes on 1 x 1.

The tiny AAE trains with ``mesh.topology_exact``: its parameters and training rows must be
bitwise those of the one-device run, and so must its samples; evaluation rows and measures may
differ by the rounding of per-device batches. To keep the wall time down on a small machine,
the 2 x 2 job runs once (module fixture) for every check, and the 1 x 1 reference runs in this
process (which has one CPU device) while the two processes run.
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
from helpers import assert_trees_equal, free_port, snapshot, start_process, trained_params
from tiny_configs import get_config

from gae_jax import config as config_lib

CONFIG = os.path.join("tests", "multidevice", "tiny_configs.py")
MODEL = "aae"  # the job's one model, trained into <workdir>/aae
# Evaluation rows and measures on another number of devices: per-example values computed in
# batches of another size per device may round differently.
PER_DEVICE_BATCH_ROUNDING = 1e-6
TIMEOUT = 900  # seconds for the 2 x 2 job; it takes well under a minute on an idle machine

# The tests share one 2 x 2 job (module fixture): one worker under pytest-xdist runs them.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("entry_points")]


def _launch(workdir) -> list[subprocess.Popen]:
    """Starts ``python -m experiments.main`` as 2 processes with 2 CPU devices each."""
    port = free_port()
    cluster = [f"--coordinator_address=localhost:{port}", "--num_processes=2"]
    return [
        start_process(
            [
                sys.executable,
                "-m",
                "experiments.main",
                f"--config={CONFIG}",
                f"--workdir={workdir}",
                *cluster,
                f"--process_id={i}",
            ],
            devices=2,
        )
        for i in range(2)
    ]


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


def _rows(workdir) -> list[dict]:
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


def _train_rows(workdir) -> list[dict]:
    return [r for r in _rows(workdir) if r["split"] == "train"]


def _samples(workdir) -> dict[str, np.ndarray]:
    with np.load(os.path.join(workdir, "samples", "samples.npz")) as arrays:
        return dict(arrays)


def _files(workdir) -> list[str]:
    return sorted(
        os.path.relpath(os.path.join(d, f), workdir) for d, _, fs in os.walk(workdir) for f in fs
    )


def _model_config():
    """The experiment config the job trains its model with."""
    return config_lib.job_experiment_configs(get_config())[MODEL]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The tiny job as 2 x 2 (two processes) and, meanwhile, as 1 x 1 in this process."""
    from gae_jax.jobs import run_pipeline

    assert len(jax.devices()) == 1
    root = tmp_path_factory.mktemp("entry_points")
    pod, single = root / "pod_2x2", root / "single_1x1"
    t0 = time.perf_counter()
    procs = _launch(pod)
    try:
        run_pipeline(get_config(), str(single))
    except BaseException:
        for p in procs:
            p.kill()
        raise
    outputs = _wait(procs)
    print(f"main 2x2 beside 1x1 in-process: {time.perf_counter() - t0:.0f}s")
    return {"pod": pod, "single": single, "logs": outputs}


def _copy_of_trained(model_dir, to):
    """A copy of the 2 x 2 model's workdir as training left it (its samples removed)."""
    shutil.copytree(model_dir, to, ignore=shutil.ignore_patterns("samples"))
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
    for i, output in enumerate(runs["logs"]):
        assert f"process {i}/2, 2 local / 4 global devices" in output


def test_two_processes_train_as_one(runs):
    pod, single = runs["pod"] / MODEL, runs["single"] / MODEL
    assert [r["step"] for r in _train_rows(pod)] == [4, 8]
    assert _train_rows(pod) == _train_rows(single)  # topology_exact: identical rows
    assert_trees_equal(trained_params(pod), trained_params(single))
    _assert_rows_match(_rows(pod), _rows(single), rel=PER_DEVICE_BATCH_ROUNDING)


def test_two_processes_sample_as_one(runs):
    pod, single = runs["pod"] / MODEL, runs["single"] / MODEL
    a, b = _samples(pod), _samples(single)
    assert sorted(a) == sorted(b) and a["latent_x_step_0"].shape[0] == 30  # 30 chains, 4 devices
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)
    summary = json.loads((pod / "samples" / "sample_summary.json").read_text())
    assert summary["timings"]["latent"]["devices"] == 4
    assert summary["timings"]["latent"]["processes"] == 2


def test_main_job_on_two_processes_matches_one(runs):
    outputs, pod, single = runs["logs"], runs["pod"], runs["single"]
    assert "Report:" in outputs[0] and "Report:" not in outputs[1]  # process 0 prints it
    a = json.loads((pod / "summary.json").read_text())
    b = json.loads((single / "summary.json").read_text())
    assert a["classifier"] == b["classifier"]  # trained by every process alike, no reduction
    got, want = _measures(a), _measures(b)
    assert got.keys() == want.keys()
    for key, values in want.items():  # the same images, measured in batches of other sizes
        np.testing.assert_allclose(got[key], values, rtol=1e-5, atol=1e-6, err_msg=key)


def _measures(summary: dict) -> dict:
    """The job's sample measures of the real data and of the model's chains, by name."""
    real = {f"real data {k}": v for k, v in summary["real_data"].items()}
    return {**real, **summary["models"][MODEL]["metrics"]}


def test_process_zero_alone_writes_the_files(runs):
    pod, single = runs["pod"], runs["single"]
    files = _files(pod)
    assert len([f for f in files if f.startswith(os.path.join(MODEL, "tensorboard", ""))]) == 1
    assert not [f for f in files if "tmp" in f or f.endswith(".lock")], files
    # The same files as the one-process run, apart from each process's checkpoint shards.
    in_checkpoints = lambda f: "checkpoints" in f.split(os.sep)  # noqa: E731
    shards = lambda fs: {f for f in fs if in_checkpoints(f)}  # noqa: E731
    others = lambda fs: {f for f in fs if not in_checkpoints(f) and "tensorboard" not in f}  # noqa: E731
    assert others(files) == others(_files(single))
    assert any("process_1" in f for f in shards(files))  # both processes saved their shards


def test_pod_checkpoint_resumes_on_one_device(runs, tmp_path):
    from gae_jax.jobs import train_and_evaluate

    pod = runs["pod"] / MODEL
    resumed = _copy_of_trained(pod, tmp_path / "resume_1x1")
    _as_killed_after_step_4(resumed)
    train_and_evaluate(_model_config(), str(resumed))
    assert _train_rows(resumed) == _train_rows(pod)  # topology_exact: bitwise the same steps
    _assert_rows_match(_rows(resumed), _rows(pod), rel=PER_DEVICE_BATCH_ROUNDING)
    assert (resumed / "checkpoints" / "8").is_dir()


def test_a_process_other_than_zero_writes_only_its_checkpoint_shards(runs, tmp_path, monkeypatch):
    """In-process: with ``jax.process_index()`` patched to 1 for the library, sampling writes
    nothing and training (resumed from step 4) writes no metrics, TensorBoard, JSON or figures:
    only the files of its checkpoint change (orbax writes them as the one process here)."""
    from gae_jax.jobs import sample_and_save, train_and_evaluate

    workdir = _copy_of_trained(runs["pod"] / MODEL, tmp_path / "run")  # written by process 0
    _as_killed_after_step_4(workdir)
    before = snapshot(workdir)

    real_process_index = jax.process_index

    def process_index(*args, **kwargs):
        # Process 1 for the library; orbax, alone here, must stay the primary process (as a
        # non-primary process it would wait for process 0 to commit the checkpoint).
        caller = sys._getframe(1).f_globals.get("__name__", "")
        return 1 if caller.startswith("gae_jax") else real_process_index(*args, **kwargs)

    monkeypatch.setattr(jax, "process_index", process_index)
    sample_and_save(_model_config(), str(workdir))
    assert snapshot(workdir) == before
    train_and_evaluate(_model_config(), str(workdir))
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
