"""``train_and_evaluate(config, workdir)``: the training job behind ``experiments.train``."""

from __future__ import annotations

import errno
import functools
import os
import time

import jax
import jax.numpy as jnp
import ml_collections
from absl import logging
from etils import epath

from gae_jax import builders, checkpoint, data, parallel, plotting, resources
from gae_jax import config as config_lib
from gae_jax import workdir as workdir_lib
from gae_jax.evaluation import prior_match
from gae_jax.jobs import cluster
from gae_jax.train import steps
from gae_jax.train.loop import check_finite, dispatch_end, jit_train_steps, make_evaluate
from gae_jax.train.writer import MetricWriter, Progress


def train_and_evaluate(
    config: ml_collections.ConfigDict, workdir: str, *, allow_config_change: bool = False
) -> dict:
    """Trains the configured model, checkpointing into ``workdir`` and resuming from it.

    Writes ``config.json``, ``metrics.jsonl`` (rows with ``split`` train / validation / test),
    TensorBoard events under ``tensorboard/``, checkpoints under ``checkpoints/``,
    ``run_history.jsonl`` and a final ``summary.json``. Returns the summary.

    The workdir is locked for the run. A resume must keep the settings of
    :data:`~gae_jax.workdir.PROVENANCE_KEYS` unless ``allow_config_change`` (then the change
    is recorded in ``run_history.jsonl``). A finished run, or one already past
    ``train.num_steps``, is left as it is and its stored summary returned.

    Raises:
      ConfigError: a bad value, one the data rules out, or one the machine's memory cannot hold;
        before the workdir is touched.
      WorkdirError: the workdir is unusable, or in use by another run (WorkdirLockedError).
      CheckpointError: a checkpoint cannot be restored or saved, or the disk filled up; names
        the last good checkpoint.
    """
    cfg = config_lib.validate(config)
    workdir_lib.check_workdir(workdir)

    # The training split as compact records (uint8), streamed per process by data.TrainBatches;
    # the evaluation splits as float32 images.
    train_ds = data.open_split(cfg.data, "train")
    val_ds = data.load_split(cfg.data, "validation")
    test_ds = data.load_split(cfg.data, "test")
    # Values that depend on the data fail here: before the workdir is touched or anything is
    # compiled, and (sampler section included) before hours of training rather than after.
    config_lib.check_against_data(
        cfg, train_ds.image_shape, num_train=len(train_ds), num_test=len(test_ds)
    )
    cfg = config_lib.resolve_run_length(cfg, len(train_ds))  # train.num_epochs -> num_steps
    model = builders.build_model(cfg.model, train_ds.image_shape)
    init = functools.partial(
        builders.init_state, cfg, model, builders.build_optimizer(cfg.train), train_ds.image_shape
    )
    resources.check_training(cfg, train_ds.image_shape, model, jax.eval_shape(init))
    epath.Path(workdir).mkdir(parents=True, exist_ok=True)
    try:
        with workdir_lib.locked(workdir):
            return _train(cfg, workdir, train_ds, val_ds, test_ds, allow_config_change)
    except OSError as e:  # a full disk, whichever file hit it; checkpoints are closed by now
        if e.errno != errno.ENOSPC:
            raise
        raise workdir_lib.no_space_error(workdir, e) from e


