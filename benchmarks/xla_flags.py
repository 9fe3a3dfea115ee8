"""What XLA's CPU backend offers for the networks' matmuls: XLA_FLAGS, layouts, fused epilogues.

    python -m benchmarks.xla_flags [--variants=default,eigen,...] [--process_rounds=2] [--out=PATH]

Each variant is a set of ``XLA_FLAGS`` (read once, when the backend starts), so each runs in a
fresh process. In it, the matmuls of ``common.GEMM_SHAPES`` (and the ``--peak_n`` square peak product) are
timed in several forms, interleaved (``common.time_interleaved``):

* ``dot``: ``a[M, K] @ w[K, N]`` (the Flax layout);
* ``dot_wT``: ``a @ w_t.T`` with ``w_t[N, K]`` (PyTorch's ``nn.Linear`` weight layout);
* ``dot_aT``: ``a_t.T @ w`` with ``a_t[K, M]`` (the weight gradient ``x^T g``, weight shapes);
* ``dot_bias_relu``: ``relu(a @ w + b)`` (GFLOP/s of the product alone: what the epilogue
  costs, and whether a flag fuses it into the GEMM);
* ``bf16``: bfloat16 operands, float32 accumulation;

together with NumPy's float32 peak product (``--peak_n``), which no XLA flag touches: every variant's
GFLOP/s is also divided by it, so that the machine load of the moment cancels in the ratio
"vs default". The variants take turns process by process for ``--process_rounds`` rounds
(medians reported). The child also records which library fusions the compiled HLO contains
(``__ynn_fusion``, ``__xnn_fusion``, ``__onednn_fusion``), to show a flag took effect, and the
largest error against NumPy.

Flags of jaxlib 0.10.2 (``XLA_FLAGS=--xla_cpu_experimental_xnn_graph_fusion_mode=x python -c
"import jax; jax.devices()"`` prints them all): dots go to YNNPACK by default
(``--xla_cpu_experimental_ynn_fusion_type`` empty = the default list, which holds
``individual_dot``; any explicit list replaces it, and an empty string gives Eigen's dot);
``--xla_cpu_experimental_xnn_fusion_type`` / ``--xla_cpu_experimental_xnn_graph_fusion_mode``
(XNNPACK), ``--xla_cpu_use_onednn`` with ``--xla_cpu_experimental_onednn_fusion_type`` (oneDNN
matmul thunks, bias fused), ``--xla_cpu_enable_fast_math``, ``--xla_cpu_prefer_vector_width``,
``--xla_cpu_max_isa``; ``--xla_cpu_use_thunk_runtime`` is deprecated and ignored.
"""

from __future__ import annotations

import json
import os
import re
import sys

import numpy as np
from absl import app, flags

from benchmarks import common

YNN_OFF = "--xla_cpu_experimental_ynn_fusion_type="
# name -> XLA_FLAGS. Library paths other than YNNPACK need YNNPACK's dot rewrite off, which
# would otherwise claim every dot first.
VARIANTS = {
    "default": "",
    "eigen": YNN_OFF,
    "ynn_fuse_dot_eltwise": YNN_OFF + "individual_dot,dot,eltwise",
    "ynn_fuse_dot_eltwise_reduce": YNN_OFF + "individual_dot,dot,eltwise,reduce",
    "xnn_dot_eltwise": f"{YNN_OFF} --xla_cpu_experimental_xnn_fusion_type=dot,eltwise",
    "xnn_graph_greedy": (
        f"{YNN_OFF} --xla_cpu_experimental_xnn_graph_fusion_mode=XNN_GRAPH_FUSION_MODE_GREEDY"
    ),
    "onednn_dot": (
        f"{YNN_OFF} --xla_cpu_use_onednn=true --xla_cpu_experimental_onednn_fusion_type=dot"
    ),
    "onednn_dot_eltwise": (
        f"{YNN_OFF} --xla_cpu_use_onednn=true --xla_cpu_experimental_onednn_fusion_type=dot,eltwise"
    ),
    "fast_math": "--xla_cpu_enable_fast_math=true",
    "eigen_fast_math": f"{YNN_OFF} --xla_cpu_enable_fast_math=true",
    "vector_width_512": "--xla_cpu_prefer_vector_width=512",
    "thunk_runtime_off": "--xla_cpu_use_thunk_runtime=false",
}
# --shapes names for the labels of common.GEMM_SHAPES
SHAPE_NAMES = {
    "fwd64": "forward, batch 64",
    "grad64": "weight gradient, batch 64",
    "fwd256": "forward, batch 256",
    "grad256": "weight gradient, batch 256",
    "fwd1024": "forward, 1024 chains",
    "fwd8192": "forward, 8192 chains",
}
DEFAULT_SHAPES = ("fwd64", "grad64", "fwd1024", "fwd8192")
FUSION_KINDS = re.compile(r'"kind":"(__\w+_fusion)"|custom_call_target="([^"]+)"')

