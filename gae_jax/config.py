"""Every config schema, the one validator of their sections, and the model-family registry.

ConfigDict in, frozen dataclasses out. Entry points call :func:`validate` (one experiment),
:func:`validate_job` (the main job's ``config.models``) or :func:`validate_table` (a paper table)
once; every bad value gets an error naming the key, the value and what would be valid, and jitted
code only ever sees the plain values of these dataclasses.

The dataclass defaults below are the only defaults: ``configs/base.py`` is
:func:`default_config`, and every other ``configs/*.py`` states only what it changes.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from collections.abc import Mapping
from typing import Any, NamedTuple

import ml_collections

from gae_jax import corruption, hardware, losses, models, priors
from gae_jax import data as data_lib
from gae_jax.models.adapter import BATCH_STATS_MODES


class Family(NamedTuple):
    """What a model family is; code asks these fields (via :class:`ModelConfig`), never names."""

    name: str
    posterior: str  # encoder q(z|x): "gaussian" (mean and log-variance) or "deterministic"
    denoising: bool  # trained to reconstruct x from a corruption x~ of it
    adversarial: bool  # a discriminator on z matches the aggregate posterior to the prior
    variational: bool  # an analytic KL term to N(0, I) in the loss
    step: str  # training step factory: "ae", "vae", "adversarial" or "gae"
    # idaae: the fake code of x averages the encodings of M corruptions (paper 001, Alg. 2).
    integrating: bool = False
    # Latent priors it can train with. An adversary needs a fixed target it can sample before
    # training; the VAE's KL term is analytic only for N(0, I); the GAE's prior is by definition
    # its aggregated posterior.
    priors: tuple[str, ...] = ("normal", "gmm_ring")


FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family("ae", "deterministic", False, False, False, "ae"),
        Family("dae", "deterministic", True, False, False, "ae"),
        Family("vae", "gaussian", False, False, True, "vae", priors=("normal",)),
        Family("dvae", "gaussian", True, False, True, "vae", priors=("normal",)),
        Family("aae", "deterministic", False, True, False, "adversarial"),
        Family("daae", "deterministic", True, True, False, "adversarial"),
        Family("idaae", "deterministic", True, True, False, "adversarial", integrating=True),
        Family("gae", "gaussian", False, False, False, "gae", priors=("aggregate",)),
    )
}
OPTIMIZERS = ("adam", "rmsprop", "sgd")
SAMPLER_KERNELS = ("latent", "reinjection", "ascent")
# How every chain kernel draws x ~ p(x|z): "mean" takes the decoder mean E[x|z]; "sample" draws
# from the decoder's likelihood (Bernoulli for reconstruction_loss "bce", N(E[x|z], decode_sd^2)
# for "mse").
DECODE_MODES = ("mean", "sample")
# How every chain kernel draws z ~ q(z|x): "sample" a reparameterised draw (deterministic
# encoders: their code, q being a point mass), "mean" the posterior mean, "paper" each kernel's
# paper: a draw in the latent chain (paper 000 eq. 1), the mean in the pixel-space kernels (the
# deterministic r(x) of papers 002 and 003).
ENCODE_MODES = ("paper", "mean", "sample")
ASCENT_INITS = ("uniform", "prior")
# "stop": raise before a non-finite state can be checkpointed; "skip": reject the update of a
# batch whose loss or new state is non-finite and go on (see gae_jax.train.steps.skip_non_finite).
ON_NON_FINITE_TRAIN = ("stop", "skip")
# "continue": count non-finite chains and let them be; "restart": re-draw them from their start
# distribution (see gae_jax.samplers.base.guard_non_finite). Other chains are unaffected, except
# those that share minibatch batch-norm statistics with a non-finite one.
ON_NON_FINITE_SAMPLER = ("continue", "restart")
# Paper tables (gae_jax reproduce jobs) and the scale presets of their configs (configs/tables.py).
PROTOCOLS = ("paper001_mnist", "paper002_mnist", "paper004_mnist")
SCALES = ("small", "default", "full")


class ConfigError(ValueError):
    """A config value is invalid."""


@dataclasses.dataclass(frozen=True)
class DataConfig:
    name: str = "mnist5k"  # "mnist5k", "digits", "idx:DIR" or "tfds:NAME"
    tfds_data_dir: str | None = None
    # "holdout": validate on records held out of the training set (gae_jax.data); "test": train
    # on every training record and validate on the test split.
    validation: str = "holdout"


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """The autoencoder, its prior, corruption and adversary. The defaults are paper 001's MNIST
    models: 2x1000 MLPs, a 10-D code, corruption N(x, 0.5^2 I)."""

    family: str = "dae"  # a key of FAMILIES
    latent_dim: int = 10
    architecture: str = "mlp"  # or "dcgan" (paper 000's conv nets, 64x64 images)
    encoder_hidden: tuple[int, ...] = (1000, 1000)
    decoder_hidden: tuple[int, ...] = (1000, 1000)
    activation: str = "relu"
    conv_width: int = 64
    reconstruction_loss: str = "bce"
    kl_weight: float = 1.0
    corruption: str = "gaussian"
    corruption_level: float = 0.5  # sigma of "gaussian", else a probability
    # Paper 002's denoising autoencoders (Sec. IV-D, Table I): N(0, preactivation_noise^2) added
    # to the MLP encoder's first-layer pre-activations in training, on top of the input
    # corruption (the paper's salt-and-pepper), 0.5 on MNIST; 0: none (families ae, dae, vae,
    # dvae). code_activation: the code of a deterministic MLP encoder, "linear" or e.g. paper
    # 002's "relu" bottleneck (models.CODE_ACTIVATIONS). See gae_jax.models.MLPEncoder.
    preactivation_noise: float = 0.0
    code_activation: str = "linear"
    # Latent prior: "normal" N(0, I); "gmm_ring" (latent_dim 2 only; paper 001: 10 Gaussians of
    # std 0.5 evenly spaced on a circle of radius 4); "aggregate" (family gae only): the mixture
    # of the encoder's Gaussians q(z|x_j) over the training set (paper 004).
    prior: str = "normal"
    gmm_components: int = 10
    gmm_radius: float = 4.0
    gmm_std: float = 0.5
    # Adversary of aae/daae/idaae on z: an MLP (paper 001 MNIST: 1000-1000-1) with paper 000's
    # leaky ReLU and dropout 0.2 by default; paper 001 Sec. IV-A uses "relu" without dropout.
    disc_hidden: tuple[int, ...] = (1000, 1000)
    disc_dropout: float = 0.2
    disc_activation: str = "leaky_relu"  # see models.DISC_ACTIVATIONS
    # The encoder's prior-matching loss (losses.GENERATOR_LOSSES): "non_saturating" -log D, or
    # paper 001's own "saturating" log(1 - D) (eq. 2, Alg. 1).
    generator_loss: str = "non_saturating"
    # idaae: M corruptions of each x whose encodings are averaged into its fake code (Alg. 2).
    integration_samples: int = 5
    # gae: loss weights of lambda1 sum mu^2 - lambda2 sum(1 + log s^2 - s^2) (paper 004 gives no
    # values; 0.5 and 0.5 would be the VAE's KL term).
    gae_lambda1: float = 0.1
    gae_lambda2: float = 0.1
    # gae: the estimator of the mixture likelihood (losses.GAE_ESTIMATORS): "reweighted" (own
    # code 1/n, others from the minibatch; its log's Jensen gap still depends on the batch size),
    # "batch" (the old 1/B mixture, for comparison) or "em" (E-step over all n training codes
    # of a memory bank, top gae_em_components kept; M-step on minibatches with fresh codes of
    # gae_em_samples drawn components, 0: all of them; bank refreshed every gae_estep_every
    # steps, 0: once per epoch). See gae_jax.train.steps.make_gae_em_step.
    gae_estimator: str = "reweighted"
    gae_em_components: int = 16
    gae_em_samples: int = 1
    gae_estep_every: int = 0
    # Operand dtype of the MLPs' and the discriminator's matrix products: "bfloat16" (float32
    # parameters and accumulation) is about twice as fast where the hardware has bf16 dot
    # products; see models.MATMUL_DTYPES. "auto": bfloat16 where measured faster on this
    # machine (gae_jax.hardware.auto_matmul_dtype), else float32.
    matmul_dtype: str = "float32"

    @property
    def family_spec(self) -> Family:
        if self.family not in FAMILIES:
            raise ConfigError(f"config.model.family={self.family!r}; valid: {tuple(FAMILIES)}")
        return FAMILIES[self.family]

    @property
    def posterior(self) -> str:
        return self.family_spec.posterior

    @property
    def is_denoising(self) -> bool:
        return self.family_spec.denoising

    @property
    def is_adversarial(self) -> bool:
        return self.family_spec.adversarial

    @property
    def is_variational(self) -> bool:
        return self.family_spec.variational

    @property
    def is_integrating(self) -> bool:
        return self.family_spec.integrating


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Optimisation. The defaults are papers 000 and 001's Adam 2e-4, beta1 0.5, batch 64."""

    num_steps: int = 3000
    # Run length in epochs of the training split instead (paper 000: 20 epochs), resolved when
    # the run starts against the actual training set: num_steps = round(num_epochs * (n //
    # batch_size)) (resolve_run_length). 0: train for num_steps. With num_epochs > 0 set
    # num_steps to 0 (or to the same number of steps, as a resolved config.json has it).
    num_epochs: float = 0.0
    batch_size: int = 64
    optimizer: str = "adam"  # see OPTIMIZERS
    learning_rate: float = 2e-4
    b1: float = 0.5
    b2: float = 0.999
    momentum: float = 0.0  # RMSprop / SGD momentum
    log_every: int = 100
    eval_every: int = 0  # 0: once per epoch
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3
    eval_batch_size: int = 500
    # Adversarial families: learning rates and optimizers (see OPTIMIZERS) of the discriminator
    # and of the prior-matching (generator) updates of the encoder; None: learning_rate /
    # optimizer. Betas and momentum are shared. Paper 001's CelebA models train the
    # discriminator with RMSprop (Sec. IV-C) and the autoencoder with Adam.
    disc_learning_rate: float | None = None
    gen_learning_rate: float | None = None
    disc_optimizer: str | None = None
    gen_optimizer: str | None = None
    # A NaN/Inf loss or parameter: "stop" with an error naming the step (the latest checkpoint
    # stays the last good one), or "skip" the batch's update and count it (skipped_steps).
    on_non_finite: str = "stop"
    # Training steps run by one compiled call (a lax.scan over that many batches): fewer
    # dispatches; the loop still logs, evaluates and checkpoints at exactly the configured steps.
    steps_per_dispatch: int = 1
    # Minibatches whose gradients are averaged into one optimiser update (optax.MultiSteps):
    # k > 1 trains with updates of k x batch_size examples in the memory of one batch. Steps
    # (num_steps, num_epochs and every interval) still count minibatches, so the parameters
    # change at every k-th step; per-example losses over the batch (the GAE's minibatch mixture,
    # batch-norm statistics) still see batch_size examples.
    grad_accum_steps: int = 1


