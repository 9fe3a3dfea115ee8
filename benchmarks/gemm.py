"""Matrix products alone, XLA against PyTorch, at the shapes of the benchmarked networks.

    python -m benchmarks.gemm [--out=PATH]

The profile behind the chain and training ratios: it separates the speed of each library's
matmul kernels (float32, and bfloat16 operands with float32 accumulation) from everything
else a step does. Operands are cast beforehand, so only the products are timed.
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from benchmarks import common

SHAPES = common.GEMM_SHAPES

_ROUNDS = flags.DEFINE_integer("rounds", 5, "timing rounds (the median is reported)")
_OUT = flags.DEFINE_string(
    "out", "", "JSON output path (default: benchmarks/results/<isa>/gemm.json)"
)


def gemm_fns(torch, m: int, k: int, n: int) -> dict:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k), dtype=np.float32)
    b = rng.standard_normal((k, n), dtype=np.float32)
    ja, jb = jnp.asarray(a), jnp.asarray(b)
    bf16 = jax.jit(lambda x, y: jnp.matmul(x, y, preferred_element_type=jnp.float32))
    fns = {
        "xla_float32": common.blocking(jax.jit(jnp.matmul), ja, jb),
        "xla_bfloat16": common.blocking(bf16, ja.astype(jnp.bfloat16), jb.astype(jnp.bfloat16)),
    }
    if torch is not None:
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        ta16, tb16 = ta.bfloat16(), tb.bfloat16()
        fns["torch_float32"] = lambda: ta @ tb
        fns["torch_bfloat16"] = lambda: ta16 @ tb16
    return fns


def main(argv):
    del argv
    torch = common.import_torch()
    payload = {"machine": common.machine_info(torch), "rows": []}
    payload["gemm_peak"] = common.measure_peak(torch)
    print(common.header(payload["machine"], payload["gemm_peak"]))
    for label, m, k, n in SHAPES:
        seconds = common.time_interleaved(gemm_fns(torch, m, k, n), rounds=_ROUNDS.value)
        gflops = {name: 2 * m * k * n / s / 1e9 for name, s in seconds.items()}
        payload["rows"].append({"shape": label, "m": m, "k": k, "n": n, "gflops": gflops})
        print(label, {name: round(g) for name, g in gflops.items()})
    payload["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    names = list(payload["rows"][0]["gflops"])
    rows = [
        [f"{r['shape']} ({r['m']}x{r['k']}x{r['n']})", *(r["gflops"][x] for x in names)]
        for r in payload["rows"]
    ]
    print(common.header(payload["machine"], payload["gemm_peak"]))
    print(common.markdown_table(["GFLOP/s", *names], rows))
    common.write_json(_OUT.value or common.results_path("gemm.json"), payload)


if __name__ == "__main__":
    app.run(main)
