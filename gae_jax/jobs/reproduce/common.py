"""What every paper table shares: its config, the data, training or restoring its models, and
the sampling and reference classifier its measures use.

A table config (``configs/paper00N_*.py``) holds

* ``seed`` and ``data`` -- shared by every model of the table (they override the models' own);
* ``models.<name>`` -- a full experiment config per model (``configs/<model>.py``);
* ``reproduce`` -- the protocol and its sizes (:class:`gae_jax.config.TableConfig`), including
  ``reproduce.epochs.<name>``: each model's training length in epochs of the table's data, so
  one config serves ``mnist5k``, the full MNIST and any ``idx:`` directory.
"""

from __future__ import annotations

import os
from typing import NamedTuple

import jax
import ml_collections
import numpy as np

from gae_jax import builders, evaluation, models, parallel
from gae_jax import config as config_lib
from gae_jax import workdir as workdir_lib
from gae_jax.jobs import cluster
from gae_jax.jobs.common import (
    CLASSIFIER_DIR,
    ClassifierSettings,
    Splits,
    ground_truth_classifier,
)
from gae_jax.jobs.common import named_key as rng
from gae_jax.jobs.reproduce.tables import Entry
from gae_jax.jobs.train import train_and_evaluate
from gae_jax.models import Autoencoder
from gae_jax.train.state import TrainState


class Trained(NamedTuple):
    """A model of the table after training (or restoring) it."""

    cfg: config_lib.ExperimentConfig
    model: Autoencoder
    state: TrainState
    epochs: float  # epochs actually trained (the checkpoint's step / steps per epoch)
    train_seconds: float  # wall time of this run's training (0 when restored)


class Result(NamedTuple):
    """What a protocol returns: the table entries, everything else it measured, and notes."""

    entries: list[Entry]
    details: dict  # JSON-serialisable; written to results.json
    notes: str  # Markdown printed under the tables: protocol and deviations from the paper


class Context(NamedTuple):
    """Everything a protocol needs; protocols write their figures into ``workdir``."""

    seed: int
    table: config_lib.TableConfig
    models: dict[str, Trained]
    data: Splits
    data_name: str  # config.data.name
    workdir: str


def train_models(
    config: ml_collections.ConfigDict,
    table: config_lib.TableConfig,
    names: list[str],
    num_train: int,
    workdir: str,
) -> dict[str, Trained]:
    """Trains models ``names`` into ``workdir/<name>``, resuming from (or just restoring) their
    checkpoints when they exist, and returns them in that order."""
    trained = {}
    for name in names:
        batch_size = config.models[name].train.batch_size
        steps_per_epoch = num_train // batch_size  # the last partial batch is dropped
        num_steps = max(1, round(table.epochs[name] * steps_per_epoch))
        model_dir = os.path.join(workdir, name)
        summary = train_and_evaluate(
            config_lib.table_model_config(config, name, num_steps), model_dir
        )
        cfg, model, state = workdir_lib.load_trained(model_dir)
        trained[name] = Trained(
            cfg, model, state, int(state.step) / steps_per_epoch, summary["train_seconds"]
        )
    return trained


def real_reference(ctx: Context) -> evaluation.RealReference:
    """The real data and a [500, 500] classifier (paper 002's MNIST ground truth, trained on
    the real training set, cached in ``workdir/classifier``) that sample measures compare
    against."""
    data, table = ctx.data, ctx.table
    settings = ClassifierSettings(
        num_steps=table.classifier_steps, batch_size=table.classifier_batch_size
    )
    classifier, params, _ = ground_truth_classifier(
        rng(ctx.seed, "reference_classifier"),
        settings,
        ctx.data_name,
        data.train,
        os.path.join(ctx.workdir, CLASSIFIER_DIR),
    )
    return evaluation.RealReference(
        classifier, params, data.validation.images, data.test.images, data.test.labels
    )


def real_data_metrics(
    data: Splits, reference: evaluation.RealReference, num_samples: int
) -> tuple[str, dict[str, np.ndarray]]:
    """The sample measures of real training images in place of samples: what a perfect model
    would score with this data size (the Parzen window especially depends on it).

    Returns:
      A row label and :func:`~gae_jax.evaluation.per_step_metrics` of one "step".
    """
    real = data.train.images[:num_samples]
    label = f"Real training images ({len(real)}, reference)"
    return label, evaluation.per_step_metrics(real[None], reference, mesh=parallel.make_mesh())


def chain_images(rng_key: jax.Array, trained: Trained, z0: jax.Array, num_steps: int) -> np.ndarray:
    """Decoded latent-chain states from codes ``z0``, run as every job runs chains
    (:func:`gae_jax.builders.run_chains` with the model's ``config.sampler``: paper 001 eq. 3
    for denoising models, paper 000 eq. 1 otherwise, with its batch-norm mode, corruption,
    decoder and encoder draws, non-finite guard and devices).

    Args:
      rng_key: key of the chain.
      trained: the model and its config.
      z0: float32[N, D] starting codes.
      num_steps: chain steps; 0 just decodes ``z0``.

    Returns:
      float32[num_steps + 1, N, H, W, C]: the decoder means E[x|z_t] for t = 0..num_steps.
    """
    s = trained.cfg.sampler
    fns = builders.sampler_fns(trained.model, s)
    corruption = builders.latent_corruption(trained.cfg.model, s)
    run = builders.run_chains(
        s,
        builders.latent_kernel(
            fns, corruption, s, reconstruction_loss=trained.cfg.model.reconstruction_loss
        ),
        models.model_variables(trained.state),
        z0,
        num_steps,
        tuple(range(1, num_steps + 1)),
        lambda state, info: state.x,
        rng_key,
        name="table chains",
    )
    x0 = np.asarray(run.state0.x)[None]
    return np.concatenate([x0, np.asarray(run.trace)]) if num_steps else x0


def save_output(path: str, save_fn, *args) -> None:
    """``save_fn(path, *args)`` (e.g. a ``plotting.save_*`` function) on process 0 only, for
    any workdir (local or ``gs://``)."""
    cluster.write_output(path, lambda local: save_fn(local, *args))


def binomial_stderr(accuracy: float, num_test: int) -> float:
    """Standard error of an accuracy measured on ``num_test`` independent test examples."""
    return float(np.sqrt(accuracy * (1.0 - accuracy) / num_test))