@dataclasses.dataclass(frozen=True)
class MeshConfig:
    """Devices of the training run: the batch is split over a 1-D ``data`` mesh axis (it must
    divide evenly), parameters are replicated. Sampling uses ``sampler.num_devices`` along a
    ``chains`` axis instead."""

    data: int = 0  # devices the batch is split across; 0 = all
    # True: every device computes the whole batch (gathered from the shards the processes read),
    # so the step has no cross-device sums and its results are bitwise the same on any number of
    # devices and processes, at the cost of the data-parallel speed-up (README "Running on a pod").
    # False: the batch is split and XLA sums gradients across devices, equal up to float rounding.
    topology_exact: bool = False


@dataclasses.dataclass(frozen=True)
class SamplerConfig:
    """``experiments.sample``: which chains to run on a trained model and what to save."""

    seed: int = 0
    kernels: tuple[str, ...] = SAMPLER_KERNELS
    num_chains: int = 4096  # latent and ascent chains started from prior / noise draws
    num_steps: int = 10
    record_steps: tuple[int, ...] = (0, 1, 5, 10)  # paper 000's figures; saved; 0 = start
    # Paper 000 samples with batch norm in training mode (minibatch statistics); bn_tile_size
    # chains share statistics, 0 = all chains of a run. See BATCH_STATS_MODES.
    batch_stats_mode: str = "minibatch"
    bn_tile_size: int = 0
    # The networks run over tiles of this many consecutive chains of each device, one after
    # another: same samples, faster GEMMs for many chains. 0 = automatic
    # (gae_jax.hardware.auto_chain_tile_size); with minibatch batch norm a multiple of
    # bn_tile_size. See gae_jax.models.adapter.map_chain_tiles.
    chain_tile_size: int = 0
    # Every kernel's x ~ p(x|z) and z ~ q(z|x): see DECODE_MODES and ENCODE_MODES. decode_sd is
    # the pixel noise of "sample" for continuous (mse) decoders. The old bernoulli_decode=True is
    # decode="sample" (translated when an old config is read).
    decode: str = "mean"
    decode_sd: float = 0.1
    encode: str = "paper"
    # Latent chain: decode, corrupt ("model": the training corruption, i.e. none for
    # non-denoising families; or a kind at corruption_level), encode.
    corruption: str = "model"
    corruption_level: float = 0.5  # when corruption is a kind
    num_devices: int = 0  # devices along the "chains" mesh axis; 0 = all
    grid_size: int = 64  # chains shown per PNG grid
    # Paper 000 Fig. 2: slerp between encodings of 2 * slerp_pairs test images, then
    # slerp_steps latent-chain steps applied to the interpolated codes.
    slerp_pairs: int = 4
    slerp_points: int = 10
    slerp_steps: int = 5
    # Paper 002: x <- AE(x) + sqrt(lambda) eps, restart every R steps (0 = never), keep the
    # samples after the burn-in restarts.
    reinjection_chains: int = 100
    reinjection_step_size: float = 0.1  # lambda
    reinjection_restart_every: int = 10  # R
    reinjection_burn_in_restarts: int = 2
    reinjection_num_samples: int = 2000  # kept samples to produce
    # Paper 003: x <- R(x + N(0, ascent_noise^2 I)) (0 = no noise) from "uniform" x_0 ~ U(0, 1)
    # (eq. 10) or "prior" x_0 = d(z) (eq. 11).
    ascent_noise: float = 0.5
    ascent_init: str = "uniform"
    # Chains that turn NaN/Inf are counted in the summary; "restart" re-draws them from their
    # start distribution instead of leaving them ("continue"). See ON_NON_FINITE_SAMPLER.
    on_non_finite: str = "continue"


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
    """One model's experiment: ``configs/base.py`` and its variants."""

    seed: int = 0
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    # Optional in configs, so configs and workdirs written before samplers existed validate.
    sampler: SamplerConfig = dataclasses.field(default_factory=SamplerConfig)
    mesh: MeshConfig = dataclasses.field(default_factory=MeshConfig)


