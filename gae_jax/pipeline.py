"""``run_pipeline(config, workdir)``: the main job behind ``experiments.main``.

One call shows the library's whole idea on one machine:

1. trains every model of ``config.models`` with :func:`~gae_jax.train.train_and_evaluate` into
   ``<workdir>/<name>`` (rerunning resumes, or skips finished training);
2. samples each with :func:`~gae_jax.samplers.run.sample_and_save`: ``num_chains`` latent
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
import dataclasses
import json
import os
import time

import flax.serialization
import jax
import ml_collections
import numpy as np
from absl import logging

from gae_jax import config as config_lib
from gae_jax import data, evaluation, report, samplers
from gae_jax.samplers import init
from gae_jax.samplers.run import SAMPLES_DIR, latent_corruption, sample_and_save
from gae_jax.train import build_prior, load_trained, train_and_evaluate

CLASSIFIER_DIR = "classifier"


@dataclasses.dataclass(frozen=True)
class EvaluationConfig:
    """``config.evaluation``: the ground-truth classifier and the overview figure."""

    classifier_hidden: tuple[int, ...] = (500, 500)
    classifier_steps: int = 1000
    classifier_batch_size: int = 128
    classifier_learning_rate: float = 1e-3
    overview_samples: int = 16  # chains shown per model and step in the overview figure


def experiment_configs(config: ml_collections.ConfigDict) -> dict[str, ml_collections.ConfigDict]:
    """Each model's full experiment config: the shared ``seed``, ``data`` and ``sampler`` sections
    with the model's own ``model`` and ``train`` sections."""
    shared = {k: config[k].to_dict() for k in ("data", "sampler")}
    return {
        name: ml_collections.ConfigDict(
            {"seed": config.seed, **shared, **config.models[name].to_dict()}
        )
        for name in config.models
    }


def validate(
    config: ml_collections.ConfigDict,
) -> tuple[dict[str, config_lib.ExperimentConfig], EvaluationConfig]:
    """Checks the whole job's config before anything is trained; ConfigError on a bad value."""
    for key in ("seed", "data", "models", "sampler", "evaluation"):
        if key not in config:
            raise config_lib.ConfigError(
                f"config has no '{key}' section; see configs/quickstart.py"
            )
    if not config.models:
        raise config_lib.ConfigError("config.models is empty; give at least one model section")
    experiments = {}
    for name, exp in experiment_configs(config).items():
        try:
            experiments[name] = config_lib.validate(exp)
        except config_lib.ConfigError as e:
            raise config_lib.ConfigError(f"config.models.{name}: {e}") from e
    raw = config.evaluation.to_dict()
    known = {f.name for f in dataclasses.fields(EvaluationConfig)}
    if set(raw) - known:
        raise config_lib.ConfigError(
            f"unknown key(s) {sorted(set(raw) - known)} in config.evaluation; valid: {sorted(known)}"
        )
    ev = EvaluationConfig(
        **{k: tuple(v) if k == "classifier_hidden" else v for k, v in raw.items()}
    )
    for name in ("classifier_steps", "classifier_batch_size", "overview_samples"):
        value = getattr(ev, name)
        if not isinstance(value, int) or value < 1:
            raise config_lib.ConfigError(f"config.evaluation.{name}={value!r} must be >= 1")
    if not ev.classifier_hidden or min(ev.classifier_hidden) < 1:
        raise config_lib.ConfigError(
            f"config.evaluation.classifier_hidden={ev.classifier_hidden} needs positive sizes"
        )
    if not ev.classifier_learning_rate > 0:
        raise config_lib.ConfigError(
            f"config.evaluation.classifier_learning_rate={ev.classifier_learning_rate} must be > 0"
        )
    return experiments, ev


class _Stages:
    """Times named stages and logs, after each, the elapsed time and an ETA for the rest.

    A stage's expected duration is the mean of finished stages of the same kind (e.g. the
    first model's training for the next ones), else of all finished stages so far.
    """

    def __init__(self, plan: list[tuple[str, str]]):
        self.plan = plan  # (kind, name) of every stage, in order
        self.seconds: dict[str, float] = {}
        self._kinds: dict[str, list[float]] = {}
        self._t0 = time.perf_counter()

    @contextlib.contextmanager
    def stage(self, kind: str, name: str):
        index = self.plan.index((kind, name))
        logging.info("[main] stage %d/%d: %s ...", index + 1, len(self.plan), name)
        t0 = time.perf_counter()
        yield
        seconds = time.perf_counter() - t0
        self.seconds[name] = seconds
        self._kinds.setdefault(kind, []).append(seconds)
        done = list(self.seconds.values())
        eta = sum(
            np.mean(self._kinds.get(k, done))
            for k, n in self.plan[index + 1 :]
            if n not in self.seconds
        )
        logging.info(
            "[main] stage %d/%d: %s done in %.1fs | elapsed %.1fs | ETA %.0fs",
            index + 1,
            len(self.plan),
            name,
            seconds,
            self.elapsed,
            eta,
        )

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self._t0


