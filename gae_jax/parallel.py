"""Device meshes and shardings for batch axes (the chain axis of samplers, the data axis).

Library functions never place data themselves; entry points build a mesh here, place their
inputs with :func:`shard_leading_axis` / :func:`replicate` and let ``jax.jit`` propagate the
shardings. Results do not depend on the placement (the samplers derive every chain's
randomness from its index), only the speed does.
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


def replicate(tree: ArrayTree, mesh: Mesh) -> ArrayTree:
    """A full copy of every leaf on every device of the mesh (e.g. model variables, keys)."""
    return jax.device_put(tree, NamedSharding(mesh, PartitionSpec()))
