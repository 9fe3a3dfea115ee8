"""Does the GAE's trained mixture likelihood depend on the batch size? Before and after EM.

    python -m benchmarks.gae_batch_size [--epochs=38.4 | --steps=300] [--batch_sizes=64,512]
        [--update_size=512] [--seeds=0,1] [--estimators=batch,reweighted,em]
        [--workdir=runs/gae_batch_size] [--out=docs/results/gae_batch_size.json]

Trains paper 004's GAE (``configs/gae_mnist5k.py``: 2x1000 MLPs, z = 10) on mnist5k with each
estimator of its objective (``model.gae_estimator``), batch size and seed, for the same number of
epochs (``--epochs``: every batch size sees the same digits, the smaller ones in more steps) or
of steps, through the training job (one workdir per run under ``--workdir``: an interrupted
benchmark resumes). Each trained model is then scored by its full-n mixture NLL over the n
training examples, -log (1/n) sum_j p(x_i | z_j) with one code z_j ~ q(z|x_j) per training
image (mean and standard error over the n examples), the quantity the objective estimates.

Plain runs at different B differ in more than the objective: at equal epochs the smaller batch
makes more updates, at equal steps the larger one sees more data, and either way the gradient
noise differs. ``--update_size=U`` removes all three: every run averages the gradients of U / B
minibatches into one update of U examples (``train.grad_accum_steps``), so every batch size
makes as many updates of as many examples with the same gradient noise, and only the minibatch
over which the objective is computed (the mixture's B codes) differs. ``--steps`` then counts
updates.

It also measures the objective's own B-dependence at one fixed model (the first run): the mean
of each estimator over random minibatches of size B against the exact full-n value computed
from the same codes. Prints Markdown tables and writes ``--out`` in the results-file format
(:mod:`gae_jax.jobs.results`: tables ``nll`` and ``gaps``, checked against the README; the raw
per-run numbers under ``runs``).
"""

from __future__ import annotations

import math
import os

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from benchmarks import common
from configs import models as model_configs
from gae_jax import data, losses, models
from gae_jax import workdir as workdir_lib
from gae_jax.evaluation import likelihood
from gae_jax.jobs import results as results_lib
from gae_jax.jobs import train_and_evaluate

_EPOCHS = flags.DEFINE_float(
    "epochs",
    0.0,
    "passes over the training digits of every run (steps = epochs x n / B); 0: --steps",
)
_STEPS = flags.DEFINE_integer(
    "steps", 300, "training steps (updates, with --update_size) of every run (when --epochs is 0)"
)
_BATCH_SIZES = flags.DEFINE_list("batch_sizes", ["64", "512"], "training batch sizes")
_UPDATE_SIZE = flags.DEFINE_integer(
    "update_size",
    0,
    "examples per optimiser update, a multiple of every batch size: each run accumulates "
    "update_size / B minibatches per update; 0: an update per minibatch",
)
_SEEDS = flags.DEFINE_list("seeds", ["0", "1"], "seeds (runs per cell)")
_ESTIMATORS = flags.DEFINE_list(
    "estimators", ["batch", "reweighted", "em"], "model.gae_estimator values"
)
_MINIBATCHES = flags.DEFINE_integer("minibatches", 200, "random minibatches per estimator gap")
_WORKDIR = flags.DEFINE_string("workdir", "runs/gae_batch_size", "one subdirectory per run")
_OUT = flags.DEFINE_string(
    "out", os.path.join(common.REPO, "docs", "results", "gae_batch_size.json"), "results JSON"
)


def run_config(estimator: str, batch_size: int, seed: int, steps: int, accumulate: int = 1):
    """The GAE of ``configs/gae_mnist5k.py`` trained for ``steps`` minibatches of ``batch_size``
    (an update every ``accumulate`` of them), evaluated at the end."""
    config = model_configs.get_config("gae,mnist5k")
    config.seed = seed
    config.model.gae_estimator = estimator
    config.train.batch_size = batch_size
    config.train.grad_accum_steps = accumulate
    config.train.num_steps = steps
    config.train.eval_every = steps
    config.train.checkpoint_every = min(200, steps)
    config.train.log_every = min(100, steps)
    return config


def code_log_lik(workdir: str, images: jax.Array, seed: int = 0) -> np.ndarray:
    """float64[n, n]: log p(x_i | z_j) with one code z_j ~ q(z|x_j) per training image."""
    _, model, state = workdir_lib.load_trained(workdir)
    fns = models.autoencoder_fns(model)
    variables = models.model_variables(state)
    matrix = jax.jit(
        lambda x: likelihood.code_log_likelihood_matrix(
            jax.random.key(seed),
            x,
            images,
            lambda v: fns.encode(variables, v),
            lambda z: fns.decode_logits(variables, z),
        )
    )
    return np.concatenate([np.asarray(matrix(x), np.float64) for x in np.split(images, 8)])


