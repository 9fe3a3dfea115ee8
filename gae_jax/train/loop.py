"""``train_and_evaluate(config, workdir)``: the training loop behind ``experiments.train``."""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from gae_jax import checkpoint, data, models, parallel, priors
from gae_jax import config as config_lib
from gae_jax import corruption as corruption_lib
from gae_jax.train import adversarial, latent, steps
from gae_jax.train.state import TrainState, create_train_state, make_optimizer
from gae_jax.train.writer import MetricWriter, Progress


def build_model(model_cfg: config_lib.ModelConfig, image_shape) -> models.Autoencoder:
    return models.build_autoencoder(
        architecture=model_cfg.architecture,
        image_shape=image_shape,
        latent_dim=model_cfg.latent_dim,
        posterior=model_cfg.posterior,
        encoder_hidden=model_cfg.encoder_hidden,
        decoder_hidden=model_cfg.decoder_hidden,
        activation=model_cfg.activation,
        conv_width=model_cfg.conv_width,
        matmul_dtype=model_cfg.matmul_dtype,
    )


def model_corruption(model_cfg: config_lib.ModelConfig) -> corruption_lib.Corruption:
    """The training corruption of a model (identity for non-denoising families)."""
    if not model_cfg.is_denoising:
        return corruption_lib.identity
    return corruption_lib.make_corruption(model_cfg.corruption, model_cfg.corruption_level)


def build_prior(
    model_cfg: config_lib.ModelConfig, *, model=None, state=None, images=None, batch_size=500
) -> priors.Prior:
    """The configured prior p(z).

    For ``aggregate`` (the GAE's) it is the aggregated posterior of the trained ``model`` with
    ``state``'s variables over ``images`` (float32[n, H, W, C], the training set): sampling it
    picks a training point y and draws z ~ q(z|y) (paper 004); decode z to generate.
    """
    m = model_cfg
    if m.prior == "aggregate":
        if model is None or state is None or images is None:
            raise ValueError("the 'aggregate' prior needs the trained model, state and images")
        variables = {"params": state.params, "batch_stats": state.batch_stats}
        encode_fn = functools.partial(model.apply, variables, method=model.encode)
        return priors.aggregate_posterior(encode_fn, images, batch_size)
    params = {}
    if m.prior == "gmm_ring":
        params = dict(num_components=m.gmm_components, radius=m.gmm_radius, std=m.gmm_std)
    return priors.make_prior(m.prior, m.latent_dim, **params)


def build_adversary(cfg: config_lib.ExperimentConfig) -> adversarial.Adversary | None:
    """Discriminator, prior and optimisers of an adversarial family; None for the others."""
    m, t = cfg.model, cfg.train
    if m.family not in config_lib.ADVERSARIAL_FAMILIES:
        return None
    optimizer = functools.partial(
        make_optimizer, t.optimizer, b1=t.b1, b2=t.b2, momentum=t.momentum
    )
    return adversarial.Adversary(
        discriminator=models.Discriminator(
            m.disc_hidden, m.disc_dropout, matmul_dtype=m.matmul_dtype
        ),
        prior=build_prior(m),
        disc_tx=optimizer(float(t.disc_learning_rate or t.learning_rate)),
        gen_tx=optimizer(float(t.gen_learning_rate or t.learning_rate)),
    )


def _integration_samples(model_cfg: config_lib.ModelConfig) -> int:
    """M encodings per fake code: the configured M for idaae, one for aae and daae."""
    return model_cfg.integration_samples if model_cfg.family == "idaae" else 1


