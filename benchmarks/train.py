"""DAAE training throughput: gae_jax (jitted) against PyTorch eager and compiled, in one process.

    python -m benchmarks.train [--batch_sizes=64,256] [--steps_per_dispatch=1,8] [--out=PATH]

One training step is paper 001's per-minibatch update of a DAAE on mnist5k (``configs/
daae_mnist5k.py``: encoder 784-1000-1000-10, decoder 10-1000-1000-784, discriminator
10-1000-1000-1 with dropout, Gaussian corruption sigma 0.5, three Adam optimisers): the
reconstruction, discriminator and generator updates, in that order. gae_jax runs the library's
own training step (``build_train_step`` under ``jit_train_steps``, the state donated; see
``common.training_api``), for each ``--matmul_dtypes`` and ``--steps_per_dispatch``; PyTorch
runs ``benchmarks.torch_reference.DAAE`` (float32, and bfloat16 autocast), eager and with its
forward passes under ``torch.compile`` (compile time reported separately; if inductor cannot
compile, the run says why and carries on eagerly). All see the same batches from the same
initial weights. Reports examples per second and ratios ours / eager and ours / compiled,
writes ``--out`` (JSON) and prints Markdown tables.
"""

from __future__ import annotations

import os

import jax
import numpy as np
from absl import app, flags

from benchmarks import common
from configs import daae_mnist5k
from gae_jax import config as config_lib
from gae_jax import data, models

_BATCH_SIZES = flags.DEFINE_list("batch_sizes", ["64", "256"], "batch sizes")
_STEPS = flags.DEFINE_integer("steps", 16, "training steps per timed call")
_DISPATCH = flags.DEFINE_list("steps_per_dispatch", ["1", "8"], "gae_jax steps per call")
_DTYPES = flags.DEFINE_list(
    "matmul_dtypes", list(models.MATMUL_DTYPES), "gae_jax matmul operand dtypes to time"
)
_ROUNDS = flags.DEFINE_integer("rounds", 5, "timing rounds (the median is reported)")
_OPTIMIZER = flags.DEFINE_enum(
    "optimizer", "adam", ["adam", "sgd"], "gae_jax's optimiser (sgd: to profile Adam's share)"
)
_SKIP = flags.DEFINE_list("skip", [], "sections to leave out: torch, compile (torch.compile)")
_COMPILE_MODE = flags.DEFINE_string(
    "torch_compile_mode", "default", "torch.compile mode (default, max-autotune, ...)"
)
_OUT = flags.DEFINE_string(
    "out", "", "JSON output path (default: benchmarks/results/<isa>/train.json)"
)


def experiment_config(batch_size: int, matmul_dtype: str, steps_per_dispatch: int):
    config = daae_mnist5k.get_config()
    config.train.batch_size = batch_size
    config.train.steps_per_dispatch = steps_per_dispatch
    config.model.matmul_dtype = matmul_dtype
    config.train.optimizer = _OPTIMIZER.value
    config.mesh.data = 1
    return config_lib.validate(config)


class Ours:
    """The library's training path for one configuration; ``run(batches)`` trains on
    ``batches: float32[S, B, H, W, C]`` (S a multiple of steps_per_dispatch) and blocks."""

    def __init__(self, cfg: config_lib.ExperimentConfig, image_shape):
        t, lib = cfg.train, common.training_api()
        model = lib.build_model(cfg.model, image_shape)
        tx = lib.make_optimizer(t.optimizer, t.learning_rate, b1=t.b1, b2=t.b2, momentum=t.momentum)
        self.mesh = lib.build_mesh(cfg)
        self.state = lib.init_state(cfg, model, tx, image_shape)
        self.initial_state = jax.tree.map(np.asarray, self.state)  # the PyTorch side's start
        step_fn = lib.build_train_step(cfg.model, model, tx, lib.build_adversary(cfg))
        self.train_steps = lib.jit_train_steps(step_fn, self.mesh)
        self.k = t.steps_per_dispatch
        self.key = jax.random.key(cfg.seed)
        self.metrics = None

    def run(self, batches: np.ndarray) -> None:
        for i in range(0, batches.shape[0], self.k):
            self.state, self.metrics = self.train_steps(
                self.state, batches[i : i + self.k], self.key
            )
        jax.block_until_ready(self.state)


