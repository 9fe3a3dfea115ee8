"""The benchmarks' pure helpers: the machine type from CPU flags, result paths, the peak."""

import pytest

from benchmarks import common

EPYC_AVX2 = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC
flags\t\t: fpu vme sse sse2 avx f16c fma avx2 bmi2

processor\t: 1
model name\t: other
flags\t\t: fpu
"""
ARM = "processor\t: 0\nFeatures\t: fp asimd evtstrm aes sve\nCPU implementer\t: 0x41\n"


@pytest.mark.parametrize(
    "flags, isa",
    [
        ("sse2 avx f16c fma avx2", "avx2"),
        ("avx avx2 fma avx512f avx512bw avx512vl", "avx512"),
        ("avx2 avx512f avx512_vnni avx512_bf16", "avx512_bf16"),
        ("avx2 avx512f avx512_bf16 amx_tile amx_bf16 amx_int8", "amx"),
        ("AVX2 AVX512F AVX512_BF16", "avx512_bf16"),  # case-insensitive
        ("amx_bf16 avx2", "avx2"),  # AMX needs its tile registers
        ("sse2 avx", "avx"),
        ("fp asimd sve", "sve"),
        ("fp asimd", "neon"),
        ("fpu sse2", "baseline"),
        ("", "baseline"),
    ],
)
def test_isa_from_flags(flags, isa):
    assert common.isa_from_flags(flags.split()) == isa
    assert isa in common.ISA_LABELS


def test_parse_cpuinfo_takes_the_first_cpu():
    model, flags = common.parse_cpuinfo(EPYC_AVX2)
    assert model == "AMD EPYC"
    assert "avx2" in flags and "fpu" in flags and len(flags) == 9
    assert common.isa_from_flags(flags) == "avx2"


def test_parse_cpuinfo_arm_features():
    assert common.parse_cpuinfo(ARM) == ("", ["fp", "asimd", "evtstrm", "aes", "sve"])


def test_cpu_features_of_this_machine():
    cpu = common.cpu_features()
    assert cpu["isa"] in common.ISA_LABELS
    assert cpu["isa_label"] == common.ISA_LABELS[cpu["isa"]]
    assert set(cpu["isa_flags"]) <= set(common.ISA_FLAGS)


def test_results_path_is_per_machine_type():
    path = common.results_path("chains.json", "avx2")
    assert path.endswith("benchmarks/results/avx2/chains.json")


def test_matmul_peak_separates_fp32_and_bf16():
    n = 10
    flop = 2 * n**3
    seconds = {
        "peak_numpy": flop / 50e9,
        "peak_xla": flop / 100e9,
        "peak_xla_bfloat16": flop / 300e9,
        "peak_torch_bfloat16": flop / 20e9,
        "other": 1.0,
    }
    peak = common.matmul_peak(seconds, n=n)
    assert peak["peak_by"] == "xla" and peak["peak"] == pytest.approx(100)
    assert peak["peak_bfloat16_by"] == "xla_bfloat16"
    assert peak["peak_bfloat16"] == pytest.approx(300)
    assert set(peak["gflops"]) == {"numpy", "xla", "xla_bfloat16", "torch_bfloat16"}
