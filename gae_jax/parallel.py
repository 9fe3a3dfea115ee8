"""Device meshes and shardings for batch axes (the chain axis of samplers, the data axis).

Library functions never place data themselves; entry points build a mesh here, place their
inputs with :func:`shard_leading_axis` / :func:`replicate` / :func:`shard_host_array` and let
``jax.jit`` propagate the shardings. Results do not depend on the placement (the samplers derive
every chain's randomness from its index; a training step's gradient is a mean over the whole
batch, whichever devices hold it), only the speed does, up to float rounding.

The same code runs on one device, on several devices of one process, and on several processes
(hosts) after ``jax.distributed.initialize()``: meshes span ``jax.devices()`` (all processes'
devices), and every process holds the same host values (they are functions of the seed and the
step), from which each transfers only the shards of its own devices.
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from gae_jax.types import ArrayTree


def make_mesh(num_devices: int = 0, axis_name: str = "chains") -> Mesh:
    """A 1-D mesh over the first ``num_devices`` devices (0: all of them)."""
    devices = jax.devices()
    if num_devices > len(devices):
        raise ValueError(f"asked for {num_devices} devices, only {len(devices)} available")
    return Mesh(np.array(devices[: num_devices or None]), (axis_name,))


def shard_leading_axis(tree: ArrayTree, mesh: Mesh) -> ArrayTree:
    """Splits every leaf's leading axis across the mesh (its size must divide evenly)."""
    (axis_name,) = mesh.axis_names
    size = mesh.devices.size
    for leaf in jax.tree.leaves(tree):
        if leaf.shape[0] % size:
            raise ValueError(
                f"leading axis of size {leaf.shape[0]} does not divide across {size} devices"
            )
    return jax.device_put(tree, NamedSharding(mesh, PartitionSpec(axis_name)))


def shard_host_array(x: np.ndarray, sharding: jax.sharding.Sharding) -> jax.Array:
    """A global array with ``sharding`` from ``x``, the full value held by every process.

    Each process copies only the slices of its own devices (no cross-process check or
    transfer, unlike ``jax.device_put`` of a host value onto devices of several processes).
    """
    return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])


def replicate(tree: ArrayTree, mesh: Mesh) -> ArrayTree:
    """A full copy of every leaf on every device of the mesh (e.g. model variables, keys)."""
    return jax.device_put(tree, NamedSharding(mesh, PartitionSpec()))
