"""What a run leaves in its workdir, and reading it back: file names, atomic JSON, resume
checks, restoring training state and ``load_trained`` for sampling and evaluation.

A training workdir holds::

    config.json        the validated config the run started with (never rewritten on resume)
    run_history.jsonl  a row per run that trained: the step it started from, its host, its
                       data's image shape, and the settings it changed (--allow_config_change)
    .lock              held by the run using the workdir (host, pid, start time)
    metrics.jsonl      a row per logged step and split (train / validation / test)
    summary.json       the final summary
    checkpoints/       orbax checkpoints
    tensorboard/       TensorBoard event files
    samples/           what experiments.sample writes (samples.npz, sample_summary.json, PNGs)
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import fcntl
import functools
import json
import os
import socket
import sys
import time

import jax
import ml_collections
import numpy as np
from absl import logging
from etils import epath
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from gae_jax import builders, checkpoint, data, parallel
from gae_jax import config as config_lib
from gae_jax.train import writer as metric_writer
from gae_jax.train.state import TrainState

CONFIG_FILE = "config.json"
HISTORY_FILE = "run_history.jsonl"
LOCK_FILE = ".lock"
CHECKPOINTS_DIR = "checkpoints"
SUMMARY_FILE = "summary.json"
METRICS_FILE = metric_writer.METRICS_FILE
SAMPLES_DIR = "samples"
SAMPLES_FILE = "samples.npz"
SAMPLE_SUMMARY_FILE = "sample_summary.json"
HISTOGRAM_FILE = "encodings_hist.png"
MOMENTS_FILE = "encodings_moments.json"


def is_writer() -> bool:
    """Whether this process writes the workdir's files: process 0 of a multi-process job (every
    process computes the same values; only one records them)."""
    return jax.process_index() == 0


def write_json(path: str, obj, *, indent: int = 2) -> None:
    """Writes atomically: a run killed mid-write leaves the previous file, never half of one.

    A no-op on processes other than process 0 (see :func:`is_writer`).
    """
    if not is_writer():
        return
    try:
        metric_writer.atomic_write(path, json.dumps(obj, indent=indent))
    except OSError as e:  # name the file (a full disk's error does not)
        raise type(e)(e.errno, e.strerror, str(path)) from e


def read_json(path: str):
    return json.loads(epath.Path(path).read_text())


# ----------------------------------------------------------------------------- usable workdirs


class WorkdirError(ValueError):
    """The workdir cannot be used by this run: not a writable directory, or in use by another."""


class WorkdirLockedError(WorkdirError):
    """Another live run holds the workdir's lock."""


class ConfigChangedError(config_lib.ConfigError):
    """A resume asked for settings other than those the run's earlier steps used."""


def check_workdir(workdir: str) -> None:
    """Refuses, in one line and before any work, a workdir that cannot hold a run.

    Nothing is created. Remote paths (``gs://...``) are not checked here.

    Raises:
      WorkdirError: ``workdir`` is a file, lies under a file, or cannot be written (read-only
        file system, permissions).
    """
    if "://" in workdir:
        return
    path = os.path.abspath(workdir)
    if os.path.exists(path) and not os.path.isdir(path):
        raise WorkdirError(
            f"--workdir={workdir} is a file, not a directory; pass a directory (it is created "
            "if missing)"
        )
    existing = path
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise WorkdirError(f"--workdir={workdir} cannot be created: {existing} is a file")
    if not os.access(existing, os.W_OK | os.X_OK):
        what = "is not writable" if existing == path else f"cannot be created in {existing}"
        raise WorkdirError(
            f"--workdir={workdir} {what} (read-only file system or no permission); pass a "
            "writable directory"
        )


def no_space_error(workdir: str, cause: OSError) -> checkpoint.CheckpointError:
    """The error a run stopped by a full disk raises: what failed, and the last good checkpoint
    (which orbax never overwrites, so it is intact)."""
    what = cause.strerror or str(cause)
    what = f"writing {cause.filename}: {what}" if cause.filename else what
    return checkpoint.CheckpointError(
        f"no space left on device: the run in {workdir} stopped ({what}); "
        + checkpoint.last_good_advice(finished_checkpoints(workdir), "free space on that disk")
    )


