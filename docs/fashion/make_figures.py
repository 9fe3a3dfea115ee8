"""Figures and the results JSON of the full Fashion-MNIST runs, from their workdirs.

    python docs/fashion/make_figures.py [--runs=runs] [--out=docs/fashion]
        [--results=docs/results/fashion_mnist.json]

Reads ``<runs>/fashion_{mlp,conv}_daae/{metrics.jsonl,summary.json,config.json}`` (and the
``samples/latent_steps.png`` grids that ``experiments.sample`` wrote), writes
``<out>/recon_curves.png`` (validation/test reconstruction BCE per epoch and the smoothed
training loss), copies the sample grids (``latent_steps.png``) to ``<out>/{mlp,conv}_latent_steps.png`` and writes
the numbers to ``--results``. A run still in progress is reported as such, with its last step.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, REPO)

from gae_jax.train.writer import read_metrics  # noqa: E402

RUNS = {
    "mlp": ("fashion_mlp_daae", "daae,fashion", "MLP DAAE (2x1000, z=10)"),
    "conv": ("fashion_conv_daae", "daae_conv,fashion", "DCGAN conv DAAE (64 filters, z=32)"),
}


def _read_json(path: str):
    with open(path) as f:
        return json.load(f)


def _flatness(values: list[float], last: int = 3) -> float | None:
    """Relative change of the mean of the last ``last`` evaluations vs the ``last`` before."""
    if len(values) < 2 * last:
        return None
    recent, before = np.mean(values[-last:]), np.mean(values[-2 * last : -last])
    return float((before - recent) / before)


def run_results(key: str, workdir: str) -> dict:
    name, config_arg, label = RUNS[key]
    rows = read_metrics(workdir)
    config = _read_json(os.path.join(workdir, "config.json"))
    steps_per_epoch = 60_000 // config["train"]["batch_size"]  # validation="test": all 60,000
    val = [r for r in rows if r["split"] == "validation"]
    test = [r for r in rows if r["split"] == "test"]
    train = [r for r in rows if r["split"] == "train"]
    summary_path = os.path.join(workdir, "summary.json")
    summary = _read_json(summary_path) if os.path.exists(summary_path) else None
    flags = f"--config=configs/models.py:{config_arg} --workdir=runs/{name}"
    result = {
        "label": label,
        "command": f"python -m experiments.train {flags}",
        "finished": summary is not None,
        # A resumed run may have been given another length: the summary has the final step.
        "num_steps": summary["step"] if summary else config["train"]["num_steps"],
        "last_logged_step": train[-1]["step"] if train else 0,
        "steps_per_epoch": steps_per_epoch,
        "model": {
            k: config["model"][k]
            for k in ("family", "architecture", "latent_dim", "conv_width", "encoder_hidden")
        },
        "test_bce_per_epoch": [[r["step"], r["bce"]] for r in val],
        "test_bce_relative_change_last_3_epochs": _flatness([r["bce"] for r in val]),
        "test_at_step_0": test[0] if test else None,
    }
    if summary is not None:
        result.update(
            final_test=summary["test"],
            train_seconds=summary["train_seconds"],
            steps_per_second=summary["steps_per_second"],
        )
    return result


def curve_figure(results: dict, runs: dict, path: str) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for key, res in results.items():
        epochs = [s / res["steps_per_epoch"] for s, _ in res["test_bce_per_epoch"]]
        bce = [b for _, b in res["test_bce_per_epoch"]]
        (line,) = axes[0].plot(
            epochs, bce, "o-", ms=3, label=f"{res['label']}, test split (per epoch)"
        )
        if res.get("final_test"):
            axes[0].plot(
                res["num_steps"] / res["steps_per_epoch"],
                res["final_test"]["bce"],
                "*",
                ms=12,
                color=line.get_color(),
                label=f"{res['label']}, test",
            )
        train = [r for r in read_metrics(runs[key]) if r["split"] == "train"]
        steps = np.asarray([r["step"] for r in train], float)
        loss = np.asarray([r["recon_loss"] for r in train])
        k = min(10, len(loss))
        if k:
            smooth = np.convolve(loss, np.ones(k) / k, mode="valid")
            axes[1].plot(steps[k - 1 :] / res["steps_per_epoch"], smooth, label=res["label"])
    axes[0].set(xlabel="epoch", ylabel="reconstruction BCE (nats / image)")
    axes[0].set_title("Held-out reconstruction loss, full Fashion-MNIST")
    axes[1].set(xlabel="epoch", ylabel="training reconstruction BCE (moving average of 10 logs)")
    axes[1].set_title("Training reconstruction loss")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="runs")
    parser.add_argument("--out", default=os.path.join(REPO, "docs", "fashion"))
    parser.add_argument(
        "--results", default=os.path.join(REPO, "docs", "results", "fashion_mnist.json")
    )
    args = parser.parse_args()
    runs = {k: os.path.join(args.runs, name) for k, (name, _, _) in RUNS.items()}
    runs = {k: d for k, d in runs.items() if os.path.exists(os.path.join(d, "metrics.jsonl"))}
    results = {k: run_results(k, d) for k, d in runs.items()}
    os.makedirs(args.out, exist_ok=True)
    curve_figure(results, runs, os.path.join(args.out, "recon_curves.png"))
    for key, workdir in runs.items():
        samples = os.path.join(workdir, "samples")
        # One figure of the chain's grids at every recorded step (0, 1, 5, 10).
        grids = (
            ["latent_steps.png"]
            if os.path.exists(os.path.join(samples, "latent_steps.png"))
            else []
        )
        for grid in grids:
            shutil.copy(os.path.join(samples, grid), os.path.join(args.out, f"{key}_{grid}"))
        results[key]["sample_grids"] = [f"docs/fashion/{key}_{g}" for g in grids]
    os.makedirs(os.path.dirname(args.results), exist_ok=True)
    with open(args.results, "w") as f:
        json.dump(
            {"dataset": "idx:/usr/share/datasets/fashion-mnist", "runs": results}, f, indent=1
        )
    print(json.dumps(results, indent=1)[:4000])


if __name__ == "__main__":
    main()