_VARIANTS = flags.DEFINE_list("variants", list(VARIANTS), "variants (names of VARIANTS)")
_EXTRA = flags.DEFINE_multi_string(
    "extra", [], "more variants, NAME=XLA_FLAGS (e.g. 'isa_avx2=--xla_cpu_max_isa=AVX2')"
)
_SHAPES = flags.DEFINE_list(
    "shapes", list(DEFAULT_SHAPES), f"shapes to time (plus the peak): {', '.join(SHAPE_NAMES)}"
)
_ROUNDS = flags.DEFINE_integer("rounds", 3, "timing rounds inside each process")
_PEAK_N = flags.DEFINE_integer(
    "peak_n", common.PEAK_N, "size of the square peak product (smaller: quicker on a busy machine)"
)
_PROCESS_ROUNDS = flags.DEFINE_integer("process_rounds", 2, "rounds of one process per variant")
_OUT = flags.DEFINE_string(
    "out", "", "JSON output path (default: benchmarks/results/<isa>/xla_flags.json)"
)
_APPEND = flags.DEFINE_bool(
    "append",
    False,
    "add this run's processes to those already in --out (to measure the variants in groups, "
    "each with the default: ratios are taken process by process, so groups combine)",
)
_CHILD = flags.DEFINE_bool("child", False, "internal: time this process's XLA_FLAGS")


def shapes(names) -> list[tuple[str, int, int, int]]:
    """``(label, M, K, N)`` of the ``--shapes`` names, then the square peak product."""
    unknown = [x for x in names if x not in SHAPE_NAMES]
    if unknown:
        raise ValueError(f"unknown --shapes {unknown}; known: {list(SHAPE_NAMES)}")
    known = {s[0]: s for s in common.GEMM_SHAPES}
    n = _PEAK_N.value
    return [known[SHAPE_NAMES[x]] for x in names] + [(f"peak {n}^3", n, n, n)]


def forms(label: str) -> tuple[str, ...]:
    """The kernel forms timed at a shape (the weight gradient's natural form is ``dot_aT``)."""
    if label.startswith("peak"):
        return ("dot", "bf16")
    if label.startswith("weight gradient"):
        return ("dot", "dot_aT", "bf16")
    return ("dot", "dot_wT", "dot_bias_relu", "bf16")