@dataclasses.dataclass(frozen=True)
class EvaluationConfig:
    """``config.evaluation`` of the main job: the ground-truth classifier behind the Frechet
    distance and class coverage (paper 002's [500, 500] MNIST classifier, trained once on the
    training split and cached in the workdir) and the overview figure."""

    classifier_hidden: tuple[int, ...] = (500, 500)
    classifier_steps: int = 1000
    classifier_batch_size: int = 128
    classifier_learning_rate: float = 1e-3
    overview_samples: int = 16  # chains shown per model and step in the overview figure


@dataclasses.dataclass(frozen=True)
class StudyConfig:
    """``config.study`` of the chain study (``experiments.study``): every model is trained once
    per seed, then sampled with every chain variant, the product of ``decode`` x
    ``batch_stats_modes`` x ``corruption_levels`` (``config.sampler`` gives the rest: chains,
    steps, record steps)."""

    seeds: tuple[int, ...] = (0, 1, 2)  # training and sampling seeds; the table gives mean +/- sd
    epochs: dict[str, float] = dataclasses.field(default_factory=dict)  # model -> epochs
    decode: tuple[str, ...] = DECODE_MODES  # config.sampler.decode of each variant
    batch_stats_modes: tuple[str, ...] = BATCH_STATS_MODES
    corruption: str = "gaussian"  # the chains' C(x~|x), for every model
    corruption_levels: tuple[float, ...] = (0.25, 0.5)
    table_steps: tuple[int, ...] = (0, 1, 5, 20)  # record steps shown in the table
    # Real images the samples are measured against: the test split, halved: the first half
    # chooses the Parzen bandwidth, the second is the reference of every other measure.
    reference_images: int = 10_000


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


