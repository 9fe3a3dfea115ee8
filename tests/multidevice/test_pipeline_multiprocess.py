"""The streaming pipeline across processes: 2 processes x 2 forced CPU devices, each reading only
its own half of every global batch from ``data.TrainBatches``, train exactly like 1 process x 4
devices reading whole batches."""

import json
import os
import subprocess
import sys

import numpy as np
from helpers import free_port, start_process

from gae_jax import data

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pipeline_worker.py")


def _start(process_id: int, port: int, out, devices: int) -> subprocess.Popen:
    return start_process([sys.executable, WORKER, str(process_id), str(port), str(out)], devices)


def test_two_processes_each_reading_half_of_every_batch_train_like_one(tmp_path):
    port = free_port()
    procs = [_start(i, port, tmp_path / f"host{i}.json", devices=2) for i in (0, 1)]
    procs.append(_start(-1, 0, tmp_path / "single.json", devices=4))
    for p in procs:
        output, _ = p.communicate(timeout=600)
        assert p.returncode == 0, output[-4000:]
    hosts = [json.loads((tmp_path / f"host{i}.json").read_text()) for i in (0, 1)]
    single = json.loads((tmp_path / "single.json").read_text())

    # Each process read only its own rows of each of the 6 global batches, nothing else.
    order = data.BatchOrder(1437, 32, seed=0)
    assert [h["rows"] for h in hosts] == [[0, 16], [16, 32]] and single["rows"] == [0, 32]
    for h in (*hosts, single):
        lo, hi = h["rows"]
        assert h["reads"] == [order.indices(s)[lo:hi].tolist() for s in range(6)]

    # ... and the run is the one-process run.
    assert hosts[0]["losses"] == hosts[1]["losses"]  # the replicated state agrees
    assert single["step"] == hosts[0]["step"] == 6
    np.testing.assert_allclose(hosts[0]["losses"], single["losses"], rtol=1e-5)
    np.testing.assert_allclose(hosts[0]["param_sums"], single["param_sums"], rtol=1e-4, atol=1e-5)
