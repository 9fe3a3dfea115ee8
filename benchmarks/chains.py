"""Denoising latent chain throughput: gae_jax (jitted) against PyTorch eager and compiled.

    python -m benchmarks.chains [--chains=1,64,1024,8192] [--steps=10] [--out=PATH]

The chain is paper 000 eq. 2 on the paper-001 MNIST networks (encoder 784-1000-1000-10, decoder
10-1000-1000-784, ReLU, sigmoid outputs): decode -> sigmoid -> add N(0, 0.5^2) -> encode, every
chain recording per-step summaries (mean code norm, mean code change, fraction finite). Reports:

* chain-steps per second for each number of chains (``--chains``) x ``--steps`` steps, for
  gae_jax with each ``--matmul_dtypes`` and PyTorch (float32, and bfloat16 autocast), eager
  and with its chain step under ``torch.compile`` (compile time reported apart; a failed
  compilation is reported and the run carries on eagerly), with ratios ours / eager and ours /
  compiled;
* achieved GFLOP/s (the networks' matmul FLOPs) against the fp32 matmul peak measured in the
  same run (best of NumPy, XLA and PyTorch on a 2048^3 product);
* peak RSS of ``--memory_chains`` chains x each of ``--memory_steps`` steps, each in a fresh
  process, keeping the per-step summaries only;
* chain throughput with the chain axis sharded over 1, 2 and 4 forced host devices;
* chain-axis tiling (``config.sampler.chain_tile_size``): gae_jax float32 at each of
  ``--tiling_chains`` untiled, with the automatic tile and with each of ``--tile_sizes``
  (``--tiling_steps`` steps per call), the measurement behind
  ``gae_jax.hardware.auto_chain_tile_size``.

gae_jax rows use the library's defaults, the automatic chain tile included.

Records the CPU's machine type (ISA) and the run's fp32 and bf16 GEMM peak, writes everything
to ``--out`` (default ``benchmarks/results/<isa>/chains.json``) and prints Markdown tables.
"""

from __future__ import annotations

import functools
import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from benchmarks import common
from gae_jax import corruption, models, parallel, samplers

IMAGE_SHAPE = (28, 28, 1)
LATENT_DIM = 10
SIGMA = 0.5  # the papers' corruption N(x, 0.25 I)

_CHAINS = flags.DEFINE_list("chains", ["1", "64", "1024", "8192"], "numbers of chains")
_STEPS = flags.DEFINE_integer("steps", 10, "chain steps per timed call")
_DTYPES = flags.DEFINE_list(
    "matmul_dtypes", list(models.MATMUL_DTYPES), "gae_jax matmul operand dtypes to time"
)
_ROUNDS = flags.DEFINE_integer("rounds", 5, "timing rounds (the median is reported)")
_DEVICES = flags.DEFINE_list("devices", ["1", "2", "4"], "forced host device counts")
_DEVICE_CHAINS = flags.DEFINE_list("device_chains", ["1024", "8192"], "chains per device run")
_MEMORY_CHAINS = flags.DEFINE_integer("memory_chains", 8192, "chains of the memory runs")
_MEMORY_STEPS = flags.DEFINE_list("memory_steps", ["100", "1000"], "steps of the memory runs")
_MEMORY_DTYPE = flags.DEFINE_enum(
    "memory_matmul_dtype", "bfloat16", list(models.MATMUL_DTYPES), "dtype of the memory runs"
)
_SKIP = flags.DEFINE_list(
    "skip", [], "sections to leave out: torch, compile (torch.compile), memory, devices, tiling"
)
_COMPILE_MODE = flags.DEFINE_string(
    "torch_compile_mode", "default", "torch.compile mode (default, max-autotune, ...)"
)
_OUT = flags.DEFINE_string(
    "out", "", "JSON output path (default: benchmarks/results/<isa>/chains.json)"
)
_TILING_CHAINS = flags.DEFINE_list(
    "tiling_chains", ["1", "64", "1024", "8192", "65536"], "chain counts of the tiling section"
)
_TILE_SIZES = flags.DEFINE_list(
    "tile_sizes", ["256", "512", "1024", "2048", "4096"], "chain tiles timed beside auto"
)
_TILING_STEPS = flags.DEFINE_integer("tiling_steps", 2, "chain steps per call, tiling section")
# Internal: a child process measuring one configuration ("memory" or "devices").
_CHILD = flags.DEFINE_string("child", "", "internal")
_CHILD_DTYPE = flags.DEFINE_string("child_matmul_dtype", "float32", "internal")


