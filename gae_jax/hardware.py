"""The machine the library runs on, and the choices that depend on it.

* :func:`cpu_features`: the CPU's model, feature flags and machine type (``isa``: ``avx2``,
  ``avx512``, ``avx512_bf16``, ``amx``, ...), which decides the matmul kernels XLA can use.
* :func:`auto_matmul_dtype`: what ``config.model.matmul_dtype="auto"`` becomes.
* :func:`auto_chain_tile_size`: what ``config.sampler.chain_tile_size=0`` becomes.

Each rule is a measurement, cited where it is defined (``python -m benchmarks.chains``, whose
results are kept per machine type in ``benchmarks/results/<isa>/``).
"""

from __future__ import annotations

import contextlib
import functools
import platform
import subprocess
import sys
from collections.abc import Iterable

import jax

# Machine types, best first: what decides the matmul kernels XLA, oneDNN and MKL can use.
ISA_LABELS = {
    "amx": "AMX",
    "avx512_bf16": "AVX-512-BF16",
    "avx512": "AVX-512",
    "avx2": "AVX2",
    "avx": "AVX",
    "sve": "SVE",
    "neon": "NEON",
    "baseline": "baseline",
}
# The flags worth recording (Linux /proc/cpuinfo spelling).
ISA_FLAGS = (
    "avx",
    "avx2",
    "fma",
    "f16c",
    "avx512f",
    "avx512bw",
    "avx512vl",
    "avx512_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "amx_tile",
    "amx_bf16",
    "amx_int8",
    "amx_fp16",
    "asimd",
    "sve",
    "sve2",
)
# numpy's runtime CPU features (any OS) -> Linux flag names.
_NUMPY_FEATURES = {
    "AVX": "avx",
    "AVX2": "avx2",
    "FMA3": "fma",
    "F16C": "f16c",
    "AVX512F": "avx512f",
    "AVX512BW": "avx512bw",
    "AVX512VL": "avx512vl",
    "AVX512VNNI": "avx512_vnni",
    "AVX512BF16": "avx512_bf16",
    "AVX512FP16": "avx512_fp16",
    "ASIMD": "asimd",
    "SVE": "sve",
}


def isa_from_flags(flags: Iterable[str]) -> str:
    """The machine type (a key of ``ISA_LABELS``) of a CPU with these feature flags.

    Args:
      flags: feature names, case-insensitive, in Linux ``/proc/cpuinfo`` spelling
        (``avx2``, ``avx512f``, ``avx512_bf16``, ``amx_bf16``; ARM ``asimd``, ``sve``).
    """
    f = {x.lower() for x in flags}
    if "amx_bf16" in f and "amx_tile" in f:
        return "amx"
    if "avx512f" in f:
        return "avx512_bf16" if "avx512_bf16" in f else "avx512"
    if "avx2" in f:
        return "avx2"
    if "avx" in f:
        return "avx"
    if "sve" in f:
        return "sve"
    if "asimd" in f or "neon" in f:
        return "neon"
    return "baseline"


def parse_cpuinfo(text: str) -> tuple[str, list[str]]:
    """``(model name, feature flags)`` of the first CPU in a ``/proc/cpuinfo`` text (x86
    ``flags`` or ARM ``Features``); ``("", [])`` where absent."""
    model, flags = "", []
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and not model:
            model = value.strip()
        elif key in ("flags", "Features") and not flags:
            flags = value.split()
    return model, flags


