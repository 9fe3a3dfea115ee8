"""What both benchmarks share: timing, the machine's matmul peak, child processes, reporting.

Timing: every candidate is warmed up (compiled) first, then the candidates take turns for a
number of rounds, each round running a candidate long enough to be timed reliably; a
candidate's time is its median over the rounds. Taking turns means a change in machine load
(the machine may be shared) slows all candidates alike, so their ratios stay meaningful.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np

from gae_jax import hardware

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS_DIR = os.path.join(REPO, "benchmarks", "results")
# XLA's CPU client runs one intra-op thread per core; PyTorch gets the same number.
THREADS = os.cpu_count() or 1


# --- The library internals the benchmarks use: only here, so a reorganisation of gae_jax is
# retargeted in one place.


def autoencoder_fns(model, chain_tile_size: int | None = None):
    """The model -> pure functions adapter (``decode_mean(variables, z)``,
    ``sample_code(keys, variables, x)``, ...), population batch statistics; the networks run
    over tiles of ``chain_tile_size`` chains (0: the library's automatic rule; None: untiled)."""
    from gae_jax.models import autoencoder_fns as fns

    return fns(model, chain_tile_size=chain_tile_size)


def training_api() -> SimpleNamespace:
    """``build_model``, ``make_optimizer``, ``build_mesh``, ``init_state``, ``build_adversary``,
    ``build_train_step`` and ``jit_train_steps``: the library's own training path."""
    from gae_jax import builders
    from gae_jax.train.loop import jit_train_steps
    from gae_jax.train.state import make_optimizer

    return SimpleNamespace(
        build_model=builders.build_model,
        make_optimizer=make_optimizer,
        build_mesh=builders.build_mesh,
        init_state=builders.init_state,
        build_adversary=builders.build_adversary,
        build_train_step=builders.build_train_step,
        jit_train_steps=jit_train_steps,
    )


# configs/models.py data names -> image shape, for the train steps the benchmarks time.
CONFIG_IMAGE_SHAPES = {"mnist5k": (28, 28, 1), "fashion": (28, 28, 1), "celeba": (64, 64, 3)}


def config_train_step(variant: str) -> SimpleNamespace:
    """``configs/models.py:VARIANT,DATA``'s compiled train steps as the training job builds them,
    with the state placed on the mesh as training restores it (an unplaced state would make the
    second call compile again) and one random uint8 batch (K = 1) on the device: ``train_steps``,
    ``state``, ``batch``, ``key``, ``cfg``, ``image_shape``. Builds the model when called."""
    from configs import models
    from gae_jax import builders, data, parallel
    from gae_jax import config as config_lib
    from gae_jax.train.loop import jit_train_steps

    cfg = config_lib.validate(models.get_config(variant))
    image_shape = CONFIG_IMAGE_SHAPES[variant.partition(",")[2]]
    model = builders.build_model(cfg.model, image_shape)
    tx = builders.build_optimizer(cfg.train)
    mesh = builders.build_mesh(cfg)
    state = parallel.replicate(builders.init_state(cfg, model, tx, image_shape), mesh)
    step_fn = builders.build_train_step(cfg.model, model, tx, builders.build_adversary(cfg))
    batch = np.random.default_rng(0).integers(
        0, 256, (1, cfg.train.batch_size, *image_shape), dtype=np.uint8
    )
    return SimpleNamespace(
        train_steps=jit_train_steps(data.with_float_images(step_fn, 255.0), mesh),
        state=state,
        batch=jax.device_put(batch),
        key=jax.random.key(0),
        cfg=cfg,
        image_shape=image_shape,
    )


def import_torch():
    """``torch`` with ``THREADS`` intra-op threads and one inter-op thread, or None if absent."""
    try:
        import torch
    except ImportError:
        print('PyTorch is not installed (pip install -e ".[bench]"): reporting gae_jax only')
        return None
    torch.set_num_threads(THREADS)
    with contextlib.suppress(RuntimeError):  # already set in this process
        torch.set_num_interop_threads(1)
    return torch


def blocking(fn: Callable, *args) -> Callable[[], object]:
    """``fn(*args)`` as a thunk that returns when the (asynchronously dispatched) work is done."""
    return lambda: jax.block_until_ready(fn(*args))


def time_interleaved(
    fns: dict[str, Callable[[], object]], *, rounds: int = 5, min_round_seconds: float = 0.5
) -> dict[str, float]:
    """Median seconds per call of each function; they take turns for ``rounds`` rounds.

    Every function must return only when its work is done (``jax.block_until_ready``). Its
    first call is a warm-up (compilation, allocator), the second measures how many calls make
    a round of at least ``min_round_seconds``.
    """
    calls = {}
    for name, fn in fns.items():
        fn()
        t0 = time.perf_counter()
        fn()
        calls[name] = max(1, math.ceil(min_round_seconds / max(time.perf_counter() - t0, 1e-9)))
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            for _ in range(calls[name]):
                fn()
            samples[name].append((time.perf_counter() - t0) / calls[name])
    return {name: float(np.median(s)) for name, s in samples.items()}


PEAK_N = 2048  # the peak's matrix size: large enough for every library's best kernel


def matmul_peak_fns(
    torch=None, n: int = PEAK_N, *, torch_bfloat16: bool = False
) -> dict[str, Callable[[], object]]:
    """An n x n x n float32 matrix product in NumPy, XLA and PyTorch, plus XLA with bfloat16
    operands and float32 accumulation ("xla_bfloat16") and, if asked, PyTorch's bfloat16
    product ("torch_bfloat16": slow, seconds per call, without native bf16 instructions)."""
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    ja = jnp.asarray(a)
    jb = ja.astype(jnp.bfloat16)
    matmul = jax.jit(jnp.matmul)
    matmul_bf16 = jax.jit(lambda x, y: jnp.matmul(x, y, preferred_element_type=jnp.float32))
    fns = {
        "numpy": lambda: a @ a,
        "xla": blocking(matmul, ja, ja),
        "xla_bfloat16": blocking(matmul_bf16, jb, jb),
    }
    if torch is not None:
        ta = torch.from_numpy(a)
        fns["torch"] = lambda: ta @ ta
        if torch_bfloat16:
            tb = ta.bfloat16()
            fns["torch_bfloat16"] = lambda: tb @ tb
    return {f"peak_{name}": fn for name, fn in fns.items()}


def matmul_peak(seconds: dict[str, float], n: int = PEAK_N) -> dict:
    """GFLOP/s of the :func:`matmul_peak_fns` entries of ``seconds``; ``peak`` is the best
    float32 one (the machine's attainable fp32 matmul rate), ``peak_by`` whose it is;
    ``peak_bfloat16`` / ``peak_bfloat16_by`` the same for bfloat16 operands."""
    gflops = {
        name[len("peak_") :]: 2 * n**3 / s / 1e9
        for name, s in seconds.items()
        if name.startswith("peak_")
    }
    fp32 = {name: g for name, g in gflops.items() if "bfloat16" not in name}
    bf16 = {name: g for name, g in gflops.items() if "bfloat16" in name}
    best = max(fp32, key=fp32.get)
    out = {"n": n, "gflops": gflops, "peak": fp32[best], "peak_by": best}
    if bf16:
        best16 = max(bf16, key=bf16.get)
        out.update(peak_bfloat16=bf16[best16], peak_bfloat16_by=best16)
    return out


def measure_peak(torch=None, *, rounds: int = 3) -> dict:
    """The run's fp32 and bf16 GEMM peak (:func:`matmul_peak`), once. PyTorch's bf16 product
    counts only on CPUs with native bf16 (AVX-512-BF16, AMX): elsewhere it takes minutes at
    2048^3 (measured: over 150 s per product on a loaded AVX2 machine) and is never the peak."""
    native_bf16 = cpu_features()["isa"] in ("avx512_bf16", "amx")
    fns = matmul_peak_fns(torch, torch_bfloat16=native_bf16)
    return matmul_peak(time_interleaved(fns, rounds=rounds, min_round_seconds=0.3))


# --- The CPU's instruction set: the library's own detection (gae_jax.hardware), which also
# decides matmul_dtype="auto" and the automatic chain tile.
ISA_LABELS = hardware.ISA_LABELS
ISA_FLAGS = hardware.ISA_FLAGS
isa_from_flags = hardware.isa_from_flags
parse_cpuinfo = hardware.parse_cpuinfo


def cpu_features() -> dict:
    """The CPU's model, flags and machine type (:func:`gae_jax.hardware.cpu_features`)."""
    return dict(hardware.cpu_features())


def results_path(name: str, isa: str | None = None) -> str:
    """``benchmarks/results/<isa>/<name>``: results of each machine type side by side."""
    return os.path.join(RESULTS_DIR, isa or cpu_features()["isa"], name)


# (label, M, K, N): the hidden 1000 x 1000 layer at the benchmarked batch sizes and chain
# counts, and its weight gradient (x^T g: M and N the layer widths, K the batch).
GEMM_SHAPES = (
    ("forward, batch 64", 64, 1000, 1000),
    ("weight gradient, batch 64", 1000, 64, 1000),
    ("forward, batch 256", 256, 1000, 1000),
    ("weight gradient, batch 256", 1000, 256, 1000),
    ("forward, 1024 chains", 1024, 1000, 1000),
    ("forward, 8192 chains", 8192, 1000, 1000),
)


def dense_flops(params) -> int:
    """Multiply-add FLOPs (2 per MAC) of one example through every ``kernel`` in ``params``."""
    leaves = jax.tree_util.tree_leaves_with_path(params)
    kernels = [x for path, x in leaves if getattr(path[-1], "key", None) == "kernel"]
    return sum(2 * int(np.prod(k.shape)) for k in kernels)


def machine_info(torch=None) -> dict:
    """CPU, machine type (ISA), cores, load average, library versions, threads, XLA flags."""
    cpu = cpu_features()
    return {
        **cpu,
        "cores": os.cpu_count(),
        "avx512_bf16": "avx512_bf16" in cpu["isa_flags"],
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "jax": jax.__version__,
        "torch": None if torch is None else torch.__version__,
        "torch_cpu_capability": None if torch is None else torch.backends.cpu.get_cpu_capability(),
        "threads": {"xla": THREADS, "torch": None if torch is None else torch.get_num_threads()},
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "jax_devices": [str(d) for d in jax.devices()],
    }


def header(machine: dict, peak: dict | None = None) -> str:
    """One paragraph naming the machine type and the run's GEMM peak, printed before tables."""
    lines = [
        f"Machine: {machine.get('cpu') or 'unknown CPU'}, {machine.get('cores')} cores, "
        f"ISA {machine.get('isa_label', '?')} ({' '.join(machine.get('isa_flags', []))}; "
        f"from {machine.get('isa_source', '?')}); load average "
        f"{' '.join(str(x) for x in machine.get('load_average', []))}; jax {machine.get('jax')}, "
        f"torch {machine.get('torch')}; XLA_FLAGS={machine.get('xla_flags')!r}"
    ]
    if peak:
        text = f"GEMM peak of this run ({peak['n']}^3): fp32 {peak['peak']:.0f} GFLOP/s ({peak['peak_by']})"
        if "peak_bfloat16" in peak:
            text += f", bf16 {peak['peak_bfloat16']:.0f} GFLOP/s ({peak['peak_bfloat16_by']})"
        others = ", ".join(f"{k} {v:.0f}" for k, v in peak["gflops"].items())
        lines.append(f"{text}; all: {others}")
    return "\n".join(lines)


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak_rss() -> bool:
    """Resets the kernel's high-water mark of this process's RSS (Linux ``VmHWM``), so that
    :func:`rss_high_water_mb` measures from now on; False where that is not supported."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def rss_high_water_mb() -> float | None:
    """The highest RSS since the last :func:`reset_peak_rss` (Linux ``VmHWM``), in MiB."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def run_child(
    module: str, args: list[str], *, devices: int | None = None, xla_flags: str | None = None
) -> dict:
    """Runs ``python -m module *args`` in a fresh process (its own peak RSS; XLA flags such as a
    forced host device count must be set before JAX starts) and returns the JSON object that
    is the last line of its standard output.

    Args:
      devices: forced host device count (added to the XLA flags).
      xla_flags: the child's ``XLA_FLAGS`` instead of this process's.
    """
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join(filter(None, [REPO, os.environ.get("PYTHONPATH")]))
    )
    if xla_flags is not None:
        env["XLA_FLAGS"] = xla_flags
    if devices is not None:
        flag = f"--xla_force_host_platform_device_count={devices}"
        env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} {flag}".strip()
    result = subprocess.run(
        [sys.executable, "-m", module, *args], env=env, cwd=REPO, capture_output=True, text=True
    )
    if result.returncode != 0:
        raise RuntimeError(f"{module} {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def markdown_table(headers: list[str], rows: list[list]) -> str:
    def cell(v):
        if isinstance(v, float):
            return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.2f}"
        return str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def write_json(path: str, payload: dict) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(payload, f, indent=2)
    print(f"wrote {path}")
