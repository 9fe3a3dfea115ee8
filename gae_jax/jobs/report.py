"""The main job's report: figures, ``report.html`` (self-contained), ``summary.json``/``.csv``,
the terminal table, and an automatic, honest sentence per model on what its chain did.

Everything is a function of the summary dict built by :func:`gae_jax.jobs.main.run_pipeline`
(see there for its layout) plus PNG files already on disk, so a report can be rebuilt from a
finished ``summary.json``.
"""

from __future__ import annotations

import base64
import csv
import html
import math
import os

import numpy as np
from etils import epath

from gae_jax import plotting
from gae_jax import workdir as workdir_lib
from gae_jax.jobs import cluster
from gae_jax.workdir import SAMPLES_DIR

REPORT_FILE = "report.html"
FIGURES_DIR = "figures"  # under the workdir
SUMMARY_JSON = "summary.json"
SUMMARY_CSV = "summary.csv"
METRICS_FIGURE = "metrics.png"
OVERVIEW_FIGURE = "samples_overview.png"
BUDGET_SECONDS = 600.0

# (key, column label, which direction is better or None, format). Parzen LL carries its
# standard error in ``parzen_stderr``.
COLUMNS = (
    ("parzen_ll", "Parzen LL", "higher", "{:.1f}"),
    ("frechet", "classifier FD", "lower", "{:.2f}"),
    ("class_tv", "class TV", "lower", "{:.3f}"),
    ("classes_covered", "classes", None, "{:.0f}"),
    # Quality and diversity apart (k-NN manifolds in the classifier's features): a chain that
    # sharpens samples while dropping modes raises precision and lowers recall.
    ("precision", "precision", "higher", "{:.3f}"),
    ("recall", "recall", "higher", "{:.3f}"),
    ("latent_fd_data", "z FD to data", "lower", "{:.3f}"),
    ("latent_fd_prior", "z FD to prior", None, "{:.3f}"),
)
_LABELS = {key: label for key, label, _, _ in COLUMNS}


def _change(key: str, values: list[float], stderr: list[float] | None) -> tuple[int, str]:
    """Direction (+1 better, -1 worse, 0 no clear change) and a phrase for a metric's change
    from the first to the last recorded step."""
    _, label, better, fmt = next(c for c in COLUMNS if c[0] == key)
    a, b = values[0], values[-1]
    if stderr is not None:  # Parzen: a change within two combined standard errors is noise
        unclear = abs(b - a) <= 2.0 * math.hypot(stderr[0], stderr[-1])
    else:  # no error bar: changes under 5% are not called either way
        unclear = abs(b - a) <= 0.05 * max(abs(a), abs(b), 1e-12)
    if unclear:
        return 0, f"{label} did not change clearly ({fmt.format(a)} -> {fmt.format(b)})"
    up = b > a
    sign = 1 if up == (better == "higher") else -1
    verb = "rose" if up else "fell"
    quality = "better" if sign > 0 else "worse"
    return sign, f"{label} {verb} from {fmt.format(a)} to {fmt.format(b)} ({quality})"


SAMPLE_MEASURES = ("parzen_ll", "frechet", "class_tv")  # the measures a verdict counts


def chain_effect(model: dict) -> tuple[int, int]:
    """How many of :data:`SAMPLE_MEASURES` clearly got better, and how many worse, from the
    first recorded step (decoded prior draws) to the last."""
    m = model["metrics"]
    signs = [
        _change(key, m[key], m["parzen_stderr"] if key == "parzen_ll" else None)[0]
        for key in SAMPLE_MEASURES
    ]
    return signs.count(1), signs.count(-1)


def chain_verdict(name: str, model: dict) -> str:
    """Plain sentences on whether the chain improved the model's samples, judged from the first
    recorded step to the last, with the best step of a measure that peaks in between."""
    m, steps = model["metrics"], model["steps"]
    parts = []
    for key in SAMPLE_MEASURES:
        phrase = _change(key, m[key], m["parzen_stderr"] if key == "parzen_ll" else None)[1]
        values = np.asarray(m[key])
        best = int(np.argmax(values) if key == "parzen_ll" else np.argmin(values))
        if 0 < best < len(steps) - 1:
            phrase += f", best at step {steps[best]} ({values[best]:.3g})"
        parts.append(phrase)
    better, worse = chain_effect(model)
    n = len(SAMPLE_MEASURES)
    if better and not worse:
        overall = (
            f"the chain improved the samples ({better} of {n} sample measures better, none worse)"
        )
    elif worse and not better:
        overall = f"the chain did NOT improve the samples ({worse} of {n} sample measures worse)"
    elif not better and not worse:
        overall = "the chain left the samples about as they were"
    else:
        overall = f"mixed result: {better} sample measure(s) better, {worse} worse"
    latent = _change("latent_fd_data", m["latent_fd_data"], None)[1]
    latent = latent.replace(_LABELS["latent_fd_data"], "Fréchet distance to data codes")
    return (
        f"{name} (from step {steps[0]} to step {steps[-1]}): {overall}. "
        f"{'; '.join(parts)}. Codes: {latent}."
    )


