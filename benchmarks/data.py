"""The input pipeline's throughput and host memory against the train step's appetite.

    python -m benchmarks.data [--celeba_records=1024,4096] [--batch_size=64] [--prefetch=8]
        [--notrain_steps]

Every case runs in a fresh process (its own peak RSS) and streams training batches through
``data.TrainBatches`` onto the device exactly as the training job does, timing only the
pipeline (records/s = batch_size x steps / seconds). Cases:

* ``mnist5k`` and the full Fashion-MNIST (``idx:`` Debian package): in-memory uint8 records,
  one epoch;
* TFDS ``celeb_a`` served by TFDS mock data at its real image size (218x178x3, random pixels,
  per-record generation instead of JPEG decoding), each record centre-cropped and resized to
  64x64 on the host, one epoch of each of two dataset sizes: peak RSS must stay flat.

Next to each, the DAAE train step's consumption rate at that image size (the configs of
``configs/models.py``: the MLP DAAE at 28x28, paper 001's conv DAAE for CelebA at 64x64), timed
on a device-resident batch; the data share of a training step is pipeline time / (pipeline +
step) time per batch when both share the host's cores.

Prints a table and writes ``benchmarks/results/<isa>/data.json``.
"""

from __future__ import annotations

import json
import os
import sys
import time

from absl import app, flags

from benchmarks import common

FASHION = "idx:/usr/share/datasets/fashion-mnist"
_CELEBA_RECORDS = flags.DEFINE_list(
    "celeba_records", ["1024", "4096"], "mock CelebA dataset sizes (records)"
)
_BATCH = flags.DEFINE_integer("batch_size", 64, "training batch size")
_PREFETCH = flags.DEFINE_integer("prefetch", 8, "steps read ahead by the pipeline")
_THREADS = flags.DEFINE_integer("threads", 0, "reader threads (0: the pipeline's default)")
_MAX_STEPS = flags.DEFINE_integer("max_steps", 200, "cap on the streamed steps of a case")
_STEP_REPEATS = flags.DEFINE_integer("step_repeats", 3, "timed train steps per configuration")
_STEPS = flags.DEFINE_bool(
    "train_steps",
    True,
    "also time the DAAE train steps (the data share); --notrain_steps: pipelines only",
)
_CASE = flags.DEFINE_string("case", None, "internal: run one case in this process")
_OUT = flags.DEFINE_string("out", None, "where to write the JSON (default: benchmarks/results)")


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _pipeline_case(name: str, records: int | None) -> dict:
    """Streams one epoch (at most --max_steps) of ``name``; records: mock CelebA size."""
    import contextlib

    import jax
    import numpy as np
    from jax.sharding import Mesh

    from gae_jax import data

    jax.devices()  # the runtime's own memory belongs to the baseline
    mock = contextlib.nullcontext()
    if records is not None:
        import tensorflow_datasets as tfds

        mock = tfds.testing.mock_data(num_examples=records)
    with mock:
        before = _rss_mb()
        source = data.open_source(name, "train")
        loaded = _rss_mb()
        batch = _BATCH.value
        order = data.BatchOrder(len(source), batch, seed=0)
        steps = min(order.steps_per_epoch, _MAX_STEPS.value)
        mesh = Mesh(np.asarray(jax.devices()[:1]), ("data",))
        threads = _THREADS.value or None
        stream = data.TrainBatches(
            source, order, mesh, 0, steps, prefetch=_PREFETCH.value, num_threads=threads
        )
        jax.block_until_ready(stream.take(1))  # threads started, first batch placed
        t0 = time.perf_counter()
        for _ in range(steps - 1):
            jax.block_until_ready(stream.take(1))
        seconds = time.perf_counter() - t0
    record_bytes = int(np.prod(source.image_shape)) * source.dtype.itemsize
    return {
        "case": name if records is None else f"{name} (mock, {records} records)",
        "records": len(source),
        "image_shape": list(source.image_shape),
        "record_bytes": record_bytes,
        "streamed_records": (steps - 1) * batch,
        "records_per_second": (steps - 1) * batch / seconds,
        "seconds_per_batch": seconds / (steps - 1),
        "baseline_rss_mb": before,
        "rss_after_open_mb": loaded,
        "peak_rss_mb": common.peak_rss_mb(),
        "prefetch_steps": _PREFETCH.value,
        "prefetch_bytes": _PREFETCH.value * batch * record_bytes,
    }