def _train(cfg, workdir, train_ds, val_ds, test_ds, allow_config_change) -> dict:
    """:func:`train_and_evaluate` once the config, the data and the workdir are checked."""
    order = data.BatchOrder(len(train_ds), cfg.train.batch_size, cfg.seed)
    image_shape = train_ds.image_shape

    model = builders.build_model(cfg.model, image_shape)
    t = cfg.train
    tx = builders.build_optimizer(t)
    mesh = builders.build_mesh(cfg)
    ckpt = checkpoint.Checkpointer(workdir, max_to_keep=t.keep_checkpoints)
    try:
        finished = workdir_lib.start_run(
            workdir,
            cfg,
            image_shape,
            ckpt.latest_step(),
            allow_config_change=allow_config_change,
        )
        if finished is None:
            state = workdir_lib.restore_or_create(cfg, ckpt, model, tx, image_shape, mesh)
            if ckpt.latest_step() is not None:  # recorded once the checkpoint restored
                workdir_lib.record_resume(workdir, cfg, image_shape, ckpt.latest_step())
    except BaseException:
        ckpt.close()  # a refused checkpoint must not leave orbax's background threads running
        raise
    if finished is not None:  # nothing to do: no row, no file written
        ckpt.close()
        return finished
    start_step = int(state.step)

    root = jax.random.key(cfg.seed)
    train_key, eval_key = jax.random.fold_in(root, 1), jax.random.fold_in(root, 2)
    adversary = builders.build_adversary(cfg)
    skip = t.on_non_finite == "skip"
    # Only the GAE needs the training images (as float32): its aggregate prior and EM step.
    train_images = train_ds.read_all().images if cfg.model.family == "gae" else None
    step_fn = builders.build_train_step(cfg.model, model, tx, adversary, num_train=len(train_ds))
    step_fn = steps.skip_non_finite(step_fn) if skip else step_fn
    # Batches arrive as records (uint8); the step converts them to float32 on the device. The
    # EM step's training set is placed on the devices once, as float32, not converted per step.
    train_steps = jit_train_steps(
        data.with_float_images(step_fn, train_ds.scale),
        mesh,
        topology_exact=cfg.mesh.topology_exact,
        inputs=builders.train_step_inputs(cfg.model, train_images),
    )
    evaluate = make_evaluate(
        steps.make_eval_step(model, corruption=builders.model_corruption(cfg.model)),
        mesh,
        t.eval_batch_size,
    )
    latent_eval = builders.build_latent_eval(cfg, model, adversary, train_images)

    def run_eval(state, ds):
        metrics = evaluate(state, ds.images, eval_key)
        if latent_eval is not None:
            metrics.update(prior_match.latent_metrics(*latent_eval(state, ds.images)))
        return metrics

    eval_every = t.eval_every or order.steps_per_epoch

    writer = MetricWriter(
        workdir, resume_step=start_step, final_at_resume=0 < start_step >= t.num_steps
    )
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
    batch_stream = data.TrainBatches(train_ds, order, mesh, start_step, t.num_steps)
    try:
        done = start_step
        while done < t.num_steps:
            step, done = done, dispatch_end(done, t, eval_every)
            batches = batch_stream.take(done - step)  # this process's rows, prefetched
            state, metrics = train_steps(state, batches, train_key)
            ckpt.check()  # a failed background save stops the run within a dispatch
            if skip:
                skipped_flags.append(metrics.pop("skipped"))
            is_last = done == t.num_steps
            log_now = done % t.log_every == 0 or is_last
            save_now = done % t.checkpoint_every == 0 or is_last
            if log_now or save_now:
                metrics = {k: float(v[-1]) for k, v in metrics.items()}  # step done; host sync
                if not skip:  # skipping keeps the state finite by construction
                    check_finite(done, checked_step, cfg.model.family, metrics, state, ckpt)
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
        logging.info(
            "[%s] waited %.1f s of %.1f s for training batches (the input pipeline's share)",
            cfg.model.family,
            batch_stream.read_seconds,
            train_time,
        )
        test = run_eval(state, test_ds)
        writer.write(int(state.step), "test", test)
        if latent_eval is not None:
            title = f"{cfg.model.family}, prior {cfg.model.prior}: {cfg.data.name} test split"
            _write_latent_report(workdir, *latent_eval(state, test_ds.images), title=title)
    finally:
        ckpt.close()
        writer.close()

    steps_run = int(state.step) - start_step
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
    workdir_lib.write_json(os.path.join(workdir, workdir_lib.SUMMARY_FILE), summary)
    logging.info("[%s] test %s", cfg.model.family, _fmt(test))
    parallel.sync("train_and_evaluate")  # process 0's files are complete for every process
    return summary


def _write_latent_report(workdir: str, latents, prior, *, title: str) -> None:
    """Paper 001's Fig. 2 (encodings of clean and corrupted data against the prior) and the
    codes' moments, into ``workdir``."""
    fig = plotting.encoding_histogram_figure(prior_match.labelled_sets(latents), title=title)
    cluster.write_output(
        os.path.join(workdir, workdir_lib.HISTOGRAM_FILE), lambda p: fig.savefig(p, dpi=100)
    )
    moments = prior_match.latent_moments(latents, prior, title=title)
    workdir_lib.write_json(os.path.join(workdir, workdir_lib.MOMENTS_FILE), moments, indent=1)


def _fmt(metrics: dict[str, float]) -> str:
    return " ".join(f"{k}={v:.4g}" for k, v in metrics.items())


__all__ = ["train_and_evaluate"]