def summary_rows(summary: dict) -> list[dict]:
    """One row per model and recorded step, then the real-data reference: the table shown in
    the terminal, the report and ``summary.csv``."""
    rows = []
    for name, model in summary["models"].items():
        m = model["metrics"]
        for i, step in enumerate(model["steps"]):
            row = {"model": name, "step": step}
            row.update({key: m[key][i] if key in m else None for key, *_ in COLUMNS})
            row["parzen_stderr"] = m["parzen_stderr"][i]
            rows.append(row)
    real = summary["real_data"]
    row = {"model": "real data (train digits)", "step": ""}
    row.update({key: real.get(key, float("nan")) for key, *_ in COLUMNS})
    row["parzen_stderr"] = real["parzen_stderr"]
    rows.append(row)
    return rows


def _cells(row: dict) -> list[str]:
    cells = [str(row["model"]), str(row["step"])]
    for key, _, _, fmt in COLUMNS:
        value = row[key]
        if value is None or (isinstance(value, float) and math.isnan(value)):
            cells.append("-")
        elif key == "parzen_ll":
            cells.append(f"{fmt.format(value)} ± {row['parzen_stderr']:.1f}")
        else:
            cells.append(fmt.format(value))
    return cells


def format_table(summary: dict) -> str:
    """The summary table as aligned plain text, followed by each model's verdict."""
    header = ["model", "step", *[label for _, label, _, _ in COLUMNS]]
    body = [_cells(r) for r in summary_rows(summary)]
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    line = lambda cells: "  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True))  # noqa: E731
    out = [line(header), line(["-" * w for w in widths])]
    previous = None
    for cells in body:
        if previous is not None and cells[0] != previous:
            out.append("")
        out.append(line(cells))
        previous = cells[0]
    out.append("")
    out += [model["verdict"] for model in summary["models"].values()]
    out += [
        f"{name}'s chain step: {model['transition']}"
        for name, model in summary["models"].items()
        if "transition" in model  # summaries written before it was recorded have none
    ]
    out.append(_timing_sentence(summary))
    return "\n".join(out)


def _timing_sentence(summary: dict) -> str:
    total = summary["total_seconds"]
    within = "within" if total <= BUDGET_SECONDS else "OVER"
    load = summary["machine"]["load_average_at_start"]
    return (
        f"The job took {total:.0f}s wall ({total / 60:.1f} min; installing and starting Python "
        f"not included), {within} the 10-minute budget, on "
        f"{summary['machine']['cpu_count']} CPU cores (1-min load average {load[0]:.1f} at start)."
    )


def write_figures(figures_dir: str, summary: dict, images: dict) -> None:
    """Writes the per-step metric plots and the overview of samples at the recorded steps
    (process 0 only).

    Args:
      figures_dir: output directory.
      summary: the job summary (metrics of every model and the real-data reference).
      images: model name -> float[S, N, H, W, C], the images of the N chains to show at each
        recorded step.
    """
    panels = [(key, label, better) for key, label, better, _ in COLUMNS if key != "classes_covered"]
    cluster.write_output(
        os.path.join(figures_dir, METRICS_FIGURE),
        lambda p: plotting.save_metric_curves(p, summary["models"], panels, summary["real_data"]),
    )
    steps = summary["models"][next(iter(images))]["steps"]
    cluster.write_output(
        os.path.join(figures_dir, OVERVIEW_FIGURE),
        lambda p: plotting.save_samples_overview(p, images, steps),
    )


