"""Data-parallel training across processes, fed by the streaming pipeline: 2 processes x 2 forced
CPU devices (``jax.distributed`` on localhost), each reading only its own half of every global
batch from ``data.TrainBatches``, train like 1 process reading whole batches (the default split
path: equal up to the rounding of the gradient sums)."""

import json
import os
import sys

import numpy as np
import pytest
from helpers import free_port, start_process
from pipeline_worker import train_six_steps

from gae_jax import data

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pipeline_worker.py")
# One device sums a batch's gradients in another order than the 4 devices' all-reduce: equal up to
# float32 rounding (the 4-device split step differs from the one-device step by ~1e-6 after 3
# steps in data_parallel_worker.py).
SUM_ORDER_ROUNDING = 1e-4


@pytest.mark.slow
def test_two_processes_each_reading_half_of_every_batch_train_like_one(tmp_path):
    port = free_port()
    outs = [tmp_path / f"host{i}.json" for i in (0, 1)]
    procs = [
        start_process([sys.executable, WORKER, str(i), str(port), str(out)], devices=2)
        for i, out in enumerate(outs)
    ]
    single = train_six_steps()  # meanwhile, in this process (one CPU device)
    for p in procs:
        output, _ = p.communicate(timeout=600)
        assert p.returncode == 0, output[-4000:]
    hosts = [json.loads(out.read_text()) for out in outs]

    # Each process read only its own rows of each of the 6 global batches, nothing else.
    order = data.BatchOrder(1437, 32, seed=0)
    assert [h["rows"] for h in hosts] == [[0, 16], [16, 32]] and single["rows"] == [0, 32]
    for h in (*hosts, single):
        lo, hi = h["rows"]
        assert h["reads"] == [order.indices(s)[lo:hi].tolist() for s in range(6)]

    # ... and the run is the one-process run.
    assert [h["devices"] for h in hosts] == [4, 4] and single["devices"] == 1
    assert hosts[0]["losses"] == hosts[1]["losses"]  # the replicated state agrees
    assert hosts[0]["param_sums"] == hosts[1]["param_sums"]
    assert single["step"] == hosts[0]["step"] == 6
    np.testing.assert_allclose(hosts[0]["losses"], single["losses"], rtol=SUM_ORDER_ROUNDING)
    np.testing.assert_allclose(
        hosts[0]["param_sums"], single["param_sums"], rtol=SUM_ORDER_ROUNDING, atol=1e-5
    )
