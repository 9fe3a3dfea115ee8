"""``sample_and_save(config, workdir)``: the sampling run behind ``experiments.sample``.

Restores the model trained in ``workdir``, runs the chains of ``config.sampler.kernels`` and
writes, under ``<workdir>/samples/``:

* ``latent_step_NNN.png`` / ``latent_steps.png`` -- decoded prior chains at the record steps;
* ``interpolation.png`` -- slerp paths between test encodings, before and after chain steps;
* ``reinjection_trajectories.png`` -- pixel-space walks with restarts and burn-in marked;
* ``ascent_step_NNN.png`` / ``ascent_steps.png`` -- DAE ascent from noise or decoded samples;
* ``samples.npz`` -- the arrays behind the figures (images as float16 in [0, 1]);
* ``sample_summary.json`` -- compile and run wall times of every call and per-step diagnostics.

Every run is one compiled call over all its chains, split across the devices of a ``chains``
mesh (of all processes of a cluster, padded when their number does not divide evenly). Every
process computes the same values; only process 0 writes the files.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable

import jax
import ml_collections
import numpy as np
from etils import epath

from gae_jax import builders, data, parallel, plotting, resources
from gae_jax import config as config_lib
from gae_jax import corruption as corruption_lib
from gae_jax import workdir as workdir_lib
from gae_jax.jobs import cluster
from gae_jax.jobs.common import named_key
from gae_jax.models import Autoencoder, AutoencoderFns, model_variables
from gae_jax.samplers import Kernel, starts, steps_for_samples
from gae_jax.train.state import TrainState
from gae_jax.workdir import SAMPLES_DIR


@dataclasses.dataclass
class _Context:
    """What every sampling run of one ``sample_and_save`` call shares."""

    cfg: config_lib.ExperimentConfig
    sampler: config_lib.SamplerConfig
    model: Autoencoder
    state: TrainState
    variables: dict
    fns: AutoencoderFns
    corruption: corruption_lib.Corruption | None  # of the latent chain; None: eq. 1
    mesh: jax.sharding.Mesh
    out_dir: str
    arrays: dict = dataclasses.field(default_factory=dict)
    summary: dict = dataclasses.field(default_factory=dict)
    files: list = dataclasses.field(default_factory=list)

    def key(self, name: str) -> jax.Array:
        """A key per named use, so adding a run never changes another run's randomness."""
        return named_key(self.sampler.seed, name)

    def output(self, name: str) -> str:
        """The path to write output file ``name`` to; the file is listed in the summary."""
        self.files.append(name)
        return os.path.join(self.out_dir, name)

    def save(self, name: str, save_fn: Callable, *args) -> None:
        """``save_fn(path, *args)`` writes output file ``name`` on process 0 only (e.g. a
        ``plotting.save_*`` function); the file is listed in the summary."""
        cluster.write_output(self.output(name), lambda path: save_fn(path, *args))


def _run_chains(ctx: _Context, make_kernel: Callable[[dict], Kernel], init_arg, *args, **kwargs):
    """:func:`gae_jax.builders.run_chains` (same arguments after ``init_arg``) on the context's
    model and mesh; stores its timings and non-finite counts in the summary.

    Returns:
      ``(state0, final_state, trace)``.
    """
    name = kwargs["name"]
    run = builders.run_chains(
        ctx.sampler, make_kernel, ctx.variables, init_arg, *args, mesh=ctx.mesh, **kwargs
    )
    ctx.summary.setdefault("non_finite", {})[name] = run.stats["non_finite"]
    ctx.summary.setdefault("timings", {})[name] = run.stats["timing"]
    return run.state0, run.final, run.trace


def _latent_kernel(ctx: _Context) -> Callable[[dict], Kernel]:
    return builders.latent_kernel(
        ctx.fns,
        ctx.corruption,
        ctx.sampler,
        reconstruction_loss=ctx.cfg.model.reconstruction_loss,
    )


def _transition(ctx: _Context, kernel: str) -> str:
    return builders.describe_transition(kernel, ctx.cfg.model, ctx.sampler)


