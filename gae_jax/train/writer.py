"""Metrics to ``metrics.jsonl`` (machine-readable) and TensorBoard event files, plus progress."""

from __future__ import annotations

import json
import os
import time
from errno import ENOSPC

import jax
from absl import logging


class MetricWriter:
    """Appends ``{"step": s, "split": ..., name: value, ...}`` lines to ``<workdir>/metrics.jsonl``
    and writes the same scalars as ``<split>/<name>`` for TensorBoard.

    Every write is synchronous and flushed before :meth:`write` returns: there is no background
    thread that could die (e.g. on a full disk) and leave a later write waiting forever. A failed
    write raises ``OSError`` at once, naming the file (``errno.ENOSPC`` for a full disk).

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
        self.path = os.path.join(workdir, "metrics.jsonl")
        self.enabled = jax.process_index() == 0  # workdir.is_writer(); train sits below workdir
        self._jsonl = self._tb = None
        if not self.enabled:
            return
        os.makedirs(workdir, exist_ok=True)
        if resume_step is not None and os.path.exists(self.path):
            _keep_rows_up_to(self.path, resume_step, drop_test_at_step=final_at_resume)
        self._jsonl = open(self.path, "a")  # noqa: SIM115 - closed in close()
        self._tb = _SyncEventWriter(os.path.join(workdir, "tensorboard"))

    def write(self, step: int, split: str, metrics: dict[str, float]) -> None:
        if not self.enabled:
            return
        scalars = {k: float(v) for k, v in metrics.items()}
        row = json.dumps({"step": int(step), "split": split, **scalars}) + "\n"
        try:
            self._jsonl.write(row)
            self._jsonl.flush()
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
                    logging.warning("closing %s: %s", getattr(f, "name", f), e)
        self._jsonl = self._tb = None


class _SyncEventWriter:
    """TensorBoard scalars written synchronously into one ``events.out.tfevents.*`` file of
    ``logdir`` (tensorboardX's record format, without its background writer thread)."""

    def __init__(self, logdir: str):
        from tensorboardX.event_file_writer import EventsWriter

        os.makedirs(logdir, exist_ok=True)
        self.name = logdir
        try:
            self._events = EventsWriter(os.path.join(logdir, "events"))
            self._events.flush()
        except OSError as e:
            raise _named(e, logdir) from e

    def write_scalars(self, scalars: dict[str, float], step: int) -> None:
        from tensorboardX.proto import event_pb2
        from tensorboardX.summary import scalar

        try:
            for tag, value in scalars.items():
                event = event_pb2.Event(summary=scalar(tag, value), step=step)
                event.wall_time = time.time()
                self._events.write_event(event)
            self._events.flush()
        except OSError as e:
            raise _named(e, f"{self._events._file_name} (step {step})") from e

    def close(self) -> None:
        self._events.close()


def _named(error: OSError, path: str) -> OSError:
    """``error`` with the file it happened on and, for a full disk, what to do."""
    what = os.strerror(error.errno) if error.errno else str(error)
    advice = "; free space on that disk or use another --workdir" if error.errno == ENOSPC else ""
    return type(error)(error.errno, f"writing {path}: {what}{advice}")


def _keep_rows_up_to(path: str, step: int, *, drop_test_at_step: bool = False) -> None:
    """Rewrites ``path`` (atomically) with only its complete rows logged at or before ``step``
    (none if ``step`` is 0), less the test row of ``step`` if ``drop_test_at_step``.

    Raises:
      ValueError: a complete row is not JSON (the file was damaged); names the file and line.
    """
    with open(path) as f:
        lines = f.read().split("\n")
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
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "w") as f:
            f.writelines(line + "\n" for line in kept)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def check_rows(workdir: str) -> None:
    """Raises ValueError naming the file and line if a complete row of
    ``<workdir>/metrics.jsonl`` is damaged (a last line cut short by a kill is fine)."""
    path = os.path.join(workdir, "metrics.jsonl")
    if os.path.exists(path):
        with open(path) as f:
            _parse_rows(path, f.read().split("\n")[:-1])


def _parse_rows(path: str, lines: list[str]) -> list[tuple[str, dict]]:
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
    path = os.path.join(workdir, "metrics.jsonl")
    with open(path) as f:
        text = f.read()
    rows = [row for _, row in _parse_rows(path, text.split("\n"))]
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
