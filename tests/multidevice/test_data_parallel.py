"""Training with the batch split over 4 forced host devices matches the one-device run."""

import os
import subprocess
import sys

import pytest
from helpers import REPO, multidevice_env


@pytest.mark.slow
def test_data_parallel_training_matches_one_device(tmp_path):
    env = multidevice_env(4)
    worker = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data_parallel_worker.py")
    result = subprocess.run(
        [sys.executable, worker, str(tmp_path)],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr[-4000:]
    assert result.stdout.strip().endswith("OK"), result.stdout
