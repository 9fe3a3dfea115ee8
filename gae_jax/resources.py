"""Memory estimates before work: refuse what cannot fit before anything is compiled or written.

A job asks :func:`check_training` (training batches and evaluation) or :func:`check_sampling`
(the chains of ``config.sampler``) right after the config and the data are validated. Each
estimate is computed from shapes only (``jax.eval_shape``: no compilation, no allocation) and is
a lower bound of what the work holds at once, so a refusal is certain and a run that fits is
never refused:

* training: the state (parameters, optimiser moments, adversary) and its gradients, one dispatch
  of batches (host stack and device copy) and every layer's output for the batch (kept for the
  backward pass);
* evaluation: the zero-padded batch of ``train.eval_batch_size`` images, its reconstruction and
  the largest layer output of that batch;
* chains: per chain, the recorded steps (images and codes, on the device and copied to the host),
  the start and final states, and the largest layer output of one step.

The estimate is compared with what the devices have free: host memory (``MemAvailable``) on CPU;
on GPU/TPU each device's ``bytes_limit - bytes_in_use`` for its share of the sharded axis, and the
host memory for the host copies. A refusal is a :class:`~gae_jax.config.ConfigError` naming the
key, its value, the estimate, what the machine has and the largest value that fits.
"""

from __future__ import annotations

import dataclasses
import math
import os

import jax
import jax.numpy as jnp
import numpy as np

from gae_jax import config as config_lib
from gae_jax import samplers

_FLOAT = 4  # bytes of a float32


@dataclasses.dataclass(frozen=True)
class Demand:
    """Memory of one piece of work, linear in the config value ``key`` that scales it.

    bytes on the device = ``device_fixed + value * device_per_unit`` (likewise on the host).
    """

    key: str  # e.g. "sampler.num_chains"
    value: int
    what: str  # e.g. "the latent chains (4 recorded steps of 28x28x1 images and codes)"
    device_fixed: int
    device_per_unit: int
    host_fixed: int = 0
    host_per_unit: int = 0
    shards: int = 1  # devices the value is split across

    @property
    def device_bytes(self) -> int:
        return self.device_fixed + self.value * self.device_per_unit

    @property
    def host_bytes(self) -> int:
        return self.host_fixed + self.value * self.host_per_unit


@dataclasses.dataclass(frozen=True)
class Available:
    """Free memory: ``host`` bytes, and per device ``device`` bytes (None on CPU, where the
    devices' memory is the host's)."""

    host: int
    device: int | None
    device_name: str


def available_memory() -> Available:
    """What the machine has free now (see the module docstring)."""
    host = _host_available()
    device = jax.local_devices()[0]
    if device.platform == "cpu":
        return Available(host, None, "host (CPU)")
    free = []
    for d in jax.local_devices():
        stats = d.memory_stats() or {}
        if "bytes_limit" in stats:
            free.append(int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0)))
    name = f"{device.platform.upper()} {getattr(device, 'device_kind', '')}".strip()
    return Available(host, min(free) if free else None, name)