def build(matmul_dtype: str):
    """The benchmarked autoencoder and its variables (the same for every dtype)."""
    model = models.build_autoencoder(
        architecture="mlp",
        image_shape=IMAGE_SHAPE,
        latent_dim=LATENT_DIM,
        matmul_dtype=matmul_dtype,
    )
    keys = {"params": jax.random.key(0), "latent": jax.random.key(1)}
    variables = jax.jit(lambda k: model.init(k, jnp.zeros((1, *IMAGE_SHAPE))))(keys)
    return model, {"params": variables["params"], "batch_stats": {}}


def per_step_summary(state, info) -> dict:
    """What a long run keeps per step: float32[] means over the chains."""
    del state
    return {
        "z_norm": info.z_norm.mean(),
        "z_change": info.z_change.mean(),
        "finite": info.is_finite.mean(),
    }


def chain_runner(model, num_steps: int, chain_tile_size: int | None = 0):
    """``run(key, variables, z0: float32[chains, D]) -> (z, summaries)``, jitted; the networks
    run over tiles of ``chain_tile_size`` chains (0: automatic, None: untiled)."""
    fns = common.autoencoder_fns(model, chain_tile_size)
    noise = corruption.make_corruption("gaussian", SIGMA)

    def run(key, variables, z0):
        kernel = samplers.denoising_latent_chain(fns.decode_mean, fns.sample_code, variables, noise)
        final, trace = samplers.sample_chains(
            key, kernel, kernel.init(z0), num_steps, transform=per_step_summary
        )
        return final.z, trace

    return jax.jit(run)


def chain_flops(params, num_chains: int, num_steps: int) -> int:
    """Matmul FLOPs of a run: ``num_steps`` encodings and ``num_steps + 1`` decodings."""
    enc, dec = common.dense_flops(params["encoder"]), common.dense_flops(params["decoder"])
    return num_chains * (num_steps * enc + (num_steps + 1) * dec)


def initial_codes(num_chains: int) -> jax.Array:
    return jax.random.normal(jax.random.key(2), (num_chains, LATENT_DIM))


def check_networks(torch, variables, dtypes) -> dict:
    """Max |difference| of decoded images: PyTorch vs gae_jax float32 (same networks, so
    rounding only), and each other gae_jax dtype vs float32 (the cost of bf16 operands)."""
    z = initial_codes(64)
    decoded = {}
    for dtype in dtypes:
        model, _ = build(dtype)
        decoded[dtype] = np.asarray(
            jax.jit(common.autoencoder_fns(model).decode_mean)(variables, z)
        )
    out = {
        f"{d}_vs_float32": float(np.abs(decoded[d] - decoded["float32"]).max())
        for d in dtypes
        if d != "float32"
    }
    if torch is not None:
        from benchmarks import torch_reference

        net = torch_reference.Autoencoder(variables["params"])
        with torch.no_grad():
            x = torch.sigmoid(net.decoder(torch.from_numpy(np.array(z)))).numpy()
        out["torch_vs_float32"] = float(
            np.abs(x.reshape(decoded["float32"].shape) - decoded["float32"]).max()
        )
    return out


def torch_chain_fns(torch, net, z0: jax.Array, num_steps: int) -> tuple[dict, dict]:
    """The PyTorch chain from ``z0`` in float32 and under bfloat16 autocast, eager and (unless
    ``--skip=compile``) under ``torch.compile``.

    Returns:
      ``(fns, compiled)``: the thunks to time by name (``torch_{dtype}`` eager,
      ``torch_compiled_{dtype}``), and per compiled name ``{"first_call_seconds"}`` or
      ``{"error"}`` when inductor could not compile it (then only eager is timed).
    """
    from benchmarks import torch_reference

    z = torch.from_numpy(np.array(z0))

    def run(dtype, step=torch_reference.chain_step):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == "bfloat16"):
            return torch_reference.denoising_latent_chain(net, z, num_steps, SIGMA, step)

    fns, compiled = {}, {}
    for dtype in ("float32", "bfloat16"):
        fns[f"torch_{dtype}"] = functools.partial(run, dtype)
        if "compile" in _SKIP.value:
            continue
        step = torch_reference.compile_fn(torch_reference.chain_step, _COMPILE_MODE.value)
        name = f"torch_compiled_{dtype}"
        fn, seconds, error = torch_reference.compile_and_run(
            lambda dtype=dtype, step=step: functools.partial(run, dtype, step)
        )
        if fn is None:
            print(f"torch.compile failed ({dtype}, {z.shape[0]} chains), eager only: {error}")
            compiled[name] = {"error": error}
        else:
            fns[name] = fn
            compiled[name] = {"first_call_seconds": seconds}
    return fns, compiled