@functools.cache
def cpu_features() -> dict:
    """The CPU's model, feature flags, machine type (``isa``, ``isa_label``) and where the
    flags were read: ``/proc/cpuinfo`` (Linux), ``sysctl`` (macOS) or numpy's runtime CPU
    dispatch table (anything else; it knows no AMX). Read once per process."""
    model, flags, source = platform.processor(), [], ""
    try:
        with open("/proc/cpuinfo") as f:
            cpuinfo_model, flags = parse_cpuinfo(f.read())
        model, source = cpuinfo_model or model, "/proc/cpuinfo"
    except OSError:
        pass
    if not flags and sys.platform == "darwin":
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                ["sysctl", "-n", "machdep.cpu.features", "machdep.cpu.leaf7_features"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            # sysctl spells them AVX2, AVX512F, AVX512BF16...; map to the Linux names.
            names = {k.lower(): v for k, v in _NUMPY_FEATURES.items()}
            flags = [names.get(x.lower().replace(".", ""), x.lower()) for x in out.split()]
            if platform.machine() == "arm64":
                flags.append("asimd")
            source = "sysctl"
    if not flags:
        with contextlib.suppress(ImportError, AttributeError):
            try:
                from numpy._core._multiarray_umath import __cpu_features__ as table
            except ImportError:  # numpy < 2
                from numpy.core._multiarray_umath import __cpu_features__ as table
            flags = [name for key, name in _NUMPY_FEATURES.items() if table.get(key)]
            source = "numpy"
    isa = isa_from_flags(flags)
    return {
        "cpu": model,
        "isa": isa,
        "isa_label": ISA_LABELS[isa],
        "isa_flags": [x for x in ISA_FLAGS if x in {y.lower() for y in flags}],
        "isa_source": source,
    }


# Machine types whose CPUs multiply bf16 natively (AVX-512-BF16's VDPBF16PS; every AMX CPU also
# has AVX-512-BF16) and where bf16 matmuls were measured faster than float32 (2026-11-21,
# AVX-512-BF16 EPYC, `python -m benchmarks.chains` / `benchmarks.train`: chains 1.4-2.2x from 64
# chains on, DAAE training 1-11%). On AVX2 (2026-11-30) XLA emulates them and they are slower:
# 91 vs 118 GFLOP/s at 1,024 chains.
BF16_MATMUL_ISAS = ("avx512_bf16", "amx")
MATMUL_DTYPE_CHOICES = ("auto", "float32", "bfloat16")


def auto_matmul_dtype(*, backend: str | None = None, isa: str | None = None) -> str:
    """The matmul operand dtype of ``matmul_dtype="auto"``: ``"bfloat16"`` on CPUs of
    ``BF16_MATMUL_ISAS``, else ``"float32"``.

    GPUs and TPUs get ``"float32"`` too: bf16 is native there, but nothing here has measured it
    faster for these networks (TPUs already take bf16 passes for float32 dots by default).

    Args:
      backend: ``jax.default_backend()`` if None.
      isa: the CPU's machine type (``cpu_features()["isa"]``) if None.
    """
    backend = jax.default_backend() if backend is None else backend
    if backend != "cpu":
        return "float32"
    isa = cpu_features()["isa"] if isa is None else isa
    return "bfloat16" if isa in BF16_MATMUL_ISAS else "float32"


def resolve_matmul_dtype(matmul_dtype: str) -> str:
    """``matmul_dtype`` itself, or for ``"auto"`` :func:`auto_matmul_dtype`'s choice here.

    Raises:
      ValueError: not one of ``MATMUL_DTYPE_CHOICES``.
    """
    if matmul_dtype not in MATMUL_DTYPE_CHOICES:
        raise ValueError(
            f"matmul_dtype must be one of {MATMUL_DTYPE_CHOICES}, got {matmul_dtype!r}"
        )
    return auto_matmul_dtype() if matmul_dtype == "auto" else matmul_dtype


# Chains per tile of config.sampler.chain_tile_size=0 (automatic), per device shard. Measured on
# the paper-001 MLP chain (`python -m benchmarks.chains --tile_sizes=...`): a step over more
# rows than this runs its GEMMs out of cache; see the README's Performance section.
AUTO_TILE_CHAINS = 1024
# Shards with fewer chains than this run untiled: their GEMMs are already at their best size.
AUTO_TILE_MIN_CHAINS = 2 * AUTO_TILE_CHAINS


def auto_chain_tile_size(chains_per_shard: int) -> int:
    """Chains per tile for ``chain_tile_size=0``: 0 (untiled) up to ``AUTO_TILE_MIN_CHAINS``
    chains per device shard, else ``AUTO_TILE_CHAINS``."""
    return AUTO_TILE_CHAINS if chains_per_shard >= AUTO_TILE_MIN_CHAINS else 0


__all__ = [
    "AUTO_TILE_CHAINS",
    "AUTO_TILE_MIN_CHAINS",
    "BF16_MATMUL_ISAS",
    "ISA_FLAGS",
    "ISA_LABELS",
    "MATMUL_DTYPE_CHOICES",
    "auto_chain_tile_size",
    "auto_matmul_dtype",
    "cpu_features",
    "isa_from_flags",
    "parse_cpuinfo",
    "resolve_matmul_dtype",
]
