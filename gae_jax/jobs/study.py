"""``run_study(config, workdir)``: the chain study behind ``experiments.study``.

When does a Markov chain improve a generative autoencoder's samples, and when does it only
sharpen them while dropping modes? For every seed of ``config.study.seeds`` and every model of
``config.models`` the study

1. trains the model with :func:`~gae_jax.jobs.train.train_and_evaluate` for
   ``config.study.epochs[model]`` epochs into ``<workdir>/models/<model>/seed_<seed>``;
2. runs every chain variant -- decoder mean or sampled x (``study.decode``, the sampler's
   ``decode``; codes are drawn as ``config.sampler.encode`` says), population or
   minibatch batch norm (``study.batch_stats_modes``), Gaussian corruption of each
   ``study.corruption_levels`` sigma -- from the same prior draws through
   :func:`~gae_jax.builders.run_chains` (``config.sampler`` gives chains, steps and record
   steps). Models without batch norm (the MLPs) compute the same chain in both batch-norm
   modes, so it runs once and the table says so;
3. measures the samples of every record step against real test images in the features of the
   ground-truth classifier (:func:`~gae_jax.evaluation.per_step_metrics`: Fréchet distance,
   precision, recall, density, coverage, Parzen, class balance) and stores them in
   ``<workdir>/results/<model>/seed_<seed>/<variant>.json``.

After each seed's pass (so partial runs already say something) it writes ``study.json``
(per-seed values, mean, sd and the paired change against step 0 with its standard error),
``table.md`` and ``results.json`` (the :mod:`~gae_jax.jobs.results` format, mean ± sd over the
seeds done) and ``study.png`` (FD, precision and recall against the chain step, a line per
variant, a panel per model).

Every stage is stored, so a rerun skips finished training and measured variants. A rerun whose
settings differ from a stored stage's stops with :class:`~gae_jax.workdir.ConfigChangedError`
naming them: training through the workdir's provenance check, a measured variant through the
settings stored beside its values (sampler, trained step, reference images, classifier).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import time
from typing import NamedTuple

import jax
import ml_collections
import numpy as np
from absl import logging

from gae_jax import builders, evaluation, parallel, plotting
from gae_jax import config as config_lib
from gae_jax import workdir as workdir_lib
from gae_jax.jobs import cluster, results
from gae_jax.jobs.common import (
    CLASSIFIER_DIR,
    ClassifierSettings,
    ground_truth_classifier,
    load_job_splits,
    named_key,
)
from gae_jax.jobs.train import train_and_evaluate
from gae_jax.models import model_variables
from gae_jax.samplers import starts

MODELS_DIR = "models"
RESULTS_DIR = "results"
SUMMARY_FILE = "study.json"
TABLE_FILE = "table.md"
RESULTS_FILE = "results.json"
FIGURE_FILE = "study.png"
TABLE_NAME = "study"
# The figure's rows: (measure, label, which direction is better).
PANELS = (
    ("frechet", "classifier FD", "lower"),
    ("precision", "precision", "higher"),
    ("recall", "recall", "higher"),
)
# The table's measures: (key, column label, decimals).
TABLE_MEASURES = (
    ("frechet", "classifier FD (lower is better)", 1),
    ("precision", "precision", 2),
    ("recall", "recall", 2),
    ("density", "density", 2),
    ("coverage", "coverage", 2),
)
# Per-step measures kept per result (class_fractions, a [steps, classes] array, is kept too).
_SCALAR_KEYS = (
    "frechet",
    "precision",
    "recall",
    "density",
    "coverage",
    "parzen_ll",
    "parzen_stderr",
    "class_tv",
    "classes_covered",
)


class Variant(NamedTuple):
    """One chain variant of the study: how the latent chain decodes, normalises and corrupts."""

    name: str  # file-safe, e.g. "mean_pop_0.25"
    decode: str  # config.sampler.decode: one of config.DECODE_MODES
    batch_stats_mode: str  # one of models.BATCH_STATS_MODES
    corruption_level: float  # sigma of the chains' Gaussian corruption

    def label(self, batch_norm: bool) -> str:
        """The table's and figure's name: the batch-norm mode only for models that have it."""
        bn = f", BN {self.batch_stats_mode}" if batch_norm else ""
        return f"x {self.decode}{bn}, σ {self.corruption_level:g}"


def chain_variants(study: config_lib.StudyConfig) -> list[Variant]:
    """Every combination of the study's decoder settings, batch-norm modes and corruptions."""
    product = itertools.product(study.decode, study.batch_stats_modes, study.corruption_levels)
    return [
        Variant(f"{decode}_{mode[:3]}_{level:g}", decode, mode, level)
        for decode, mode, level in product
    ]


