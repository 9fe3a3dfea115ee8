"""Orbax checkpointing of a :class:`TrainState` pytree, with resume.

Orbax writes each checkpoint into a temporary directory and renames it when complete, so a
crash mid-save never replaces the last good checkpoint; ``latest_step`` only sees finished ones.
"""

from __future__ import annotations

import os

import jax
import orbax.checkpoint as ocp


class Checkpointer:
    """Saves and restores a pytree of arrays under ``<workdir>/checkpoints/<step>``."""

    def __init__(self, workdir: str, *, max_to_keep: int = 3):
        self.directory = os.path.abspath(os.path.join(workdir, "checkpoints"))
        self._manager = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True),
        )

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def save(self, step: int, state) -> None:
        """Starts an asynchronous save of ``state`` at ``step`` (no-op if it already exists)."""
        if step in self._manager.all_steps():
            return
        self._manager.save(step, args=ocp.args.StandardSave(state))

    def restore(self, abstract_state, step: int | None = None):
        """Restores the checkpoint at ``step`` (default: latest) into the structure, shapes,
        dtypes and shardings of ``abstract_state`` (e.g. from ``jax.eval_shape``)."""
        step = self.latest_step() if step is None else step
        if step is None:
            raise FileNotFoundError(f"no checkpoint in {self.directory}")
        target = jax.tree.map(ocp.utils.to_shape_dtype_struct, abstract_state)
        try:
            return self._manager.restore(step, args=ocp.args.StandardRestore(target))
        except (ValueError, KeyError) as e:
            raise ValueError(
                f"checkpoint {step} in {self.directory} does not match the configured model "
                f"(different architecture, family or optimizer?): {e}"
            ) from e

    def wait(self) -> None:
        self._manager.wait_until_finished()

    def close(self) -> None:
        self._manager.wait_until_finished()
        self._manager.close()