def ground_truth_classifier(
    rng_key: jax.Array, ev: EvaluationConfig, data_name: str, train: data.Dataset, out_dir: str
) -> tuple[evaluation.MLPClassifier, dict, bool]:
    """Paper 002's ground-truth classifier on the real training split, cached in ``out_dir``.

    Returns:
      ``(model, params, cached)``; ``cached`` is True if the parameters were restored.
    """
    num_classes = int(train.labels.max()) + 1
    model = evaluation.MLPClassifier(num_classes, ev.classifier_hidden)
    settings = {"data": data_name, "num_classes": num_classes, **dataclasses.asdict(ev)}
    settings.pop("overview_samples")
    settings["classifier_hidden"] = list(ev.classifier_hidden)
    settings_path = os.path.join(out_dir, "classifier.json")
    params_path = os.path.join(out_dir, "params.msgpack")
    if os.path.exists(settings_path) and os.path.exists(params_path):
        with open(settings_path) as f:
            if json.load(f) == settings:
                template = model.init(rng_key, train.images[:1])["params"]
                with open(params_path, "rb") as f:
                    return model, flax.serialization.from_bytes(template, f.read()), True
    params = evaluation.train_classifier(
        rng_key,
        model,
        train.images,
        train.labels,
        num_steps=ev.classifier_steps,
        batch_size=ev.classifier_batch_size,
        learning_rate=ev.classifier_learning_rate,
    ).params
    os.makedirs(out_dir, exist_ok=True)
    with open(params_path, "wb") as f:
        f.write(flax.serialization.to_bytes(params))
    with open(settings_path, "w") as f:  # written last: it marks the parameters as complete
        json.dump(settings, f, indent=2)
    return model, params, False


def _chain_arrays(model_dir: str, steps) -> tuple[np.ndarray, np.ndarray]:
    """The recorded images float32[S, N, H, W, C] and codes float32[S, N, D] of the latent
    chains that ``sample_and_save`` stored in ``samples.npz``."""
    with np.load(os.path.join(model_dir, SAMPLES_DIR, "samples.npz")) as arrays:
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
    cfg, model, state = load_trained(model_dir)
    s = cfg.sampler
    fns = samplers.autoencoder_fns(
        model, batch_stats_mode=s.batch_stats_mode, bn_tile_size=s.bn_tile_size or None
    )
    corruption = latent_corruption(cfg, s)
    k_corrupt, k_encode = jax.random.split(rng_key)
    x = images if corruption is None else corruption(k_corrupt, images)
    encode = jax.jit(init.encode_data, static_argnums=1)
    codes = encode(k_encode, fns.encode, samplers.model_variables(state), x)
    prior = build_prior(cfg.model, model=model, state=state, images=train_images)
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
    metrics = evaluation.per_step_metrics(images, reference)
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
    fig = evaluation.encoding_histogram_figure(
        sets, title=f"{name}: codes of the chains at each recorded step vs {data_label}"
    )
    fig.savefig(os.path.join(figures_dir, f"{name}_encodings.png"), dpi=90)
    return {k: np.asarray(v).tolist() for k, v in metrics.items()}, images


def run_pipeline(config: ml_collections.ConfigDict, workdir: str) -> dict:
    """Trains, samples and measures every model of ``config`` and writes the report.

    Args:
      config: a job config like ``configs/quickstart.py``'s.
      workdir: output directory; each model trains into ``<workdir>/<name>``.

    Returns:
      The summary also written to ``<workdir>/summary.json``.
    """
    t_start = time.perf_counter()
    load_start = os.getloadavg()
    experiments, ev = validate(config)
    names = list(experiments)
    first = experiments[names[0]]
    plan = [("setup", "classifier and real-data reference")]
    for name in names:
        plan += [("train", f"train {name}"), ("sample", f"sample {name}")]
        plan += [("evaluate", f"evaluate {name}")]
    plan.append(("figures", "figures"))
    stages = _Stages(plan)
    figures_dir = os.path.join(workdir, report.FIGURES_DIR)
    os.makedirs(figures_dir, exist_ok=True)
    root = jax.random.key(first.seed)

    with stages.stage("setup", "classifier and real-data reference"):
        d = first.data
        split = lambda s: data.load_dataset(d.name, s, tfds_data_dir=d.tfds_data_dir)  # noqa: E731
        train, validation, test = split("train"), split("validation"), split("test")
        for exp in experiments.values():  # values the data rules out fail before any training
            config_lib.check_against_data(
                exp, train.image_shape, num_train=len(train), num_test=len(test)
            )
        classifier, params, cached = ground_truth_classifier(
            jax.random.fold_in(root, 0), ev, d.name, train, os.path.join(workdir, CLASSIFIER_DIR)
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
        real = evaluation.per_step_metrics(train.images[None], reference)
        real = {k: np.asarray(v)[0].tolist() for k, v in real.items()}

    models, shown = {}, {}
    for i, (name, exp_config) in enumerate(experiment_configs(config).items()):
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
    summary["total_seconds"] = time.perf_counter() - t_start
    summary["machine"] = {
        "cpu_count": os.cpu_count(),
        "devices": [str(dev) for dev in jax.devices()],
        "load_average_at_start": list(load_start),
        "load_average_at_end": list(os.getloadavg()),
    }
    # Written after the last timed stage, so the report states the job's whole time (writing
    # the files themselves takes well under a second).
    report.write_report(workdir, summary)
    print(report.format_table(summary), flush=True)
    print(f"\nReport: {os.path.join(workdir, report.REPORT_FILE)}", flush=True)
    return summary
