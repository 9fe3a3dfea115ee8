"""Orbax checkpointing of a :class:`TrainState` pytree, with resume.

Orbax writes each checkpoint into a temporary directory and renames it when complete, so a
crash mid-save never replaces the last good checkpoint; ``latest_step`` only sees finished ones.

Restoring never modifies the checkpoint directory. A checkpoint whose stored arrays do not match
the requested structure, shapes or dtypes, or whose files cannot be read, raises
:class:`CheckpointError` naming the directory, the step and what is wrong. An unreadable latest
checkpoint is not skipped silently in favour of an older one: the run stops, and resuming from
the older one is an explicit decision (move the bad step directory out of ``checkpoints/``).
"""

from __future__ import annotations

import dataclasses
import errno

import jax
import orbax.checkpoint as ocp
from etils import epath

# Differences listed in a mismatch error; the rest are counted.
_MAX_LISTED = 5
_MAX_CAUSE_CHARS = 300


class CheckpointError(ValueError):
    """A checkpoint cannot be read, or does not match the state it is restored into."""


class Checkpointer:
    """Saves and restores a pytree of arrays under ``<workdir>/checkpoints/<step>``.

    Args:
      workdir: the run directory.
      max_to_keep: finished checkpoints kept; older ones are deleted after each save.
      read_only: for restoring only (sampling, evaluation): never creates or deletes anything.
    """

    def __init__(self, workdir: str, *, max_to_keep: int = 3, read_only: bool = False):
        # Remote paths (gs://...) stay as they are; local ones are made absolute for orbax.
        workdir = epath.Path(workdir)
        if "://" not in str(workdir):
            workdir = workdir.absolute()
        self.directory = workdir / "checkpoints"
        self._pending: int | None = None  # the step of the latest save started
        self._failed = False  # a failed save was reported
        self._manager = ocp.CheckpointManager(
            self.directory,
            options=ocp.CheckpointManagerOptions(
                # Read-only managers must not schedule saves or deletions (orbax warns otherwise).
                max_to_keep=None if read_only else max_to_keep,
                save_interval_steps=0 if read_only else 1,
                create=not read_only,
                read_only=read_only,
                # A run killed mid-save leaves a "<step>.orbax-checkpoint-tmp-*" directory that
                # is never restored from; the next writing run deletes it to free the space.
                cleanup_tmp_directories=not read_only,
            ),
            # Registered up front so that item_metadata can read a checkpoint's array shapes.
            item_handlers=ocp.StandardCheckpointHandler(),
        )

    def latest_step(self) -> int | None:
        return self._manager.latest_step()

    def all_steps(self) -> list[int]:
        """The steps of all finished checkpoints, in increasing order."""
        return sorted(self._manager.all_steps())

    def save(self, step: int, state) -> None:
        """Starts an asynchronous save of ``state`` at ``step`` (no-op if it already exists).

        Raises:
          CheckpointError: the previous save failed (see :meth:`check`).
        """
        self.check()
        if step in self._manager.all_steps():
            return
        if self._pending is not None:
            self.wait()  # orbax would wait for it too; this way its failure names its own step
        self._pending = step
        try:
            self._manager.save(step, args=ocp.args.StandardSave(state))
        except Exception as e:  # the synchronous part (e.g. creating the tmp directory)
            raise self._save_failed(e) from e

    def check(self) -> None:
        """Returns at once; raises if an asynchronous save has failed since the last call.

        Raises:
          CheckpointError: naming the step whose save failed, the cause (e.g. no space left on
            device) and the last good checkpoint, which stays intact.
        """
        try:
            self._manager.check_for_errors()
        except Exception as e:
            raise self._save_failed(e) from e
        if self._pending is not None and not self._manager.is_saving_in_progress():
            self.wait()  # finished: returns at once, or raises the failure of its finalisation

    def _save_failed(self, cause: BaseException) -> CheckpointError:
        self._failed = True
        good = [s for s in self.all_steps() if s != self._pending]
        self._pending, step = None, self._pending
        text = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        full = "no space left" in text.lower() or getattr(cause, "errno", None) == errno.ENOSPC
        text = "no space left on device" if full else text  # the chained cause has the file
        return CheckpointError(
            f"saving checkpoint {step} in {self.directory} failed ({text[:_MAX_CAUSE_CHARS]}); "
            + last_good_advice(good, "free space on that disk" if full else "fix the cause")
        )

    def restore(self, abstract_state, step: int | None = None):
        """Restores the checkpoint at ``step`` (default: latest) into the structure, shapes,
        dtypes and shardings of ``abstract_state`` (e.g. from ``jax.eval_shape``).

        The checkpoint may come from any number of processes and devices: leaves are restored
        into their requested shardings, and leaves without one onto this process's first device
        (every process reads the whole array).

        Raises:
          FileNotFoundError: there is no finished checkpoint.
          CheckpointError: the checkpoint is unreadable, or its arrays differ from
            ``abstract_state`` in structure, shape or dtype (the error lists the differences).
        """
        step = self.latest_step() if step is None else step
        if step is None:
            raise FileNotFoundError(f"no checkpoint in {self.directory}")
        target = jax.tree.map(_placed, abstract_state)
        try:
            stored = self._manager.item_metadata(step)
        except Exception as e:  # orbax raises JSON, key and tensorstore errors alike
            raise self._unreadable(step, e) from e
        if stored is None:
            raise self._unreadable(step, "no array metadata")
        differences = _differences(stored, target)
        if differences:
            listed = "; ".join(differences[:_MAX_LISTED])
            more = len(differences) - _MAX_LISTED
            raise CheckpointError(
                f"checkpoint {step} in {self.directory} does not match the configured model: "
                f"{listed}{f'; and {more} more' if more > 0 else ''}. It was written with a "
                "different architecture, latent_dim, family or optimizer; pass the config it was "
                "trained with, or use a new --workdir"
            )
        # An empty (None) state field added after the checkpoint was written, e.g. a newer
        # family's TrainState slot: restore the stored fields only and keep it None.
        fields = dataclasses.fields(target) if dataclasses.is_dataclass(target) else ()
        absent = {f.name for f in fields if getattr(target, f.name) is None} - set(dict(stored))
        item = {f.name: getattr(target, f.name) for f in fields if f.name not in absent}
        item = item if absent else target
        try:
            restored = self._manager.restore(step, args=ocp.args.StandardRestore(item))
        except Exception as e:
            raise self._unreadable(step, e) from e
        return target.replace(**restored) if absent else restored

    def _unreadable(self, step: int, cause) -> CheckpointError:
        earlier = [s for s in self.all_steps() if s < step]
        if earlier:
            advice = (
                f"to resume from the previous checkpoint (step {earlier[-1]}), move "
                f"{self.directory / str(step)} out of {self.directory} and rerun"
            )
        else:
            advice = "there is no earlier checkpoint; restore the files or use a new --workdir"
        cause = str(cause)[:_MAX_CAUSE_CHARS]  # tensorstore errors run to kilobytes; chained
        return CheckpointError(
            f"checkpoint {step} in {self.directory} is corrupt or incomplete ({cause}); nothing "
            f"was changed. Earlier checkpoints: {earlier or 'none'}; {advice}"
        )

    def wait(self) -> None:
        """Blocks until the pending save is finished.

        Raises:
          CheckpointError: it failed (see :meth:`check`).
        """
        try:
            self._manager.wait_until_finished()
        except Exception as e:
            raise self._save_failed(e) from e
        self._pending = None

    def close(self) -> None:
        """Waits for the pending save and stops orbax's threads; raises CheckpointError for a
        failed save unless one was raised already (it is not reported twice)."""
        reported = self._failed
        error = None
        try:
            self.wait()
        except CheckpointError as e:
            error = e
        try:
            self._manager.close()
        except Exception as e:  # orbax raises a failed save's error again when closing
            error = error or self._save_failed(e)
        if error is not None and not reported:
            raise error