def _record_steps(sampler: config_lib.SamplerConfig) -> tuple[int, ...]:
    return tuple(t for t in sampler.record_steps if t > 0)


def _save_step_grids(ctx: _Context, prefix: str, images: np.ndarray, title: str) -> None:
    """images: float[len(record_steps), N, H, W, C]; writes one grid per step and a panel."""
    steps = ctx.sampler.record_steps
    shown = images[:, : ctx.sampler.grid_size]
    for step, batch in zip(steps, shown, strict=True):
        ctx.save(
            f"{prefix}_step_{step:03d}.png", plotting.save_grid, batch, f"{title}, step {step}"
        )
    ctx.save(f"{prefix}_steps.png", plotting.save_steps_panel, steps, shown, title)


def _store_images(ctx: _Context, prefix: str, images: np.ndarray, steps) -> None:
    for step, batch in zip(steps, images, strict=True):
        ctx.arrays[f"{prefix}_x_step_{step}"] = batch.astype(np.float16)


def _prior(ctx: _Context):
    """The model's prior; None (per-chain N(0, I) draws) for the standard normal."""
    if ctx.cfg.model.prior == "normal":
        return None
    images = None
    if ctx.cfg.model.prior == "aggregate":
        d = ctx.cfg.data
        images = data.load_split(d, "train").images
    return builders.build_prior(ctx.cfg.model, model=ctx.model, state=ctx.state, images=images)


def _prior_draw(ctx: _Context) -> Callable[[jax.Array, int, dict], jax.Array]:
    """``(rng_key, num_chains, variables) -> z0``: per-chain draws from the model's prior."""
    prior = _prior(ctx)
    return lambda key, n, variables: starts.prior_samples(key, n, ctx.model.latent_dim, prior)


def sample_latent(ctx: _Context) -> None:
    """Latent chains from prior draws (paper 000 Fig. 4; paper 001 eq. 3 for denoising models)."""
    s = ctx.sampler
    draw = _prior_draw(ctx)
    z0 = draw(ctx.key("latent_init"), s.num_chains, ctx.variables)
    transform = lambda state, info: (state.x, state.z, info)
    state0, _, (xs, zs, info) = _run_chains(
        ctx,
        _latent_kernel(ctx),
        z0,
        s.num_steps,
        _record_steps(s),
        transform,
        ctx.key("latent"),
        name="latent",
        draw_init=draw,
    )
    steps = s.record_steps
    has_start = steps[0] == 0
    images = np.asarray(xs)
    codes = np.asarray(zs)
    if has_start:
        images = np.concatenate([np.asarray(state0.x)[None], images])
        codes = np.concatenate([np.asarray(state0.z)[None], codes])
    _store_images(ctx, "latent", images, steps)
    for step, z in zip(steps, codes, strict=True):
        ctx.arrays[f"latent_z_step_{step}"] = z
    z_norms = np.linalg.norm(codes, axis=-1)
    kind = "latent (eq. 1)" if ctx.corruption is None else "denoising latent (eq. 2)"
    ctx.summary["latent"] = {
        "chain": kind,
        "transition": _transition(ctx, "latent"),
        "record_steps": list(steps),
        "mean_z_norm": z_norms.mean(axis=1).tolist(),
        # Per-transition diagnostics exist for the steps after the start only.
        "transition_steps": list(_record_steps(s)),
        "mean_z_change": np.asarray(info.z_change).mean(1).tolist(),
        "fraction_finite": np.asarray(info.is_finite).mean(1).tolist(),
    }
    _save_step_grids(ctx, "latent", images, f"{kind} chain from prior samples")


def slerp_endpoints(fns: AutoencoderFns, variables: dict, images: np.ndarray) -> jax.Array:
    """The codes slerp paths run between: the posterior means of q(z|x) of ``images``
    (float32[N, H, W, C]) -> float32[N, D]. Paper 000 Sec. 5 interpolates between encodings;
    a VAE's draws would add the posterior's noise to both ends."""
    return jax.jit(fns.encode)(variables, images).mean