def distinct_variants(variants: list[Variant], batch_norm: bool) -> dict[str, str]:
    """``variant name -> name of the variant whose chain it runs``: itself, except that without
    batch norm the batch-norm mode changes nothing, so such variants run their first twin."""
    runs: dict[tuple, str] = {}
    same = {}
    for v in variants:
        key = (v.decode, v.batch_stats_mode if batch_norm else None, v.corruption_level)
        same[v.name] = runs.setdefault(key, v.name)
    return same


def variant_sampler(
    sampler: config_lib.SamplerConfig, study: config_lib.StudyConfig, variant: Variant
) -> config_lib.SamplerConfig:
    """``config.sampler`` with the variant's decoder, batch-norm mode and corruption."""
    return dataclasses.replace(
        sampler,
        decode=variant.decode,
        batch_stats_mode=variant.batch_stats_mode,
        corruption=study.corruption,
        corruption_level=variant.corruption_level,
    )


def chain_images(
    rng_key: jax.Array, trained, sampler: config_lib.SamplerConfig, prior, *, name: str
) -> tuple[np.ndarray, dict]:
    """Runs the latent chain of ``sampler`` on a trained model from prior draws, through
    :func:`~gae_jax.builders.run_chains`.

    The starts depend on ``rng_key``'s first split only, so variants given the same key start
    from the same draws (their differences are the chains', not the draws').

    Args:
      trained: ``(cfg, model, state)`` of :func:`~gae_jax.workdir.load_trained`.
      prior: the model's prior (None: N(0, I)).
      name: the run's name in logs.

    Returns:
      ``(images, stats)``: float32[len(record_steps), chains, H, W, C] and run_chains' stats.
    """
    cfg, model, state = trained
    variables = model_variables(state)
    fns = builders.sampler_fns(model, sampler)
    corruption = builders.latent_corruption(cfg.model, sampler)
    k_init, k_chain = jax.random.split(rng_key)
    dim = cfg.model.latent_dim
    draw = lambda key, n, variables: starts.prior_samples(key, n, dim, prior)  # noqa: E731
    z0 = draw(k_init, sampler.num_chains, variables)
    record = tuple(t for t in sampler.record_steps if t > 0)
    run = builders.run_chains(
        sampler,
        builders.latent_kernel(
            fns, corruption, sampler, reconstruction_loss=cfg.model.reconstruction_loss
        ),
        variables,
        z0,
        sampler.num_steps,
        record,
        lambda state, info: state.x,
        k_chain,
        name=name,
        draw_init=draw,
    )
    images = np.asarray(run.trace, np.float32).reshape(len(record), *np.shape(run.state0.x))
    if sampler.record_steps[0] == 0:
        images = np.concatenate([np.asarray(run.state0.x, np.float32)[None], images])
    return images, run.stats


def _json(obj):
    return json.loads(json.dumps(obj))  # tuples -> lists, as stored


def _differences(stored: dict, requested: dict, prefix: str = "") -> list[str]:
    out = []
    for key in sorted(stored.keys() | requested.keys()):
        a, b = stored.get(key), requested.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += _differences(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}: {a!r} (stored) vs {b!r} (requested)")
    return out


def load_result(path: str, settings: dict) -> dict | None:
    """The stored result at ``path`` if measured with ``settings``; None if there is none.

    Raises:
      ConfigChangedError: the stored result was measured with other settings.
    """
    if not os.path.exists(path):
        return None
    stored = workdir_lib.read_json(path)
    changes = _differences(stored["settings"], _json(settings))
    if changes:
        raise workdir_lib.ConfigChangedError(
            f"{path} was measured with other settings: {'; '.join(changes)}. Pass the original "
            "values, or use a new --workdir (or delete that result to measure it again)"
        )
    return stored