def last_good_advice(finished_steps: list[int], fix: str) -> str:
    """``"the last good checkpoint is step 10, intact. Free space ... and rerun ..."``."""
    if finished_steps:
        return (
            f"the last good checkpoint is step {finished_steps[-1]}, intact. {fix[0].upper()}"
            f"{fix[1:]} and rerun the same command to resume from it"
        )
    return (
        f"no checkpoint was finished yet. {fix[0].upper()}{fix[1:]} and rerun the same command "
        "to start again"
    )


def _placed(leaf) -> jax.ShapeDtypeStruct:
    """A restore target for ``leaf`` with a sharding of the current devices: without one,
    orbax would place it as the checkpoint was saved, which fails on another topology."""
    target = ocp.utils.to_shape_dtype_struct(leaf)
    if getattr(target, "sharding", None) is None:
        local = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
        target = jax.ShapeDtypeStruct(target.shape, target.dtype, sharding=local)
    return target


def _differences(stored, target) -> list[str]:
    """Human-readable differences between a checkpoint's array metadata and a target tree."""
    stored = ocp.tree.to_flat_dict(dict(stored))
    target = ocp.tree.to_flat_dict(ocp.tree.serialize_tree(target))
    name = "/".join
    order = lambda keys: sorted(keys, key=lambda k: (len(k), k))  # top-level paths (params) first
    out = [f"{name(k)}: expected, not stored" for k in order(target.keys() - stored.keys())]
    out += [f"{name(k)}: stored, not expected" for k in order(stored.keys() - target.keys())]
    for k in order(stored.keys() & target.keys()):
        have, want = stored[k], target[k]
        if tuple(have.shape) != tuple(want.shape) or have.dtype != want.dtype:
            out.append(
                f"{name(k)}: stored {have.dtype}{list(have.shape)}, "
                f"expected {want.dtype}{list(want.shape)}"
            )
    return out
