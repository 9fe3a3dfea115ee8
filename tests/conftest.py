"""Shared fixtures. Tests run on the CPU; multi-device tests start their own subprocess with
XLA_FLAGS=--xla_force_host_platform_device_count=4 (see tests/multidevice/). Test modules in
every directory import ``helpers`` (tests/helpers.py: tiny configs and models)."""

import os
import sys

os.environ.setdefault("JAX_PLATFORMS", "cpu")
_TESTS = os.path.dirname(os.path.abspath(__file__))
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)

import jax  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def key():
    return jax.random.key(0)
