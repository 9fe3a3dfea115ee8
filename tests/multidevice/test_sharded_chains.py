"""Chains sharded along the chain axis over 4 forced host devices equal the one-device run."""

import os
import subprocess
import sys

import pytest
from helpers import REPO, multidevice_env


@pytest.mark.slow
def test_sharded_chains_equal_unsharded_chains():
    env = multidevice_env(4)
    worker = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sharded_chains_worker.py")
    result = subprocess.run(
        [sys.executable, worker], env=env, cwd=REPO, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout + result.stderr[-4000:]
    assert result.stdout.strip().endswith("OK"), result.stdout
