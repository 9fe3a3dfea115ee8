"""What every paper table shares: its config, the data, training or restoring its models, and
the sampling and reference classifier its measures use.

A table config (``configs/paper00N_*.py``) holds

* ``seed`` and ``data`` -- shared by every model of the table (they override the models' own);
* ``models.<name>`` -- a full experiment config per model (``configs/<model>.py``);
* ``reproduce`` -- the protocol and its sizes (:class:`TableConfig`), including
  ``reproduce.epochs.<name>``: each model's training length in epochs of the table's data, so
  one config serves ``mnist5k``, the full MNIST and any ``idx:`` directory.
"""

from __future__ import annotations

import dataclasses
import os
import zlib
from typing import NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from gae_jax import config as config_lib
from gae_jax import corruption as corruption_lib
from gae_jax import data as data_lib
from gae_jax import evaluation, samplers
from gae_jax.models import Autoencoder
from gae_jax.reproduce.tables import Entry
from gae_jax.train import load_trained, train_and_evaluate
from gae_jax.train.loop import model_corruption
from gae_jax.train.state import TrainState

PROTOCOLS = ("paper001_mnist", "paper002_mnist", "paper004_mnist")
SCALES = ("small", "default", "full")


@dataclasses.dataclass(frozen=True)
class TableConfig:
    """The ``reproduce`` section of a table config, validated."""

    protocol: str  # one of PROTOCOLS
    scale: str  # one of SCALES: the preset the config was built with (reported, not applied)
    epochs: dict[str, float]  # model name -> training epochs
    num_samples: int = 10_000  # generated samples per model for the Parzen window (papers: 10^4)
    chain_steps: int = 5  # paper 001: latent-chain steps from x^0 to the last reported x^t
    classifier_steps: int = 2000  # training steps of every [500, 500] classifier
    classifier_batch_size: int = 128
    sample_counts: tuple[int, ...] = (1000, 2000, 5000, 10_000)  # paper 002: curve points
    pca_components: int = 10  # paper 001: PCA + SVM baseline, as many components as z


class Trained(NamedTuple):
    """A model of the table after training (or restoring) it."""

    cfg: config_lib.ExperimentConfig
    model: Autoencoder
    state: TrainState
    epochs: float  # epochs actually trained (the checkpoint's step / steps per epoch)
    train_seconds: float  # wall time of this run's training (0 when restored)


class Data(NamedTuple):
    train: data_lib.Dataset
    validation: data_lib.Dataset
    test: data_lib.Dataset


class Result(NamedTuple):
    """What a protocol returns: the table entries, everything else it measured, and notes."""

    entries: list[Entry]
    details: dict  # JSON-serialisable; written to results.json
    notes: str  # Markdown printed under the tables: protocol and deviations from the paper


class Context(NamedTuple):
    """Everything a protocol needs; protocols write their figures into ``workdir``."""

    seed: int
    table: TableConfig
    models: dict[str, Trained]
    data: Data
    workdir: str


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise config_lib.ConfigError(message)


def validate(config: ml_collections.ConfigDict) -> TableConfig:
    """Checks the table config, every model's config included, before anything is trained.

    Raises:
      ConfigError: naming the bad key, its value and what would be valid.
    """
    for key in ("seed", "data", "models", "reproduce"):
        _check(key in config, f"table config has no '{key}' section; see configs/paper001_mnist.py")
    raw = config.reproduce.to_dict()
    known = {f.name for f in dataclasses.fields(TableConfig)}
    unknown = sorted(set(raw) - known)
    _check(
        not unknown, f"unknown key(s) {unknown} in config.reproduce; valid keys: {sorted(known)}"
    )
    for key in ("protocol", "scale", "epochs"):
        _check(key in raw, f"config.reproduce.{key} is missing")
    raw["epochs"] = {k: float(v) for k, v in raw["epochs"].items()}
    if "sample_counts" in raw:
        raw["sample_counts"] = tuple(int(n) for n in raw["sample_counts"])
    table = TableConfig(**raw)
    _check(
        table.protocol in PROTOCOLS,
        f"config.reproduce.protocol={table.protocol!r}; valid: {PROTOCOLS}",
    )
    _check(table.scale in SCALES, f"config.reproduce.scale={table.scale!r}; valid: {SCALES}")
    names = sorted(config.models)
    _check(len(names) > 0, "config.models is empty; a table needs at least one model")
    _check(
        sorted(table.epochs) == names,
        f"config.reproduce.epochs has keys {sorted(table.epochs)}; it needs one per model of "
        f"config.models: {names}",
    )
    for name, epochs in table.epochs.items():
        _check(epochs > 0, f"config.reproduce.epochs.{name}={epochs} must be > 0")
    for name in ("num_samples", "classifier_steps", "classifier_batch_size", "pca_components"):
        value = getattr(table, name)
        _check(
            isinstance(value, int) and value > 0,
            f"config.reproduce.{name}={value!r} must be a positive integer",
        )
    _check(
        isinstance(table.chain_steps, int) and table.chain_steps >= 0,
        f"config.reproduce.chain_steps={table.chain_steps!r} must be an integer >= 0",
    )
    counts = table.sample_counts
    _check(
        len(counts) > 0
        and counts[0] > 0
        and all(a < b for a, b in zip(counts, counts[1:], strict=False)),
        f"config.reproduce.sample_counts={counts} must be positive and increasing",
    )
    for name in names:
        try:
            config_lib.validate(model_config(config, name))
        except config_lib.ConfigError as e:
            raise config_lib.ConfigError(f"config.models.{name}: {e}") from e
    return table