class _Progress:
    """Logs each finished stage with the elapsed time and an ETA from the stages of the same
    kind that did work (stored stages that were skipped are not counted)."""

    def __init__(self, total: dict[str, int]):
        self.total = total  # kind -> stages of that kind in the whole study
        self.done = dict.fromkeys(total, 0)
        self.seconds: dict[str, list[float]] = {k: [] for k in total}
        self.t0 = time.perf_counter()

    def finished(self, kind: str, what: str, seconds: float, skipped: bool) -> None:
        """Logs stage ``what`` of ``kind`` as done (``skipped``: stored, or the same chain as
        an earlier variant)."""
        self.done[kind] += 1
        if not skipped:
            self.seconds[kind].append(seconds)
        worked = [s for v in self.seconds.values() for s in v]
        eta = 0.0
        for k, n in self.total.items():
            per = self.seconds[k] or worked
            eta += (n - self.done[k]) * (float(np.mean(per)) if per else 0.0)
        logging.info(
            "[study] %s %d/%d %s: %s | elapsed %.0fs | ETA %.0fs",
            kind,
            self.done[kind],
            self.total[kind],
            what,
            "skipped" if skipped else f"{seconds:.1f}s",
            time.perf_counter() - self.t0,
            eta,
        )


def run_study(
    config: ml_collections.ConfigDict,
    workdir: str,
    *,
    results_path: str | None = None,
    command: str | None = None,
) -> dict:
    """Trains, samples and measures the study of ``config`` (module docstring) into ``workdir``.

    Args:
      config: a study config like ``configs/study_fashion.py``'s.
      workdir: output directory; rerunning resumes it.
      results_path: where to write the results file too (e.g. ``docs/results/study.json``).
      command: the command line recorded in the results file (None: the one that started this
      process, :func:`gae_jax.jobs.results.command_line`).

    Returns:
      The summary also written to ``<workdir>/study.json``.

    Raises:
      ConfigError: a bad value, before the workdir is touched.
      ConfigChangedError: a stored stage was made with other settings than requested.
      WorkdirError: the workdir is unusable, or in use by another run (WorkdirLockedError).
    """
    workdir_lib.check_workdir(workdir)
    config_lib.validate_study(config)
    os.makedirs(workdir, exist_ok=True)
    with workdir_lib.locked(workdir):  # models train into sub-workdirs, which they lock in turn
        return _run_study(config, workdir, results_path, command)


def _run_study(config, workdir: str, results_path: str | None, command: str | None) -> dict:
    """:func:`run_study` once the config is checked and the workdir locked."""
    start = results.run_start(command)
    experiments, ev, study = config_lib.validate_study(config)
    names = list(experiments)
    first = experiments[names[0]]
    variants = chain_variants(study)
    progress = _Progress(
        {
            "train": len(study.seeds) * len(names),
            "chains": len(study.seeds) * len(names) * len(variants),
        }
    )

    train, _, test = load_job_splits(experiments)
    settings = ClassifierSettings.of(ev)
    classifier, params, cached = ground_truth_classifier(
        named_key(first.seed, "study", "classifier"),
        settings,
        first.data.name,
        train,
        os.path.join(workdir, CLASSIFIER_DIR),
    )
    accuracy = float(evaluation.classifier_accuracy(classifier, params, test.images, test.labels))
    logging.info("[study] classifier test accuracy %.4f (cached: %s)", accuracy, cached)
    n_ref = min(study.reference_images, len(test)) // 2
    reference = evaluation.RealReference(
        classifier,
        params,
        test.images[:n_ref],
        test.images[n_ref : 2 * n_ref],
        test.labels[n_ref : 2 * n_ref],
    )
    measure_settings = {
        "classifier": {**dataclasses.asdict(settings), "data": first.data.name},
        "reference_images": 2 * n_ref,
    }
    mesh = parallel.make_mesh()
    # Training images through the same measures: what a sampler of the data distribution scores.
    n_real = min(first.sampler.num_chains, len(train))
    real = evaluation.per_step_metrics(train.images[None, :n_real], reference, mesh=mesh)
    real = {k: float(np.asarray(real[k])[0]) for k in _SCALAR_KEYS}
    measuring = Measuring(variants, study, reference, measure_settings, train.images, mesh)

    per_seed: dict[str, dict[str, dict[int, dict]]] = {n: {} for n in names}
    info: dict[str, dict] = {n: {"family": experiments[n].model.family} for n in names}
    summary: dict = {}
    for seed in study.seeds:
        for name, exp_config in config_lib.job_experiment_configs(config).items():
            model_dir = os.path.join(workdir, MODELS_DIR, name, f"seed_{seed}")
            exp_config.seed = seed
            exp_config.sampler.seed = seed
            steps_per_epoch = len(train) // experiments[name].train.batch_size
            exp_config.train.num_steps = max(1, round(study.epochs[name] * steps_per_epoch))
            t0 = time.perf_counter()
            trained = train_and_evaluate(exp_config, model_dir)
            progress.finished(
                "train",
                f"{name} seed {seed}",
                time.perf_counter() - t0,
                skipped=trained.get("steps_this_run", 0) == 0,
            )
            loaded = workdir_lib.load_trained(model_dir)
            batch_norm = bool(jax.tree.leaves(loaded[2].batch_stats))
            info[name].update(num_steps=trained["step"], epochs=study.epochs[name])
            info[name]["batch_norm"] = batch_norm
            info[name].setdefault("test_mse", {})[str(seed)] = trained["test"].get("mse")
            info[name].setdefault("train_seconds", {})[str(seed)] = trained["train_seconds"]
            per_seed[name][seed] = _measure_model(
                f"{name} seed {seed}",
                named_key(seed, "study", name),
                loaded,
                dataclasses.replace(experiments[name].sampler, seed=seed),
                batch_norm,
                trained["step"],
                os.path.join(workdir, RESULTS_DIR, name, f"seed_{seed}"),
                measuring,
                progress,
            )
        summary = _write_outputs(
            workdir,
            per_seed,
            info,
            variants,
            study,
            real,
            accuracy,
            start,
            results_path,
        )
    parallel.sync("run_study")
    return summary