def build_train_step(
    model_cfg: config_lib.ModelConfig,
    model,
    tx,
    adversary: adversarial.Adversary | None = None,
) -> steps.StepFn:
    """The family's training step (unjitted); adversarial families need ``adversary``
    (:func:`build_adversary`)."""
    kwargs = dict(
        reconstruction_loss=model_cfg.reconstruction_loss, corruption=model_corruption(model_cfg)
    )
    if model_cfg.family in ("ae", "dae"):
        return steps.make_ae_step(model, tx, **kwargs)
    if model_cfg.family in ("vae", "dvae"):
        return steps.make_vae_step(model, tx, kl_weight=model_cfg.kl_weight, **kwargs)
    if model_cfg.family in config_lib.ADVERSARIAL_FAMILIES:
        if adversary is None:
            raise ValueError(f"family {model_cfg.family!r} needs an adversary (build_adversary)")
        return adversarial.make_adversarial_step(
            model, tx, adversary, integration_samples=_integration_samples(model_cfg), **kwargs
        )
    if model_cfg.family == "gae":
        return steps.make_gae_step(
            model,
            tx,
            reconstruction_loss=model_cfg.reconstruction_loss,
            lambda1=model_cfg.gae_lambda1,
            lambda2=model_cfg.gae_lambda2,
        )
    raise ValueError(f"no training step for family {model_cfg.family!r}")


def build_latent_eval(cfg: config_lib.ExperimentConfig, model, adversary, train_images):
    """For families with a prior to match (adversarial, gae): ``evaluate(state, images) ->
    (Latents, prior)`` (see :mod:`gae_jax.train.latent`); None for the others.

    The GAE's prior is the aggregated posterior of ``train_images`` under the current state.
    """
    m = cfg.model
    if adversary is None and m.family != "gae":
        return None
    if adversary is None:
        latent_step = jax.jit(latent.make_latent_step(model))
        aggregate = jax.jit(lambda state, x: build_prior(m, model=model, state=state, images=x))
        prior_fn = lambda state: aggregate(state, train_images)  # noqa: E731
    else:
        fake_codes = adversarial.make_fake_codes(
            model, model_corruption(m), _integration_samples(m)
        )
        latent_step = jax.jit(
            latent.make_latent_step(
                model,
                corruption=model_corruption(m) if m.is_denoising else None,
                discriminator=adversary.discriminator,
                fake_codes=fake_codes,
            )
        )
        prior_fn = lambda state: adversary.prior  # noqa: E731
    key = jax.random.fold_in(jax.random.key(cfg.seed), 4)

    def evaluate(state, images):
        prior = prior_fn(state)
        codes = latent.collect_latents(
            latent_step, state, prior, images, cfg.train.eval_batch_size, key
        )
        return codes, prior

    return evaluate


def _check_resumable(workdir: str, cfg: config_lib.ExperimentConfig) -> None:
    """Refuses to resume a workdir whose stored model or data differ from the config's."""
    path = os.path.join(workdir, "config.json")
    current = {"data": dataclasses.asdict(cfg.data), "model": dataclasses.asdict(cfg.model)}
    current = json.loads(json.dumps(current))  # tuples -> lists, as stored
    # Keys added to a section after a run was stored take their defaults, so the run resumes.
    defaults = {"data": config_lib.DataConfig(), "model": config_lib.ModelConfig()}
    defaults = json.loads(json.dumps({k: dataclasses.asdict(v) for k, v in defaults.items()}))
    if os.path.exists(path):
        with open(path) as f:
            stored = json.load(f)
        for section in ("data", "model"):
            if {**defaults[section], **stored.get(section, {})} != current[section]:
                raise ValueError(
                    f"workdir {workdir} holds a run with a different config.{section} "
                    f"({stored.get(section)} vs {current[section]}); use a new --workdir"
                )