def child() -> dict:
    """Seconds per call of every (shape, form) and of NumPy's peak product, in this process."""
    import jax
    import jax.numpy as jnp

    rng = np.random.default_rng(0)
    fns, fusions, errors = {}, {}, {}
    for label, m, k, n in shapes(_SHAPES.value):
        a = rng.standard_normal((m, k), dtype=np.float32)
        w = rng.standard_normal((k, n), dtype=np.float32) / np.sqrt(k)
        b = rng.standard_normal((n,), dtype=np.float32)
        ja, jw, jb = jnp.asarray(a), jnp.asarray(w), jnp.asarray(b)
        bf16 = jnp.bfloat16
        kernels = {
            "dot": (jnp.matmul, (ja, jw)),
            "dot_wT": (lambda x, wt: x @ wt.T, (ja, jnp.asarray(w.T.copy()))),
            "dot_aT": (lambda xt, y: xt.T @ y, (jnp.asarray(a.T.copy()), jw)),
            "dot_bias_relu": (lambda x, y, c: jax.nn.relu(x @ y + c), (ja, jw, jb)),
            "bf16": (
                lambda x, y: jnp.matmul(x, y, preferred_element_type=jnp.float32),
                (ja.astype(bf16), jw.astype(bf16)),
            ),
        }
        expected = a @ w
        for form in forms(label):
            fn, args = kernels[form]
            compiled = jax.jit(fn).lower(*args).compile()
            name = f"{label}|{form}"
            fusions[name] = sorted({x or y for x, y in FUSION_KINDS.findall(compiled.as_text())})
            out = np.asarray(compiled(*args))
            want = np.maximum(expected + b, 0) if form == "dot_bias_relu" else expected
            errors[name] = float(np.abs(out - want).max() / np.abs(want).max())
            fns[name] = common.blocking(compiled, *args)
    p = rng.standard_normal((_PEAK_N.value,) * 2, dtype=np.float32)
    fns["numpy peak"] = lambda: p @ p
    seconds = common.time_interleaved(fns, rounds=_ROUNDS.value, min_round_seconds=0.1)
    return {
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "seconds": seconds,
        "fusions": fusions,
        "max_relative_error": errors,
    }


def summarise(runs: dict[str, list[dict]], variants: dict[str, str]) -> dict:
    """Median GFLOP/s per variant and kernel, % of the run's fp32 peak and ratio to default."""
    flop = {
        f"{lab}|{f}": 2 * m * k * n for lab, m, k, n in shapes(_SHAPES.value) for f in forms(lab)
    }
    yard = 2 * _PEAK_N.value**3
    out = {}
    for name, rs in runs.items():
        kernels = {}
        for kern, fl in flop.items():
            g = [fl / r["seconds"][kern] / 1e9 for r in rs]
            rel = [fl / r["seconds"][kern] / (yard / r["seconds"]["numpy peak"]) for r in rs]
            kernels[kern] = {"gflops": float(np.median(g)), "per_numpy_peak": float(np.median(rel))}
        numpy_g = float(np.median([yard / r["seconds"]["numpy peak"] / 1e9 for r in rs]))
        out[name] = {
            "xla_flags": variants[name],
            "kernels": kernels,
            "numpy_peak_gflops": numpy_g,
            "fusions": rs[0]["fusions"],
            "max_relative_error": rs[0]["max_relative_error"],
        }
    # The run's fp32 peak: the best fp32 rate of NumPy and of any variant on the peak product.
    peak_key = f"peak {_PEAK_N.value}^3|dot"
    peak = max(max(v["numpy_peak_gflops"], v["kernels"][peak_key]["gflops"]) for v in out.values())
    base = out.get("default")
    for v in out.values():
        for kern, d in v["kernels"].items():
            d["fraction_of_fp32_peak"] = d["gflops"] / peak
            if base is not None:
                d["vs_default"] = d["per_numpy_peak"] / base["kernels"][kern]["per_numpy_peak"]
        if base is not None:
            fp32 = [d["vs_default"] for k, d in v["kernels"].items() if not k.endswith("|bf16")]
            v["vs_default_fp32_geomean"] = float(np.exp(np.mean(np.log(fp32))))
    return {"fp32_peak": peak, "variants": out}