class Measuring(NamedTuple):
    """What measuring every model's variants shares."""

    variants: list[Variant]
    study: config_lib.StudyConfig
    reference: evaluation.RealReference
    settings: dict  # the reference's and classifier's settings, stored with every result
    train_images: np.ndarray  # float32[n, H, W, C]: the GAE's aggregate prior
    mesh: jax.sharding.Mesh


def _measure_model(
    what: str,
    rng_key: jax.Array,
    trained,
    sampler: config_lib.SamplerConfig,
    batch_norm: bool,
    trained_step: int,
    out_dir: str,
    m: Measuring,
    progress: _Progress,
) -> dict[str, dict]:
    """Every variant's result for one trained model ``(cfg, model, state)``: stored ones read,
    the others run with ``sampler`` (the requested one; the stored model's is its training
    run's) and measured into ``out_dir`` (a variant that computes the same chain as an earlier
    one is that one's result). Every variant's chains start from the same draws."""
    cfg, model, state = trained
    same = distinct_variants(m.variants, batch_norm)
    prior = None
    if cfg.model.prior != "normal":
        prior = builders.build_prior(cfg.model, model=model, state=state, images=m.train_images)
    measured: dict[str, dict] = {}
    for v in m.variants:
        t0 = time.perf_counter()
        if same[v.name] != v.name:  # the chain of an earlier variant: nothing to run
            progress.finished("chains", f"{what} {v.name} = {same[v.name]}", 0.0, True)
            continue
        run_sampler = variant_sampler(sampler, m.study, v)
        settings = {"sampler": dataclasses.asdict(run_sampler), "model_step": trained_step}
        settings.update(m.settings)
        path = os.path.join(out_dir, f"{v.name}.json")
        result = load_result(path, settings)
        stored = result is not None
        if not stored:
            images, stats = chain_images(
                rng_key,
                trained,
                run_sampler,
                prior,
                name=f"{what} {v.name}",
            )
            t1 = time.perf_counter()
            metrics = evaluation.per_step_metrics(images, m.reference, mesh=m.mesh)
            result = {
                "settings": settings,
                "transition": builders.describe_transition("latent", cfg.model, run_sampler),
                "steps": list(run_sampler.record_steps),
                "metrics": {k: np.asarray(x).tolist() for k, x in metrics.items()},
                "non_finite_chains": stats["non_finite"]["chains"],
                "seconds": {"chains": t1 - t0, "measures": time.perf_counter() - t1},
            }
            os.makedirs(out_dir, exist_ok=True)
            workdir_lib.write_json(path, result, indent=1)
        progress.finished("chains", f"{what} {v.name}", time.perf_counter() - t0, stored)
        measured[v.name] = _json(result)
    return {"same_as": same, "variants": measured}


def paired_change(values: np.ndarray) -> dict:
    """Mean and standard error over seeds of each step's change against step 0.

    Args:
      values: float[seeds, steps], one measure's values.

    Returns:
      ``{"mean": [...], "stderr": [...]}`` per step (stderr 0 for one seed).
    """
    diff = values - values[:, :1]
    n = diff.shape[0]
    se = diff.std(axis=0, ddof=1) / np.sqrt(n) if n > 1 else np.zeros(diff.shape[1])
    return {"mean": diff.mean(axis=0).tolist(), "stderr": se.tolist()}


