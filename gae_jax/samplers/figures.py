"""PNG figures of chain samples (matplotlib's object API with the Agg canvas, no pyplot state)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure


def tile(images: np.ndarray, num_cols: int) -> np.ndarray:
    """Tiles ``images: float[N, H, W, C]`` into one ``[rows * (H + 1) - 1, cols * (W + 1) - 1, C]``
    image with 1-pixel white gaps; values are clipped to [0, 1] (pixel-space chains add noise)."""
    images = np.clip(np.asarray(images, np.float32), 0.0, 1.0)
    n, h, w, c = images.shape
    num_cols = max(1, min(num_cols, n))
    num_rows = -(-n // num_cols)
    canvas = np.ones((num_rows * (h + 1) - 1, num_cols * (w + 1) - 1, c), np.float32)
    for i, image in enumerate(images):
        r, col = divmod(i, num_cols)
        canvas[r * (h + 1) : r * (h + 1) + h, col * (w + 1) : col * (w + 1) + w] = image
    return canvas


def _show(ax, canvas: np.ndarray) -> None:
    if canvas.shape[-1] == 1:
        ax.imshow(canvas[..., 0], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    else:
        ax.imshow(canvas, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def save_grid(path: str, images: np.ndarray, title: str = "") -> None:
    """One square-ish grid of ``images: float[N, H, W, C]``."""
    canvas = tile(images, int(np.ceil(np.sqrt(len(images)))))
    fig = Figure(figsize=(6, 6 * canvas.shape[0] / canvas.shape[1] + 0.4))
    ax = fig.add_subplot()
    _show(ax, canvas)
    ax.set_title(title, fontsize=9)
    fig.savefig(path, dpi=150, bbox_inches="tight")


def save_steps_panel(path: str, steps: Sequence[int], images: np.ndarray, title: str) -> None:
    """Side-by-side grids of the same chains at several steps.

    Args:
      steps: the step of each panel.
      images: float[len(steps), N, H, W, C].
    """
    fig = Figure(figsize=(3.2 * len(steps), 3.6))
    for i, (step, batch) in enumerate(zip(steps, images, strict=True)):
        ax = fig.add_subplot(1, len(steps), i + 1)
        _show(ax, tile(batch, int(np.ceil(np.sqrt(len(batch))))))
        ax.set_title(f"step {step}", fontsize=10)
    fig.suptitle(title, fontsize=10)
    fig.savefig(path, dpi=150, bbox_inches="tight")


def save_interpolation(
    path: str, endpoints: np.ndarray, original: np.ndarray, refined: np.ndarray, steps: int
) -> None:
    """Paper 000 Fig. 2: per pair, the decoded slerp path and the same path after chain steps.

    Args:
      endpoints: float[pairs, 2, H, W, C], the two test images of each pair.
      original, refined: float[pairs, points, H, W, C].
    """
    pairs, points = original.shape[:2]
    fig = Figure(figsize=(0.7 * (points + 2), 1.5 * pairs + 0.5))
    for p in range(pairs):
        for row, (path_images, label) in enumerate(
            ((original[p], "slerp"), (refined[p], f"+{steps} steps"))
        ):
            ax = fig.add_subplot(2 * pairs, 1, 2 * p + row + 1)
            strip = np.concatenate([endpoints[p, :1], path_images, endpoints[p, 1:]])
            _show(ax, tile(strip, len(strip)))
            ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    fig.suptitle("test image | decoded interpolation | test image", fontsize=9)
    fig.savefig(path, dpi=150, bbox_inches="tight")


def save_trajectories(
    path: str, images: np.ndarray, restarted: np.ndarray, kept: np.ndarray, title: str
) -> None:
    """Pixel-space walks, one row per chain and one column per step.

    Args:
      images: float[steps, chains, H, W, C], the state after each transition.
      restarted: bool[steps], transitions that started from a fresh random point.
      kept: bool[steps], outputs kept as samples (the others are burn-in, shaded).
    """
    steps, chains, h, w, _ = images.shape
    by_chain = np.swapaxes(images, 0, 1).reshape(steps * chains, *images.shape[2:])
    canvas = tile(by_chain, steps)
    fig = Figure(figsize=(max(6.0, 0.35 * steps), 0.4 * chains + 0.8))
    ax = fig.add_subplot()
    _show(ax, canvas)
    for t in np.flatnonzero(restarted):
        ax.axvline(t * (w + 1) - 1, color="red", linewidth=1)
    for t in np.flatnonzero(~kept):
        ax.axvspan(t * (w + 1) - 1, (t + 1) * (w + 1) - 1, color="grey", alpha=0.45, lw=0)
    ax.set_xlim(-0.5, canvas.shape[1] - 0.5)  # the lines and spans would add margins
    ax.set_xlabel("step (red: restart from a fresh N(0, I) point; shaded: burn-in)", fontsize=8)
    ax.set_title(title, fontsize=9)
    fig.savefig(path, dpi=150, bbox_inches="tight")