# The sections of an experiment config, in ExperimentConfig's order.
SECTIONS = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig}
OPTIONAL_SECTIONS = {"sampler": SamplerConfig, "mesh": MeshConfig}


# ----------------------------------------------------------------------------- defaults


def _optional_type(hint) -> type | None:
    """``X`` for a hint ``X | None``, else None."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(hint)) == 2:
            return args[0]
    return None


def section_defaults(cls) -> ml_collections.ConfigDict:
    """A ConfigDict of the dataclass ``cls``'s defaults (fields without one are left out).

    A field ``X | None`` defaulting to None becomes a typed placeholder, so a command line can
    still set it (``--config.train.disc_learning_rate=1e-4``).
    """
    hints = typing.get_type_hints(cls)
    section = ml_collections.ConfigDict()
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            value = f.default
        elif f.default_factory is not dataclasses.MISSING:
            value = f.default_factory()
        else:
            continue
        if dataclasses.is_dataclass(value):
            section[f.name] = section_defaults(type(value))
        elif value is None and _optional_type(hints[f.name]) is not None:
            section[f.name] = ml_collections.config_dict.placeholder(_optional_type(hints[f.name]))
        else:
            section[f.name] = value
    return section


def default_config() -> ml_collections.ConfigDict:
    """An experiment config of every default: ``seed`` and the ``data``, ``model``, ``train``,
    ``sampler`` and ``mesh`` sections (a denoising autoencoder on mnist5k)."""
    return section_defaults(ExperimentConfig)


# ----------------------------------------------------------------------------- the validator


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def _as_dict(config) -> dict[str, Any]:
    return config.to_dict() if hasattr(config, "to_dict") else dict(config)


def _unknown_keys_message(unknown: list[str], known: list[str], where: str) -> str:
    close = []
    for key in unknown:
        close += [k for k in difflib.get_close_matches(key, known, n=3) if k not in close]
    hint = f"did you mean {' or '.join(map(repr, close))}? " if close else ""
    ordered = close + sorted(set(known) - set(close))
    return f"unknown key(s) {unknown} in config.{where}; {hint}valid keys: {ordered}"


def unknown_override(args: list[str]) -> str | None:
    """The error for the first ``--config.KEY=VALUE`` of ``args`` whose KEY an experiment config
    does not have (the section, the key, close matches first, then the valid keys), or None.

    absl's flag parsing fails on such a flag with a bare ``AttributeError``; entry points call
    this to say instead which key is unknown.
    """
    sections = {**SECTIONS, **OPTIONAL_SECTIONS}
    top = [f.name for f in dataclasses.fields(ExperimentConfig)]
    for arg in args:
        if not arg.startswith("--config."):
            continue
        path = arg[len("--config.") :].split("=", 1)[0].split(".")
        if path[0] == "sampler" and len(path) > 1 and path[1] in _RENAMED_SAMPLER_KEYS:
            replacement = _RENAMED_SAMPLER_KEYS[path[1]]
            return f"{arg}: config.sampler.{path[1]} was replaced by {replacement}"
        if path[0] not in top:
            message = _unknown_keys_message([path[0]], top, "")
            return f"{arg}: " + message.replace("in config.;", "in config;")
        if path[0] in sections and len(path) > 1:
            known = [f.name for f in dataclasses.fields(sections[path[0]])]
            if path[1] not in known:
                return f"{arg}: " + _unknown_keys_message([path[1]], known, path[0])
    return None


def _coerce(value: Any, hint, where: str) -> Any:
    """``value`` as the type ``hint`` (int, float, bool, str, tuple[X, ...], dict[str, X] or
    X | None), or a ConfigError naming ``where`` and what is valid."""
    inner = _optional_type(hint)
    if inner is not None:
        return None if value is None else _coerce(value, inner, where)
    origin = typing.get_origin(hint)
    if origin is tuple:
        _check(isinstance(value, list | tuple), f"{where}={value!r}; valid: a sequence (a tuple)")
        (item,) = {a for a in typing.get_args(hint) if a is not Ellipsis}
        return tuple(_coerce(v, item, where) for v in value)
    if origin is dict:
        _check(isinstance(value, Mapping), f"{where}={value!r}; valid: a section of name: value")
        _, item = typing.get_args(hint)
        return {k: _coerce(v, item, f"{where}.{k}") for k, v in value.items()}
    if hint is bool:
        _check(
            isinstance(value, bool) or (isinstance(value, int) and value in (0, 1)),
            f"{where}={value!r}; valid: True or False",
        )
        return bool(value)
    if hint is int:
        _check(
            isinstance(value, int) and not isinstance(value, bool),
            f"{where}={value!r}; valid: an integer",
        )
        return value
    if hint is float:
        try:
            number = float(value)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"{where}={value!r}; valid: a number") from e
        _check(math.isfinite(number), f"{where}={value!r}; valid: a finite number")
        return number
    if hint is str:
        _check(isinstance(value, str), f"{where}={value!r}; valid: a string")
        return value
    raise TypeError(f"no coercion for {hint!r} ({where})")  # a schema bug, not a config error


def parse_section(cls, values: Mapping[str, Any] | None, where: str):
    """The frozen dataclass ``cls`` from the mapping ``values`` of section ``config.<where>``.

    Checks keys (unknown ones are named with the valid keys, close matches first; missing
    fields without a default are named) and types, coercing ints to floats and sequences to
    tuples; fields not given keep their defaults. Floats must be finite.

    Raises:
      ConfigError: naming ``config.<where>.<key>``, the value and what would be valid.
    """
    _check(
        isinstance(values, Mapping), f"config.{where}={values!r}; valid: a section of key: value"
    )
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    _check(not unknown, _unknown_keys_message(unknown, sorted(fields), where) if unknown else "")
    hints = typing.get_type_hints(cls)
    for name, f in fields.items():
        no_default = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        _check(name in values or not no_default, f"config.{where}.{name} is missing")
    return cls(**{k: _coerce(v, hints[k], f"config.{where}.{k}") for k, v in values.items()})


# ----------------------------------------------------------------------------- experiment


def validate(config: ml_collections.ConfigDict | Mapping) -> ExperimentConfig:
    """Checks every value of an experiment ``config`` and returns it as frozen dataclasses."""
    raw = _as_dict(config)
    for key in ("seed", *SECTIONS):
        _check(key in raw, f"config has no '{key}' section; see configs/base.py")
    sections = {name: parse_section(cls, raw[name], name) for name, cls in SECTIONS.items()}
    for name, cls in OPTIONAL_SECTIONS.items():
        values = raw.get(name, {})
        if name == "sampler" and isinstance(values, Mapping):
            values = _renamed_sampler_keys(values)
        sections[name] = parse_section(cls, values, name)
    data, model, train = sections["data"], sections["model"], sections["train"]
    sampler, mesh = sections["sampler"], sections["mesh"]

    _check(isinstance(raw["seed"], int), f"config.seed must be an integer, got {raw['seed']!r}")
    _check(
        data.name in ("mnist5k", "digits") or data.name.startswith(("idx:", "tfds:")),
        f"config.data.name={data.name!r}; valid: 'mnist5k', 'digits', 'idx:DIR', 'tfds:NAME'",
    )
    _check(
        data.validation in data_lib.VALIDATION,
        f"config.data.validation={data.validation!r}; valid: {data_lib.VALIDATION}",
    )
    if data.name.startswith("tfds:"):
        _check(
            data.name[len("tfds:") :] in data_lib.TFDS_NAMES,
            f"config.data.name={data.name!r}; valid: 'tfds:NAME' with NAME in "
            f"{data_lib.TFDS_NAMES}",
        )
    _validate_model(model)
    _validate_train(train)
    _check(mesh.data >= 0, f"config.mesh.data={mesh.data} must be >= 0 (0 = all devices)")
    _validate_sampler(sampler)
    return ExperimentConfig(raw["seed"], data, model, train, sampler, mesh)


# Sampler keys that were replaced: old key -> its replacement, for errors and translation.
_RENAMED_SAMPLER_KEYS = {
    "bernoulli_decode": "config.sampler.decode ('mean' or 'sample'; 'sample' draws Bernoulli "
    "pixels for bce decoders)"
}


def _renamed_sampler_keys(values: Mapping[str, Any]) -> dict[str, Any]:
    """``config.sampler`` with the keys of configs written before ``decode`` existed (workdirs
    keep their config) in today's names: ``bernoulli_decode=True`` is ``decode='sample'``."""
    values = dict(values)
    if "bernoulli_decode" not in values:
        return values
    # True wins over a decode='mean' beside it: that is the default every config carries.
    if _coerce(values.pop("bernoulli_decode"), bool, "config.sampler.bernoulli_decode"):
        values["decode"] = "sample"
    return values