def throughput(torch) -> list[dict]:
    """One row per number of chains: chain-steps/s and GFLOP/s of every implementation.

    The fp32 matmul peak is measured in every row, taking turns with the chains, so that the
    fraction of it a row reaches is not skewed by a change of machine load between rows.
    """
    steps = _STEPS.value
    runs = {dtype: chain_runner(build(dtype)[0], steps) for dtype in _DTYPES.value}
    _, variables = build("float32")
    key = jax.random.key(3)
    if torch is not None:
        from benchmarks import torch_reference

        net = torch_reference.Autoencoder(variables["params"])
    peak_fns = common.matmul_peak_fns(torch)
    rows = []
    for num_chains in map(int, _CHAINS.value):
        z0 = initial_codes(num_chains)
        fns = {
            f"ours_{dtype}": common.blocking(run, key, variables, z0) for dtype, run in runs.items()
        }
        compiled = {}
        if torch is not None:
            torch_fns, compiled = torch_chain_fns(torch, net, z0, steps)
            fns.update(torch_fns)
        seconds = common.time_interleaved({**fns, **peak_fns}, rounds=_ROUNDS.value)
        flops = chain_flops(variables["params"], num_chains, steps)
        row = {"chains": num_chains, "steps": steps, "gflop_per_call": flops / 1e9}
        for name, info in compiled.items():
            if name in seconds:  # compile time: the first call's time beyond a steady call's
                info["compile_seconds"] = max(0.0, info["first_call_seconds"] - seconds[name])
        row["torch_compile"] = compiled
        row["matmul_peak"] = common.matmul_peak(seconds)
        peak = row["matmul_peak"]["peak"]
        for name in fns:
            s = seconds[name]
            row[name] = {
                "seconds": s,
                "chain_steps_per_second": num_chains * steps / s,
                "gflops": flops / s / 1e9,
                "fraction_of_fp32_peak": flops / s / 1e9 / peak,
            }
        rows.append(row)
        times = ", ".join(f"{n} {seconds[n] * 1e3:.1f} ms" for n in fns)
        times += f"; fp32 matmul peak {peak:.0f} GFLOP/s"
        print(f"{num_chains} chains: {times}")
    return rows


def tiling() -> list[dict]:
    """One row per ``--tiling_chains``: chain-steps/s of gae_jax float32 untiled, with the
    automatic tile and with each ``--tile_sizes`` tile below the chain count, interleaved."""
    from gae_jax import hardware

    model, variables = build("float32")
    steps, key, rows = _TILING_STEPS.value, jax.random.key(3), []
    for num_chains in map(int, _TILING_CHAINS.value):
        z0 = initial_codes(num_chains)
        tiles = {"untiled": None, "auto": 0}
        tiles.update({t: int(t) for t in _TILE_SIZES.value if int(t) < num_chains})
        fns = {
            name: common.blocking(chain_runner(model, steps, tile), key, variables, z0)
            for name, tile in tiles.items()
        }
        finals = {name: np.asarray(fn()[0]) for name, fn in fns.items()}
        seconds = common.time_interleaved(fns, rounds=_ROUNDS.value)
        flops = chain_flops(variables["params"], num_chains, steps)
        row = {
            "chains": num_chains,
            "steps": steps,
            "auto_tile": hardware.auto_chain_tile_size(num_chains),
            "bitwise_equal_to_untiled": {
                n: bool(np.array_equal(f, finals["untiled"])) for n, f in finals.items()
            },
        }
        for name in fns:
            row[f"tile_{name}"] = {
                "seconds": seconds[name],
                "chain_steps_per_second": num_chains * steps / seconds[name],
                "gflops": flops / seconds[name] / 1e9,
                "vs_untiled": seconds["untiled"] / seconds[name],
            }
        rows.append(row)
        best = max(fns, key=lambda n: row[f"tile_{n}"]["vs_untiled"])
        print(
            f"tiling, {num_chains} chains: auto {row['tile_auto']['vs_untiled']:.2f}x untiled, "
            f"best {best} {row[f'tile_{best}']['vs_untiled']:.2f}x",
            flush=True,
        )
    return rows


