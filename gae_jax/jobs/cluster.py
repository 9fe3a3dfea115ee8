"""What every entry point shares on a cluster: the start-up (cluster flags, then joining the
cluster) and writing output files from process 0 only.

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

import os
import tempfile
from collections.abc import Callable
from typing import NamedTuple

from absl import flags
from etils import epath

from gae_jax import parallel
from gae_jax import workdir as workdir_lib
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


def write_output(path, save: Callable[[str], None]) -> bool:
    """Writes the output file ``path`` on process 0 only, with ``save(local_name)`` (e.g. a
    figure's ``savefig``); other processes do nothing.

    ``path`` may be remote (``gs://...``): ``save`` then writes a local temporary file that is
    copied there, so savers that only know local files work with any workdir.

    Returns:
      Whether this process wrote the file.
    """
    if not workdir_lib.is_writer():
        return False
    path = epath.Path(path)
    if "://" not in str(path):
        save(os.fspath(path))
        return True
    with tempfile.TemporaryDirectory() as tmp:
        local = os.path.join(tmp, path.name)
        save(local)
        epath.Path(local).copy(path, overwrite=True)
    return True


__all__ = ["ClusterFlags", "define_flags", "start", "write_output"]