def _validate_model(model: ModelConfig) -> None:
    _check(
        model.family in FAMILIES, f"config.model.family={model.family!r}; valid: {tuple(FAMILIES)}"
    )
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
        model.matmul_dtype in hardware.MATMUL_DTYPE_CHOICES,
        f"config.model.matmul_dtype={model.matmul_dtype!r}; valid: {hardware.MATMUL_DTYPE_CHOICES}",
    )
    _check(
        model.matmul_dtype in ("float32", "auto") or model.architecture == "mlp",
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
        not model.is_variational or model.kl_weight > 0,
        f"config.model.kl_weight={model.kl_weight} for family {model.family!r}; valid: > 0",
    )
    _check_corruption(model.corruption, model.corruption_level, "config.model")
    _check(
        model.preactivation_noise >= 0,
        f"config.model.preactivation_noise={model.preactivation_noise} must be >= 0",
    )
    _check(
        model.preactivation_noise == 0
        or (model.architecture == "mlp" and model.family_spec.step in ("ae", "vae")),
        f"config.model.preactivation_noise={model.preactivation_noise} with family "
        f"{model.family!r}, architecture {model.architecture!r}; valid: an 'mlp' of the "
        "families ae, dae, vae, dvae (or 0)",
    )
    _check(
        model.code_activation in models.CODE_ACTIVATIONS,
        f"config.model.code_activation={model.code_activation!r}; valid: {models.CODE_ACTIVATIONS}",
    )
    _check(
        model.code_activation == "linear"
        or (model.architecture == "mlp" and model.posterior == "deterministic"),
        f"config.model.code_activation={model.code_activation!r} with family {model.family!r}, "
        f"architecture {model.architecture!r}; valid: a deterministic 'mlp' encoder (or 'linear')",
    )
    _check(
        not model.is_denoising or (model.corruption != "none" and model.corruption_level > 0),
        f"family {model.family!r} is denoising but config.model.corruption={model.corruption!r} "
        f"at level {model.corruption_level}; set a corruption with a positive level",
    )
    _validate_prior_and_adversary(model)