def memory_child() -> dict:
    """Peak RSS of one run of ``--memory_chains`` chains x ``--steps`` steps (a fresh process)."""
    model, variables = build(_CHILD_DTYPE.value)
    run = chain_runner(model, _STEPS.value)
    z0 = initial_codes(_MEMORY_CHAINS.value)
    key = jax.random.key(3)
    compiled = run.lower(key, variables, z0).compile()
    after_compile = common.peak_rss_mb()
    # Compilation has its own peak; the high-water mark of the run alone is what grows with
    # the number of steps if anything is kept per step.
    reset = common.reset_peak_rss()
    t0 = time.perf_counter()
    _, trace = jax.block_until_ready(compiled(key, variables, z0))
    seconds = time.perf_counter() - t0
    assert trace["finite"].shape == (_STEPS.value,)
    return {
        "chains": _MEMORY_CHAINS.value,
        "steps": _STEPS.value,
        "matmul_dtype": _CHILD_DTYPE.value,
        "peak_rss_after_compile_mb": after_compile,
        "peak_rss_mb": common.peak_rss_mb(),
        "run_peak_rss_mb": common.rss_high_water_mb() if reset else None,
        "run_seconds": seconds,
        "all_finite": bool(np.all(np.asarray(trace["finite"]) == 1.0)),
    }


def devices_child() -> dict:
    """Chain-steps/s with the chain axis sharded over all (forced) devices of this process."""
    model, variables = build(_CHILD_DTYPE.value)
    run = chain_runner(model, _STEPS.value)
    mesh = parallel.make_mesh()
    key, variables = parallel.replicate((jax.random.key(3), variables), mesh)
    fns = {}
    for num_chains in map(int, _DEVICE_CHAINS.value):
        z0 = parallel.shard_leading_axis(initial_codes(num_chains), mesh)
        fns[str(num_chains)] = common.blocking(run, key, variables, z0)
    seconds = common.time_interleaved(fns, rounds=_ROUNDS.value)
    return {
        "devices": len(jax.devices()),
        "matmul_dtype": _CHILD_DTYPE.value,
        "chain_steps_per_second": {n: int(n) * _STEPS.value / s for n, s in seconds.items()},
    }


def memory(dtype: str) -> list[dict]:
    rows = []
    for steps in map(int, _MEMORY_STEPS.value):
        args = [
            "--child=memory",
            f"--steps={steps}",
            f"--memory_chains={_MEMORY_CHAINS.value}",
            f"--child_matmul_dtype={dtype}",
        ]
        rows.append(common.run_child("benchmarks.chains", args))
        print(f"memory, {steps} steps: peak RSS {rows[-1]['peak_rss_mb']:.0f} MiB")
    return rows


def scaling(dtype: str) -> list[dict]:
    rows = []
    for devices in map(int, _DEVICES.value):
        args = [
            "--child=devices",
            f"--steps={_STEPS.value}",
            f"--device_chains={','.join(_DEVICE_CHAINS.value)}",
            f"--rounds={_ROUNDS.value}",
            f"--child_matmul_dtype={dtype}",
        ]
        rows.append(common.run_child("benchmarks.chains", args, devices=devices))
        print(f"{devices} devices: {rows[-1]['chain_steps_per_second']}")
    return rows


def speedup(row: dict, dtype: str, peer: str = "torch") -> float | None:
    """Ours / a PyTorch reference (``torch``: eager, ``torch_compiled``), chain-steps per
    second at the same matmul dtype; None where that reference was not timed."""
    if f"{peer}_{dtype}" not in row or f"ours_{dtype}" not in row:
        return None
    return row[f"{peer}_{dtype}"]["seconds"] / row[f"ours_{dtype}"]["seconds"]


def _x(ratio: float | None) -> str:
    return "n/a" if ratio is None else f"{ratio:.2f}x"