def finished_checkpoints(workdir: str) -> list[int]:
    """The steps of the finished checkpoints in ``workdir`` (orbax renames a checkpoint's
    temporary directory to its step when complete)."""
    directory = epath.Path(workdir) / CHECKPOINTS_DIR
    names = [p.name for p in directory.iterdir()] if directory.is_dir() else []
    return sorted(int(n) for n in names if n.isdigit())


# ----------------------------------------------------------------------------- the lock

_held: dict[str, int] = {}  # lock path -> how many nested `locked` blocks of this process hold it


def _process_start(pid: int) -> str | None:
    """The start time of process ``pid`` in clock ticks since boot (tells a reused PID), or None
    where /proc cannot say."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _holder_alive(holder: dict) -> bool | None:
    """Whether the process that wrote lock contents ``holder`` still runs: True / False on this
    host, None (cannot tell) for another host."""
    if holder.get("host") != socket.gethostname():
        return None
    pid = int(holder.get("pid", -1))
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OverflowError, ValueError):
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":  # killed, not yet reaped
                return False
    except (OSError, IndexError):
        pass
    started = holder.get("process_start")
    return started is None or _process_start(pid) in (None, started)


def _read_lock(path: str) -> dict | None:
    """The lock file's contents; None if it is missing. A file being written right now (its
    creator is between creating and writing it) is read again for up to a second; one still
    unreadable then is returned as ``{}`` (a stale lock of a process killed in between)."""
    for _ in range(20):
        try:
            with open(path) as f:
                holder = json.loads(f.read())
            return holder if isinstance(holder, dict) else {}
        except FileNotFoundError:
            return None
        except (ValueError, OSError):
            time.sleep(0.05)
    return {}


def _describe(holder: dict) -> str:
    command = holder.get("command", "")
    return (
        f"pid {holder.get('pid', '?')} on host {holder.get('host', '?')} since "
        f"{holder.get('started', '?')}" + (f" ({command})" if command else "")
    )


def _try_create(path: str) -> bool:
    """Creates the lock file atomically with this process's details; False if it exists."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(_holder(), f)
    except BaseException:
        os.remove(path)
        raise
    return True


def _holder() -> dict:
    """What a lock file says of the run holding it."""
    return {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "process_start": _process_start(os.getpid()),
        "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": " ".join([os.path.basename(sys.executable), *sys.argv])[:300],
    }


