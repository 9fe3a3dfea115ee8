"""``run_pipeline(config, workdir)``: the main job behind ``experiments.main``.

One call shows the library's whole idea on one machine:

1. trains every model of ``config.models`` with :func:`~gae_jax.jobs.train.train_and_evaluate` into
   ``<workdir>/<name>`` (rerunning resumes, or skips finished training);
2. samples each with :func:`~gae_jax.jobs.sample.sample_and_save`: ``num_chains`` latent
   chains from prior draws (the denoising chain for denoising models) and slerp paths between
   test digits refined by chain steps;
3. measures the samples and codes of every recorded chain step
   (:mod:`gae_jax.evaluation.chain_metrics`) against held-out real digits, with a ground-truth
   classifier trained once and cached in ``<workdir>/classifier``;
4. writes ``report.html`` (self-contained), ``summary.json``, ``summary.csv`` and the report's
   figures under ``<workdir>/figures``, and prints the summary table.

Progress lines carry elapsed time and an ETA; the report ends with the measured time per stage.
"""

from __future__ import annotations

import contextlib
import functools
import os
import time

import jax
import ml_collections
import numpy as np
from absl import logging
from etils import epath

from gae_jax import builders, evaluation, models, parallel, plotting, resources
from gae_jax import config as config_lib
from gae_jax import workdir as workdir_lib
from gae_jax.jobs import cluster, report
from gae_jax.jobs.common import (
    CLASSIFIER_DIR,
    ClassifierSettings,
    ground_truth_classifier,
    load_job_splits,
)
from gae_jax.jobs.sample import sample_and_save
from gae_jax.jobs.train import train_and_evaluate
from gae_jax.samplers import starts


class _Stages:
    """Times named stages and logs, after each, the elapsed time and an ETA for the rest.

    A stage's expected duration is the mean of finished stages of the same kind (e.g. the
    first model's training for the next ones), else of all finished stages so far. Besides wall
    seconds, each stage's CPU seconds (all threads of this process) are kept: on a shared
    machine they change far less with the load than wall time, so they compare runs.
    """

    def __init__(self, plan: list[tuple[str, str]]):
        self.plan = plan  # (kind, name) of every stage, in order
        self.seconds: dict[str, float] = {}
        self.cpu_seconds: dict[str, float] = {}
        self._kinds: dict[str, list[float]] = {}
        self._t0 = time.perf_counter()

    @contextlib.contextmanager
    def stage(self, kind: str, name: str):
        index = self.plan.index((kind, name))
        logging.info("[main] stage %d/%d: %s ...", index + 1, len(self.plan), name)
        t0, cpu0 = time.perf_counter(), time.process_time()
        yield
        seconds = time.perf_counter() - t0
        self.seconds[name] = seconds
        self.cpu_seconds[name] = time.process_time() - cpu0
        self._kinds.setdefault(kind, []).append(seconds)
        done = list(self.seconds.values())
        eta = sum(
            np.mean(self._kinds.get(k, done))
            for k, n in self.plan[index + 1 :]
            if n not in self.seconds
        )
        logging.info(
            "[main] stage %d/%d: %s done in %.1fs (CPU %.1fs) | elapsed %.1fs | ETA %.0fs",
            index + 1,
            len(self.plan),
            name,
            seconds,
            self.cpu_seconds[name],
            self.elapsed,
            eta,
        )

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self._t0


def _chain_arrays(model_dir: str, steps) -> tuple[np.ndarray, np.ndarray]:
    """The recorded images float32[S, N, H, W, C] and codes float32[S, N, D] of the latent
    chains that ``sample_and_save`` stored in ``samples.npz``."""
    path = epath.Path(model_dir) / workdir_lib.SAMPLES_DIR / workdir_lib.SAMPLES_FILE
    with path.open("rb") as f, np.load(f) as arrays:
        images = np.stack([arrays[f"latent_x_step_{t}"].astype(np.float32) for t in steps])
        codes = np.stack([arrays[f"latent_z_step_{t}"].astype(np.float32) for t in steps])
    return images, codes