def sample_interpolation(ctx: _Context) -> None:
    """Slerp paths between encodings (posterior means, :func:`slerp_endpoints`) of test images,
    refined by latent-chain steps."""
    s = ctx.sampler
    d = ctx.cfg.data
    test = data.load_split(d, "test").images
    chosen = np.random.default_rng(s.seed).choice(len(test), 2 * s.slerp_pairs, replace=False)
    endpoints = test[chosen]
    z_ends = slerp_endpoints(ctx.fns, ctx.variables, endpoints)
    paths = starts.slerp_paths(z_ends[0::2], z_ends[1::2], s.slerp_points)
    record = (s.slerp_steps,) if s.slerp_steps else ()
    state0, _, refined = _run_chains(
        ctx,
        _latent_kernel(ctx),
        paths.reshape(-1, paths.shape[-1]),
        s.slerp_steps,
        record,
        lambda state, info: state.x,
        ctx.key("slerp"),
        name="interpolation",
    )
    shape = (s.slerp_pairs, s.slerp_points, *endpoints.shape[1:])
    original = np.asarray(state0.x).reshape(shape)
    refined = np.asarray(refined[-1]).reshape(shape) if record else original
    ctx.arrays["interpolation_endpoints"] = endpoints.reshape(s.slerp_pairs, 2, *shape[2:])
    ctx.arrays["interpolation_original"] = original.astype(np.float16)
    ctx.arrays["interpolation_refined"] = refined.astype(np.float16)
    ctx.save(
        "interpolation.png",
        plotting.save_interpolation,
        ctx.arrays["interpolation_endpoints"],
        original,
        refined,
        s.slerp_steps,
    )


def sample_reinjection(ctx: _Context, image_shape) -> None:
    """Paper 002 Alg. 1 with restarts; the kept samples go to ``reinjection_x``."""
    s = ctx.sampler
    restart_every = s.reinjection_restart_every or None
    num_steps = steps_for_samples(
        s.reinjection_num_samples,
        s.reinjection_chains,
        restart_every,
        s.reinjection_burn_in_restarts,
    )
    make_kernel = builders.reinjection_kernel(
        ctx.fns, s, reconstruction_loss=ctx.cfg.model.reconstruction_loss
    )
    draw = lambda key, n, variables: starts.normal_noise(key, n, image_shape)
    x0 = draw(ctx.key("reinjection_init"), s.reinjection_chains, ctx.variables)
    transform = lambda state, info: (state.x, info.kept, info.restarted)
    _, _, (xs, kept, restarted) = _run_chains(
        ctx,
        make_kernel,
        x0,
        num_steps,
        tuple(range(1, num_steps + 1)),
        transform,
        ctx.key("reinjection"),
        name="reinjection",
        draw_init=draw,
    )
    xs, kept, restarted = np.asarray(xs), np.asarray(kept), np.asarray(restarted)
    ctx.arrays["reinjection_x"] = xs[kept][: s.reinjection_num_samples].astype(np.float16)
    ctx.summary["reinjection"] = {
        "transition": _transition(ctx, "reinjection"),
        "steps": num_steps,
        "kept_samples": int(min(kept.sum(), s.reinjection_num_samples)),
        "restart_transitions": np.flatnonzero(restarted[:, 0]).tolist(),
    }
    num_shown = min(8, s.reinjection_chains)
    ctx.save(
        "reinjection_trajectories.png",
        plotting.save_trajectories,
        xs[:, :num_shown],
        restarted[:, 0],
        kept[:, 0],
        f"reinjection, lambda={s.reinjection_step_size}, R={restart_every}",
    )