def report(payload: dict) -> str:
    summary = payload["summary"]
    variants = summary["variants"]
    kernels = list(next(iter(variants.values()))["kernels"])
    dots = [k for k in kernels if k.endswith("|dot")]
    has_base = "default" in variants
    headers = ["variant", *(k.split("|")[0] for k in dots)]
    if has_base:
        headers += ["fp32 forms vs default (geomean)", "bf16 at 1024 / 8192 vs default"]
    headers += ["library fusions"]
    rows = []
    for name, v in variants.items():
        kv = v["kernels"]
        row = [name]
        row += [
            f"{kv[k]['gflops']:.0f} ({100 * kv[k]['fraction_of_fp32_peak']:.0f}%)" for k in dots
        ]
        if has_base:
            bf = [kv[k]["vs_default"] for k in kv if k.endswith("|bf16") and "chains" in k]
            row += [f"{v['vs_default_fp32_geomean']:.2f}x", " / ".join(f"{x:.2f}x" for x in bf)]
        row.append(",".join(sorted({f for fs in v["fusions"].values() for f in fs})) or "-")
        rows.append(row)
    out = [
        common.header(payload["machine"]),
        f"fp32 GEMM peak of the run (best {payload['peak_n']}^3 product of NumPy and every "
        f"variant): {summary['fp32_peak']:.0f} GFLOP/s",
        "",
        "Plain dot a[M,K] @ w[K,N], GFLOP/s (% of the run's fp32 peak); 'vs default' divides by "
        "NumPy's rate in the same process first, so machine load cancels:",
        "",
        common.markdown_table(headers, rows),
        "",
        "Every form, GFLOP/s (vs default):",
        "",
    ]
    form_rows = []
    for name, v in variants.items():
        for k, d in v["kernels"].items():
            vs = f" ({d['vs_default']:.2f}x)" if "vs_default" in d else ""
            form_rows.append([name, k.replace("|", ", "), f"{d['gflops']:.0f}{vs}"])
    out.append(common.markdown_table(["variant", "shape, form", "GFLOP/s"], form_rows))
    bad = [
        f"{n}: {k} {e:.1e}"
        for n, v in variants.items()
        for k, e in v["max_relative_error"].items()
        if e > (3e-2 if k.endswith("bf16") else 1e-4)
    ]
    if bad:
        out += ["", "Large errors against NumPy: " + "; ".join(bad)]
    return "\n".join(out)


def main(argv):
    del argv
    if _CHILD.value:
        print(json.dumps(child()))
        return
    variants = {name: VARIANTS[name] for name in _VARIANTS.value}
    for item in _EXTRA.value:
        name, _, value = item.partition("=")
        variants[name] = value
    out_path = _OUT.value or common.results_path("xla_flags.json")
    payload = {"machine": common.machine_info(), "variants": variants, "runs": {}}
    if _APPEND.value and os.path.exists(out_path):
        with open(out_path) as f:
            before = json.load(f)
        if (before.get("shapes"), before.get("peak_n")) != (_SHAPES.value, _PEAK_N.value):
            raise ValueError(f"--append: {out_path} has other --shapes or --peak_n")
        payload["variants"] = {**before["variants"], **variants}
        payload["runs"] = before["runs"]
        payload["machine_before"] = before["machine"]
    payload["shapes"], payload["peak_n"] = _SHAPES.value, _PEAK_N.value
    print(common.header(payload["machine"]), flush=True)
    args = [
        "--child",
        f"--rounds={_ROUNDS.value}",
        f"--shapes={','.join(_SHAPES.value)}",
        f"--peak_n={_PEAK_N.value}",
    ]
    base = os.environ.get("XLA_FLAGS", "")
    for r in range(_PROCESS_ROUNDS.value):
        for name, xla_flags in variants.items():
            try:
                result = common.run_child(
                    "benchmarks.xla_flags", args, xla_flags=f"{base} {xla_flags}".strip()
                )
            except RuntimeError as e:  # an unknown flag or a crash: report it, carry on
                print(f"{name}: failed: {str(e)[-500:]}", file=sys.stderr)
                payload.setdefault("failed", {})[name] = str(e)[-2000:]
                continue
            result["load_average"] = [round(x, 2) for x in os.getloadavg()]
            payload["runs"].setdefault(name, []).append(result)
            common.write_json(out_path, payload)  # so far, in case the run is cut short
            numpy_g = 2 * _PEAK_N.value**3 / result["seconds"]["numpy peak"] / 1e9
            print(f"round {r + 1}, {name}: done (NumPy peak {numpy_g:.0f} GFLOP/s)", flush=True)
    payload["summary"] = summarise(payload["runs"], payload["variants"])
    payload["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    print(report(payload))
    common.write_json(out_path, payload)


if __name__ == "__main__":
    app.run(main)
