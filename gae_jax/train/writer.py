"""Metrics to ``metrics.jsonl`` (machine-readable) and TensorBoard event files, plus progress."""

from __future__ import annotations

import json
import os
import socket
import struct
import time
from errno import ENOSPC

import jax
from absl import logging
from etils import epath

METRICS_FILE = "metrics.jsonl"


def is_remote(path) -> bool:
    """Whether ``path`` is on an object store (``gs://``, ``s3://``, ...) rather than a local or
    mounted file system: such files cannot be appended to, locked or renamed atomically."""
    return "://" in os.fspath(path)


def atomic_write(path, data: str | bytes) -> None:
    """Writes ``data`` to ``path`` (local or remote) so that readers see the old file or the
    new one, never part of one: locally through a temporary file of this process renamed over
    it (removed if the write fails, e.g. on a full disk); on an object store by one upload,
    which replaces an object whole."""
    path = epath.Path(path)
    write = lambda p: p.write_bytes(data) if isinstance(data, bytes) else p.write_text(data)  # noqa: E731
    if is_remote(path):
        write(path)
        return
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    try:
        write(tmp)
        tmp.replace(path)
    finally:
        if tmp.exists():
            tmp.unlink()


class _AppendFile:
    """A file that data is appended to and flushed at once, through ``etils.epath``.

    Locally the file stays open in append mode. Object stores have no append: the file's
    content is kept in memory and the whole object uploaded again on every append (metrics
    files are small, and each upload replaces the object whole).
    """

    def __init__(self, path: epath.Path):
        self.name = os.fspath(path)
        self._path = path
        self._remote = is_remote(path)
        if self._remote:
            self._data = path.read_bytes() if path.exists() else b""
            self._file = None
        else:
            self._file = path.open("ab")

    def append(self, data: bytes) -> None:
        if self._remote:
            self._data += data
            self._path.write_bytes(self._data)
        else:
            self._file.write(data)
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class MetricWriter:
    """Appends ``{"step": s, "split": ..., name: value, ...}`` lines to ``<workdir>/metrics.jsonl``
    and writes the same scalars as ``<split>/<name>`` for TensorBoard.

    Every write is synchronous and flushed before :meth:`write` returns: there is no background
    thread that could die (e.g. on a full disk) and leave a later write waiting forever. A failed
    write raises ``OSError`` at once, naming the file (``errno.ENOSPC`` for a full disk).

    All files go through ``etils.epath``, so the workdir may be remote (``gs://bucket/run``).
    Only process 0 of a multi-process job writes (``jax.process_index() == 0``); on the other
    processes every method is a no-op.

    Args:
      workdir: the run directory.
      resume_step: the step training resumes from. Rows of ``metrics.jsonl`` logged after its
        checkpoint came from a run that died before checkpointing them; the resumed run logs
        them again, so they are dropped (all rows when it is 0: no checkpoint was reached), as
        is a last line cut short by a kill. The file then reads as if the run had never been
        interrupted. None keeps every row.
      final_at_resume: ``resume_step`` is the run's last step (a run killed after its last
        checkpoint, before its summary): its test row, if written, is dropped too, as the
        resumed run writes it again.
    """

    def __init__(
        self, workdir: str, *, resume_step: int | None = None, final_at_resume: bool = False
    ):
        self.path = epath.Path(workdir) / METRICS_FILE
        self.enabled = jax.process_index() == 0  # workdir.is_writer(); train sits below workdir
        self._jsonl = self._tb = None
        if not self.enabled:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if resume_step is not None and self.path.exists():
            _keep_rows_up_to(self.path, resume_step, drop_test_at_step=final_at_resume)
        self._jsonl = _AppendFile(self.path)
        self._tb = _SyncEventWriter(epath.Path(workdir) / "tensorboard")

    def write(self, step: int, split: str, metrics: dict[str, float]) -> None:
        if not self.enabled:
            return
        scalars = {k: float(v) for k, v in metrics.items()}
        row = json.dumps({"step": int(step), "split": split, **scalars}) + "\n"
        try:
            self._jsonl.append(row.encode())
        except OSError as e:
            raise _named(e, f"{self.path} (step {step})") from e
        self._tb.write_scalars({f"{split}/{k}": v for k, v in scalars.items()}, int(step))

    def close(self) -> None:
        """Closes the files; never raises for a disk that filled up (the write that hit it did)."""
        for f in (self._jsonl, self._tb):
            if f is not None:
                try:
                    f.close()
                except OSError as e:
                    logging.warning("closing %s: %s", f.name, e)
        self._jsonl = self._tb = None