def targets(payload: dict) -> list[list]:
    """Rows ``[target, measured, met]`` of issue 15's chain targets and the memory target."""
    rows = []
    for r in payload["throughput"]:
        n = r["chains"]
        peers = [p for p in ("torch", "torch_compiled") if f"{p}_float32" in r]
        if n == 1 and "torch_float32" in r:
            ratio = speedup(r, "float32")
            met = "met" if ratio >= 1.5 else "missed"
            rows.append(["1 chain, fp32, ours / PyTorch eager >= 1.5x", _x(ratio), met])
        if n >= 64 and peers:
            ratio = min(speedup(r, "float32", p) for p in peers)
            met = "met" if ratio >= 1.05 else "missed"
            what = f"{n} chains, fp32, ours / faster of {' and '.join(peers)} >= 1.05x"
            rows.append([what, _x(ratio), met])
        if n >= 1024 and "ours_float32" in r:
            frac = r["ours_float32"]["fraction_of_fp32_peak"]
            met = "met" if frac >= 0.85 else "missed"
            rows.append([f"{n} chains, fp32, >= 85% of fp32 GEMM peak", f"{100 * frac:.0f}%", met])
        theirs = [
            k for k in r if k.startswith("torch_") and isinstance(r[k], dict) and "seconds" in r[k]
        ]
        ours = [k for k in r if k.startswith("ours_")]
        if theirs and ours:
            best_ours = min(ours, key=lambda k: r[k]["seconds"])
            best_theirs = min(theirs, key=lambda k: r[k]["seconds"])
            ratio = r[best_theirs]["seconds"] / r[best_ours]["seconds"]
            met = "met" if ratio >= 1.1 else "missed"
            rows.append(
                [
                    f"{n} chains, best of ours / best of PyTorch >= 1.1x",
                    f"{ratio:.2f}x ({best_ours[5:]} vs {best_theirs[6:]})",
                    met,
                ]
            )
    mem = payload.get("memory")
    if mem:
        key = "run_peak_rss_mb" if mem[0].get("run_peak_rss_mb") else "peak_rss_mb"
        growth = mem[-1][key] / mem[0][key] - 1
        met = "met" if growth <= 0.1 else "missed"
        what = f"{mem[-1]['chains']} chains, RSS at {mem[-1]['steps']} steps within 10% of {mem[0]['steps']}"
        rows.append([what, f"{100 * growth:+.1f}%", met])
    return rows


