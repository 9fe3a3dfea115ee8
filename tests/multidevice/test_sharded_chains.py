"""Chains sharded along the chain axis over 4 forced host devices equal the one-device run."""

import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_sharded_chains_equal_unsharded_chains():
    env = dict(
        os.environ,
        XLA_FLAGS="--xla_force_host_platform_device_count=4",
        JAX_PLATFORMS="cpu",
        PYTHONPATH=REPO,
    )
    worker = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sharded_chains_worker.py")
    result = subprocess.run(
        [sys.executable, worker], env=env, cwd=REPO, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout + result.stderr[-4000:]
    assert result.stdout.strip().endswith("OK"), result.stdout
