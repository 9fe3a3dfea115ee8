"""Every figure of the library: samples, chains, codes and measured curves.

The only module that imports matplotlib. It uses matplotlib's object API with the Agg canvas
(no pyplot state), so figures can be drawn from threads and from several processes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

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


def encoding_histogram_figure(
    sets: Mapping[str, np.ndarray],
    *,
    dims: Sequence[int] | None = None,
    bins: int | None = None,
    title: str | None = None,
    scatter: bool | None = None,
) -> Figure:
    """Overlaid density histograms of latent codes, one panel per latent dimension (paper 001
    Fig. 2: encodings of data and of corrupted data against prior samples).

    Histograms are steps on the pooled 0.5-99.5 percentile range, which keeps a few outlying
    codes from squashing the rest.

    Args:
      sets: label -> float[N_i, D] codes, drawn in this order.
      dims: latent dimensions to show; the first min(D, 4) by default.
      bins: bins per panel, shared by all sets; about sqrt(N) of the first set by default.
      title: optional figure title.
      scatter: add a z[0]-vs-z[1] scatter panel (marginals hide the modes of e.g. the GMM
        ring); None: only for 2-D codes.

    Returns:
      A ``Figure`` on the Agg canvas; save it with ``fig.savefig(path)``.
    """
    sets = {label: np.asarray(z) for label, z in sets.items()}
    widths = {z.shape[1] if z.ndim == 2 else None for z in sets.values()}
    if not sets or len(widths) != 1 or None in widths:
        shapes = {label: z.shape for label, z in sets.items()}
        raise ValueError(f"need one or more code sets [N_i, D] with the same D, got {shapes}")
    first = next(iter(sets.values()))
    dims = list(range(min(first.shape[1], 4))) if dims is None else list(dims)
    if bins is None:
        bins = int(np.clip(np.sqrt(first.shape[0]), 10, 60))
    scatter = first.shape[1] == 2 if scatter is None else scatter
    fig = Figure(figsize=(3.2 * (len(dims) + scatter), 3.0), layout="constrained")
    axes = fig.subplots(1, len(dims) + scatter, squeeze=False)[0]
    for ax, d in zip(axes, dims, strict=False):
        pooled = np.concatenate([z[:, d] for z in sets.values()])
        edges = np.linspace(*np.percentile(pooled, [0.5, 99.5]), bins + 1)
        for label, z in sets.items():
            ax.hist(z[:, d], bins=edges, density=True, histtype="step", lw=1.5, label=label)
        ax.set_title(f"z[{d}]")
    if scatter:
        for label, z in sets.items():
            axes[-1].scatter(z[:, 0], z[:, 1], s=2, alpha=0.5, label=label)
        axes[-1].set_title("z[0] vs z[1]")
    axes[0].legend(fontsize="small")
    if title:
        fig.suptitle(title)
    return fig


def save_metric_curves(
    path: str,
    models: Mapping[str, dict],
    panels: Sequence[tuple[str, str, str | None]],
    reference: Mapping[str, float],
) -> None:
    """One panel per measure against the chain step, a line per model.

    Args:
      models: name -> ``{"steps": [...], "metrics": {key: [...], "parzen_stderr": [...]}}``.
      panels: ``(key, label, "higher" | "lower" | None)`` of each measure to plot.
      reference: key -> the real data's value, drawn as a dashed line where given.
    """
    fig = Figure(figsize=(4.0 * len(panels) / 2, 6.4), layout="constrained")
    axes = fig.subplots(2, len(panels) // 2 + len(panels) % 2).ravel()
    for ax, (key, label, better) in zip(axes, panels, strict=False):
        for name, model in models.items():
            values = np.asarray(model["metrics"][key])
            err = np.asarray(model["metrics"]["parzen_stderr"]) if key == "parzen_ll" else None
            ax.errorbar(model["steps"], values, yerr=err, marker="o", capsize=3, label=name)
        if key in reference:
            ax.axhline(reference[key], color="k", ls="--", lw=1, label="real data")
        ax.set_title(label + (f" ({better} is better)" if better else ""), fontsize=10)
        ax.set_xlabel("chain step")
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    axes[0].legend(fontsize="small")
    fig.savefig(path, dpi=90)


def save_samples_overview(
    path: str, images: Mapping[str, np.ndarray], steps: Sequence[int]
) -> None:
    """A grid of sample tiles: a row per model, a column per recorded chain step.

    Args:
      images: model name -> float[S, N, H, W, C], the N chains shown at each of the S steps.
    """
    names = list(images)
    cols = int(np.ceil(np.sqrt(images[names[0]].shape[1])))
    fig = Figure(figsize=(1.6 * len(steps) + 0.6, 1.6 * len(names) + 0.4), layout="constrained")
    axes = fig.subplots(len(names), len(steps), squeeze=False)
    for r, name in enumerate(names):
        for c, step in enumerate(steps):
            canvas = tile(images[name][c], cols)
            ax = axes[r, c]
            gray = canvas.shape[-1] == 1
            ax.imshow(
                canvas[..., 0] if gray else canvas,
                cmap="gray",
                vmin=0,
                vmax=1,
                interpolation="nearest",  # sharp pixels, and a PNG a fraction of the size
            )
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(f"step {step}", fontsize=10)
            if c == 0:
                ax.set_ylabel(name, fontsize=10)
    fig.savefig(path, dpi=110)


def save_parzen_and_frechet_curves(
    path: str,
    per_step: Mapping[str, tuple[str, dict]],
    reported: Mapping[str, Sequence[tuple[int, float]]],
    paper: str,
) -> None:
    """Parzen log-likelihood and classifier Fréchet distance against the chain step.

    Args:
      per_step: model name -> (row label, :func:`~gae_jax.evaluation.per_step_metrics` output).
      reported: model name -> the paper's (step, Parzen LL) points, drawn as hollow diamonds.
      paper: the paper's table, named in the title.
    """
    fig = Figure(figsize=(10, 4))
    ax_ll, ax_fd = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    for name, (label, metrics) in per_step.items():
        steps = np.arange(len(metrics["parzen_ll"]))
        bars = ax_ll.errorbar(
            steps, metrics["parzen_ll"], yerr=metrics["parzen_stderr"], marker="o", label=label
        )
        points = [(t, v) for t, v in reported.get(name, ()) if t < len(steps)]
        if points:
            color = bars.lines[0].get_color()
            ax_ll.plot(*zip(*points, strict=True), "D", mfc="none", color=color, markersize=8)
        ax_fd.plot(steps, metrics["frechet"], marker="o", label=label)
    ax_ll.set_xlabel("chain step t")
    ax_ll.set_ylabel("Parzen log-likelihood of test images (nats)")
    ax_ll.set_title(f"ours (filled) vs {paper} (hollow diamonds)", fontsize=9)
    ax_fd.set_xlabel("chain step t")
    ax_fd.set_ylabel("classifier Fréchet distance to test images")
    ax_fd.legend(fontsize=8)
    fig.savefig(path, dpi=120, bbox_inches="tight")


def save_accuracy_curves(
    path: str,
    sample_counts: Sequence[int],
    curves: Mapping[str, Sequence[float]],
    bounds: Mapping[str, tuple[Sequence[float], str]],
    ground_truth: float,
) -> None:
    """Test accuracy against the number of labelled training samples (paper 002 Fig. 3).

    Args:
      curves: label -> accuracies of classifiers trained on a model's samples.
      bounds: label -> (accuracies, matplotlib format such as ``"k-o"``) of the reference curves.
      ground_truth: the ground-truth classifier's accuracy, drawn as a grey line.
    """
    fig = Figure(figsize=(6, 4.5))
    ax = fig.add_subplot()
    labels = list(bounds)
    ax.plot(sample_counts, bounds[labels[0]][0], bounds[labels[0]][1], label=labels[0])
    for label, curve in curves.items():
        ax.plot(sample_counts, curve, marker="o", label=label)
    for label in labels[1:]:
        ax.plot(sample_counts, bounds[label][0], bounds[label][1], label=label)
    ax.axhline(ground_truth, color="grey", lw=1, label="ground-truth classifier")
    ax.set_xscale("log")
    ax.set_xlabel("labelled training samples n")
    ax.set_ylabel("test accuracy")
    ax.legend(fontsize=7)
    fig.savefig(path, dpi=120, bbox_inches="tight")


def save_study_figure(
    path: str,
    curves: Mapping[str, Mapping[str, dict]],
    panels: Sequence[tuple[str, str, str]],
    reference: Mapping[str, float],
) -> None:
    """The chain study: a row per measure, a column per model, a line per chain variant, each
    point the mean over seeds with error bars of one standard deviation.

    Args:
      curves: model -> variant -> ``{"steps": [...], key: {"mean": [...], "sd": [...]}}``.
      panels: ``(key, label, "higher" | "lower")`` of each measure (a row).
      reference: key -> the real images' value, drawn as a dashed line where given.
    """
    models = list(curves)
    fig = Figure(figsize=(3.2 * len(models) + 1.0, 2.6 * len(panels) + 0.6), layout="constrained")
    axes = fig.subplots(len(panels), len(models), squeeze=False, sharex=True)
    for c, model in enumerate(models):
        for r, (key, label, better) in enumerate(panels):
            ax = axes[r, c]
            for variant, curve in curves[model].items():
                values = curve[key]
                ax.errorbar(
                    curve["steps"],
                    values["mean"],
                    yerr=values["sd"],
                    marker="o",
                    markersize=3,
                    capsize=2,
                    label=variant,
                )
            if key in reference:
                ax.axhline(reference[key], color="k", ls="--", lw=1, label="real images")
            ax.set_xscale("symlog", linthresh=1.0)
            steps = sorted({t for curve in curves[model].values() for t in curve["steps"]})
            ax.set_xticks(steps, [str(t) for t in steps])
            if r == 0:
                ax.set_title(model, fontsize=10)
            if c == 0:
                ax.set_ylabel(f"{label} ({better} is better)", fontsize=9)
            if r == len(panels) - 1:
                ax.set_xlabel("chain step")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    for ax in axes[0, 1:]:  # models whose variants were merged show fewer lines
        more, names = ax.get_legend_handles_labels()
        for h, name in zip(more, names, strict=True):
            if name not in labels:
                handles.append(h)
                labels.append(name)
    fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 5), fontsize=8)
    fig.savefig(path, dpi=90)