def batch_stack(images: np.ndarray, batch_size: int, num_steps: int, seed: int) -> np.ndarray:
    """float32[num_steps, batch_size, H, W, C]: the loop's first ``num_steps`` batches."""
    order = data.BatchOrder(images.shape[0], batch_size, seed)
    return np.stack([images[order.indices(s)] for s in range(num_steps)])


def benchmark(torch, batch_size: int, images: np.ndarray) -> dict:
    """Examples/s of every gae_jax configuration and PyTorch at one batch size."""
    batches = batch_stack(images, batch_size, _STEPS.value, seed=0)
    fns, ours = {}, {}
    for dtype in _DTYPES.value:
        for k in map(int, _DISPATCH.value):
            if _STEPS.value % k:
                raise ValueError(f"--steps={_STEPS.value} is not a multiple of {k}")
            name = f"ours_{dtype}_k{k}"
            ours[name] = Ours(experiment_config(batch_size, dtype, k), images.shape[1:])
            fns[name] = lambda o=ours[name]: o.run(batches)
    row = {"batch_size": batch_size, "steps_per_call": _STEPS.value}
    if torch is not None:
        from benchmarks import torch_reference

        start = next(iter(ours.values())).initial_state
        flat = torch.from_numpy(batches.reshape(*batches.shape[:2], -1))
        compiled = {}
        for dtype in ("float32", "bfloat16"):
            for mode in ("eager", "compiled"):
                if mode == "compiled" and "compile" in _SKIP.value:
                    continue

                def make(dtype=dtype, mode=mode):
                    daae = torch_reference.DAAE(
                        start.params,
                        start.disc_params,
                        compile_mode=_COMPILE_MODE.value if mode == "compiled" else None,
                    )

                    def run():
                        with torch.autocast(
                            "cpu", dtype=torch.bfloat16, enabled=dtype == "bfloat16"
                        ):
                            for x in flat:
                                daae.step(x)

                    return run

                name = f"torch_{dtype}" if mode == "eager" else f"torch_compiled_{dtype}"
                if mode == "eager":
                    fns[name] = make()
                    continue
                fn, first, error = torch_reference.compile_and_run(make)
                if fn is None:
                    print(
                        f"torch.compile failed ({dtype}, batch {batch_size}), eager only: {error}"
                    )
                    compiled[name] = {"error": error}
                else:
                    fns[name] = fn
                    compiled[name] = {"first_call_seconds": first}
        # The same update from the same weights: first-batch losses agree up to the noise.
        first = torch_reference.DAAE(start.params, start.disc_params).step(flat[0])
        row["first_step_losses_torch"] = {k: v.item() for k, v in first.items()}
        row["torch_compile"] = compiled
    probe = next(iter(ours.values()))
    probe.run(batches[: probe.k])
    row["first_step_losses_ours"] = {
        k: float(probe.metrics[k][0]) for k in ("recon_loss", "disc_loss", "gen_loss")
    }
    seconds = common.time_interleaved(fns, rounds=_ROUNDS.value, min_round_seconds=1.0)
    for name, s in seconds.items():
        row[name] = {"seconds": s, "examples_per_second": batch_size * _STEPS.value / s}
    for name, info in row.get("torch_compile", {}).items():
        if name in seconds:  # compile time: the first call's time beyond a steady call's
            info["compile_seconds"] = max(0.0, info["first_call_seconds"] - seconds[name])
    print(f"batch {batch_size}: " + ", ".join(f"{n} {s * 1e3:.0f} ms" for n, s in seconds.items()))
    return row


def _dtype(name: str) -> str:
    """``ours_bfloat16_k8`` -> ``bfloat16``."""
    return name.split("_")[1]


