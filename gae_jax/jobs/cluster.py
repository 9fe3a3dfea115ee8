"""What every entry point shares on a cluster: the start-up (cluster flags, the persistent
compilation cache, then joining the cluster) and writing output files from process 0 only.

An entry point defines the flags at import time and starts first thing in ``main``::

    _CLUSTER = cluster.define_flags()

    def main(argv):
        cluster.start(_CLUSTER)
        train_and_evaluate(_CONFIG.value, _WORKDIR.value)

With no cluster flags the job auto-detects a TPU pod slice, SLURM, Open MPI or Kubernetes job
(``jax.distributed.initialize()``) and otherwise runs as one process; see
:func:`gae_jax.parallel.initialize_cluster`.

Compiled XLA programs are kept in JAX's persistent compilation cache
(:func:`compilation_cache_dir`), so a rerun, a resumed run or the next job with the same shapes
loads them instead of compiling again: the same executables, so the same numbers.
"""

from __future__ import annotations

import os
import platform
import tempfile
from collections.abc import Callable
from typing import NamedTuple

import jax
from absl import flags
from etils import epath

from gae_jax import hardware, parallel
from gae_jax import workdir as workdir_lib
from gae_jax.train.writer import quiet_library_logs


class ClusterFlags(NamedTuple):
    coordinator_address: flags.FlagHolder
    num_processes: flags.FlagHolder
    process_id: flags.FlagHolder
    compilation_cache: flags.FlagHolder


def compilation_cache_dir(flag_value: str | None, environ=os.environ) -> str | None:
    """The persistent compilation cache's directory, or None for none.

    Args:
      flag_value: ``--compilation_cache``: a directory (local or remote), ``"none"`` for no
        cache, or None for the default: ``$JAX_COMPILATION_CACHE_DIR`` if set, else
        ``$XDG_CACHE_HOME/gae_jax/xla/<machine>-<isa>`` (``~/.cache/...``; e.g.
        ``x86_64-avx2``), one per machine type, as XLA's CPU programs are compiled for the
        host's instruction set.
      environ: the environment to read the defaults from.
    """
    if flag_value is not None:
        return None if flag_value.lower() == "none" else flag_value
    if environ.get("JAX_COMPILATION_CACHE_DIR"):
        return environ["JAX_COMPILATION_CACHE_DIR"]
    cache_home = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    machine = f"{platform.machine()}-{hardware.cpu_features()['isa']}"
    return os.path.join(cache_home, "gae_jax", "xla", machine)


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
        flags.DEFINE_string(
            "compilation_cache",
            None,
            "Directory of JAX's persistent XLA compilation cache (reruns skip compiling); "
            "'none' turns it off. Default: $JAX_COMPILATION_CACHE_DIR, else "
            "~/.cache/gae_jax/xla/<machine>-<isa>.",
        ),
    )


def start(cluster_flags: ClusterFlags) -> dict:
    """Quietens library logs, sets the compilation cache and joins the cluster; returns what
    :func:`gae_jax.parallel.initialize_cluster` returns."""
    quiet_library_logs()
    cache = compilation_cache_dir(cluster_flags.compilation_cache.value)
    jax.config.update("jax_enable_compilation_cache", cache is not None)
    if cache is not None:
        jax.config.update("jax_compilation_cache_dir", cache)
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


__all__ = ["ClusterFlags", "compilation_cache_dir", "define_flags", "start", "write_output"]