def aggregate_seeds(runs: list[dict]) -> dict:
    """One variant's stored results of several seeds, combined.

    Args:
      runs: each seed's result (``{"steps": [...], "metrics": {key: [per step]}}``).

    Returns:
      ``steps``; ``per_seed`` (key -> [seeds][steps]); ``summary`` (key -> per step
      ``{"mean", "sd", "n"}``); ``change_from_step_0`` (key -> :func:`paired_change`).
    """
    steps = runs[0]["steps"]
    if any(r["steps"] != steps for r in runs):
        raise ValueError(f"the seeds' results have different steps: {[r['steps'] for r in runs]}")
    values = {k: np.array([r["metrics"][k] for r in runs], np.float64) for k in _SCALAR_KEYS}
    return {
        "steps": steps,
        "per_seed": {k: x.tolist() for k, x in values.items()},
        "summary": {k: [results.summarize(col) for col in x.T] for k, x in values.items()},
        "change_from_step_0": {k: paired_change(x) for k, x in values.items()},
    }


def _write_outputs(
    workdir, per_seed, info, variants, study, real, accuracy, start, results_path
) -> dict:
    """``study.json``, ``table.md``, ``results.json`` and ``study.png`` from the seeds so far."""
    models, curves, rows = {}, {}, []
    seeds_done = None
    for name, by_seed in per_seed.items():
        if not by_seed:
            continue
        seeds = sorted(by_seed)
        seeds_done = seeds if seeds_done is None else sorted(set(seeds_done) & set(seeds))
        same = by_seed[seeds[0]]["same_as"]
        batch_norm = info[name]["batch_norm"]
        models[name] = {**info[name], "seeds": seeds, "same_as": same, "variants": {}}
        curves[name] = {}
        for v in variants:
            if same[v.name] != v.name:
                continue
            over_seeds = aggregate_seeds([by_seed[s]["variants"][v.name] for s in seeds])
            models[name]["variants"][v.name] = {
                "label": v.label(batch_norm),
                # (results stored before transitions were recorded have none)
                "transition": by_seed[seeds[0]]["variants"][v.name].get("transition"),
                **over_seeds,
            }
            steps, stats = over_seeds["steps"], over_seeds["summary"]
            curves[name][v.label(batch_norm)] = {
                "steps": steps,
                **{
                    k: {"mean": [s["mean"] for s in stats[k]], "sd": [s["sd"] for s in stats[k]]}
                    for k, _, _ in PANELS
                },
            }
            shown = [steps.index(t) for t in study.table_steps]
            rows.append(
                [name, v.label(batch_norm)]
                + [[stats[k][i] for i in shown] for k, _, _ in TABLE_MEASURES]
            )
    real_row = ["real training images", "—"]
    real_row += [[{"mean": real[k], "sd": 0.0, "n": 1}] for k, _, _ in TABLE_MEASURES]
    steps_text = results.ARROW.join(str(t) for t in study.table_steps)
    table = {
        "columns": ["model", "chain variant"]
        + [f"{label}, steps {steps_text}" for _, label, _ in TABLE_MEASURES],
        "decimals": [None, None] + [d for _, _, d in TABLE_MEASURES],
        "rows": rows + [real_row],
    }
    summary = {
        "seeds_done": seeds_done,
        "classifier_test_accuracy": accuracy,
        "real_data": real,
        "models": models,
    }
    workdir_lib.write_json(os.path.join(workdir, SUMMARY_FILE), summary, indent=1)
    file = results.results_file(
        TABLE_NAME,
        {TABLE_NAME: table},
        seeds=seeds_done,
        start=start,
    )
    for path in [os.path.join(workdir, RESULTS_FILE)] + ([results_path] if results_path else []):
        results.write_results(path, file)
    if workdir_lib.is_writer():
        with open(os.path.join(workdir, TABLE_FILE), "w") as f:
            f.write(results.markdown_table(table))
    cluster.write_output(
        os.path.join(workdir, FIGURE_FILE),
        lambda p: plotting.save_study_figure(p, curves, PANELS, real),
    )
    logging.info("[study] seeds %s written to %s", seeds_done, workdir)
    return summary


__all__ = [
    "FIGURE_FILE",
    "RESULTS_FILE",
    "SUMMARY_FILE",
    "TABLE_FILE",
    "Variant",
    "aggregate_seeds",
    "chain_images",
    "chain_variants",
    "distinct_variants",
    "load_result",
    "paired_change",
    "run_study",
    "variant_sampler",
]
