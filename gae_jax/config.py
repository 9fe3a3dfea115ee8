"""Validation of experiment configs: ConfigDict in, frozen dataclasses out.

Entry points call :func:`validate` once. Every bad value gets an error naming the key, the value
and what would be valid; jitted code only ever sees the plain values of these dataclasses.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import ml_collections

from gae_jax import corruption, losses, models, priors
from gae_jax import data as data_lib

# Each family's step factory is chosen in gae_jax.train.loop.build_train_step.
FAMILIES = ("ae", "dae", "vae", "dvae", "aae", "daae", "idaae", "gae")
VARIATIONAL_FAMILIES = ("vae", "dvae")
DENOISING_FAMILIES = ("dae", "dvae", "daae", "idaae")
ADVERSARIAL_FAMILIES = ("aae", "daae", "idaae")
# Families whose encoder is a diagonal Gaussian q(z|x); the others' is deterministic.
GAUSSIAN_ENCODER_FAMILIES = ("vae", "dvae", "gae")
OPTIMIZERS = ("adam", "rmsprop", "sgd")
SAMPLER_KERNELS = ("latent", "reinjection", "ascent")
BATCH_STATS_MODES = ("population", "minibatch")
ASCENT_INITS = ("uniform", "prior")
# "stop": raise before a non-finite state can be checkpointed; "skip": reject the update of a
# batch whose loss or new state is non-finite and go on (see gae_jax.train.steps.skip_non_finite).
ON_NON_FINITE_TRAIN = ("stop", "skip")
# "continue": count non-finite chains and let them be; "restart": re-draw them from their start
# distribution (see gae_jax.samplers.base.guard_non_finite). Other chains are unaffected, except
# those that share minibatch batch-norm statistics with a non-finite one.
ON_NON_FINITE_SAMPLER = ("continue", "restart")


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
    prior: str = "normal"
    gmm_components: int = 10
    gmm_radius: float = 4.0
    gmm_std: float = 0.5
    disc_hidden: tuple[int, ...] = (1000, 1000)
    disc_dropout: float = 0.2
    integration_samples: int = 5  # M of idaae
    gae_lambda1: float = 0.1
    gae_lambda2: float = 0.1
    # Operand dtype of the MLPs' and the discriminator's matrix products ("float32" or
    # "bfloat16"; float32 parameters and accumulation either way): see models.MATMUL_DTYPES.
    matmul_dtype: str = "float32"

    @property
    def posterior(self) -> str:
        return "gaussian" if self.family in GAUSSIAN_ENCODER_FAMILIES else "deterministic"

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
    disc_learning_rate: float | None = None  # adversarial families; None: learning_rate
    gen_learning_rate: float | None = None  # adversarial families; None: learning_rate
    on_non_finite: str = "stop"  # or "skip"; see ON_NON_FINITE_TRAIN
    # Training steps run by one compiled call (a lax.scan over that many batches); the loop
    # still logs, evaluates and checkpoints at exactly the configured steps.
    steps_per_dispatch: int = 1


@dataclasses.dataclass(frozen=True)
class MeshConfig:
    """Devices of the training run: a 1-D ``data`` mesh axis (data parallelism)."""

    data: int = 0  # devices the batch is split across (parameters replicated); 0 = all


@dataclasses.dataclass(frozen=True)
class SamplerConfig:
    """``experiments.sample``: which chains to run on a trained model and what to save."""

    seed: int = 0
    kernels: tuple[str, ...] = SAMPLER_KERNELS
    num_chains: int = 4096  # latent and ascent chains started from prior / noise draws
    num_steps: int = 10
    record_steps: tuple[int, ...] = (0, 1, 5, 10)  # saved as grids and arrays; 0 = start
    batch_stats_mode: str = "minibatch"  # paper 000 samples with minibatch statistics
    bn_tile_size: int = 0  # minibatch mode: chains per batch-norm batch; 0 = all chains of a run
    bernoulli_decode: bool = False  # latent chain: x ~ Bernoulli(E[x|z]) instead of the mean
    corruption: str = "model"  # latent chain: "model" (training corruption) or a kind
    corruption_level: float = 0.5  # when corruption is a kind
    num_devices: int = 0  # devices along the "chains" mesh axis; 0 = all
    grid_size: int = 64  # chains shown per PNG grid
    slerp_pairs: int = 4  # interpolations between 2 * slerp_pairs test images
    slerp_points: int = 10
    slerp_steps: int = 5  # latent-chain steps applied to the interpolated codes
    reinjection_chains: int = 100
    reinjection_step_size: float = 0.1  # lambda; noise std sqrt(lambda)
    reinjection_restart_every: int = 10  # R; 0 = never restart
    reinjection_burn_in_restarts: int = 2
    reinjection_num_samples: int = 2000  # kept samples to produce
    ascent_noise: float = 0.5  # std of Gaussian noise added before each reconstruction; 0 = none
    ascent_init: str = "uniform"  # "uniform" x_0 ~ U(0, 1) (eq. 10) or "prior": x_0 = d(z) (eq. 11)
    on_non_finite: str = "continue"  # or "restart"; see ON_NON_FINITE_SAMPLER


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
    seed: int
    data: DataConfig
    model: ModelConfig
    train: TrainConfig
    sampler: SamplerConfig = SamplerConfig()
    mesh: MeshConfig = MeshConfig()


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
        if isinstance(default, int) and not isinstance(default, bool):
            _check(
                isinstance(value, int) and not isinstance(value, bool),
                f"config.{where}.{name}={value!r}; valid: an integer",
            )
        try:
            if isinstance(default, tuple):
                value = tuple(value)
            elif isinstance(default, bool):
                value = bool(value)
            elif isinstance(default, float):
                value = float(value)
        except (TypeError, ValueError) as e:
            kind = "a sequence" if isinstance(default, tuple) else "a number"
            raise ConfigError(f"config.{where}.{name}={value!r}; valid: {kind}") from e
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
    # Optional, so configs and workdirs written before samplers existed still validate.
    sampler = _section(SamplerConfig, raw.get("sampler", {}), "sampler")
    mesh = _section(MeshConfig, raw.get("mesh", {}), "mesh")

    _check(isinstance(raw["seed"], int), f"config.seed must be an integer, got {raw['seed']!r}")
    _check(
        data.name in ("mnist5k", "digits") or data.name.startswith(("idx:", "tfds:")),
        f"config.data.name={data.name!r}; valid: 'mnist5k', 'digits', 'idx:DIR', 'tfds:NAME'",
    )
    if data.name.startswith("tfds:"):
        _check(
            data.name[len("tfds:") :] in data_lib.TFDS_NAMES,
            f"config.data.name={data.name!r}; valid: 'tfds:NAME' with NAME in "
            f"{data_lib.TFDS_NAMES}",
        )
    _check(model.family in FAMILIES, f"config.model.family={model.family!r}; valid: {FAMILIES}")
    _check(model.latent_dim > 0, f"config.model.latent_dim={model.latent_dim} must be positive")
    _check(
        model.architecture in models.ARCHITECTURES,
        f"config.model.architecture={model.architecture!r}; valid: {models.ARCHITECTURES}",
    )
    for name in ("encoder_hidden", "decoder_hidden"):
        sizes = getattr(model, name)
        _check(
            all(isinstance(h, int) and h > 0 for h in sizes),
            f"config.model.{name}={sizes}; valid: a tuple of positive layer sizes",
        )
    _check(
        model.activation in models.mlp.ACTIVATIONS,
        f"config.model.activation={model.activation!r}; valid: {sorted(models.mlp.ACTIVATIONS)}",
    )
    _check(model.conv_width > 0, f"config.model.conv_width={model.conv_width} must be positive")
    _check(
        model.matmul_dtype in models.MATMUL_DTYPES,
        f"config.model.matmul_dtype={model.matmul_dtype!r}; valid: {models.MATMUL_DTYPES}",
    )
    _check(
        model.matmul_dtype == "float32" or model.architecture == "mlp",
        f"config.model.matmul_dtype={model.matmul_dtype!r} with architecture "
        f"{model.architecture!r}; valid: 'float32' (bfloat16 is for architecture 'mlp')",
    )
    _check(
        model.reconstruction_loss in losses.RECONSTRUCTION_LOSSES,
        f"config.model.reconstruction_loss={model.reconstruction_loss!r}; "
        f"valid: {losses.RECONSTRUCTION_LOSSES}",
    )
    _check(model.kl_weight >= 0, f"config.model.kl_weight={model.kl_weight} must be >= 0")
    _check(
        model.family not in VARIATIONAL_FAMILIES or model.kl_weight > 0,
        f"config.model.kl_weight={model.kl_weight} for family {model.family!r}; valid: > 0",
    )
    _check_corruption(model.corruption, model.corruption_level, "config.model")
    _check(
        not model.is_denoising or (model.corruption != "none" and model.corruption_level > 0),
        f"family {model.family!r} is denoising but config.model.corruption={model.corruption!r} "
        f"at level {model.corruption_level}; set a corruption with a positive level",
    )
    _validate_prior_and_adversary(model)
    for name in ("num_steps", "batch_size", "log_every", "checkpoint_every", "eval_batch_size"):
        value = getattr(train, name)
        _check(value > 0, f"config.train.{name}={value} must be positive")
    _check(train.eval_every >= 0, f"config.train.eval_every={train.eval_every} must be >= 0")
    _check(
        train.keep_checkpoints > 0,
        f"config.train.keep_checkpoints={train.keep_checkpoints} must be positive",
    )
    _check(
        train.on_non_finite in ON_NON_FINITE_TRAIN,
        f"config.train.on_non_finite={train.on_non_finite!r}; valid: {ON_NON_FINITE_TRAIN}",
    )
    _check(
        train.optimizer in OPTIMIZERS,
        f"config.train.optimizer={train.optimizer!r}; valid: {OPTIMIZERS}",
    )
    _check(train.learning_rate > 0, f"config.train.learning_rate={train.learning_rate} must be > 0")
    for name in ("b1", "b2", "momentum"):
        value = getattr(train, name)
        _check(0 <= value < 1, f"config.train.{name}={value} must be in [0, 1)")
    for name in ("disc_learning_rate", "gen_learning_rate"):
        value = getattr(train, name)
        _check(
            value is None or (isinstance(value, int | float) and value > 0),
            f"config.train.{name}={value!r} must be > 0, or None to use learning_rate",
        )
    _check(
        train.steps_per_dispatch > 0,
        f"config.train.steps_per_dispatch={train.steps_per_dispatch} must be positive",
    )
    _check(mesh.data >= 0, f"config.mesh.data={mesh.data} must be >= 0 (0 = all devices)")
    _validate_sampler(sampler)
    return ExperimentConfig(raw["seed"], data, model, train, sampler, mesh)


def _check_corruption(kind: str, level: float, where: str, also: tuple[str, ...] = ()) -> None:
    """Checks a corruption kind and its level (sigma, or a probability) under ``where``."""
    _check(
        kind in corruption.KINDS, f"{where}.corruption={kind!r}; valid: {also + corruption.KINDS}"
    )
    what = "the standard deviation sigma" if kind == "gaussian" else "a probability"
    _check(level >= 0, f"{where}.corruption_level={level} must be >= 0 ({what})")
    _check(
        kind not in ("salt_and_pepper", "masking") or level <= 1,
        f"{where}.corruption_level={level} for {kind!r} is a probability; valid: [0, 1]",
    )


def check_against_data(
    cfg: ExperimentConfig,
    image_shape: tuple[int, ...],
    *,
    num_train: int | None = None,
    num_test: int | None = None,
) -> None:
    """Checks the values that depend on the dataset; call it right after loading the data and
    before building or compiling anything.

    Args:
      cfg: a validated config.
      image_shape: (H, W, C) of the dataset's images.
      num_train: training examples, for ``train.batch_size``; None to skip that check.
      num_test: test examples, for the sampler's interpolation endpoints; None to skip.

    Raises:
      ConfigError: naming the key, its value, the dataset and what would be valid.
    """
    name = cfg.data.name
    h, w = image_shape[:2]
    if cfg.model.architecture == "dcgan":
        _check(
            h == w and h in models.SUPPORTED_SIZES,
            f"config.model.architecture='dcgan' cannot take the {h}x{w} images of "
            f"config.data.name={name!r}; valid: square images of size {models.SUPPORTED_SIZES}, "
            "or architecture='mlp' for any size",
        )
    if num_train is not None:
        _check(
            cfg.train.batch_size <= num_train,
            f"config.train.batch_size={cfg.train.batch_size} exceeds the {num_train} training "
            f"examples of config.data.name={name!r}; valid: 1..{num_train}",
        )
    s = cfg.sampler
    if num_test is not None and "latent" in s.kernels:
        _check(
            2 * s.slerp_pairs <= num_test,
            f"config.sampler.slerp_pairs={s.slerp_pairs} needs {2 * s.slerp_pairs} distinct test "
            f"images but config.data.name={name!r} has {num_test}; valid: 1..{num_test // 2}",
        )


def _validate_prior_and_adversary(model: ModelConfig) -> None:
    family, prior = model.family, model.prior
    _check(prior in priors.PRIORS, f"config.model.prior={prior!r}; valid: {priors.PRIORS}")
    if prior == "gmm_ring":
        _check(
            model.latent_dim == 2,
            f"config.model.prior='gmm_ring' is 2-D but config.model.latent_dim="
            f"{model.latent_dim}; valid: latent_dim=2",
        )
        _check(
            model.gmm_components >= 1,
            f"config.model.gmm_components={model.gmm_components} must be >= 1",
        )
        _check(model.gmm_radius >= 0, f"config.model.gmm_radius={model.gmm_radius} must be >= 0")
        _check(model.gmm_std > 0, f"config.model.gmm_std={model.gmm_std} must be > 0")
    # The GAE's prior is by definition its aggregated posterior; an adversary needs a fixed
    # target it can sample before training; the VAE's KL term is analytic only for N(0, I).
    if family == "gae":
        _check(
            prior == "aggregate",
            f"config.model.prior={prior!r} for family 'gae'; valid: 'aggregate'",
        )
    elif family in VARIATIONAL_FAMILIES:
        _check(
            prior == "normal",
            f"config.model.prior={prior!r} for family {family!r}; valid: 'normal'",
        )
    else:
        _check(
            prior != "aggregate",
            f"config.model.prior='aggregate' is the GAE's prior; for family {family!r} valid: "
            "'normal', 'gmm_ring'",
        )
    _check(
        all(h > 0 for h in model.disc_hidden),
        f"config.model.disc_hidden={model.disc_hidden}; sizes must be positive",
    )
    _check(
        0 <= model.disc_dropout < 1,
        f"config.model.disc_dropout={model.disc_dropout} must be in [0, 1)",
    )
    _check(
        model.integration_samples >= 1,
        f"config.model.integration_samples={model.integration_samples} (M) must be >= 1",
    )
    for name in ("gae_lambda1", "gae_lambda2"):
        value = getattr(model, name)
        _check(value >= 0, f"config.model.{name}={value} must be >= 0")


def _validate_sampler(s: SamplerConfig) -> None:
    _check(
        len(s.kernels) > 0 and set(s.kernels) <= set(SAMPLER_KERNELS),
        f"config.sampler.kernels={s.kernels}; choose one or more of {SAMPLER_KERNELS}",
    )
    for name in (
        "num_chains",
        "num_steps",
        "grid_size",
        "slerp_pairs",
        "reinjection_chains",
        "reinjection_num_samples",
    ):
        value = getattr(s, name)
        _check(value > 0, f"config.sampler.{name}={value} must be positive")
    for name in (
        "bn_tile_size",
        "num_devices",
        "slerp_steps",
        "reinjection_step_size",
        "reinjection_restart_every",
        "reinjection_burn_in_restarts",
        "ascent_noise",
    ):
        value = getattr(s, name)
        _check(value >= 0, f"config.sampler.{name}={value} must be >= 0")
    _check(
        list(s.record_steps) == sorted(set(s.record_steps))
        and all(0 <= t <= s.num_steps for t in s.record_steps),
        f"config.sampler.record_steps={s.record_steps} must be increasing and within "
        f"[0, num_steps={s.num_steps}]",
    )
    _check(
        s.batch_stats_mode in BATCH_STATS_MODES,
        f"config.sampler.batch_stats_mode={s.batch_stats_mode!r}; valid: {BATCH_STATS_MODES}",
    )
    _check(s.slerp_points >= 2, f"config.sampler.slerp_points={s.slerp_points} must be >= 2")
    if s.bn_tile_size:
        runs = {
            "num_chains": s.num_chains,
            "slerp_pairs * slerp_points": s.slerp_pairs * s.slerp_points,
            "reinjection_chains": s.reinjection_chains,
        }
        for name, n in runs.items():
            _check(
                n % s.bn_tile_size == 0 or n < s.bn_tile_size,
                f"config.sampler.bn_tile_size={s.bn_tile_size} must divide {name}={n} (or "
                "exceed it), or be 0 to normalise all chains of a run together",
            )
    if s.corruption != "model":
        _check_corruption(s.corruption, s.corruption_level, "config.sampler", also=("model",))
    _check(
        s.on_non_finite in ON_NON_FINITE_SAMPLER,
        f"config.sampler.on_non_finite={s.on_non_finite!r}; valid: {ON_NON_FINITE_SAMPLER}",
    )
    _check(
        s.ascent_init in ASCENT_INITS,
        f"config.sampler.ascent_init={s.ascent_init!r}; valid: {ASCENT_INITS}",
    )