def full_nll(log_lik: np.ndarray) -> dict:
    """Mean and standard error over examples of -log (1/n) sum_j p(x_i | z_j)."""
    per_example = np.asarray(losses.full_mixture_nll(jnp.asarray(log_lik)), np.float64)
    se = per_example.std(ddof=1) / math.sqrt(len(log_lik))
    return {"nll": float(per_example.mean()), "se": float(se)}


def estimator_gaps(log_lik: np.ndarray, batch_sizes, draws: int, num_components: int) -> dict:
    """Mean estimate minus the exact full-n NLL, per estimator and batch size, with its s.e.

    ``batch`` and ``reweighted`` are the minibatch mixtures of :func:`losses.batch_mixture_nll`
    over random minibatches of distinct examples; ``em`` is the EM bound at the E-step's
    parameters and codes (:func:`losses.em_estep`, top ``num_components``), which involves no
    minibatch: its gap is the mass outside the top K, the same for every B.
    """
    n = len(log_lik)
    exact = np.asarray(losses.full_mixture_nll(jnp.asarray(log_lik)), np.float64)
    rng = np.random.default_rng(0)
    estep = losses.em_estep(jnp.asarray(log_lik, jnp.float32), num_components)
    em = np.asarray(math.log(n) - estep.log_norm_kept, np.float64) - exact
    gaps = {}
    for b in batch_sizes:
        subsets = np.stack([rng.permutation(n)[:b] for _ in range(draws)])
        sub = jnp.asarray(log_lik[subsets[:, :, None], subsets[:, None, :]], jnp.float32)
        for name, num_train in (("batch", None), ("reweighted", n)):
            est = jax.vmap(lambda ll, k=num_train: losses.batch_mixture_nll(ll, k))(sub)
            diff = np.asarray(est, np.float64) - exact[subsets]  # per example in each batch
            means = diff.mean(axis=1)
            gaps[f"{name}, B={b}"] = _mean_se(means)
        gaps[f"em (K={num_components}), B={b}"] = _mean_se(em)
    return gaps


def _mean_se(values: np.ndarray) -> dict:
    return {"gap": float(values.mean()), "se": float(values.std(ddof=1) / math.sqrt(len(values)))}


def main(argv):
    start = results_lib.run_start()
    del argv
    batch_sizes = [int(b) for b in _BATCH_SIZES.value]
    seeds = [int(s) for s in _SEEDS.value]
    images = jnp.asarray(data.load_dataset("mnist5k", "train").images)
    accumulate = accumulation(_UPDATE_SIZE.value, batch_sizes)
    steps = {
        b: run_steps(_EPOCHS.value, _STEPS.value * accumulate[b], len(images), b)
        for b in batch_sizes
    }
    runs, first = [], None
    for seed in seeds:  # seed-major: the first seed's full table is ready first
        for estimator in _ESTIMATORS.value:
            for b in batch_sizes:
                k = accumulate[b]
                name = f"{estimator}_b{b}_s{seed}" + (f"_x{k}" if k > 1 else "")
                workdir = os.path.join(_WORKDIR.value, name)
                config = run_config(estimator, b, seed, steps[b], k)
                summary = train_and_evaluate(config, workdir)
                log_lik = code_log_lik(workdir, images)
                first = log_lik if first is None else first
                runs.append(
                    {
                        "estimator": estimator,
                        "batch_size": b,
                        "seed": seed,
                        "steps": steps[b],
                        "grad_accum_steps": k,
                        "train_seconds": summary["train_seconds"],
                        "steps_this_run": summary["steps_this_run"],
                        **full_nll(log_lik),
                    }
                )
                print(
                    {k: (round(v, 2) if isinstance(v, float) else v) for k, v in runs[-1].items()},
                    flush=True,
                )
    num_components = model_configs.get_config("gae,mnist5k").model.gae_em_components
    gaps = estimator_gaps(first, batch_sizes, _MINIBATCHES.value, num_components)
    tables = {
        "nll": nll_table(runs, _ESTIMATORS.value, batch_sizes),
        "gaps": gaps_table(gaps),
    }
    result = results_lib.results_file("gae_batch_size", tables, seeds=seeds, start=start)
    result.update(
        epochs=_EPOCHS.value or None,
        steps=steps,
        update_size=_UPDATE_SIZE.value or None,
        data="mnist5k",
        config="configs/gae_mnist5k.py",
        runs=runs,
    )
    results_lib.write_results(_OUT.value, result)
    print(
        f"Full-n mixture NLL (nats) on mnist5k, seeds {seeds} (± sd over seeds), and "
        "its s.e. over the n training examples:\n"
    )
    print(results_lib.markdown_table(tables["nll"]))
    print("Estimate minus exact full-n NLL at one model (the first run; nats):\n")
    print(results_lib.markdown_table(tables["gaps"]))