def _validate_train(train: TrainConfig) -> None:
    for name in ("batch_size", "log_every", "checkpoint_every", "eval_batch_size"):
        value = getattr(train, name)
        _check(value > 0, f"config.train.{name}={value} must be positive")
    _check(
        train.num_epochs >= 0,
        f"config.train.num_epochs={train.num_epochs} must be >= 0 (0: train for num_steps)",
    )
    _check(
        train.num_steps > 0 or (train.num_steps == 0 and train.num_epochs > 0),
        f"config.train.num_steps={train.num_steps} must be positive, or 0 with "
        f"config.train.num_epochs > 0 (got num_epochs={train.num_epochs})",
    )
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
    for name in ("disc_optimizer", "gen_optimizer"):
        value = getattr(train, name)
        _check(
            value is None or value in OPTIMIZERS,
            f"config.train.{name}={value!r}; valid: {OPTIMIZERS}, or None to use optimizer",
        )
    _check(train.learning_rate > 0, f"config.train.learning_rate={train.learning_rate} must be > 0")
    for name in ("b1", "b2", "momentum"):
        value = getattr(train, name)
        _check(0 <= value < 1, f"config.train.{name}={value} must be in [0, 1)")
    for name in ("disc_learning_rate", "gen_learning_rate"):
        value = getattr(train, name)
        _check(
            value is None or value > 0,
            f"config.train.{name}={value!r} must be > 0, or None to use learning_rate",
        )
    _check(
        train.steps_per_dispatch > 0,
        f"config.train.steps_per_dispatch={train.steps_per_dispatch} must be positive",
    )
    _check(
        train.grad_accum_steps >= 1,
        f"config.train.grad_accum_steps={train.grad_accum_steps} must be >= 1 (1: an update per "
        "batch)",
    )


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
        if cfg.model.family == "gae" and cfg.model.gae_estimator == "em":
            k = cfg.model.gae_em_components
            _check(
                k <= num_train,
                f"config.model.gae_em_components={k} exceeds the {num_train} training examples "
                f"(mixture components) of config.data.name={name!r}; valid: 1..{num_train}",
            )
    s = cfg.sampler
    if num_test is not None and "latent" in s.kernels:
        _check(
            2 * s.slerp_pairs <= num_test,
            f"config.sampler.slerp_pairs={s.slerp_pairs} needs {2 * s.slerp_pairs} distinct test "
            f"images but config.data.name={name!r} has {num_test}; valid: 1..{num_test // 2}",
        )