def speedup(row: dict, name: str, peer: str = "torch") -> float | None:
    """Examples/s of gae_jax configuration ``name`` over a PyTorch reference's (``torch``:
    eager, ``torch_compiled``) at the same matmul dtype; None where it was not timed."""
    other = f"{peer}_{_dtype(name)}"
    return row[other]["seconds"] / row[name]["seconds"] if other in row else None


def _x(ratio: float | None) -> str:
    return "n/a" if ratio is None else f"{ratio:.2f}x"


def report(payload: dict) -> str:
    ours = [n for n in payload["rows"][0] if n.startswith("ours_")]
    has_torch = "torch_float32" in payload["rows"][0]
    has_compiled = any(
        f"torch_compiled_{d}" in r for r in payload["rows"] for d in ("float32", "bfloat16")
    )
    peers = ["torch"] + (["torch_compiled"] if has_compiled else [])
    torch_dtypes = ("float32", "bfloat16")
    headers = ["batch", *(f"ours {n[5:]}" for n in ours)]
    if has_torch:
        headers += [f"PyTorch eager {d}" for d in torch_dtypes]
        if has_compiled:
            headers += [f"PyTorch compiled {d}" for d in torch_dtypes]
        headers += [f"ours {n[5:]} / eager" for n in ours]
        if has_compiled:
            headers += [f"ours {n[5:]} / compiled" for n in ours]
    rows, goals, compile_rows = [], [], []
    for r in payload["rows"]:
        row = [r["batch_size"], *(r[n]["examples_per_second"] for n in ours)]
        if has_torch:
            row += [r[f"torch_{d}"]["examples_per_second"] for d in torch_dtypes]
            if has_compiled:
                row += [
                    r[f"torch_compiled_{d}"]["examples_per_second"]
                    if f"torch_compiled_{d}" in r
                    else "failed"
                    for d in torch_dtypes
                ]
            row += [_x(speedup(r, n)) for n in ours]
            if has_compiled:
                row += [_x(speedup(r, n, "torch_compiled")) for n in ours]
            # issue 15: fp32, best of ours vs the faster of eager and compiled >= 1.2x
            fp32 = [n for n in ours if _dtype(n) == "float32"]
            timed = [p for p in peers if f"{p}_float32" in r]
            if fp32 and timed:
                best = min(fp32, key=lambda n: r[n]["seconds"])
                ratio = min(speedup(r, best, p) for p in timed)
                goals.append(
                    [
                        f"batch {r['batch_size']}, fp32, ours / faster of {' and '.join(timed)} >= 1.2x",
                        f"{ratio:.2f}x ({best[5:]})",
                        "met" if ratio >= 1.2 else "missed",
                    ]
                )
        for name, info in r.get("torch_compile", {}).items():
            compile_rows.append(
                [
                    r["batch_size"],
                    name[len("torch_compiled_") :],
                    info.get("compile_seconds", "n/a"),
                    info.get("error", ""),
                ]
            )
        rows.append(row)
    out = [
        common.header(payload["machine"], payload.get("gemm_peak")),
        "",
        "Examples per second (k = steps per dispatch)",
        "",
        common.markdown_table(headers, rows),
    ]
    if compile_rows:
        out += ["", "torch.compile of the three forward passes + losses, compile time:", ""]
        out.append(common.markdown_table(["batch", "dtype", "compile (s)", "error"], compile_rows))
    if goals:
        out += ["", common.markdown_table(["target", "measured", ""], goals)]
    return "\n".join(out)


def main(argv):
    del argv
    torch = None if "torch" in _SKIP.value else common.import_torch()
    payload = {"machine": common.machine_info(torch)}
    payload["gemm_peak"] = common.measure_peak(torch)
    print(common.header(payload["machine"], payload["gemm_peak"]), flush=True)
    images = data.load_dataset("mnist5k", "train").images
    payload["rows"] = [benchmark(torch, int(b), images) for b in _BATCH_SIZES.value]
    payload["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    print(report(payload))
    common.write_json(_OUT.value or common.results_path("train.json"), payload)


if __name__ == "__main__":
    app.run(main)