def run_steps(epochs: float, steps: int, num_train: int, batch_size: int) -> int:
    """Training steps of a run: ``epochs`` passes over ``num_train`` examples at
    ``batch_size`` (rounded), or ``steps`` when ``epochs`` is 0."""
    if epochs < 0 or steps < 1:
        raise ValueError(f"--epochs={epochs} and --steps={steps}; valid: epochs >= 0, steps >= 1")
    if not epochs:
        return steps
    return max(1, round(epochs * num_train / batch_size))


def accumulation(update_size: int, batch_sizes) -> dict[int, int]:
    """Minibatches per update for each batch size: ``update_size // B`` (1 when 0)."""
    if not update_size:
        return {b: 1 for b in batch_sizes}
    bad = [b for b in batch_sizes if update_size < b or update_size % b]
    if update_size < 0 or bad:
        raise ValueError(
            f"--update_size={update_size} must be 0 or a multiple of every batch size "
            f"(--batch_sizes={','.join(map(str, batch_sizes))}), e.g. {max(batch_sizes)}"
        )
    return {b: update_size // b for b in batch_sizes}


def run_label(batch_size: int, steps: int, accumulate: int, updates: bool) -> str:
    """A row's training: ``B = 64, 4,800 steps``; with ``updates`` (the runs accumulate),
    ``B = 64 x 8 accumulated, 600 updates`` and ``B = 512, 600 updates``."""
    if not updates:
        return f"B = {batch_size}, {steps:,} steps"
    batches = f"{batch_size} x {accumulate} accumulated" if accumulate > 1 else f"{batch_size}"
    return f"B = {batches}, {steps // accumulate:,} updates"


def _value(x: float) -> list[dict]:
    """A cell of one measured value (no spread over seeds)."""
    return [results_lib.summarize([x])]


def nll_table(runs, estimators, batch_sizes) -> dict:
    """The README's table: per batch size (rows, with the runs' steps) and estimator, the
    full-n NLL (mean ± sd over the seeds) and its standard error over the n examples (pooled
    over the seeds). With two batch sizes and at least two seeds in every cell, a last row
    gives the first minus the second and the standard error of that difference over seeds,
    sqrt(sd_1² / n_1 + sd_2² / n_2): the trained NLL's dependence on B, against its noise."""
    columns, rows = ["trained with"], []
    updates = any(r.get("grad_accum_steps", 1) > 1 for r in runs)
    for est in estimators:
        columns += [f"{est}: full-n NLL", "s.e."]
    nll = {}  # (estimator, B) -> summary over seeds
    for b in batch_sizes:
        cells = {
            e: [r for r in runs if r["estimator"] == e and r["batch_size"] == b] for e in estimators
        }
        run = cells[estimators[0]][0]
        row = [run_label(b, run["steps"], run.get("grad_accum_steps", 1), updates)]
        for e, cell in cells.items():
            # s.e. of the mean over seeds of per-seed means over examples
            se = math.sqrt(sum(r["se"] ** 2 for r in cell)) / len(cell)
            nll[e, b] = results_lib.summarize([r["nll"] for r in cell])
            row += [[nll[e, b]], _value(se)]
        rows.append(row)
    if len(batch_sizes) == 2 and all(v["n"] > 1 for v in nll.values()):
        first, second = batch_sizes
        row = [f"B = {first} minus B = {second} (s.e. over seeds)"]
        for e in estimators:
            a, b = nll[e, first], nll[e, second]
            se = math.sqrt(a["sd"] ** 2 / a["n"] + b["sd"] ** 2 / b["n"])
            row += [_value(a["mean"] - b["mean"]), _value(se)]
        rows.append(row)
    return {"columns": columns, "decimals": [None] + [2] * (len(columns) - 1), "rows": rows}


def gaps_table(gaps: dict) -> dict:
    """Each estimator's mean estimate minus the exact full-n NLL, with its standard error."""
    rows = [[name, _value(g["gap"]), _value(g["se"])] for name, g in gaps.items()]
    return {
        "columns": ["estimator, batch size", "estimate − exact NLL", "s.e."],
        "decimals": [None, 3, 3],
        "rows": rows,
    }


if __name__ == "__main__":
    app.run(main)