def _host_available() -> int:
    """Bytes the host can give without swapping: /proc/meminfo's MemAvailable (free pages where
    there is no /proc)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def _layer_outputs(model, image_shape) -> tuple[int, int]:
    """``(sum, max)`` of the floats of every module's output for one example (encode and
    decode), from shapes only."""
    x = jax.ShapeDtypeStruct((1, *image_shape), jnp.float32)

    def outputs(x):
        rngs = {"params": jax.random.key(0), "latent": jax.random.key(1)}
        variables = model.init(rngs, x, train=False)
        _, captured = model.apply(
            variables,
            x,
            train=False,
            rngs={"latent": jax.random.key(2)},
            capture_intermediates=True,
            mutable=["intermediates"],
        )
        return captured

    sizes = [math.prod(a.shape) for a in jax.tree.leaves(jax.eval_shape(outputs, x))]
    return int(sum(sizes)), int(max(sizes, default=0))


def _tree_bytes(tree) -> int:
    return int(sum(math.prod(a.shape) * np.dtype(a.dtype).itemsize for a in jax.tree.leaves(tree)))


def _gib(n: float) -> str:
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n / 2**10:.1f} KiB"


def _shape(image_shape) -> str:
    return "x".join(map(str, image_shape))


def training_demands(cfg: config_lib.ExperimentConfig, image_shape, model, abstract_state):
    """The :class:`Demand` of a training batch and of an evaluation batch.

    Args:
      image_shape: (H, W, C).
      model: the configured autoencoder.
      abstract_state: the training state's shapes (``jax.eval_shape`` of its initialiser).
    """
    t = cfg.train
    pixels = math.prod(image_shape)
    layers_sum, layer_max = _layer_outputs(model, image_shape)
    state = _tree_bytes(abstract_state)
    params = _tree_bytes(abstract_state.params)
    shards = _devices(cfg.mesh.data)
    train = Demand(
        key="train.batch_size",
        value=t.batch_size,
        what=f"a training dispatch ({t.steps_per_dispatch} batch(es) of {_shape(image_shape)} "
        "images, every layer's output kept for the gradients, state and gradients)",
        device_fixed=state + params,
        device_per_unit=(t.steps_per_dispatch * pixels + layers_sum) * _FLOAT,
        host_per_unit=t.steps_per_dispatch * pixels * _FLOAT,
        shards=shards,
    )
    evaluation = Demand(
        key="train.eval_batch_size",
        value=t.eval_batch_size,
        what=f"an evaluation batch (zero-padded {_shape(image_shape)} images, their "
        "reconstructions and the largest layer's output)",
        device_fixed=state,
        device_per_unit=(2 * pixels + layer_max) * _FLOAT,
        host_per_unit=pixels * _FLOAT,
    )
    return [train, evaluation]


def sampling_demands(sampler: config_lib.SamplerConfig, image_shape, latent_dim: int, model):
    """The :class:`Demand` of each configured chain run (latent / ascent, reinjection)."""
    pixels = math.prod(image_shape)
    _, layer_max = _layer_outputs(model, image_shape)
    shards = _devices(sampler.num_devices)
    demands = []
    if "latent" in sampler.kernels or "ascent" in sampler.kernels:
        recorded = len(sampler.record_steps)
        per_record = pixels + latent_dim + 2  # image, code, per-chain diagnostics
        demands.append(
            Demand(
                key="sampler.num_chains",
                value=sampler.num_chains,
                what=f"the chains ({recorded} recorded steps of {_shape(image_shape)} images "
                f"and {latent_dim}-d codes, start and final states, one step's largest layer)",
                device_fixed=0,
                device_per_unit=((recorded + 2) * per_record + layer_max) * _FLOAT,
                host_per_unit=(recorded + 1) * per_record * _FLOAT,
                shards=shards,
            )
        )
    if "reinjection" in sampler.kernels:
        restart = sampler.reinjection_restart_every or None
        steps = samplers.steps_for_samples(
            sampler.reinjection_num_samples,
            sampler.reinjection_chains,
            restart,
            sampler.reinjection_burn_in_restarts,
        )
        per_step = sampler.reinjection_chains * (pixels + 2) * _FLOAT
        demands.append(
            Demand(
                key="sampler.reinjection_num_samples",
                value=sampler.reinjection_num_samples,
                what=f"the reinjection chains ({steps} recorded steps of "
                f"{sampler.reinjection_chains} chains of {_shape(image_shape)} images)",
                # Every step is recorded: about num_samples / chains of them, plus the burn-in.
                device_fixed=(steps - sampler.reinjection_num_samples // sampler.reinjection_chains)
                * per_step,
                device_per_unit=(pixels + 2) * _FLOAT,
                host_per_unit=(pixels + 2) * _FLOAT,
                shards=shards,
            )
        )
    return demands


def check(demands, available: Available | None = None) -> None:
    """Refuses the first demand that cannot fit.

    Raises:
      ConfigError: naming ``config.<key>=<value>``, what it is for, the estimate, what the
        machine has free and the largest value that fits.
    """
    available = available_memory() if available is None else available
    for d in demands:
        if available.device is None:  # CPU: the devices' memory is the host's
            need, have, per_unit, fixed = (
                d.device_bytes + d.host_bytes,
                available.host,
                d.device_per_unit + d.host_per_unit,
                d.device_fixed + d.host_fixed,
            )
            where = "host memory (CPU)"
        else:
            need = -(-d.device_bytes // d.shards)
            have, per_unit, fixed = available.device, d.device_per_unit / d.shards, d.device_fixed
            where = f"memory per {available.device_name} device ({d.shards} sharing it)"
            if need <= have and d.host_bytes > available.host:
                need, have, per_unit, fixed = (
                    d.host_bytes,
                    available.host,
                    d.host_per_unit,
                    d.host_fixed,
                )
                where = "host memory (for the copies brought back)"
        if need <= have:
            continue
        fits = int((have - fixed) // per_unit) if per_unit and have > fixed else 0
        advice = (
            f"lower config.{d.key} to at most {fits:,}"
            if fits > 0
            else f"this cannot fit even with config.{d.key}=1: use a smaller model or data"
        )
        raise config_lib.ConfigError(
            f"config.{d.key}={d.value:,} needs at least {_gib(need)} for {d.what}, but the "
            f"{where} has {_gib(have)} free; {advice}"
        )


def check_training(cfg: config_lib.ExperimentConfig, image_shape, model, abstract_state) -> None:
    """Refuses a training config whose batches, evaluation or chains (the sampler section is
    checked too, so that sampling after hours of training does not fail) cannot fit."""
    demands = training_demands(cfg, image_shape, model, abstract_state)
    check(demands + sampling_demands(cfg.sampler, image_shape, cfg.model.latent_dim, model))


def check_sampling(sampler: config_lib.SamplerConfig, image_shape, latent_dim: int, model) -> None:
    """Refuses chains that cannot fit, before anything is compiled."""
    check(sampling_demands(sampler, image_shape, latent_dim, model))


def _devices(requested: int) -> int:
    return requested or len(jax.devices())


__all__ = [
    "Available",
    "Demand",
    "available_memory",
    "check",
    "check_sampling",
    "check_training",
    "sampling_demands",
    "training_demands",
]