def resolve_run_length(cfg: ExperimentConfig, num_train: int) -> ExperimentConfig:
    """``cfg`` with ``train.num_steps`` resolved from ``train.num_epochs`` (if > 0) over the
    ``num_train`` examples of the training split actually loaded; unchanged if num_epochs is 0.

    An epoch is ``num_train // batch_size`` steps (the last partial batch is dropped, as
    :class:`gae_jax.data.BatchOrder` does). Call it after :func:`check_against_data`.

    Raises:
      ConfigError: the epochs come to no step, or ``train.num_steps`` is set (> 0) to another
        number of steps than the epochs give.
    """
    t = cfg.train
    if not t.num_epochs:
        return cfg
    per_epoch = num_train // t.batch_size
    num_steps = round(t.num_epochs * per_epoch)
    where = (
        f"config.train.num_epochs={t.num_epochs:g} with {per_epoch} steps per epoch "
        f"({num_train} training examples of config.data.name={cfg.data.name!r} // batch_size "
        f"{t.batch_size})"
    )
    _check(num_steps >= 1, f"{where} is {num_steps} steps; valid: num_epochs > {0.5 / per_epoch:g}")
    _check(
        t.num_steps in (0, num_steps),
        f"{where} is {num_steps} steps, but config.train.num_steps={t.num_steps}; set "
        f"num_steps=0 to train for the epochs (or num_epochs=0 to train for num_steps)",
    )
    return dataclasses.replace(cfg, train=dataclasses.replace(t, num_steps=num_steps))


def _validate_prior_and_adversary(model: ModelConfig) -> None:
    family, prior, spec = model.family, model.prior, model.family_spec
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
    valid = ", ".join(map(repr, spec.priors))
    if prior == "aggregate":
        _check(
            prior in spec.priors,
            f"config.model.prior='aggregate' is the GAE's prior; for family {family!r} valid: "
            f"{valid}",
        )
    else:
        _check(
            prior in spec.priors,
            f"config.model.prior={prior!r} for family {family!r}; valid: {valid}",
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
        model.disc_activation in models.DISC_ACTIVATIONS,
        f"config.model.disc_activation={model.disc_activation!r}; valid: {models.DISC_ACTIVATIONS}",
    )
    _check(
        model.generator_loss in losses.GENERATOR_LOSSES,
        f"config.model.generator_loss={model.generator_loss!r}; "
        f"valid: {tuple(losses.GENERATOR_LOSSES)}",
    )
    _check(
        model.integration_samples >= 1,
        f"config.model.integration_samples={model.integration_samples} (M) must be >= 1",
    )
    for name in ("gae_lambda1", "gae_lambda2"):
        value = getattr(model, name)
        _check(value >= 0, f"config.model.{name}={value} must be >= 0")
    _check(
        model.gae_estimator in losses.GAE_ESTIMATORS,
        f"config.model.gae_estimator={model.gae_estimator!r}; valid: {losses.GAE_ESTIMATORS}",
    )
    _check(
        model.gae_em_components >= 1,
        f"config.model.gae_em_components={model.gae_em_components} (K) must be >= 1",
    )
    for name in ("gae_em_samples", "gae_estep_every"):
        value = getattr(model, name)
        _check(value >= 0, f"config.model.{name}={value} must be >= 0 (0: see ModelConfig)")


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
        "chain_tile_size",
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
    _check(
        not (s.batch_stats_mode == "minibatch" and s.bn_tile_size and s.chain_tile_size)
        or s.chain_tile_size % s.bn_tile_size == 0,
        f"config.sampler.chain_tile_size={s.chain_tile_size} must be a multiple of "
        f"bn_tile_size={s.bn_tile_size} (a tile holds whole batch-statistics groups), or 0",
    )
    if s.corruption != "model":
        _check_corruption(s.corruption, s.corruption_level, "config.sampler", also=("model",))
    _check(
        s.decode in DECODE_MODES,
        f"config.sampler.decode={s.decode!r}; valid: {DECODE_MODES}",
    )
    _check(s.decode_sd > 0, f"config.sampler.decode_sd={s.decode_sd} must be > 0")
    _check(
        s.encode in ENCODE_MODES,
        f"config.sampler.encode={s.encode!r}; valid: {ENCODE_MODES}",
    )
    _check(
        s.on_non_finite in ON_NON_FINITE_SAMPLER,
        f"config.sampler.on_non_finite={s.on_non_finite!r}; valid: {ON_NON_FINITE_SAMPLER}",
    )
    _check(
        s.ascent_init in ASCENT_INITS,
        f"config.sampler.ascent_init={s.ascent_init!r}; valid: {ASCENT_INITS}",
    )


# ----------------------------------------------------------------------------- main job


def job_experiment_configs(
    config: ml_collections.ConfigDict,
) -> dict[str, ml_collections.ConfigDict]:
    """Each model's full experiment config in a job config (``configs/quickstart.py``): the
    shared ``seed``, ``data`` and ``sampler`` sections with the model's own ``model`` and
    ``train`` sections (a section the model states itself wins)."""
    raw = _as_dict(config)
    shared = {k: raw[k] for k in ("data", "sampler")}
    return {
        name: ml_collections.ConfigDict({"seed": raw["seed"], **shared, **section})
        for name, section in raw["models"].items()
    }


