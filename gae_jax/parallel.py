"""Joining a cluster, device meshes, and placing and gathering batch axes across processes.

Library functions never place data themselves; entry points join the cluster with
:func:`initialize_cluster`, build a mesh here, place their inputs with :func:`shard_leading_axis`
/ :func:`replicate` / :func:`shard_host_array` / :func:`shard_padded` and let ``jax.jit``
propagate the shardings; :func:`gather` brings results back to every process. Results do not
depend on the placement (the samplers derive every chain's randomness from its index; a
training step's gradient is a mean over the whole batch, whichever devices hold it), only the
speed does, up to float rounding.

The same code runs on one device, on several devices of one process, and on several processes
(hosts) after :func:`initialize_cluster`: meshes span ``jax.devices()`` (all processes'
devices), and every process holds the same host values (they are functions of the seed and the
step), from which each transfers only the shards of its own devices
(``jax.make_array_from_callback``). No function here calls ``jax.device_put`` onto devices of
other processes, and none reads a global array with ``np.asarray``.
"""

from __future__ import annotations

import itertools
import math

import jax
import numpy as np
from absl import logging
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from gae_jax.types import ArrayTree


def _detected_cluster() -> str | None:
    """The name of the TPU/GPU cluster environment ``jax.distributed.initialize()`` would
    auto-detect (SLURM, Open MPI, Cloud TPU VM, GKE TPU, Kubernetes), or None.

    Opt-in methods (mpi4py) are skipped, as ``initialize()`` skips them.
    """
    try:
        from jax._src import clusters  # the detection jax.distributed.initialize() itself runs
    except ImportError:  # pragma: no cover - moved in a future JAX; explicit flags still work
        return None
    for env in clusters.ClusterEnv._cluster_types:
        if not getattr(env, "opt_in_only_method", False) and env.is_env_present():
            return env.__name__
    return None


def initialize_cluster(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
) -> dict:
    """Joins a multi-process JAX job (one process per host) before anything touches a device.

    * All arguments None (the default): auto-detect. On a TPU pod slice, a SLURM job, an Open
      MPI or Kubernetes job, call ``jax.distributed.initialize()`` with no arguments (it reads
      the cluster's environment); elsewhere run as a single process.
    * ``num_processes=1``: a single process, whatever the environment.
    * Explicit ``coordinator_address`` (``host:port`` of process 0), ``num_processes`` and
      ``process_id`` (e.g. the 2-process CPU emulation, or clusters JAX does not detect).

    On CPU, cross-process collectives use gloo. Logs ``process i/N, local/global devices``.

    Args:
      coordinator_address: ``host:port`` that process 0 listens on, reachable by every process.
      num_processes: the number of processes of the job.
      process_id: this process's index in ``[0, num_processes)``.

    Returns:
      ``{"process": i, "processes": N, "local_devices": L, "global_devices": G, "cluster":
      how it was joined}``, JSON-ready.

    Raises:
      ValueError: an incomplete or inconsistent set of arguments, or called after JAX has
        already initialised its devices (the cluster must be joined first).
    """
    given = (coordinator_address, num_processes, process_id)
    if num_processes is not None and num_processes < 1:
        raise ValueError(f"--num_processes={num_processes}; valid: 1 or more")
    join = None  # the call that joins the cluster; None: run as a single process
    if jax.distributed.is_initialized():
        how = "already initialised"
    elif num_processes == 1 and coordinator_address is None:
        how = "single process (--num_processes=1)"
    elif any(v is not None for v in given):
        if None in given:
            raise ValueError(
                f"--coordinator_address={coordinator_address}, --num_processes={num_processes}, "
                f"--process_id={process_id}: pass all three to join a cluster explicitly, or "
                "none of them to auto-detect a TPU/GPU cluster"
            )
        if not 0 <= process_id < num_processes:
            raise ValueError(
                f"--process_id={process_id}; valid: 0 .. {num_processes - 1} "
                f"(--num_processes={num_processes})"
            )
        how = f"explicit, coordinator {coordinator_address}"
        join = lambda: jax.distributed.initialize(  # noqa: E731
            coordinator_address, num_processes, process_id
        )
    elif detected := _detected_cluster():
        how = f"auto-detected {detected}"
        join = jax.distributed.initialize
    else:
        how = "single process (no cluster detected)"
    if join is not None:
        from jax._src import xla_bridge

        if xla_bridge.backends_are_initialized():
            raise ValueError(
                "initialize_cluster must run before anything uses a JAX device (here JAX's "
                "backends are already initialised); call it first thing in main()"
            )
        # Cross-process collectives on CPU (the CPU emulation); GPUs and TPUs ignore it.
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        join()
    info = {
        "process": jax.process_index(),
        "processes": jax.process_count(),
        "local_devices": jax.local_device_count(),
        "global_devices": jax.device_count(),
        "cluster": how,
    }
    logging.info(
        "process %d/%d, %d local / %d global devices (%s; %s)",
        info["process"],
        info["processes"],
        info["local_devices"],
        info["global_devices"],
        jax.devices()[0].platform,
        how,
    )
    return info


def is_multiprocess() -> bool:
    return jax.process_count() > 1


def sync(name: str) -> None:
    """A barrier across all processes (no-op with one): after it, every process sees what any
    process wrote before it (e.g. process 0's files)."""
    if is_multiprocess():
        multihost_utils.sync_global_devices(name)