def _data_codes(rng_key: jax.Array, model_dir: str, images: np.ndarray, train_images):
    """Codes of real ``images`` encoded as the latent chain encodes.

    Returns:
      ``(codes, prior, denoising)``: float32[M, D] codes (of corrupted images for the denoising
      chain), the model's prior (the GAE's aggregates ``train_images``' encodings), and whether
      the chain corrupts.
    """
    cfg, model, state = workdir_lib.load_trained(model_dir)
    fns = builders.sampler_fns(model, cfg.sampler)
    corruption = builders.latent_corruption(cfg.model, cfg.sampler)
    k_corrupt, k_encode = jax.random.split(rng_key)
    x = images if corruption is None else corruption(k_corrupt, images)
    encode = jax.jit(starts.encode_data, static_argnums=1)
    codes = encode(k_encode, fns.sample_code, models.model_variables(state), x)
    prior = builders.build_prior(cfg.model, model=model, state=state, images=train_images)
    return np.asarray(codes), prior, corruption is not None


def evaluate_model(
    rng_key: jax.Array,
    name: str,
    model_dir: str,
    steps: tuple[int, ...],
    reference: evaluation.RealReference,
    train_images: np.ndarray,
    figures_dir: str,
) -> tuple[dict, np.ndarray]:
    """Per-step sample and latent measures of one model's chains, and its histogram figure.

    Returns:
      ``(metrics, images)``: float lists per metric (JSON-ready), and the recorded images
      float32[S, N, H, W, C] for the overview figure.
    """
    images, codes = _chain_arrays(model_dir, steps)
    metrics = evaluation.per_step_metrics(images, reference, mesh=parallel.make_mesh())
    data_codes, prior, denoising = _data_codes(rng_key, model_dir, reference.test, train_images)
    metrics.update(
        evaluation.latent_step_metrics(
            codes, data_codes, np.asarray(prior.mean()), np.asarray(prior.covariance())
        )
    )
    data_label = "encoded corrupted test digits" if denoising else "encoded test digits"
    sets = {
        ("prior draws (step 0)" if t == 0 else f"chain step {t}"): z
        for t, z in zip(steps, codes, strict=True)
    }
    sets[data_label] = data_codes
    fig = plotting.encoding_histogram_figure(
        sets, title=f"{name}: codes of the chains at each recorded step vs {data_label}"
    )
    cluster.write_output(
        os.path.join(figures_dir, f"{name}_encodings.png"), lambda p: fig.savefig(p, dpi=90)
    )
    return {k: np.asarray(v).tolist() for k, v in metrics.items()}, images


def run_pipeline(config: ml_collections.ConfigDict, workdir: str) -> dict:
    """Trains, samples and measures every model of ``config`` and writes the report.

    Args:
      config: a job config like ``configs/quickstart.py``'s.
      workdir: output directory; each model trains into ``<workdir>/<name>``.

    Returns:
      The summary also written to ``<workdir>/summary.json``.

    Raises:
      ConfigError: a bad value, one the data rules out or one the machine's memory cannot hold
        (every model's training and chains are checked), before the workdir is touched.
      WorkdirError: the workdir is unusable, or in use by another run (WorkdirLockedError).
    """
    workdir_lib.check_workdir(workdir)
    experiments, _ = config_lib.validate_job(config)
    train = load_job_splits(experiments).train
    for exp in experiments.values():
        model = builders.build_model(exp.model, train.image_shape)
        tx = builders.build_optimizer(exp.train)
        init = functools.partial(builders.init_state, exp, model, tx, train.image_shape)
        resources.check_training(exp, train.image_shape, model, jax.eval_shape(init))
    epath.Path(workdir).mkdir(parents=True, exist_ok=True)
    # The models train and sample into sub-workdirs of this one, which they lock in turn.
    with workdir_lib.locked(workdir):
        return _run_pipeline(config, workdir)