def _img(path: str, alt: str) -> str:
    data = base64.b64encode(epath.Path(path).read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_STYLE = """
body { font-family: sans-serif; max-width: 1100px; margin: 2em auto; line-height: 1.45; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th { background: #f0f0f0; } img { max-width: 100%; } .note { background: #f7f7e8; padding: 1em; }
"""


def headline(summary: dict) -> str:
    """The closing note's numbers: each model's Parzen LL and FD at the first and last recorded
    step, and in how many models the chain improved the samples."""
    parts = []
    improved = 0
    for name, m in summary["models"].items():
        ll, fd, steps = m["metrics"]["parzen_ll"], m["metrics"]["frechet"], m["steps"]
        parts.append(
            f"{name} Parzen LL {ll[0]:.0f} -> {ll[-1]:.0f}, FD {fd[0]:.1f} -> {fd[-1]:.1f}"
        )
        better, worse = chain_effect(m)
        improved += better > 0 and worse == 0
    real = summary["real_data"]
    return (
        f"Headline (step {steps[0]} -> step {steps[-1]}): {'; '.join(parts)} (real digits: "
        f"Parzen LL {real['parzen_ll']:.0f}, FD {real['frechet']:.1f}). The chain improved the "
        f"samples of {improved} of {len(parts)} models by step {steps[-1]}."
    )


def _html(workdir: str, summary: dict) -> str:
    fig_dir = os.path.join(workdir, FIGURES_DIR)
    c = summary["classifier"]
    names = list(summary["models"])
    steps = summary["models"][names[0]]["steps"]
    table = _html_table(
        ["model", "step", *[label for _, label, _, _ in COLUMNS]],
        [_cells(r) for r in summary_rows(summary)],
    )
    train_table = _html_table(
        [
            "model",
            "chain",
            "transition",
            "training steps",
            "trained this run (s)",
            "test recon MSE",
        ],
        [
            [
                name,
                m["chain"],
                m.get("transition", "-"),  # summaries written before it was recorded have none
                str(m["train"]["num_steps"]),
                f"{m['train']['train_seconds']:.0f}",
                f"{m['train']['test_mse']:.4f}" if m["train"]["test_mse"] is not None else "-",
            ]
            for name, m in summary["models"].items()
        ],
    )
    time_table = _html_table(
        ["stage", "seconds"],
        [[k, f"{v:.1f}"] for k, v in summary["stage_seconds"].items()]
        + [["total", f"{summary['total_seconds']:.1f}"]],
    )
    verdicts = "".join(f"<li>{html.escape(m['verdict'])}</li>" for m in summary["models"].values())
    per_model = []
    for name, m in summary["models"].items():
        samples = os.path.join(workdir, name, SAMPLES_DIR)
        per_model.append(
            f"<h3>{html.escape(name)}: {html.escape(m['chain'])} chain</h3>"
            f"<p>The first chains at steps {', '.join(map(str, steps))} (the same chains in every "
            "panel):</p>"
            + _img(os.path.join(samples, "latent_steps.png"), f"{name} samples")
            + "<p>Slerp between encodings of test digits, decoded (top row of each pair) and after "
            "the chain steps (bottom row):</p>"
            + _img(os.path.join(samples, "interpolation.png"), f"{name} interpolation")
            + "<p>Codes of the chains at each recorded step against the codes of test digits:</p>"
            + _img(os.path.join(fig_dir, f"{name}_encodings.png"), f"{name} encodings")
        )
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>gae_jax main job report</title>
<style>{_STYLE}</style></head><body>
<h1>Markov chains in the latent space of generative autoencoders</h1>
<p>Trained {", ".join(names)} on <code>{html.escape(summary["data"])}</code>, then ran
{summary["num_chains"]:,} chains of {summary["chain_steps"]} steps per model, started from prior
draws. Step 0 is the plain decoded prior sample; if the chain works, later steps look more like
real digits. For the AAE one step is z &larr; E(D(z)) (paper 000 eq. 1); with the decoder mean and
a deterministic encoder this is a deterministic map, so its chains can only move towards fixed
points or cycles of E&#8728;D. For the DAAE and iDAAE one step is z &larr; E(C(D(z))) with the
training corruption C (Gaussian, &sigma; = 0.5; paper 000 eq. 2, paper 001 eq. 3).</p>

<h2>Summary</h2>
{_img(os.path.join(fig_dir, OVERVIEW_FIGURE), "samples at the recorded steps")}
{table}
<ul>{verdicts}</ul>

<h2>Measures per chain step</h2>
{_img(os.path.join(fig_dir, METRICS_FIGURE), "metrics per step")}
<ul>
<li><b>Parzen LL</b>: mean log-likelihood (nats) of the held-out test digits under a Gaussian kernel density on the samples (paper 001); bandwidth chosen per step
among 10 values in [0.1, 1] on the validation digits. ± is the standard error over test digits.
On 784-pixel images this measure is known to reward blurry, average-looking samples (Theis et
al., 2016), which is why decoded samples can out-score real digits; read it with the FD.</li>
<li><b>classifier FD</b>: Fréchet distance between penultimate features of a [{", ".join(map(str, c["hidden"]))}]
MLP classifier (test accuracy {c["test_accuracy"]:.3f}) for the samples and for the test digits.</li>
<li><b>class TV</b>: total-variation distance between the classifier's predicted class balance of
the samples and the test labels' (mode dropping raises it); <b>classes</b>: classes predicted at
least once.</li>
<li><b>z FD to data / prior</b>: Fréchet distance between Gaussians fitted to the chains' codes and
to codes of test digits (encoded the way the chain encodes) / the N(0, I) prior. The chain should
move codes from the prior towards the encoder's learned distribution.</li>
<li><b>real data</b>: the training digits put through the same
measures (as kernel centres for Parzen, as samples for FD and classes), for scale.</li>
</ul>

<h2>Models</h2>
{train_table}
{"".join(per_model)}

<h2>Closing note</h2>
<div class="note"><p>{html.escape(_timing_sentence(summary))}</p>
<p>{html.escape(headline(summary))}</p>
{time_table}</div>
</body></html>
"""


def write_report(workdir: str, summary: dict) -> None:
    """Writes ``summary.json``, ``summary.csv`` and ``report.html`` into ``workdir`` (figures
    from :func:`write_figures` and the models' sample figures must exist); process 0 only."""
    if not workdir_lib.is_writer():
        return
    workdir_lib.write_json(os.path.join(workdir, SUMMARY_JSON), summary)
    rows = summary_rows(summary)
    with epath.Path(workdir, SUMMARY_CSV).open("w") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    epath.Path(workdir, REPORT_FILE).write_text(_html(workdir, summary))