def model_config(
    config: ml_collections.ConfigDict, name: str, num_steps: int | None = None
) -> ml_collections.ConfigDict:
    """Model ``name``'s experiment config with the table's seed and data (and ``num_steps``)."""
    model = config.models[name].copy_and_resolve_references()
    model.seed = config.seed
    model.data = config.data.copy_and_resolve_references()
    if num_steps is not None:
        model.train.num_steps = num_steps
    return model


def load_data(config: ml_collections.ConfigDict) -> Data:
    """The train, validation and test splits of the table's dataset."""
    load = lambda split: data_lib.load_dataset(
        config.data.name, split, tfds_data_dir=config.data.tfds_data_dir
    )
    return Data(load("train"), load("validation"), load("test"))


def train_models(
    config: ml_collections.ConfigDict,
    table: TableConfig,
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
        summary = train_and_evaluate(model_config(config, name, num_steps), model_dir)
        cfg, model, state = load_trained(model_dir)
        trained[name] = Trained(
            cfg, model, state, int(state.step) / steps_per_epoch, summary["train_seconds"]
        )
    return trained


def rng(seed: int, *names: str) -> jax.Array:
    """A key per named use, so adding a measure never changes another measure's randomness."""
    return jax.random.fold_in(jax.random.key(seed), zlib.crc32("/".join(names).encode()))


def real_reference(seed: int, data: Data, table: TableConfig) -> evaluation.RealReference:
    """The real data and a [500, 500] classifier (paper 002's MNIST ground truth, trained on
    the real training set) that sample measures compare against."""
    classifier = evaluation.MLPClassifier(int(data.train.labels.max()) + 1)
    params = evaluation.train_classifier(
        rng(seed, "reference_classifier"),
        classifier,
        data.train.images,
        data.train.labels,
        num_steps=table.classifier_steps,
        batch_size=table.classifier_batch_size,
    ).params
    return evaluation.RealReference(
        classifier, params, data.validation.images, data.test.images, data.test.labels
    )


def real_data_metrics(
    data: Data, reference: evaluation.RealReference, num_samples: int
) -> tuple[str, dict[str, np.ndarray]]:
    """The sample measures of real training images in place of samples: what a perfect model
    would score with this data size (the Parzen window especially depends on it).

    Returns:
      A row label and :func:`~gae_jax.evaluation.per_step_metrics` of one "step".
    """
    real = data.train.images[:num_samples]
    label = f"Real training images ({len(real)}, reference)"
    return label, evaluation.per_step_metrics(real[None], reference)


def chain_images(rng_key: jax.Array, trained: Trained, z0: jax.Array, num_steps: int) -> np.ndarray:
    """Decoded latent-chain states from codes ``z0`` (paper 001 eq. 3 for denoising models,
    paper 000 eq. 1 otherwise: decode, corrupt with the training corruption, encode).

    Args:
      rng_key: key of the chain.
      trained: the model; its ``sampler`` config sets batch-norm mode and Bernoulli decoding.
      z0: float32[N, D] starting codes.
      num_steps: chain steps; 0 just decodes ``z0``.

    Returns:
      float32[num_steps + 1, N, H, W, C]: the decoder means E[x|z_t] for t = 0..num_steps.
    """
    s = trained.cfg.sampler
    fns = samplers.autoencoder_fns(
        trained.model, batch_stats_mode=s.batch_stats_mode, bn_tile_size=s.bn_tile_size or None
    )
    corruption = model_corruption(trained.cfg.model)
    corruption = None if corruption is corruption_lib.identity else corruption

    def run(key, variables, z0):
        kernel = samplers.latent_chain(
            fns.decode, fns.encode, variables, corruption=corruption, bernoulli=s.bernoulli_decode
        )
        state0 = kernel.init(z0)
        if num_steps == 0:
            return state0.x[None]
        _, xs = samplers.sample_chains(
            key, kernel, state0, num_steps, transform=lambda state, info: state.x
        )
        return jnp.concatenate([state0.x[None], xs])

    return np.asarray(jax.jit(run)(rng_key, samplers.model_variables(trained.state), z0))


def binomial_stderr(accuracy: float, num_test: int) -> float:
    """Standard error of an accuracy measured on ``num_test`` independent test examples."""
    return float(np.sqrt(accuracy * (1.0 - accuracy) / num_test))