def _run_pipeline(config: ml_collections.ConfigDict, workdir: str) -> dict:
    """:func:`run_pipeline` once the workdir is checked and locked."""
    t_start = time.perf_counter()
    load_start = os.getloadavg()
    experiments, ev = config_lib.validate_job(config)
    names = list(experiments)
    first = experiments[names[0]]
    plan = [("setup", "classifier and real-data reference")]
    for name in names:
        plan += [("train", f"train {name}"), ("sample", f"sample {name}")]
        plan += [("evaluate", f"evaluate {name}")]
    plan.append(("figures", "figures"))
    stages = _Stages(plan)
    figures_dir = os.path.join(workdir, report.FIGURES_DIR)
    if workdir_lib.is_writer():  # every process computes the same; process 0 writes
        epath.Path(figures_dir).mkdir(parents=True, exist_ok=True)
    root = jax.random.key(first.seed)

    with stages.stage("setup", "classifier and real-data reference"):
        d = first.data
        train, validation, test = load_job_splits(experiments)
        classifier, params, cached = ground_truth_classifier(
            jax.random.fold_in(root, 0),
            ClassifierSettings.of(ev),
            d.name,
            train,
            os.path.join(workdir, CLASSIFIER_DIR),
        )
        reference = evaluation.RealReference(
            classifier, params, validation.images, test.images, test.labels
        )
        accuracy = float(
            evaluation.classifier_accuracy(classifier, params, test.images, test.labels)
        )
        logging.info("[main] classifier test accuracy %.4f (cached: %s)", accuracy, cached)
        # The training digits through the same measures: what a sampler that reproduced the
        # data distribution would score, for scale.
        real = evaluation.per_step_metrics(train.images[None], reference, mesh=parallel.make_mesh())
        real = {k: np.asarray(v)[0].tolist() for k, v in real.items()}

    models, shown = {}, {}
    for i, (name, exp_config) in enumerate(config_lib.job_experiment_configs(config).items()):
        model_dir = os.path.join(workdir, name)
        with stages.stage("train", f"train {name}"):
            trained = train_and_evaluate(exp_config, model_dir)
        with stages.stage("sample", f"sample {name}"):
            sampled = sample_and_save(exp_config, model_dir)
        with stages.stage("evaluate", f"evaluate {name}"):
            steps = tuple(experiments[name].sampler.record_steps)
            metrics, images = evaluate_model(
                jax.random.fold_in(root, 1 + i),
                name,
                model_dir,
                steps,
                reference,
                train.images,
                figures_dir,
            )
            shown[name] = images[:, : ev.overview_samples]
        models[name] = {
            "family": experiments[name].model.family,
            "chain": sampled["latent"]["chain"],
            "transition": sampled["latent"]["transition"],
            "steps": list(steps),
            "train": {
                "num_steps": trained["step"],
                "steps_this_run": trained["steps_this_run"],
                "train_seconds": trained["train_seconds"],
                "test_mse": trained["test"].get("mse"),
            },
            "sampling_seconds": {k: v["run_seconds"] for k, v in sampled["timings"].items()},
            "metrics": metrics,
        }
        models[name]["verdict"] = report.chain_verdict(name, models[name])

    summary = {
        "data": first.data.name,
        "num_chains": first.sampler.num_chains,
        "chain_steps": first.sampler.num_steps,
        "classifier": {
            "hidden": list(ev.classifier_hidden),
            "steps": ev.classifier_steps,
            "test_accuracy": accuracy,
            "cached": cached,
        },
        "real_data": real,
        "models": models,
    }
    with stages.stage("figures", "figures"):
        report.write_figures(figures_dir, summary, shown)
    summary["stage_seconds"] = stages.seconds
    summary["stage_cpu_seconds"] = stages.cpu_seconds
    summary["total_seconds"] = time.perf_counter() - t_start
    summary["machine"] = {
        "cpu_count": os.cpu_count(),
        "devices": [str(dev) for dev in jax.devices()],
        "load_average_at_start": list(load_start),
        "load_average_at_end": list(os.getloadavg()),
    }
    # Written after the last timed stage, so the report states the job's whole time (writing
    # the files themselves takes well under a second).
    if workdir_lib.is_writer():
        report.write_report(workdir, summary)
        print(report.format_table(summary), flush=True)
        print(f"\nReport: {os.path.join(workdir, report.REPORT_FILE)}", flush=True)
    parallel.sync("run_pipeline")
    return summary
