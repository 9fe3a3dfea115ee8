"""Config -> objects: the one place that turns validated config sections into models,
corruptions, priors, optimizers, training steps and sampler kernels.

Every job (training, sampling, the main job, the paper tables) builds through these functions,
so a config value means the same thing everywhere; in particular :func:`run_chains` is the one
path by which chains run from a config (``config.sampler``'s corruption, batch-norm mode and
tile, non-finite handling and devices).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import numpy as np
import optax
from absl import logging
from jax.sharding import Mesh

from gae_jax import config as config_lib
from gae_jax import corruption as corruption_lib
from gae_jax import data as data_lib
from gae_jax import evaluation, hardware, models, parallel, priors, samplers
from gae_jax.train import adversarial, gae, steps
from gae_jax.train.state import TrainState, create_train_state, make_optimizer


def build_model(model_cfg: config_lib.ModelConfig, image_shape) -> models.Autoencoder:
    """The configured autoencoder for images of ``image_shape`` (H, W, C)."""
    return models.build_autoencoder(
        architecture=model_cfg.architecture,
        image_shape=image_shape,
        latent_dim=model_cfg.latent_dim,
        posterior=model_cfg.posterior,
        encoder_hidden=model_cfg.encoder_hidden,
        decoder_hidden=model_cfg.decoder_hidden,
        activation=model_cfg.activation,
        conv_width=model_cfg.conv_width,
        matmul_dtype=matmul_dtype(model_cfg) if model_cfg.architecture == "mlp" else "float32",
        preactivation_noise=model_cfg.preactivation_noise,
        code_activation=model_cfg.code_activation,
    )


def matmul_dtype(model_cfg: config_lib.ModelConfig) -> str:
    """``config.model.matmul_dtype`` with ``"auto"`` resolved for this machine
    (:func:`gae_jax.hardware.auto_matmul_dtype`); parameters and checkpoints are float32
    whatever it is, so a model trained on one machine type samples on another."""
    return hardware.resolve_matmul_dtype(model_cfg.matmul_dtype)


def build_optimizer(
    train_cfg: config_lib.TrainConfig,
    learning_rate: float | None = None,
    optimizer: str | None = None,
) -> optax.GradientTransformation:
    """The configured optimizer at ``learning_rate`` (default: ``train.learning_rate``);
    ``optimizer`` (a name of ``config.OPTIMIZERS``) replaces ``train.optimizer``. With
    ``train.grad_accum_steps`` k > 1 it averages the gradients of k calls and updates at the
    k-th (:class:`optax.MultiSteps`; the other calls return zero updates)."""
    t = train_cfg
    lr = t.learning_rate if learning_rate is None else learning_rate
    name = optimizer or t.optimizer
    tx = make_optimizer(name, float(lr), b1=t.b1, b2=t.b2, momentum=t.momentum)
    if t.grad_accum_steps > 1:
        return optax.MultiSteps(tx, every_k_schedule=t.grad_accum_steps)
    return tx


def model_corruption(model_cfg: config_lib.ModelConfig) -> corruption_lib.Corruption:
    """The training corruption of a model (identity for non-denoising families)."""
    if not model_cfg.is_denoising:
        return corruption_lib.identity
    return corruption_lib.make_corruption(model_cfg.corruption, model_cfg.corruption_level)


def latent_corruption(
    model_cfg: config_lib.ModelConfig, sampler_cfg: config_lib.SamplerConfig
) -> corruption_lib.Corruption | None:
    """The latent chain's corruption: None for paper 000's eq. 1, else eq. 2's C(x~|x)
    (``sampler.corruption`` 'model' is the model's training corruption)."""
    s = sampler_cfg
    if s.corruption == "model":
        c = model_corruption(model_cfg)
    else:
        c = corruption_lib.make_corruption(s.corruption, s.corruption_level)
    return None if c is corruption_lib.identity else c


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
        encode_fn = functools.partial(
            models.autoencoder_fns(model).encode, models.model_variables(state)
        )
        return priors.aggregate_posterior(encode_fn, images, batch_size)
    params = {}
    if m.prior == "gmm_ring":
        params = dict(num_components=m.gmm_components, radius=m.gmm_radius, std=m.gmm_std)
    return priors.make_prior(m.prior, m.latent_dim, **params)


def build_adversary(cfg: config_lib.ExperimentConfig) -> adversarial.Adversary | None:
    """Discriminator, prior and optimisers of an adversarial family; None for the others."""
    m, t = cfg.model, cfg.train
    if not m.is_adversarial:
        return None
    return adversarial.Adversary(
        discriminator=models.Discriminator(
            m.disc_hidden,
            m.disc_dropout,
            matmul_dtype=matmul_dtype(m),
            activation=m.disc_activation,
        ),
        prior=build_prior(m),
        disc_tx=build_optimizer(t, t.disc_learning_rate, t.disc_optimizer),
        gen_tx=build_optimizer(t, t.gen_learning_rate, t.gen_optimizer),
        generator_loss=m.generator_loss,
    )


def _integration_samples(model_cfg: config_lib.ModelConfig) -> int:
    """M encodings per fake code: the configured M for idaae, one for aae and daae."""
    return model_cfg.integration_samples if model_cfg.is_integrating else 1


def build_train_step(
    model_cfg: config_lib.ModelConfig,
    model,
    tx,
    adversary: adversarial.Adversary | None = None,
    *,
    num_train: int | None = None,
) -> steps.StepFn:
    """The family's training step (unjitted); adversarial families need ``adversary``
    (:func:`build_adversary`), the GAE the number of training examples ``num_train`` (its
    objective is a mixture over all n training codes). For ``gae_estimator='em'`` the step
    takes the training images as a fourth argument (:func:`train_step_inputs`)."""
    kwargs = dict(
        reconstruction_loss=model_cfg.reconstruction_loss, corruption=model_corruption(model_cfg)
    )
    kind = model_cfg.family_spec.step
    if kind == "ae":
        return steps.make_ae_step(model, tx, **kwargs)
    if kind == "vae":
        return steps.make_vae_step(model, tx, kl_weight=model_cfg.kl_weight, **kwargs)
    if kind == "adversarial":
        if adversary is None:
            raise ValueError(f"family {model_cfg.family!r} needs an adversary (build_adversary)")
        return adversarial.make_adversarial_step(
            model, tx, adversary, integration_samples=_integration_samples(model_cfg), **kwargs
        )
    if kind == "gae":
        gae_kwargs = dict(
            reconstruction_loss=model_cfg.reconstruction_loss,
            lambda1=model_cfg.gae_lambda1,
            lambda2=model_cfg.gae_lambda2,
        )
        if model_cfg.gae_estimator == "em":
            if num_train is None:
                raise ValueError("gae_estimator='em' needs num_train, the training set size")
            return steps.make_gae_em_step(
                model,
                tx,
                num_train=num_train,
                num_components=model_cfg.gae_em_components,
                num_samples=model_cfg.gae_em_samples,
                estep_every=model_cfg.gae_estep_every,
                **gae_kwargs,
            )
        batch_only = model_cfg.gae_estimator == "batch"
        return steps.make_gae_step(
            model, tx, num_train=None if batch_only else num_train, **gae_kwargs
        )
    raise ValueError(f"no training step for family {model_cfg.family!r}")


def train_step_inputs(model_cfg: config_lib.ModelConfig, train_images) -> tuple:
    """The arrays the family's training step takes after its key (``loop.jit_train_steps``'s
    ``inputs``, placed on the devices once): the training images (float32[n, H, W, C], in the
    source's order) for ``gae_estimator='em'``, else none."""
    return (train_images,) if _uses_gae_bank(model_cfg) else ()


def build_latent_eval(cfg: config_lib.ExperimentConfig, model, adversary, train_images):
    """For families with a prior to match (adversarial, gae): ``evaluate(state, images) ->
    (Latents, prior)`` (see :mod:`gae_jax.evaluation.prior_match`); None for the others.

    The GAE's prior is the aggregated posterior of ``train_images`` under the current state.
    """
    m = cfg.model
    if adversary is None and m.family_spec.step != "gae":
        return None
    if adversary is None:
        latent_step = jax.jit(evaluation.prior_match.make_latent_step(model))
        aggregate = jax.jit(lambda state, x: build_prior(m, model=model, state=state, images=x))
        prior_fn = lambda state: aggregate(state, train_images)  # noqa: E731
    else:
        fake_codes = adversarial.make_fake_codes(
            model, model_corruption(m), _integration_samples(m)
        )
        latent_step = jax.jit(
            evaluation.prior_match.make_latent_step(
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
        codes = evaluation.prior_match.collect_latents(
            latent_step, state, prior, images, cfg.train.eval_batch_size, key
        )
        return codes, prior

    return evaluate


def _uses_gae_bank(model_cfg: config_lib.ModelConfig) -> bool:
    return model_cfg.family_spec.step == "gae" and model_cfg.gae_estimator == "em"


def init_state(cfg: config_lib.ExperimentConfig, model, tx, image_shape) -> TrainState:
    """The freshly initialised training state of ``cfg`` (adversary included), from its seed."""
    init_key = jax.random.fold_in(jax.random.key(cfg.seed), 0)
    adversary = build_adversary(cfg)
    state = create_train_state(init_key, model, tx, image_shape)
    if _uses_gae_bank(cfg.model):  # the EM step's memory bank: one row per training example
        train = data_lib.open_source(cfg.data.name, "train", tfds_data_dir=cfg.data.tfds_data_dir)
        state = state.replace(gae_bank=gae.init_bank(len(train), image_shape))
    if adversary is None:
        return state
    disc_key = jax.random.fold_in(jax.random.key(cfg.seed), 3)
    return adversarial.init_adversary(disc_key, state, adversary, cfg.model.latent_dim)


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


# --- Sampling ---------------------------------------------------------------------------------


def sampler_fns(model, sampler_cfg: config_lib.SamplerConfig) -> models.AutoencoderFns:
    """The model's pure functions with the sampler's batch-norm mode and tiles: statistics
    groups of ``bn_tile_size`` chains, networks run over ``chain_tile_size`` chains of each of
    the ``num_devices`` shards at a time (:func:`gae_jax.models.adapter.map_chain_tiles`)."""
    s = sampler_cfg
    return models.autoencoder_fns(
        model,
        batch_stats_mode=s.batch_stats_mode,
        bn_tile_size=s.bn_tile_size or None,
        chain_tile_size=s.chain_tile_size,
        num_shards=parallel.make_mesh(s.num_devices).devices.size,
    )


def _encode_mode(kernel: str, sampler_cfg: config_lib.SamplerConfig) -> str:
    """``mean`` or ``sample``: ``sampler.encode`` with ``paper`` resolved for ``kernel`` (a draw
    in the latent chain, paper 000 eq. 1; the mean in the pixel-space kernels, papers 002/003)."""
    if sampler_cfg.encode != "paper":
        return sampler_cfg.encode
    return "sample" if kernel == "latent" else "mean"


def _observation(
    sampler_cfg: config_lib.SamplerConfig, reconstruction_loss: str
) -> samplers.conditionals.Observation | None:
    """The chains' ``x ~ p(x|z)``: None for the decoder mean (``sampler.decode='mean'``)."""
    if sampler_cfg.decode == "mean":
        return None
    return samplers.conditionals.observation(reconstruction_loss, sampler_cfg.decode_sd)


def _reconstruct_draw(
    fns: models.AutoencoderFns, sampler_cfg: config_lib.SamplerConfig, reconstruction_loss: str
) -> samplers.conditionals.ReconstructDrawFn | None:
    """The pixel-space kernels' stochastic reconstruction; None for the deterministic r(x)
    (``decode='mean'`` and the mean code), so those chains stay as they were."""
    observe = _observation(sampler_cfg, reconstruction_loss)
    mode = _encode_mode("pixel", sampler_cfg)
    if observe is None and mode == "mean":
        return None
    code = samplers.conditionals.code_draw(fns.encode, mode)
    return samplers.conditionals.reconstruction_draw(code, fns.decode_mean, observe)


def latent_kernel(
    fns: models.AutoencoderFns,
    corruption: corruption_lib.Corruption | None,
    sampler_cfg: config_lib.SamplerConfig,
    *,
    reconstruction_loss: str,
) -> Callable[[Any], samplers.Kernel]:
    """``variables -> Kernel``: the latent chain (eq. 1, or eq. 2 with ``corruption``) with
    ``sampler.decode`` / ``sampler.encode``'s draws; ``reconstruction_loss`` (the model's)
    names the decoder's likelihood."""
    s = sampler_cfg
    return lambda variables: samplers.latent_chain(
        fns.decode_mean,
        samplers.conditionals.code_draw(fns.encode, _encode_mode("latent", s)),
        variables,
        corruption=corruption,
        observe=_observation(s, reconstruction_loss),
    )


def reinjection_kernel(
    fns: models.AutoencoderFns, sampler_cfg: config_lib.SamplerConfig, *, reconstruction_loss: str
) -> Callable[[Any], samplers.Kernel]:
    """``variables -> Kernel``: paper 002's reinjection chain with the sampler's settings."""
    s = sampler_cfg
    return lambda variables: samplers.reinjection_chain(
        fns.reconstruct_mean,
        variables,
        step_size=s.reinjection_step_size,
        restart_every=s.reinjection_restart_every or None,
        burn_in_restarts=s.reinjection_burn_in_restarts,
        reconstruct_draw=_reconstruct_draw(fns, s, reconstruction_loss),
    )


def ascent_kernel(
    fns: models.AutoencoderFns, sampler_cfg: config_lib.SamplerConfig, *, reconstruction_loss: str
) -> Callable[[Any], samplers.Kernel]:
    """``variables -> Kernel``: paper 003's DAE ascent with the sampler's noise and draws."""
    s = sampler_cfg
    noise = corruption_lib.make_corruption("gaussian", s.ascent_noise) if s.ascent_noise else None
    return lambda variables: samplers.ascent_chain(
        fns.reconstruct_mean,
        variables,
        noise=noise,
        reconstruct_draw=_reconstruct_draw(fns, s, reconstruction_loss),
    )


def describe_transition(
    kernel: str, model_cfg: config_lib.ModelConfig, sampler_cfg: config_lib.SamplerConfig
) -> str:
    """One line saying which transition ``kernel`` (one of ``config.SAMPLER_KERNELS``) runs for
    this model and sampler, in the order it runs, for reports; D(z) is the decoder mean E[x|z].
    E.g. ``x ~ Bernoulli(D(z)), x~ ~ gaussian 0.5, z = E(x~) (q(z|x) a point mass)`` for an
    MLP DAAE's latent chain with sampled pixels (conv models add their batch-norm mode)."""
    s, m = sampler_cfg, model_cfg
    if kernel not in config_lib.SAMPLER_KERNELS:
        raise ValueError(f"kernel must be one of {config_lib.SAMPLER_KERNELS}, got {kernel!r}")
    out = "x" if kernel == "latent" else "x'"
    if s.decode == "mean":
        decode = f"{out} = D(z)"
    elif m.reconstruction_loss == "bce":
        decode = f"{out} ~ Bernoulli(D(z))"
    else:
        decode = f"{out} ~ N(D(z), {s.decode_sd:g}^2 I)"
    noise = None
    if kernel == "latent":
        kind, level = (m.corruption, m.corruption_level)
        if s.corruption != "model":
            kind, level = s.corruption, s.corruption_level
        noise = f"x~ ~ {kind} {level:g}" if latent_corruption(m, s) else "no corruption"
    elif kernel == "ascent":
        noise = f"x~ ~ gaussian {s.ascent_noise:g}" if s.ascent_noise else "no noise"
    source = "x~" if noise and noise.startswith("x~") else "x"
    if m.posterior == "deterministic":
        encode = f"z = E({source}) (q(z|x) a point mass)"
    elif _encode_mode(kernel, s) == "sample":
        encode = f"z ~ q(z|{source})"
    else:
        encode = f"z = mean of q(z|{source})"
    if kernel == "latent":
        parts = [decode, noise, encode]
    elif kernel == "ascent":
        parts = [noise, encode, decode, "x <- x'"]
    else:
        parts = [encode, decode, f"x <- x' + sqrt({s.reinjection_step_size:g}) eps"]
    if m.architecture == "dcgan":  # the MLPs have no batch norm
        parts.append(f"batch norm {s.batch_stats_mode}")
    return ", ".join(parts)


class ChainRun(NamedTuple):
    """The outputs of :func:`run_chains` (numpy arrays, the same on every process) and what it
    measured."""

    state0: Any  # the kernel's initial state
    final: Any  # the kernel's final state
    trace: Any  # transform(state, info) at the record steps, stacked on a leading axis
    stats: dict  # timing (compile/run seconds, devices) and non-finite counts, JSON-ready


def run_chains(
    sampler_cfg: config_lib.SamplerConfig,
    make_kernel: Callable[[Any], samplers.Kernel],
    variables,
    init_arg: jax.Array,
    num_steps: int,
    record_steps: tuple[int, ...],
    transform: Callable,
    rng_key: jax.Array,
    *,
    name: str,
    mesh: Mesh | None = None,
    draw_init: Callable[[jax.Array, int, Any], jax.Array] | None = None,
) -> ChainRun:
    """Compiles and runs one batch of chains as a single call, the way every job samples.

    The kernel is guarded (:func:`~gae_jax.samplers.guard_non_finite`): non-finite chains are
    counted, and re-drawn with ``draw_init`` if ``sampler_cfg.on_non_finite`` is ``restart``.
    Chains are split over ``mesh`` (default: ``sampler_cfg.num_devices`` devices along a
    ``chains`` axis), of one process or of all processes of a cluster: every process passes the
    same arguments and gets the same gathered outputs. A chain count that does not divide the
    device count is padded and the padding dropped; results do not depend on the mesh.

    Args:
      make_kernel: ``variables -> Kernel`` (e.g. :func:`latent_kernel`).
      variables: the model's variables.
      init_arg: float32[chains, ...], the argument of the kernel's ``init``.
      draw_init: ``(rng_key, num_chains, variables) -> init_arg``, the start distribution; None
        for chains started at chosen points (interpolations), which are counted, not re-drawn.
      name: the run's name in logs and ``stats``.

    Returns:
      A :class:`ChainRun`.
    """
    restart = sampler_cfg.on_non_finite == "restart" and draw_init is not None
    mesh = parallel.make_mesh(sampler_cfg.num_devices) if mesh is None else mesh

    def run(key, variables, init_arg):
        kernel = make_kernel(variables)
        fresh = lambda k, n: kernel.init(draw_init(k, n, variables))  # noqa: E731
        guarded = samplers.guard_non_finite(kernel, fresh if restart else None)
        state0 = guarded.init(init_arg)
        final, trace = samplers.sample_chains(
            key,
            guarded,
            state0,
            num_steps,
            record_steps=record_steps,
            transform=lambda state, info: transform(state.state, info),
        )
        return state0.state, final.state, final.num_non_finite, trace

    # Every process holds the same host values (functions of the seeds); each places only its
    # own devices' shards. A chain count that does not divide the devices is padded with copies
    # of the last start (their own chain keys, so the first n chains are unchanged), dropped below.
    init_arg, n = parallel.shard_padded(init_arg, mesh)
    args = (parallel.replicate(rng_key, mesh), parallel.replicate(variables, mesh), init_arg)
    t0 = time.perf_counter()
    compiled = jax.jit(run).lower(*args).compile()
    t1 = time.perf_counter()
    outputs = jax.block_until_ready(compiled(*args))
    t2 = time.perf_counter()
    state0, final, num_non_finite, trace = parallel.gather(outputs)
    # Chains are the leading axis of the states and counts, the second of the trace.
    state0, final, num_non_finite = jax.tree.map(lambda a: a[:n], (state0, final, num_non_finite))
    trace = jax.tree.map(lambda a: a[:, :n] if a.ndim > 1 else a, trace)
    num_non_finite = np.asarray(num_non_finite)
    if num_non_finite.any():
        logging.warning(
            "%s: %d of %d chains turned non-finite (%s)",
            name,
            (num_non_finite > 0).sum(),
            n,
            "restarted" if restart else "left as they are; sampler.on_non_finite=restart re-draws",
        )
    logging.info(
        "%s: %d chains x %d steps in %.2fs (compile %.2fs)", name, n, num_steps, t2 - t1, t1 - t0
    )
    stats = {
        "non_finite": {
            "chains": int((num_non_finite > 0).sum()),
            "transitions": int(num_non_finite.sum()),
            "restarted": restart,
        },
        "timing": {
            "chains": n,
            "steps": num_steps,
            "devices": mesh.devices.size,
            "processes": jax.process_count(),
            "compile_seconds": t1 - t0,
            "run_seconds": t2 - t1,
        },
    }
    return ChainRun(state0, final, trace, stats)


__all__ = [
    "ChainRun",
    "ascent_kernel",
    "build_adversary",
    "build_latent_eval",
    "build_mesh",
    "build_model",
    "build_optimizer",
    "build_prior",
    "build_train_step",
    "describe_transition",
    "init_state",
    "latent_corruption",
    "latent_kernel",
    "matmul_dtype",
    "model_corruption",
    "reinjection_kernel",
    "run_chains",
    "sampler_fns",
    "train_step_inputs",
]