def sample_ascent(ctx: _Context, image_shape) -> None:
    """Paper 003 eq. 10 (from U(0, 1) noise) or eq. 11 (from decoded prior draws)."""
    s = ctx.sampler
    if s.ascent_init == "uniform":
        draw = lambda key, n, variables: starts.uniform_noise(key, n, image_shape)
    else:
        draw_code = _prior_draw(ctx)
        draw = lambda key, n, variables: ctx.fns.decode_mean(
            variables, draw_code(key, n, variables)
        )
    x0 = jax.jit(draw, static_argnums=1)(ctx.key("ascent_init"), s.num_chains, ctx.variables)
    make_kernel = builders.ascent_kernel(
        ctx.fns, s, reconstruction_loss=ctx.cfg.model.reconstruction_loss
    )
    transform = lambda state, info: (state.x, info.change)
    state0, _, (xs, change) = _run_chains(
        ctx,
        make_kernel,
        x0,
        s.num_steps,
        _record_steps(s),
        transform,
        ctx.key("ascent"),
        name="ascent",
        draw_init=draw,
    )
    images = np.asarray(xs)
    if s.record_steps[0] == 0:
        images = np.concatenate([np.asarray(state0.x)[None], images])
    _store_images(ctx, "ascent", images, s.record_steps)
    ctx.summary["ascent"] = {
        "init": s.ascent_init,
        "transition": _transition(ctx, "ascent"),
        "mean_change": np.asarray(change).mean(1).tolist(),
    }
    _save_step_grids(ctx, "ascent", images, f"DAE ascent from {s.ascent_init} x_0")


def _save_npz(path: str, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez_compressed`` atomically: a killed run leaves the previous file or none."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        np.savez_compressed(f, **arrays)
    os.replace(tmp, path)


def _check_same_model(requested: config_lib.ExperimentConfig, trained, workdir: str) -> None:
    differences = workdir_lib.config_differences(requested, trained)
    if differences:
        raise config_lib.ConfigError(
            f"--config differs from the model trained in {workdir}: {'; '.join(differences)}. "
            "Pass the config the model was trained with"
        )


def sample_and_save(config: ml_collections.ConfigDict, workdir: str) -> dict:
    """Runs the configured chains on the model trained in ``workdir`` and writes the outputs.

    Returns:
      The summary also written to ``<workdir>/samples/sample_summary.json``.
    """
    requested = config_lib.validate(config)
    cfg, model, state = workdir_lib.load_trained(workdir)
    _check_same_model(requested, cfg, workdir)
    d = cfg.data
    test_ds = data.load_split(d, "test")
    config_lib.check_against_data(requested, test_ds.image_shape, num_test=len(test_ds))
    image_shape = test_ds.image_shape
    # Chains that cannot fit are refused before anything is compiled or written.
    resources.check_sampling(requested.sampler, image_shape, cfg.model.latent_dim, model)
    with workdir_lib.locked(workdir):
        return _sample_locked(requested, cfg, model, state, image_shape, workdir)


def _sample_locked(requested, cfg, model, state, image_shape, workdir: str) -> dict:
    """:func:`sample_and_save` once the model is restored and the config checked."""
    s = requested.sampler
    out_dir = os.path.join(workdir, SAMPLES_DIR)
    if workdir_lib.is_writer():
        epath.Path(out_dir).mkdir(parents=True, exist_ok=True)
    ctx = _Context(
        cfg=cfg,
        sampler=s,
        model=model,
        state=state,
        variables=model_variables(state),
        fns=builders.sampler_fns(model, s),
        corruption=builders.latent_corruption(cfg.model, s),
        mesh=parallel.make_mesh(s.num_devices),
        out_dir=out_dir,
    )
    ctx.summary["sampler"] = dataclasses.asdict(s)
    if "latent" in s.kernels:
        sample_latent(ctx)
        sample_interpolation(ctx)
    if "reinjection" in s.kernels:
        sample_reinjection(ctx, image_shape)
    if "ascent" in s.kernels:
        sample_ascent(ctx, image_shape)
    ctx.save(workdir_lib.SAMPLES_FILE, _save_npz, ctx.arrays)
    summary_path = ctx.output(workdir_lib.SAMPLE_SUMMARY_FILE)
    ctx.summary["files"] = ctx.files
    workdir_lib.write_json(summary_path, ctx.summary)
    parallel.sync("sample_and_save")  # other processes may read the files next (experiments.main)
    return ctx.summary