def _step_case(variant: str) -> dict:
    """The DAAE train step's consumption rate, ``configs/models.py:VARIANT``, batch on device."""
    import jax
    import numpy as np

    run = common.config_train_step(variant)
    train_steps, state, batch, key, cfg = run.train_steps, run.state, run.batch, run.key, run.cfg
    state, _ = jax.block_until_ready(train_steps(state, batch, key))  # compile
    times = []
    for _ in range(_STEP_REPEATS.value):
        t0 = time.perf_counter()
        state, _ = jax.block_until_ready(train_steps(state, batch, key))
        times.append(time.perf_counter() - t0)
    seconds = float(np.median(times))
    return {
        "case": variant,
        "architecture": cfg.model.architecture,
        "image_shape": list(run.image_shape),
        "batch_size": cfg.train.batch_size,
        "seconds_per_step": seconds,
        "records_per_second": cfg.train.batch_size / seconds,
    }


def _run_case(case: str) -> dict:
    kind, _, arg = case.partition(":")
    if kind == "pipeline":
        name, _, records = arg.partition("@")
        return _pipeline_case(name, int(records) if records else None)
    return _step_case(arg)


def _flags() -> list[str]:
    return [
        f"--batch_size={_BATCH.value}",
        f"--prefetch={_PREFETCH.value}",
        f"--threads={_THREADS.value}",
        f"--max_steps={_MAX_STEPS.value}",
        f"--step_repeats={_STEP_REPEATS.value}",
    ]


def main(argv):
    del argv
    if _CASE.value:
        print(json.dumps(_run_case(_CASE.value)))
        return
    celeba = [int(n) for n in _CELEBA_RECORDS.value]
    pipelines = [("mnist5k", None), (FASHION, None)] + [("tfds:celeb_a", n) for n in celeba]
    # The MLP DAAE at 28x28 (mnist5k and Fashion-MNIST alike), paper 001's conv DAAE at 64x64.
    steps = {"mnist5k": "daae,fashion", FASHION: "daae,fashion", "tfds:celeb_a": "daae,celeba"}
    rows, results = [], {"pipeline": [], "train_step": {}}
    for variant in ["daae,fashion", "daae_conv,fashion", "daae,celeba"] if _STEPS.value else []:
        print(f"timing the train step of {variant} ...", file=sys.stderr)
        results["train_step"][variant] = common.run_child(
            "benchmarks.data", [f"--case=step:{variant}", *_flags()]
        )
    for name, records in pipelines:
        print(f"streaming {name} {records or ''} ...", file=sys.stderr)
        case = f"pipeline:{name}" + (f"@{records}" if records else "")
        result = common.run_child("benchmarks.data", [f"--case={case}", *_flags()])
        step = results["train_step"].get(steps[name])
        if step is not None:
            result["train_step"] = steps[name]
            per_batch = _BATCH.value / step["records_per_second"]
            result["data_share_of_step"] = result["seconds_per_batch"] / (
                result["seconds_per_batch"] + per_batch
            )
        results["pipeline"].append(result)
        rows.append(
            [
                result["case"],
                result["records"],
                "x".join(map(str, result["image_shape"])),
                result["records_per_second"],
                step["records_per_second"] if step else "-",
                f"{100 * result['data_share_of_step']:.1f}%" if step else "-",
                result["baseline_rss_mb"],
                result["rss_after_open_mb"] - result["baseline_rss_mb"],
                result["peak_rss_mb"],
                result["peak_rss_mb"] - result["rss_after_open_mb"],
            ]
        )
    headers = [
        "dataset",
        "records",
        "record",
        "pipeline records/s",
        "DAAE step records/s",
        "data share",
        "baseline RSS MiB",
        "+ open MiB",
        "peak RSS MiB",
        "peak - open MiB",
    ]
    machine = common.machine_info()
    print(common.header(machine))
    print(common.markdown_table(headers, rows))
    for variant, step in results["train_step"].items():
        print(
            f"train step {variant} ({step['architecture']}, {'x'.join(map(str, step['image_shape']))}"
            f", batch {step['batch_size']}): {step['seconds_per_step'] * 1000:.1f} ms, "
            f"{step['records_per_second']:.0f} records/s"
        )
    mock = [r for r in results["pipeline"] if "mock" in r["case"]]
    if len(mock) >= 2:
        small, large = mock[0], mock[-1]
        growth = large["peak_rss_mb"] / small["peak_rss_mb"] - 1
        results["celeba_peak_rss_growth"] = growth
        print(
            f"CelebA-sized records: {large['records'] / small['records']:.0f}x the records, peak "
            f"RSS {small['peak_rss_mb']:.0f} -> {large['peak_rss_mb']:.0f} MiB "
            f"({100 * growth:+.1f}%); prefetch holds {large['prefetch_bytes'] / 2**20:.1f} MiB"
        )
    results["machine"] = machine
    results["settings"] = {"batch_size": _BATCH.value, "prefetch": _PREFETCH.value}
    common.write_json(_OUT.value or common.results_path("data.json"), results)


if __name__ == "__main__":
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    app.run(main)