def _write_json(path: str, obj) -> None:
    """Writes atomically: a run killed mid-write leaves the previous file, never half of one."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2)
    os.replace(tmp, path)


def init_state(cfg: config_lib.ExperimentConfig, model, tx, image_shape) -> TrainState:
    """The freshly initialised training state of ``cfg`` (adversary included), from its seed."""
    init_key = jax.random.fold_in(jax.random.key(cfg.seed), 0)
    adversary = build_adversary(cfg)
    state = create_train_state(init_key, model, tx, image_shape)
    if adversary is None:
        return state
    disc_key = jax.random.fold_in(jax.random.key(cfg.seed), 3)
    return adversarial.init_adversary(disc_key, state, adversary, cfg.model.latent_dim)


def restore_or_create(
    cfg: config_lib.ExperimentConfig,
    ckpt: checkpoint.Checkpointer,
    model,
    tx,
    image_shape,
    mesh: Mesh | None = None,
) -> TrainState:
    """The latest checkpoint in ``ckpt`` if there is one, else a freshly initialised state;
    replicated over ``mesh`` if given (restored straight into that placement)."""
    init = functools.partial(init_state, cfg, model, tx, image_shape)
    if ckpt.latest_step() is None:
        state = init()
        return state if mesh is None else parallel.replicate(state, mesh)
    logging.info("Resuming from checkpoint %d in %s", ckpt.latest_step(), ckpt.directory)
    abstract = jax.eval_shape(init)
    if mesh is not None:
        replicated = NamedSharding(mesh, PartitionSpec())
        abstract = jax.tree.map(
            lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=replicated), abstract
        )
    return ckpt.restore(abstract)


def build_mesh(cfg: config_lib.ExperimentConfig) -> Mesh:
    """The training mesh: ``config.mesh.data`` devices (0: all) along a ``data`` axis.

    Raises:
      ConfigError: the batch size does not split evenly across the devices.
    """
    mesh = parallel.make_mesh(cfg.mesh.data, axis_name="data")
    n = mesh.devices.size
    if cfg.train.batch_size % n:
        raise config_lib.ConfigError(
            f"config.train.batch_size={cfg.train.batch_size} does not split across the {n} "
            f"devices of config.mesh.data={cfg.mesh.data}; valid: a batch size that is a "
            f"multiple of {n}, or config.mesh.data set to a divisor of the batch size"
        )
    return mesh


def jit_train_steps(step_fn: steps.StepFn, mesh: Mesh):
    """``step_fn`` over a stack of batches (:func:`steps.scan_steps`), compiled data-parallel.

    Returns ``train_steps(state, batches: float32[K, B, H, W, C], rng_key) -> (state,
    metrics[K])`` with the state replicated over ``mesh`` and donated (updated in place), and
    every batch split along B over the ``data`` axis; XLA inserts the gradient all-reduce.
    """
    replicated = NamedSharding(mesh, PartitionSpec())
    batches = NamedSharding(mesh, PartitionSpec(None, "data"))
    return jax.jit(
        steps.scan_steps(step_fn),
        in_shardings=(replicated, batches, replicated),
        out_shardings=replicated,
        donate_argnums=0,
    )


def dispatch_end(step: int, train_cfg: config_lib.TrainConfig, eval_every: int) -> int:
    """The step that one dispatch from ``step`` runs up to: at most ``steps_per_dispatch``
    steps, aligned to multiples of it, and never past a step that logs, evaluates or
    checkpoints. Dispatches are a function of the step number alone, so a resumed run
    repeats the uninterrupted run's dispatches (and its floating-point results)."""
    t = train_cfg
    everies = (t.steps_per_dispatch, t.log_every, t.checkpoint_every, eval_every)
    return min([t.num_steps] + [(step // every + 1) * every for every in everies])


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
    """Trains the configured model, checkpointing into ``workdir`` and resuming from it.

    Writes ``config.json``, ``metrics.jsonl`` (rows with ``split`` train / validation / test),
    TensorBoard events under ``tensorboard/``, checkpoints under ``checkpoints/`` and a final
    ``summary.json``. Returns the summary.
    """
    cfg = config_lib.validate(config)
    _check_resumable(workdir, cfg)

    train_ds = data.load_dataset(cfg.data.name, "train", tfds_data_dir=cfg.data.tfds_data_dir)
    val_ds = data.load_dataset(cfg.data.name, "validation", tfds_data_dir=cfg.data.tfds_data_dir)
    test_ds = data.load_dataset(cfg.data.name, "test", tfds_data_dir=cfg.data.tfds_data_dir)
    # Values that depend on the data fail here: before the workdir is touched or anything is
    # compiled, and (sampler section included) before hours of training rather than after.
    config_lib.check_against_data(
        cfg, train_ds.image_shape, num_train=len(train_ds), num_test=len(test_ds)
    )
    os.makedirs(workdir, exist_ok=True)
    order = data.BatchOrder(len(train_ds), cfg.train.batch_size, cfg.seed)
    image_shape = train_ds.image_shape

    model = build_model(cfg.model, image_shape)
    t = cfg.train
    tx = make_optimizer(t.optimizer, t.learning_rate, b1=t.b1, b2=t.b2, momentum=t.momentum)
    mesh = build_mesh(cfg)
    ckpt = checkpoint.Checkpointer(workdir, max_to_keep=t.keep_checkpoints)
    try:
        state = restore_or_create(cfg, ckpt, model, tx, image_shape, mesh)
    except BaseException:
        ckpt.close()  # a refused checkpoint must not leave orbax's background threads running
        raise
    _write_json(os.path.join(workdir, "config.json"), dataclasses.asdict(cfg))
    start_step = int(state.step)

    root = jax.random.key(cfg.seed)
    train_key, eval_key = jax.random.fold_in(root, 1), jax.random.fold_in(root, 2)
    adversary = build_adversary(cfg)
    skip = t.on_non_finite == "skip"
    step_fn = build_train_step(cfg.model, model, tx, adversary)
    train_steps = jit_train_steps(steps.skip_non_finite(step_fn) if skip else step_fn, mesh)
    batch_sharding = NamedSharding(mesh, PartitionSpec(None, "data"))
    eval_step = jax.jit(steps.make_eval_step(model, corruption=model_corruption(cfg.model)))
    latent_eval = build_latent_eval(cfg, model, adversary, train_ds.images)

    def run_eval(state, ds):
        metrics = steps.evaluate(eval_step, state, ds.images, t.eval_batch_size, eval_key)
        if latent_eval is not None:
            metrics.update(latent.latent_metrics(*latent_eval(state, ds.images)))
        return metrics

    eval_every = t.eval_every or order.steps_per_epoch

    writer = MetricWriter(workdir, resume_step=start_step)
    if start_step == 0:
        writer.write(0, "test", run_eval(state, test_ds))  # the untrained model, as a baseline
    logging.info(
        "Training %s (%s, z=%d) on %s: %d examples, %d steps/epoch, steps %d -> %d",
        cfg.model.family,
        cfg.model.architecture,
        cfg.model.latent_dim,
        cfg.data.name,
        len(train_ds),
        order.steps_per_epoch,
        start_step,
        t.num_steps,
    )
    progress = Progress(t.num_steps, start_step, prefix=f"[{cfg.model.family}] ")
    t0 = time.perf_counter()
    train_time = 0.0
    checked_step = start_step  # the last step whose state was seen to be finite
    skipped_flags = []  # "skip" mode: device float32[K] of the log window, summed when logging
    skipped_total = 0
    try:
        done = start_step
        while done < t.num_steps:
            step, done = done, dispatch_end(done, t, eval_every)
            batches = np.stack([train_ds.images[order.indices(s)] for s in range(step, done)])
            batches = parallel.shard_host_array(batches, batch_sharding)
            state, metrics = train_steps(state, batches, train_key)
            if skip:
                skipped_flags.append(metrics.pop("skipped"))
            is_last = done == t.num_steps
            log_now = done % t.log_every == 0 or is_last
            save_now = done % t.checkpoint_every == 0 or is_last
            if log_now or save_now:
                metrics = {k: float(v[-1]) for k, v in metrics.items()}  # step done; host sync
                if not skip:  # skipping keeps the state finite by construction
                    _check_finite(done, checked_step, cfg.model.family, metrics, state, ckpt)
                    checked_step = done
            if log_now:
                if skip:
                    flags = jnp.concatenate(skipped_flags)
                    metrics["skipped_steps"] = int(jnp.sum(flags))
                    if metrics["skipped_steps"]:
                        logging.warning(
                            "[%s] skipped %d non-finite updates in the %d steps up to step %d",
                            cfg.model.family,
                            metrics["skipped_steps"],
                            flags.shape[0],
                            done,
                        )
                    skipped_total += metrics["skipped_steps"]
                    skipped_flags = []
                writer.write(done, "train", metrics)
                progress.update(done, metrics)
            if done % eval_every == 0 or is_last:
                val = run_eval(state, val_ds)
                writer.write(done, "validation", val)
                logging.info("[%s] step %d validation %s", cfg.model.family, done, _fmt(val))
            if save_now:
                ckpt.save(done, state)
        jax.block_until_ready(state)
        train_time = time.perf_counter() - t0
        test = run_eval(state, test_ds)
        writer.write(int(state.step), "test", test)
        if latent_eval is not None:
            title = f"{cfg.model.family}, prior {cfg.model.prior}: {cfg.data.name} test split"
            latent.write_latent_report(workdir, *latent_eval(state, test_ds.images), title=title)
    finally:
        ckpt.close()
        writer.close()

    steps_run = t.num_steps - start_step
    summary = {
        "family": cfg.model.family,
        "data": cfg.data.name,
        "step": int(state.step),
        "steps_this_run": steps_run,
        "train_seconds": train_time,
        "steps_per_second": steps_run / train_time if steps_run and train_time else None,
        "skipped_steps": skipped_total,
        "test": test,
    }
    _write_json(os.path.join(workdir, "summary.json"), summary)
    logging.info("[%s] test %s", cfg.model.family, _fmt(test))
    return summary


_all_finite = jax.jit(steps.all_finite)


def _check_finite(step: int, checked_step: int, family: str, metrics: dict, state, ckpt) -> None:
    """Stops before a non-finite state can be checkpointed, so the latest checkpoint stays good.

    Args:
      step: the step just completed.
      checked_step: the last step whose state was seen to be finite (the previous check).
    """
    bad = {k: v for k, v in metrics.items() if not np.isfinite(v)}
    if bad or not bool(_all_finite(state)):
        what = f"loss metrics {bad}" if bad else "parameters or optimiser state"
        latest = ckpt.latest_step()
        resume = (
            f"the latest checkpoint, step {latest} in {ckpt.directory}, is good; rerunning resumes "
            "from it"
            if latest is not None
            else f"no checkpoint was written yet (in {ckpt.directory})"
        )
        raise FloatingPointError(
            f"non-finite {what} at step {step} while training family {family!r} (finite at step "
            f"{checked_step}; checked every log_every / checkpoint_every steps). {resume}. Lower "
            "the learning rate or check the data, or set --config.train.on_non_finite=skip to "
            "skip the updates of such batches."
        )


def _fmt(metrics: dict[str, float]) -> str:
    return " ".join(f"{k}={v:.4g}" for k, v in metrics.items())


def load_trained(workdir: str, config: ml_collections.ConfigDict | None = None):
    """Restores ``(cfg, model, state)`` from a training workdir (for sampling and evaluation)."""
    if config is None:
        path = os.path.join(workdir, "config.json")
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"no trained model in {workdir}: {path} is missing; train one first with "
                f"`python -m experiments.train --config=... --workdir={workdir}`"
            )
        with open(path) as f:
            config = ml_collections.ConfigDict(json.load(f))
    cfg = config_lib.validate(config)
    image_shape = data.load_dataset(
        cfg.data.name, "test", tfds_data_dir=cfg.data.tfds_data_dir
    ).image_shape
    config_lib.check_against_data(cfg, image_shape)
    model = build_model(cfg.model, image_shape)
    t = cfg.train
    tx = make_optimizer(t.optimizer, t.learning_rate, b1=t.b1, b2=t.b2, momentum=t.momentum)
    ckpt = checkpoint.Checkpointer(workdir, read_only=True)  # sampling never writes checkpoints
    try:
        if ckpt.latest_step() is None:
            raise FileNotFoundError(
                f"no checkpoint in {ckpt.directory}; train first with experiments.train"
            )
        state = restore_or_create(cfg, ckpt, model, tx, image_shape)
    finally:
        ckpt.close()
    return cfg, model, state


__all__ = [
    "build_adversary",
    "build_latent_eval",
    "build_mesh",
    "build_model",
    "build_prior",
    "build_train_step",
    "dispatch_end",
    "init_state",
    "jit_train_steps",
    "load_trained",
    "train_and_evaluate",
]
