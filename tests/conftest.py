"""Shared fixtures. Tests run on the CPU; multi-device tests start their own subprocess with
XLA_FLAGS=--xla_force_host_platform_device_count=4 (see tests/multidevice/)."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def key():
    return jax.random.key(0)