def align(name: str, timeout_seconds: int = 3600) -> None:
    """Waits until every process reaches ``name`` (no-op with one process).

    Unlike :func:`sync` this barrier goes through JAX's coordination service, not a device
    collective, so it waits as long as ``timeout_seconds``. Call it between compiling a function
    with cross-process collectives and its first run (:func:`compile_then_align`): on CPU, gloo
    gives a process about 30 s to join a collective, less than one process may lag another
    while compiling on a loaded machine.
    """
    if is_multiprocess():
        from jax._src import distributed  # the client jax.distributed.initialize() connected

        # Every process makes the same calls in the same order, so the counter gives each
        # barrier the same id on every process, and no id is used twice.
        barrier = f"{name}#{next(_barriers)}"
        distributed.global_state.client.wait_at_barrier(barrier, timeout_seconds * 1000)


_barriers = itertools.count()


def compile_then_align(jitted, name: str):
    """``jitted`` (a ``jax.jit`` function) whose first call compiles it ahead of time for the
    call's arguments, then :func:`align` s the processes, then runs; later calls just run (jit
    reuses that compilation). ``lower`` is passed through."""
    first = True

    def call(*args):
        nonlocal first
        if first and is_multiprocess():
            jitted.lower(*args).compile()
            align(name)
        first = False
        return jitted(*args)

    call.lower = jitted.lower
    return call


def make_mesh(num_devices: int = 0, axis_name: str = "chains") -> Mesh:
    """A 1-D mesh over the first ``num_devices`` devices of all processes (0: all of them)."""
    devices = jax.devices()
    if num_devices > len(devices):
        raise ValueError(f"asked for {num_devices} devices, only {len(devices)} available")
    if num_devices and is_multiprocess() and num_devices != len(devices):
        raise ValueError(
            f"asked for {num_devices} of the {len(devices)} devices of {jax.process_count()} "
            "processes; a multi-process job uses all its devices (set the devices option to 0)"
        )
    return Mesh(np.array(devices[: num_devices or None]), (axis_name,))


def _host_value(leaf) -> np.ndarray:
    """The full value of ``leaf`` on this host (numpy, a local or a fully replicated array)."""
    return np.asarray(leaf)


def _place(leaf, sharding: jax.sharding.Sharding):
    """``leaf`` (the same host value on every process) as a global array with ``sharding``."""
    if isinstance(leaf, jax.Array) and jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
        data = _place(jax.random.key_data(leaf), sharding)
        return jax.random.wrap_key_data(data, impl=jax.random.key_impl(leaf))
    if isinstance(leaf, jax.Array) and leaf.sharding == sharding:
        return leaf
    return shard_host_array(_host_value(leaf), sharding)


def shard_host_array(x: np.ndarray, sharding: jax.sharding.Sharding) -> jax.Array:
    """A global array with ``sharding`` from ``x``, the full value held by every process.

    Each process copies only the slices of its own devices (no cross-process check or
    transfer, unlike ``jax.device_put`` of a host value onto devices of several processes).
    """
    return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])


def shard_leading_axis(tree: ArrayTree, mesh: Mesh) -> ArrayTree:
    """Splits every leaf's leading axis across the mesh (its size must divide evenly; see
    :func:`shard_padded` otherwise)."""
    (axis_name,) = mesh.axis_names
    size = mesh.devices.size
    for leaf in jax.tree.leaves(tree):
        if leaf.shape[0] % size:
            raise ValueError(
                f"leading axis of size {leaf.shape[0]} does not divide across {size} devices; "
                "pad it (shard_padded)"
            )
    sharding = NamedSharding(mesh, PartitionSpec(axis_name))
    return jax.tree.map(lambda leaf: _place(leaf, sharding), tree)


def padded_size(n: int, mesh: Mesh) -> int:
    """``n`` rounded up to a multiple of the mesh's device count."""
    size = mesh.devices.size
    return math.ceil(n / size) * size


def shard_padded(x, mesh: Mesh) -> tuple[jax.Array, int]:
    """Splits ``x``'s leading axis across the mesh, padding it to a multiple of the device count
    with copies of its last row; drop the padding from results with ``[:n]``.

    Args:
      x: float[N, ...], the same host value on every process.

    Returns:
      ``(global float[N', ...] with N' = padded_size(N), N)``.
    """
    host = _host_value(x)
    n = host.shape[0]
    pad = padded_size(n, mesh) - n
    if pad:
        host = np.concatenate([host, np.repeat(host[-1:], pad, axis=0)])
    return shard_leading_axis(host, mesh), n


def replicate(tree: ArrayTree, mesh: Mesh) -> ArrayTree:
    """A full copy of every leaf on every device of the mesh (e.g. model variables, keys);
    every process passes the same host values."""
    sharding = NamedSharding(mesh, PartitionSpec())
    return jax.tree.map(lambda leaf: _place(leaf, sharding), tree)


def gather(tree: ArrayTree) -> ArrayTree:
    """Every leaf's full value as a numpy array on every process (``process_allgather`` of
    global arrays; local arrays are just copied to the host)."""

    def one(leaf):
        if isinstance(leaf, jax.Array) and not leaf.is_fully_addressable:
            if leaf.is_fully_replicated:
                return np.asarray(leaf)
            return np.asarray(multihost_utils.process_allgather(leaf, tiled=True))
        return np.asarray(leaf)

    return jax.tree.map(one, tree)


__all__ = [
    "align",
    "compile_then_align",
    "gather",
    "initialize_cluster",
    "is_multiprocess",
    "make_mesh",
    "padded_size",
    "replicate",
    "shard_host_array",
    "shard_leading_axis",
    "shard_padded",
    "sync",
]