class _SyncEventWriter:
    """TensorBoard scalars written synchronously into one ``events.out.tfevents.*`` file of
    ``logdir``: TFRecord framing (length, masked CRC-32C of the length, the serialized ``Event``,
    its masked CRC-32C) as tensorboardX writes it, without its background thread, appended
    through :class:`_AppendFile`."""

    def __init__(self, logdir: epath.Path):
        from tensorboardX.proto import event_pb2

        name = f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}"
        self.name = os.fspath(logdir / name)
        try:
            logdir.mkdir(parents=True, exist_ok=True)
            self._file = _AppendFile(logdir / name)
            self._append(event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2"))
        except OSError as e:
            raise _named(e, os.fspath(logdir)) from e

    def _append(self, event) -> None:
        from tensorboardX.record_writer import masked_crc32c

        data = event.SerializeToString()
        header = struct.pack("Q", len(data))
        self._file.append(
            header
            + struct.pack("I", masked_crc32c(header))
            + data
            + struct.pack("I", masked_crc32c(data))
        )

    def write_scalars(self, scalars: dict[str, float], step: int) -> None:
        from tensorboardX.proto import event_pb2
        from tensorboardX.summary import scalar

        summaries = [scalar(tag, value) for tag, value in scalars.items()]
        event = event_pb2.Event(step=step, wall_time=time.time())
        for summary in summaries:
            event.summary.value.extend(summary.value)
        try:
            self._append(event)
        except OSError as e:
            raise _named(e, f"{self.name} (step {step})") from e

    def close(self) -> None:
        self._file.close()


def _named(error: OSError, path: str) -> OSError:
    """``error`` with the file it happened on and, for a full disk, what to do."""
    what = os.strerror(error.errno) if error.errno else str(error)
    advice = "; free space on that disk or use another --workdir" if error.errno == ENOSPC else ""
    return type(error)(error.errno, f"writing {path}: {what}{advice}")


def _keep_rows_up_to(path: epath.Path, step: int, *, drop_test_at_step: bool = False) -> None:
    """Rewrites ``path`` (atomically) with only its complete rows logged at or before ``step``
    (none if ``step`` is 0), less the test row of ``step`` if ``drop_test_at_step``.

    Raises:
      ValueError: a complete row is not JSON (the file was damaged); names the file and line.
    """
    lines = path.read_text().split("\n")
    # A line without its newline is the remainder of a write cut short.
    rows = _parse_rows(path, lines[:-1])
    kept = [
        line
        for line, row in rows
        if step > 0
        and (
            row["step"] < step
            or (row["step"] == step and not (drop_test_at_step and row["split"] == "test"))
        )
    ]
    atomic_write(path, "".join(line + "\n" for line in kept))


def check_rows(workdir: str) -> None:
    """Raises ValueError naming the file and line if a complete row of
    ``<workdir>/metrics.jsonl`` is damaged (a last line cut short by a kill is fine)."""
    path = epath.Path(workdir) / METRICS_FILE
    if path.exists():
        _parse_rows(path, path.read_text().split("\n")[:-1])


def _parse_rows(path, lines: list[str]) -> list[tuple[str, dict]]:
    """``(line, row)`` of every non-blank line; a line that is not a JSON row with a ``step``
    and a ``split`` raises ValueError naming the file, the line number and the line."""
    rows = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if not isinstance(row, dict) or "step" not in row or "split" not in row:
                raise ValueError("not an object with 'step' and 'split'")
        except ValueError as e:
            shown = line if len(line) <= 80 else line[:77] + "..."
            raise ValueError(
                f"{path}, line {number}: damaged metrics row {shown!r} ({e}); repair or delete "
                "that line (rows after the latest checkpoint are rewritten on resume)"
            ) from None
        rows.append((line, row))
    return rows


def read_metrics(workdir: str, split: str | None = None) -> list[dict]:
    """The rows of ``<workdir>/metrics.jsonl``, optionally only those of one split.

    Raises:
      ValueError: a row is damaged; names the file and the line.
    """
    path = epath.Path(workdir) / METRICS_FILE
    rows = [row for _, row in _parse_rows(path, path.read_text().split("\n"))]
    return [r for r in rows if split is None or r["split"] == split]


class Progress:
    """Periodic progress lines with throughput and ETA."""

    def __init__(self, total: int, start: int = 0, prefix: str = ""):
        self.total, self.start, self.prefix = total, start, prefix
        self._t0 = time.perf_counter()
        self._last_t, self._last_step = self._t0, start

    def update(self, step: int, metrics: dict[str, float] | None = None) -> float:
        """Logs a line for ``step`` (completed steps); returns the recent steps per second."""
        now = time.perf_counter()
        rate = (step - self._last_step) / max(now - self._last_t, 1e-9)
        overall = (step - self.start) / max(now - self._t0, 1e-9)
        eta = (self.total - step) / max(overall, 1e-9)
        shown = " ".join(f"{k}={v:.4g}" for k, v in (metrics or {}).items())
        logging.info(
            "%sstep %d/%d  %s  | %.1f steps/s | elapsed %s | ETA %s",
            self.prefix,
            step,
            self.total,
            shown,
            rate,
            _hms(now - self._t0),
            _hms(eta),
        )
        self._last_t, self._last_step = now, step
        return rate

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self._t0


def _hms(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class _DropChattyInfo:
    """Drops INFO-and-below records logged from orbax (dozens per checkpoint), and the
    tracebacks of its errors (a failed save logs its chained traceback from several threads;
    the :class:`~gae_jax.checkpoint.CheckpointError` that follows names the cause)."""

    def filter(self, record) -> bool:
        if "orbax" not in record.pathname:
            return True
        if record.levelno >= 40 and record.exc_info:
            cause = record.exc_info[1]
            record.msg = f"{record.getMessage()}: {type(cause).__name__}: {cause}"
            record.args, record.exc_info, record.exc_text = (), None, None
        return record.levelno > 20


def quiet_library_logs() -> None:
    """Keeps progress output readable: orbax's per-save INFO lines are dropped (warnings stay)."""
    import logging as std_logging

    std_logging.getLogger("absl").addFilter(_DropChattyInfo())