def validate_job(
    config: ml_collections.ConfigDict,
) -> tuple[dict[str, ExperimentConfig], EvaluationConfig]:
    """Checks a whole main-job config before anything is trained.

    Returns:
      ``(experiments, evaluation)``: every model's validated experiment config by name, and
      the ``evaluation`` section.

    Raises:
      ConfigError: naming the bad key (``config.models.<name>: ...`` for a model's), its value
        and what would be valid.
    """
    for key in ("seed", "data", "models", "sampler", "evaluation"):
        _check(key in config, f"config has no '{key}' section; see configs/quickstart.py")
    _check(bool(config["models"]), "config.models is empty; give at least one model section")
    experiments = {}
    for name, exp in job_experiment_configs(config).items():
        try:
            experiments[name] = validate(exp)
        except ConfigError as e:
            raise ConfigError(f"config.models.{name}: {e}") from e
    ev = parse_section(EvaluationConfig, _as_dict(config["evaluation"]), "evaluation")
    for name in ("classifier_steps", "classifier_batch_size", "overview_samples"):
        value = getattr(ev, name)
        _check(value >= 1, f"config.evaluation.{name}={value!r} must be >= 1")
    _check(
        len(ev.classifier_hidden) > 0 and min(ev.classifier_hidden) >= 1,
        f"config.evaluation.classifier_hidden={ev.classifier_hidden} needs positive sizes",
    )
    _check(
        ev.classifier_learning_rate > 0,
        f"config.evaluation.classifier_learning_rate={ev.classifier_learning_rate} must be > 0",
    )
    return experiments, ev


def validate_study(
    config: ml_collections.ConfigDict,
) -> tuple[dict[str, ExperimentConfig], EvaluationConfig, StudyConfig]:
    """Checks a chain-study config (``configs/study_*.py``): a main-job config with a
    ``study`` section.

    Returns:
      ``(experiments, evaluation, study)``; see :func:`validate_job`.

    Raises:
      ConfigError: naming the bad key, its value and what would be valid.
    """
    experiments, ev = validate_job(config)
    _check("study" in config, "config has no 'study' section; see configs/study_mnist5k.py")
    study = parse_section(StudyConfig, _as_dict(config["study"]), "study")
    _check(
        len(study.seeds) > 0 and len(set(study.seeds)) == len(study.seeds),
        f"config.study.seeds={study.seeds} must be one or more distinct seeds",
    )
    _check(
        sorted(study.epochs) == sorted(experiments),
        f"config.study.epochs has keys {sorted(study.epochs)}; it needs one per model of "
        f"config.models: {sorted(experiments)}",
    )
    for name, epochs in study.epochs.items():
        _check(epochs > 0, f"config.study.epochs.{name}={epochs} must be > 0")
    axes = {
        "decode": (study.decode, DECODE_MODES),
        "batch_stats_modes": (study.batch_stats_modes, BATCH_STATS_MODES),
    }
    for name, (values, valid) in axes.items():
        _check(
            len(values) > 0 and len(set(values)) == len(values) and set(values) <= set(valid),
            f"config.study.{name}={values}; valid: distinct values of {valid}",
        )
    _check(
        len(study.corruption_levels) > 0,
        f"config.study.corruption_levels={study.corruption_levels} needs at least one level",
    )
    for level in study.corruption_levels:
        _check_corruption(study.corruption, level, "config.study")
    record = next(iter(experiments.values())).sampler.record_steps
    _check(
        len(study.table_steps) > 0 and set(study.table_steps) <= set(record),
        f"config.study.table_steps={study.table_steps} must be among config.sampler."
        f"record_steps={record}",
    )
    _check(
        study.reference_images >= 8,
        f"config.study.reference_images={study.reference_images} must be >= 8 (two halves of "
        "more than k = 3 images)",
    )
    return experiments, ev, study


# ----------------------------------------------------------------------------- paper tables


def table_model_config(
    config: ml_collections.ConfigDict, name: str, num_steps: int | None = None
) -> ml_collections.ConfigDict:
    """Model ``name``'s experiment config in a table config, with the table's ``seed`` and
    ``data`` (they override the model's own) and, if given, ``num_steps``."""
    model = config.models[name].copy_and_resolve_references()
    model.seed = config.seed
    model.data = config.data.copy_and_resolve_references()
    if num_steps is not None:
        model.train.num_steps = num_steps
    return model


def validate_table(config: ml_collections.ConfigDict) -> TableConfig:
    """Checks a table config (``configs/paper00N_*.py``), every model's config included, before
    anything is trained.

    Raises:
      ConfigError: naming the bad key (``config.models.<name>: ...`` for a model's), its value
        and what would be valid.
    """
    for key in ("seed", "data", "models", "reproduce"):
        _check(key in config, f"table config has no '{key}' section; see configs/paper001_mnist.py")
    table = parse_section(TableConfig, _as_dict(config.reproduce), "reproduce")
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
        _check(value > 0, f"config.reproduce.{name}={value!r} must be a positive integer")
    _check(
        table.chain_steps >= 0,
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
            validate(table_model_config(config, name))
        except ConfigError as e:
            raise ConfigError(f"config.models.{name}: {e}") from e
    return table