def _take_over_if_stale(path: str, holder: dict) -> bool:
    """Removes the lock at ``path`` if it still is the stale ``holder``'s; True if removed.

    The check and the removal happen under an exclusive ``flock`` of that very file, and only if
    the path still names it: of several runs finding the same stale lock, one takes it over and
    the others then see the new holder's lock.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if not same or (_read_lock(path) or {}) != holder:
            return False
        os.remove(path)
        return True
    finally:
        os.close(fd)


def _lock_parents(path: str) -> None:
    """Refuses a workdir inside a workdir locked by another live run (e.g. training a model of
    a main job's workdir while that job runs). Other programs' ``.lock`` files are ignored."""
    directory = os.path.dirname(os.path.dirname(path))
    while True:
        try:
            with open(os.path.join(directory, LOCK_FILE)) as f:
                holder = json.loads(f.read())
        except (OSError, ValueError):
            holder = None
        ours = isinstance(holder, dict) and {"host", "pid", "started"} <= holder.keys()
        if ours and holder["pid"] != os.getpid() and _holder_alive(holder) is not False:
            raise WorkdirLockedError(
                f"{os.path.dirname(path)} is inside {directory}, which is in use by another run: "
                f"{_describe(holder)}. Wait for it to finish or use another --workdir"
            )
        parent = os.path.dirname(directory)
        if parent == directory:
            return
        directory = parent


def _acquire(path: str) -> None:
    _lock_parents(path)
    for _ in range(10):  # a lost race for a stale lock is retried, then decided
        if _try_create(path):
            return
        holder = _read_lock(path)
        if holder is None:
            continue  # released in between
        alive = _holder_alive(holder) if holder else False
        if alive is False:
            if _take_over_if_stale(path, holder):
                logging.warning(
                    "Took over the stale lock %s of a process that no longer runs: %s",
                    path,
                    _describe(holder) if holder else "unreadable lock file",
                )
            continue
        workdir = os.path.dirname(path)
        dead_hint = (
            f" If that run is dead (its host is not this one, {socket.gethostname()}, so this "
            f"cannot be checked), delete {path} and rerun"
            if alive is None
            else ""
        )
        raise WorkdirLockedError(
            f"workdir {workdir} is in use by another run: {_describe(holder)}; lock file {path}. "
            f"Wait for it to finish or use another --workdir.{dead_hint}"
        )
    raise WorkdirLockedError(f"could not take the lock {path}: other runs keep racing for it")


def _acquire_remote(path: str) -> None:
    """Takes the lock object ``path`` on an object store, where it is advisory: an existing
    object stops this run; else this process's details are uploaded. Checking and creating are
    two requests, so two runs started within the same moment could both go ahead."""
    lock = epath.Path(path)
    if lock.exists():
        holder = _remote_holder(lock)
        raise WorkdirLockedError(
            f"workdir {lock.parent} is in use by another run: {_describe(holder)}; lock object "
            f"{path}. Wait for it to finish or use another --workdir. Whether that run still "
            f"lives cannot be checked from here: if it is dead, delete {path} and rerun"
        )
    logging.warning(
        "Locking %s by creating %s: on an object store the lock is advisory (no atomic create, "
        "no check whether its holder lives); make sure one job at a time uses this workdir",
        lock.parent,
        path,
    )
    lock.write_text(json.dumps(_holder()))


def _remote_holder(lock: epath.Path) -> dict:
    try:
        holder = json.loads(lock.read_text())
    except (OSError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}


def _release_remote(path: str) -> None:
    lock = epath.Path(path)
    holder = _remote_holder(lock) if lock.exists() else None
    if holder and holder.get("pid") == os.getpid() and holder.get("host") == socket.gethostname():
        lock.unlink()
    else:
        logging.warning("The lock %s is no longer this run's (%s); left as it is", path, holder)


def _release(path: str) -> None:
    holder = _read_lock(path)
    if holder and holder.get("pid") == os.getpid() and holder.get("host") == socket.gethostname():
        os.remove(path)
    else:
        logging.warning("The lock %s is no longer this run's (%s); left as it is", path, holder)


@contextlib.contextmanager
def locked(workdir: str):
    """Holds ``<workdir>/.lock`` for the block: no other run (on any host sharing the file
    system) can use the workdir meanwhile.

    The lock file is created atomically (``O_CREAT | O_EXCL``) and holds this process's host, PID
    and start time. A lock left by a dead process of this host is taken over with a warning; a
    live holder's, or another host's, makes this run stop at once. The lock is released when the
    block exits, whether normally or by an exception. Blocks nest: a process may lock a workdir
    it holds (the main job's models train into sub-workdirs of the one it holds).

    With several processes, process 0 holds the lock for the job; the others learn whether it
    got it, so all stop together.

    On an object store (``gs://...``), which has neither atomic creation nor ``flock``, the lock
    is an advisory object created by process 0 if none exists (with a warning saying so); an
    existing one stops the run, naming its holder, whose liveness cannot be checked.

    Raises:
      WorkdirLockedError: another live run holds the workdir (or a workdir it lies in), naming
        it: host, PID, start time and command.
    """
    remote = metric_writer.is_remote(workdir)
    path = os.path.join(workdir if remote else os.path.abspath(workdir), LOCK_FILE)
    if path in _held:
        _held[path] += 1
        try:
            yield
        finally:
            _held[path] -= 1
        return
    error = None
    if is_writer():
        try:
            (_acquire_remote if remote else _acquire)(path)
        except WorkdirLockedError as e:
            error = e
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        ok = int(multihost_utils.broadcast_one_to_all(np.int32(error is None)))
        if not ok and error is None:
            error = WorkdirLockedError(f"process 0 could not lock {workdir}; see its log")
    if error is not None:
        raise error
    _held[path] = 1
    try:
        yield
    finally:
        del _held[path]
        if is_writer():
            (_release_remote if remote else _release)(path)


# ----------------------------------------------------------------------------- provenance

# The settings a resumed run must share with the steps before it (a section name: all its keys).
# Changing one needs --allow_config_change, and is then recorded in run_history.jsonl. The rest
# (num_steps, logging, evaluation and checkpoint intervals, the sampler, the mesh) can change
# freely: they do not change what the steps compute.
PROVENANCE_KEYS = (
    "seed",
    "data",
    "model",
    "train.batch_size",
    "train.optimizer",
    "train.learning_rate",
    "train.b1",
    "train.b2",
    "train.momentum",
    "train.disc_learning_rate",
    "train.gen_learning_rate",
    "train.on_non_finite",
    "train.grad_accum_steps",
)
IMAGE_SHAPE_KEY = "data.image_shape"  # recorded in run_history.jsonl, compared like a key


def _flat(tree: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in tree.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _as_json(obj):
    return json.loads(json.dumps(obj))  # tuples -> lists, as stored


def _watched(flat: dict) -> dict:
    return {
        k: v
        for k, v in flat.items()
        if any(k == p or k.startswith(p + ".") for p in PROVENANCE_KEYS)
    }


def read_history(workdir: str) -> list[dict]:
    """The rows of ``<workdir>/run_history.jsonl`` (none for a run that has none)."""
    path = os.path.join(workdir, HISTORY_FILE)
    if not epath.Path(path).exists():
        return []
    rows = []
    with epath.Path(path).open() as f:
        for number, line in enumerate(f, start=1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except ValueError as e:
                    raise ValueError(f"{path}, line {number}: damaged row ({e})") from None
    return rows


def effective_config(workdir: str) -> dict:
    """The config the run's latest steps used: ``config.json`` with the changes of
    ``run_history.jsonl`` applied in order. Missing keys (added to a section after the run was
    stored) take their defaults."""
    flat = _flat(_as_json(dataclasses.asdict(config_lib.ExperimentConfig())))
    flat.update(_flat(read_json(os.path.join(workdir, CONFIG_FILE))))
    for row in read_history(workdir):
        for key, change in row.get("changes", {}).items():
            if key != IMAGE_SHAPE_KEY:
                flat[key] = change["to"]
    tree: dict = {}
    for key, value in flat.items():
        *sections, name = key.split(".")
        node = tree
        for section in sections:
            node = node.setdefault(section, {})
        node[name] = value
    return tree


def config_changes(workdir: str, cfg: config_lib.ExperimentConfig, image_shape) -> dict:
    """``{key: {"from": stored, "to": requested}}`` of the :data:`PROVENANCE_KEYS` (and the
    data's image shape) in which ``cfg`` differs from the run stored in ``workdir``."""
    stored = _watched(_flat(effective_config(workdir)))
    current = _watched(_flat(_as_json(dataclasses.asdict(cfg))))
    shapes = [r[IMAGE_SHAPE_KEY] for r in read_history(workdir) if IMAGE_SHAPE_KEY in r]
    if shapes:
        stored[IMAGE_SHAPE_KEY] = shapes[-1]
        current[IMAGE_SHAPE_KEY] = list(image_shape)
    return {
        k: {"from": stored.get(k), "to": current.get(k)}
        for k in sorted(stored.keys() | current.keys())
        if stored.get(k) != current.get(k)
    }


def _changes_text(changes: dict) -> str:
    return ", ".join(f"{k}: {c['from']!r} -> {c['to']!r}" for k, c in changes.items())


def start_run(
    workdir: str,
    cfg: config_lib.ExperimentConfig,
    image_shape,
    checkpoint_step: int | None,
    *,
    allow_config_change: bool = False,
) -> dict | None:
    """Records a training run's start in ``workdir``, or says there is nothing to do.

    * No checkpoint yet: a fresh run. ``config.json`` is (re)written and the history restarts.
    * A checkpoint: a resume. Settings of :data:`PROVENANCE_KEYS` that differ from those the
      earlier steps used are refused, or, with ``allow_config_change``, let through, for
      :func:`record_resume` to record once the checkpoint is restored; ``config.json`` always
      keeps the original settings. Nothing is written.
    * A checkpoint at or past ``train.num_steps`` with its ``summary.json`` written: finished.
      Nothing is written; the stored summary is returned.

    Args:
      image_shape: (H, W, C) of the data the run is given.
      checkpoint_step: the latest finished checkpoint's step, or None.

    Returns:
      The stored summary if the run is finished, else None (train from the checkpoint).

    Raises:
      ConfigChangedError: naming each differing key with its stored and requested value.
    """
    summary_path = os.path.join(workdir, SUMMARY_FILE)
    history = os.path.join(workdir, HISTORY_FILE)
    config_path = os.path.join(workdir, CONFIG_FILE)
    if checkpoint_step is None or not epath.Path(config_path).exists():
        if is_writer():
            if epath.Path(history).exists():
                epath.Path(history).unlink()  # of a run that never reached a checkpoint
            write_json(config_path, dataclasses.asdict(cfg))
            _append_row(history, _history_row(0, image_shape))
        return None
    changes = config_changes(workdir, cfg, image_shape)
    if changes and not allow_config_change:
        raise ConfigChangedError(
            f"workdir {workdir} holds a run whose steps 0-{checkpoint_step} used other settings: "
            f"{_changes_text(changes)}. Resuming would mix them: pass the original values, use "
            "a new --workdir, or continue with the new settings with --allow_config_change "
            f"(recorded in {HISTORY_FILE})"
        )
    metric_writer.check_rows(workdir)  # a damaged metrics row stops the resume before any write
    num_steps = cfg.train.num_steps
    summary = read_json(summary_path) if epath.Path(summary_path).exists() else None
    if checkpoint_step >= num_steps and summary and summary.get("step") == checkpoint_step:
        if checkpoint_step == num_steps:
            logging.info(
                "[%s] %s is finished: checkpoint %d = train.num_steps; nothing to do (metrics "
                "and summary.json unchanged). To train further, raise --config.train.num_steps",
                cfg.model.family,
                workdir,
                checkpoint_step,
            )
        else:
            logging.warning(
                "[%s] train.num_steps=%d is below the checkpoint step %d of %s: that run is "
                "already past it; nothing to do (metrics and summary.json unchanged, no steps "
                "undone). To train further, pass --config.train.num_steps above %d",
                cfg.model.family,
                num_steps,
                checkpoint_step,
                workdir,
                checkpoint_step,
            )
        return summary
    return None


def record_resume(
    workdir: str, cfg: config_lib.ExperimentConfig, image_shape, checkpoint_step: int
) -> None:
    """Appends the resumed run's row to ``run_history.jsonl`` (after :func:`start_run` let it
    through and its checkpoint was restored): its step, host, PID, image shape and the settings
    it changed, if any."""
    row = _history_row(checkpoint_step, image_shape)
    changes = config_changes(workdir, cfg, image_shape)
    if changes:
        logging.warning(
            "[%s] continuing %s from step %d with changed settings (--allow_config_change): %s",
            cfg.model.family,
            workdir,
            checkpoint_step,
            _changes_text(changes),
        )
        row["changes"] = changes
    if is_writer():
        _append_row(os.path.join(workdir, HISTORY_FILE), row)


def _history_row(step: int, image_shape) -> dict:
    return {
        "step": step,
        "time": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        IMAGE_SHAPE_KEY: list(image_shape),
    }


def _append_row(path: str, row: dict) -> None:
    """Appends a JSON row by rewriting the (small) file atomically: object stores cannot append."""
    file = epath.Path(path)
    text = file.read_text() if file.exists() else ""
    metric_writer.atomic_write(file, text + json.dumps(row) + "\n")


def config_differences(requested, trained, sections=("data", "model")) -> list[str]:
    """``"model.latent_dim: 8 (trained) vs 4 (requested)"`` for every key of ``sections`` in
    which two ExperimentConfigs differ."""
    a = _flat(_as_json({s: dataclasses.asdict(getattr(trained, s)) for s in sections}))
    b = _flat(_as_json({s: dataclasses.asdict(getattr(requested, s)) for s in sections}))
    return [
        f"{k}: {a.get(k)!r} (trained) vs {b.get(k)!r} (requested)"
        for k in sorted(a.keys() | b.keys())
        if a.get(k) != b.get(k)
    ]


def restore_or_create(
    cfg: config_lib.ExperimentConfig,
    ckpt: checkpoint.Checkpointer,
    model,
    tx,
    image_shape,
    mesh: Mesh | None = None,
) -> TrainState:
    """The latest checkpoint in ``ckpt`` if there is one, else a freshly initialised state;
    replicated over ``mesh`` if given (restored straight into that placement)."""
    init = functools.partial(builders.init_state, cfg, model, tx, image_shape)
    if ckpt.latest_step() is None:
        state = init()
        return state if mesh is None else parallel.replicate(state, mesh)
    logging.info("Resuming from checkpoint %d in %s", ckpt.latest_step(), ckpt.directory)
    abstract = jax.eval_shape(init)
    if mesh is not None:
        replicated = NamedSharding(mesh, PartitionSpec())
        abstract = jax.tree.map(
            lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=replicated), abstract
        )
    return ckpt.restore(abstract)


def load_trained(workdir: str, config: ml_collections.ConfigDict | None = None):
    """Restores ``(cfg, model, state)`` from a training workdir (for sampling and evaluation)."""
    if config is None:
        path = os.path.join(workdir, CONFIG_FILE)
        if not epath.Path(path).is_file():
            raise FileNotFoundError(
                f"no trained model in {workdir}: {path} is missing; train one first with "
                f"`python -m experiments.train --config=... --workdir={workdir}`"
            )
        config = ml_collections.ConfigDict(effective_config(workdir))
    cfg = config_lib.validate(config)
    image_shape = data.load_dataset(
        cfg.data.name, "test", tfds_data_dir=cfg.data.tfds_data_dir
    ).image_shape
    config_lib.check_against_data(cfg, image_shape)
    model = builders.build_model(cfg.model, image_shape)
    tx = builders.build_optimizer(cfg.train)
    ckpt = checkpoint.Checkpointer(workdir, read_only=True)  # sampling never writes checkpoints
    try:
        if ckpt.latest_step() is None:
            raise FileNotFoundError(
                f"no checkpoint in {ckpt.directory}; train first with experiments.train"
            )
        state = restore_or_create(cfg, ckpt, model, tx, image_shape)
    finally:
        ckpt.close()
    return cfg, model, state


__all__ = [
    "CONFIG_FILE",
    "HISTOGRAM_FILE",
    "METRICS_FILE",
    "MOMENTS_FILE",
    "SAMPLES_DIR",
    "SAMPLES_FILE",
    "SAMPLE_SUMMARY_FILE",
    "SUMMARY_FILE",
    "CHECKPOINTS_DIR",
    "ConfigChangedError",
    "HISTORY_FILE",
    "IMAGE_SHAPE_KEY",
    "LOCK_FILE",
    "PROVENANCE_KEYS",
    "WorkdirError",
    "WorkdirLockedError",
    "check_workdir",
    "config_changes",
    "config_differences",
    "effective_config",
    "finished_checkpoints",
    "is_writer",
    "locked",
    "no_space_error",
    "read_history",
    "record_resume",
    "start_run",
    "load_trained",
    "read_json",
    "restore_or_create",
    "write_json",
]
