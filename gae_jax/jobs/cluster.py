"""The start-up every entry point shares: cluster flags, then joining the cluster.

An entry point defines the flags at import time and starts first thing in ``main``::

    _CLUSTER = cluster.define_flags()

    def main(argv):
        cluster.start(_CLUSTER)
        train_and_evaluate(_CONFIG.value, _WORKDIR.value)

With no cluster flags the job auto-detects a TPU pod slice, SLURM, Open MPI or Kubernetes job
(``jax.distributed.initialize()``) and otherwise runs as one process; see
:func:`gae_jax.parallel.initialize_cluster`.
"""

from __future__ import annotations

from typing import NamedTuple

from absl import flags

from gae_jax import parallel
from gae_jax.train.writer import quiet_library_logs


class ClusterFlags(NamedTuple):
    coordinator_address: flags.FlagHolder
    num_processes: flags.FlagHolder
    process_id: flags.FlagHolder


def define_flags() -> ClusterFlags:
    """Defines ``--coordinator_address``, ``--num_processes`` and ``--process_id``."""
    return ClusterFlags(
        flags.DEFINE_string(
            "coordinator_address",
            None,
            "host:port of process 0, to join a cluster explicitly (with --num_processes and "
            "--process_id). Unset: auto-detect a TPU/GPU cluster, else one process.",
        ),
        flags.DEFINE_integer(
            "num_processes", None, "Processes (hosts) of the job; 1 disables auto-detection."
        ),
        flags.DEFINE_integer("process_id", None, "This process's index, 0 .. num_processes-1."),
    )


def start(cluster_flags: ClusterFlags) -> dict:
    """Quietens library logs and joins the cluster; returns what
    :func:`gae_jax.parallel.initialize_cluster` returns."""
    quiet_library_logs()
    return parallel.initialize_cluster(
        cluster_flags.coordinator_address.value,
        cluster_flags.num_processes.value,
        cluster_flags.process_id.value,
    )


__all__ = ["ClusterFlags", "define_flags", "start"]
