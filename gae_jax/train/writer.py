"""Metrics to ``metrics.jsonl`` (machine-readable) and TensorBoard event files, plus progress."""

from __future__ import annotations

import json
import os
import time

from absl import logging


class MetricWriter:
    """Appends ``{"step": s, "split": ..., name: value, ...}`` lines to ``<workdir>/metrics.jsonl``
    and writes the same scalars as ``<split>/<name>`` for TensorBoard.

    Args:
      workdir: the run directory.
      resume_step: the step training resumes from. Rows of ``metrics.jsonl`` logged after it
        came from a run that died before checkpointing them; the resumed run logs them again, so
        they are dropped (all rows when it is 0: no checkpoint was reached), as is a last line
        cut short by a kill. The file then reads as if the run had never been interrupted.
        None keeps every row.
    """

    def __init__(self, workdir: str, *, resume_step: int | None = None):
        os.makedirs(workdir, exist_ok=True)
        self.path = os.path.join(workdir, "metrics.jsonl")
        if resume_step is not None and os.path.exists(self.path):
            _keep_rows_up_to(self.path, resume_step)
        self._jsonl = open(self.path, "a")  # noqa: SIM115 - closed in close()
        try:
            from tensorboardX import SummaryWriter

            self._tb = SummaryWriter(os.path.join(workdir, "tensorboard"))
        except ImportError:  # pragma: no cover - tensorboardX is a dependency
            self._tb = None

    def write(self, step: int, split: str, metrics: dict[str, float]) -> None:
        scalars = {k: float(v) for k, v in metrics.items()}
        self._jsonl.write(json.dumps({"step": int(step), "split": split, **scalars}) + "\n")
        self._jsonl.flush()
        if self._tb is not None:
            for name, value in scalars.items():
                self._tb.add_scalar(f"{split}/{name}", value, int(step))

    def close(self) -> None:
        self._jsonl.close()
        if self._tb is not None:
            self._tb.close()


def _keep_rows_up_to(path: str, step: int) -> None:
    """Rewrites ``path`` (atomically) with only its complete rows logged at or before ``step``
    (none if ``step`` is 0)."""
    with open(path) as f:
        lines = f.read().split("\n")
    # A line without its newline is the remainder of a write cut short.
    complete = [line for line in lines[:-1] if line.strip()]
    kept = [line for line in complete if json.loads(line)["step"] <= step] if step > 0 else []
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.writelines(line + "\n" for line in kept)
    os.replace(tmp, path)


def read_metrics(workdir: str, split: str | None = None) -> list[dict]:
    """The rows of ``<workdir>/metrics.jsonl``, optionally only those of one split."""
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        rows = [json.loads(line) for line in f if line.strip()]
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
    """Drops INFO-and-below records logged from orbax (dozens per checkpoint)."""

    def filter(self, record) -> bool:
        return record.levelno > 20 or "orbax" not in record.pathname


def quiet_library_logs() -> None:
    """Keeps progress output readable: orbax's per-save INFO lines are dropped (warnings stay)."""
    import logging as std_logging

    std_logging.getLogger("absl").addFilter(_DropChattyInfo())
