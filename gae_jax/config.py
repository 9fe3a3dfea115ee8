"""Validation of experiment configs: ConfigDict in, frozen dataclasses out.

Entry points call :func:`validate` once. Every bad value gets an error naming the key, the value
and what would be valid; jitted code only ever sees the plain values of these dataclasses.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import ml_collections

from gae_jax import corruption, losses, models

# Families of issue 2; later families register their own step factories in gae_jax.train.steps.
FAMILIES = ("ae", "dae", "vae", "dvae")
VARIATIONAL_FAMILIES = ("vae", "dvae")
DENOISING_FAMILIES = ("dae", "dvae")
OPTIMIZERS = ("adam", "rmsprop", "sgd")


class ConfigError(ValueError):
    """A config value is invalid."""


@dataclasses.dataclass(frozen=True)
class DataConfig:
    name: str = "mnist5k"
    tfds_data_dir: str | None = None


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    family: str = "dae"
    latent_dim: int = 10
    architecture: str = "mlp"
    encoder_hidden: tuple[int, ...] = (1000, 1000)
    decoder_hidden: tuple[int, ...] = (1000, 1000)
    activation: str = "relu"
    conv_width: int = 64
    reconstruction_loss: str = "bce"
    kl_weight: float = 1.0
    corruption: str = "gaussian"
    corruption_level: float = 0.5

    @property
    def posterior(self) -> str:
        return "gaussian" if self.family in VARIATIONAL_FAMILIES else "deterministic"

    @property
    def is_denoising(self) -> bool:
        return self.family in DENOISING_FAMILIES


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    num_steps: int = 1000
    batch_size: int = 64
    optimizer: str = "adam"
    learning_rate: float = 2e-4
    b1: float = 0.5
    b2: float = 0.999
    momentum: float = 0.0  # RMSprop / SGD momentum
    log_every: int = 100
    eval_every: int = 0  # 0: once per epoch
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3
    eval_batch_size: int = 500


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
    seed: int
    data: DataConfig
    model: ModelConfig
    train: TrainConfig


def _section(cls, values: dict[str, Any], where: str):
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(
            f"unknown key(s) {unknown} in config.{where}; valid keys: {sorted(known)}"
        )
    kwargs = {}
    for name, value in values.items():
        default = known[name].default
        if isinstance(default, tuple):
            value = tuple(value)
        elif isinstance(default, bool):
            value = bool(value)
        elif isinstance(default, int) and not isinstance(value, int):
            raise ConfigError(f"config.{where}.{name} must be an integer, got {value!r}")
        elif isinstance(default, float):
            value = float(value)
        kwargs[name] = value
    return cls(**kwargs)


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def validate(config: ml_collections.ConfigDict) -> ExperimentConfig:
    """Checks every value of ``config`` and returns it as frozen dataclasses."""
    raw = config.to_dict() if hasattr(config, "to_dict") else dict(config)
    for key in ("seed", "data", "model", "train"):
        _check(key in raw, f"config has no '{key}' section; see configs/base.py")
    data = _section(DataConfig, raw["data"], "data")
    model = _section(ModelConfig, raw["model"], "model")
    train = _section(TrainConfig, raw["train"], "train")

    _check(isinstance(raw["seed"], int), f"config.seed must be an integer, got {raw['seed']!r}")
    _check(
        data.name in ("mnist5k", "digits") or data.name.startswith(("idx:", "tfds:")),
        f"config.data.name={data.name!r}; valid: 'mnist5k', 'digits', 'idx:DIR', 'tfds:NAME'",
    )
    _check(model.family in FAMILIES, f"config.model.family={model.family!r}; valid: {FAMILIES}")
    _check(model.latent_dim > 0, f"config.model.latent_dim={model.latent_dim} must be positive")
    _check(
        model.architecture in models.ARCHITECTURES,
        f"config.model.architecture={model.architecture!r}; valid: {models.ARCHITECTURES}",
    )
    _check(
        all(h > 0 for h in model.encoder_hidden + model.decoder_hidden),
        f"hidden sizes must be positive, got {model.encoder_hidden} / {model.decoder_hidden}",
    )
    _check(
        model.reconstruction_loss in losses.RECONSTRUCTION_LOSSES,
        f"config.model.reconstruction_loss={model.reconstruction_loss!r}; "
        f"valid: {losses.RECONSTRUCTION_LOSSES}",
    )
    _check(model.kl_weight >= 0, f"config.model.kl_weight={model.kl_weight} must be >= 0")
    try:
        corruption.make_corruption(model.corruption, model.corruption_level)
        models.mlp.activation_fn(model.activation)
    except ValueError as e:
        raise ConfigError(f"config.model: {e}") from e
    _check(
        not model.is_denoising or (model.corruption != "none" and model.corruption_level > 0),
        f"family {model.family!r} is denoising but config.model.corruption={model.corruption!r} "
        f"at level {model.corruption_level}; set a corruption with a positive level",
    )
    for name in ("num_steps", "batch_size", "log_every", "checkpoint_every", "eval_batch_size"):
        value = getattr(train, name)
        _check(value > 0, f"config.train.{name}={value} must be positive")
    _check(train.eval_every >= 0, f"config.train.eval_every={train.eval_every} must be >= 0")
    _check(train.keep_checkpoints > 0, "config.train.keep_checkpoints must be positive")
    _check(
        train.optimizer in OPTIMIZERS,
        f"config.train.optimizer={train.optimizer!r}; valid: {OPTIMIZERS}",
    )
    _check(train.learning_rate > 0, f"config.train.learning_rate={train.learning_rate} must be > 0")
    for name in ("b1", "b2", "momentum"):
        value = getattr(train, name)
        _check(0 <= value < 1, f"config.train.{name}={value} must be in [0, 1)")
    return ExperimentConfig(raw["seed"], data, model, train)
