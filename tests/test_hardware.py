"""gae_jax.hardware: matmul_dtype="auto" picks bf16 only where it is native and measured faster."""

import pytest
from helpers import tiny_config

from gae_jax import builders, hardware
from gae_jax import config as config_lib


@pytest.mark.parametrize(
    "backend, isa, expected",
    [
        ("cpu", "avx2", "float32"),  # bf16 emulated: 91 vs 118 GFLOP/s (2026-11-30)
        ("cpu", "avx512", "float32"),  # no bf16 dot instructions
        ("cpu", "avx512_bf16", "bfloat16"),  # native VDPBF16PS, 1.4-2.2x faster chains
        ("cpu", "amx", "bfloat16"),  # AMX CPUs have AVX-512-BF16 too
        ("cpu", "neon", "float32"),
        ("gpu", "avx512_bf16", "float32"),  # not measured: stays float32
        ("tpu", "avx2", "float32"),
    ],
)
def test_auto_matmul_dtype(backend, isa, expected):
    assert hardware.auto_matmul_dtype(backend=backend, isa=isa) == expected


@pytest.mark.parametrize("isa, expected", [("avx2", "float32"), ("avx512_bf16", "bfloat16")])
def test_auto_follows_the_detected_cpu(monkeypatch, isa, expected):
    """With the CPU detection patched, ``auto`` in a config builds the model with that dtype;
    explicit dtypes are left alone."""
    monkeypatch.setattr(hardware, "cpu_features", lambda: {"isa": isa})
    monkeypatch.setattr(hardware.jax, "default_backend", lambda: "cpu")
    assert hardware.resolve_matmul_dtype("auto") == expected
    assert hardware.resolve_matmul_dtype("float32") == "float32"
    config = tiny_config("daae")
    config.model.matmul_dtype = "auto"
    cfg = config_lib.validate(config)
    assert builders.matmul_dtype(cfg.model) == expected
    model = builders.build_model(cfg.model, (8, 8, 1))
    assert model.encoder.matmul_dtype == model.decoder.matmul_dtype == expected
    assert builders.build_adversary(cfg).discriminator.matmul_dtype == expected


def test_auto_conv_models_stay_float32(monkeypatch):
    """bf16 matmuls exist for MLPs only: ``auto`` leaves a DCGAN in float32 anywhere."""
    monkeypatch.setattr(hardware, "cpu_features", lambda: {"isa": "avx512_bf16"})
    config = tiny_config("dae")
    config.model.update(architecture="dcgan", matmul_dtype="auto")
    cfg = config_lib.validate(config)
    assert builders.matmul_dtype(cfg.model) == "bfloat16"  # what auto means on this machine...
    builders.build_model(cfg.model, (28, 28, 1))  # ...but the DCGAN is built in float32


def test_bad_matmul_dtype_is_refused():
    config = tiny_config()
    config.model.matmul_dtype = "float16"
    with pytest.raises(config_lib.ConfigError, match="valid: \\('auto', 'float32', 'bfloat16'\\)"):
        config_lib.validate(config)
    with pytest.raises(ValueError, match="matmul_dtype must be one of"):
        hardware.resolve_matmul_dtype("float16")
