"""Data-parallel training across two processes (``jax.distributed`` on localhost, 2 host devices
each) matches one process with 4 devices: the sharding code does not depend on the host count."""

import json
import os
import subprocess
import sys

import numpy as np
from helpers import free_port, start_process

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "multiprocess_worker.py")


def _start(process_id: int, port: int, out, devices: int) -> subprocess.Popen:
    return start_process([sys.executable, WORKER, str(process_id), str(port), str(out)], devices)


def test_two_processes_train_like_one(tmp_path):
    port = free_port()
    procs = [_start(i, port, tmp_path / f"host{i}.json", devices=2) for i in (0, 1)]
    procs.append(_start(-1, 0, tmp_path / "single.json", devices=4))
    for p in procs:
        output, _ = p.communicate(timeout=600)
        assert p.returncode == 0, output[-4000:]
    results = [json.loads((tmp_path / name).read_text()) for name in ("host0.json", "host1.json")]
    single = json.loads((tmp_path / "single.json").read_text())
    assert results[0] == results[1]  # every process sees the same replicated state
    assert single["step"] == results[0]["step"] == 6
    np.testing.assert_allclose(results[0]["losses"], single["losses"], rtol=1e-5)
    np.testing.assert_allclose(results[0]["param_sums"], single["param_sums"], rtol=1e-4, atol=1e-5)