def report(payload: dict) -> str:
    """The Markdown tables of a result payload."""
    dtypes = payload["matmul_dtypes"]
    rows0 = payload["throughput"]
    has_torch = payload["machine"]["torch"] is not None
    has_compiled = any(f"torch_compiled_{d}" in r for r in rows0 for d in ("float32", "bfloat16"))
    torch_dtypes = ("float32", "bfloat16")
    headers = ["chains x steps", *(f"ours {d}" for d in dtypes)]
    if has_torch:
        headers += [f"PyTorch eager {d}" for d in torch_dtypes]
        if has_compiled:
            headers += [f"PyTorch compiled {d}" for d in torch_dtypes]
        headers += [f"ours / eager, {d}" for d in dtypes]
        if has_compiled:
            headers += [f"ours / compiled, {d}" for d in dtypes]
    headers += [f"ours {d} GFLOP/s (% of fp32 peak)" for d in dtypes]
    headers += ["fp32 / bf16 GEMM peak GFLOP/s"]
    rows = []
    for r in rows0:
        row = [f"{r['chains']} x {r['steps']}"]
        row += [r[f"ours_{d}"]["chain_steps_per_second"] for d in dtypes]
        if has_torch:
            row += [r[f"torch_{d}"]["chain_steps_per_second"] for d in torch_dtypes]
            if has_compiled:
                row += [
                    r[f"torch_compiled_{d}"]["chain_steps_per_second"]
                    if f"torch_compiled_{d}" in r
                    else "failed"
                    for d in torch_dtypes
                ]
            row += [_x(speedup(r, d)) for d in dtypes]
            if has_compiled:
                row += [_x(speedup(r, d, "torch_compiled")) for d in dtypes]
        for d in dtypes:
            ours = r[f"ours_{d}"]
            row.append(f"{ours['gflops']:.0f} ({100 * ours['fraction_of_fp32_peak']:.0f}%)")
        peak = r["matmul_peak"]
        row.append(f"{peak['peak']:.0f} ({peak['peak_by']}) / {peak.get('peak_bfloat16', 0):.0f}")
        rows.append(row)
    out = [
        common.header(payload["machine"], payload.get("gemm_peak")),
        "",
        "Chain-steps per second; the per-row fp32 peak is the best of NumPy, XLA and PyTorch on a "
        f"{common.PEAK_N}^3 product (bf16: XLA's), timed in turns with each row",
        "",
        common.markdown_table(headers, rows),
    ]
    compile_rows = [
        [
            r["chains"],
            name[len("torch_compiled_") :],
            info.get("compile_seconds", "n/a"),
            info.get("error", ""),
        ]
        for r in rows0
        for name, info in r.get("torch_compile", {}).items()
    ]
    if compile_rows:
        out += [
            "",
            "torch.compile (inductor) of one chain step, compile time (first call minus a run):",
            "",
        ]
        out.append(common.markdown_table(["chains", "dtype", "compile (s)", "error"], compile_rows))
    if payload.get("memory"):
        out += ["", "Memory (each run in a fresh process):", ""]
        out.append(
            common.markdown_table(
                [
                    "chains x steps",
                    "peak RSS of the run (MiB)",
                    "peak RSS of the process (MiB)",
                    "of which by compilation (MiB)",
                    "run (s)",
                ],
                [
                    [
                        f"{m['chains']} x {m['steps']}",
                        m.get("run_peak_rss_mb") or "n/a",
                        m["peak_rss_mb"],
                        m["peak_rss_after_compile_mb"],
                        m["run_seconds"],
                    ]
                    for m in payload["memory"]
                ],
            )
        )
    if payload.get("tiling"):
        rows0 = payload["tiling"]
        names = sorted(
            {k[5:] for r in rows0 for k in r if k.startswith("tile_")} - {"untiled", "auto"},
            key=int,
        )
        out += [
            "",
            f"Chain-axis tiling, float32, {rows0[0]['steps']} steps per call: chain-steps per "
            "second untiled, and each tile's speed-up over untiled (auto: the library's "
            "default; = marks samples bitwise equal to the untiled run's):",
            "",
        ]

        def cell(r, name):
            if f"tile_{name}" not in r:
                return "-"
            eq = "=" if r["bitwise_equal_to_untiled"][name] else " (differs)"
            return f"{r[f'tile_{name}']['vs_untiled']:.2f}x{eq}"

        out.append(
            common.markdown_table(
                ["chains", "untiled", "auto tile", "auto", *(f"tile {n}" for n in names)],
                [
                    [
                        r["chains"],
                        r["tile_untiled"]["chain_steps_per_second"],
                        r["auto_tile"] or "untiled",
                        cell(r, "auto"),
                        *(cell(r, n) for n in names),
                    ]
                    for r in rows0
                ],
            )
        )
    if payload.get("devices"):
        dev = payload["devices"]
        chains = list(dev[0]["chain_steps_per_second"])
        out += ["", "Chain-steps per second, chain axis sharded over forced host devices:", ""]
        out.append(
            common.markdown_table(
                ["devices", *(f"{n} chains" for n in chains)],
                [[d["devices"], *(d["chain_steps_per_second"][n] for n in chains)] for d in dev],
            )
        )
    out += ["", common.markdown_table(["target", "measured", ""], targets(payload))]
    return "\n".join(out)


def main(argv):
    del argv
    if _CHILD.value:
        print(json.dumps({"memory": memory_child, "devices": devices_child}[_CHILD.value]()))
        return
    torch = None if "torch" in _SKIP.value else common.import_torch()
    payload = {"machine": common.machine_info(torch), "matmul_dtypes": _DTYPES.value}
    payload["gemm_peak"] = common.measure_peak(torch)
    print(common.header(payload["machine"], payload["gemm_peak"]), flush=True)
    _, variables = build("float32")
    payload["network_check"] = check_networks(torch, variables, _DTYPES.value)
    payload["throughput"] = throughput(torch)
    if "memory" not in _SKIP.value:
        payload["memory"] = memory(_MEMORY_DTYPE.value)
    if "devices" not in _SKIP.value:
        payload["devices"] = scaling("float32")
    if "tiling" not in _SKIP.value:
        payload["tiling"] = tiling()
    payload["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    print(report(payload))
    common.write_json(_OUT.value or common.results_path("chains.json"), payload)


if __name__ == "__main__":
    app.run(main)
