"""Reinjection sampling in pixel space with any lossy autoencoder (paper 002).

A lossy autoencoder satisfies r(x) ~= x + (lambda / 2) grad log p(x), so Alg. 1,

    x_{n+1} = r(x_n) + sqrt(lambda) * eps_n,   eps_n ~ N(0, I),   x_0 ~ N(0, I),

is approximately a Langevin chain on the data density. ``r`` is the deterministic
reconstruction (decoder mean of the code's mean); a ``reconstruct_draw`` replaces it with one
stochastic pass ``x' ~ p(x|z), z ~ q(z|x)`` (:func:`conditionals.reconstruction_draw
<gae_jax.samplers.conditionals.reconstruction_draw>`). The paper's mixing heuristic restarts
each walk at a new random point every ``R`` steps and keeps only samples produced after the
second restart (burn-in).

Bookkeeping, per chain with ``t`` transitions taken: transition ``t`` belongs to segment
``t // R``; for ``t > 0`` with ``t % R == 0`` it starts from a fresh random point instead of
``x_t`` (a restart), so every transition outputs an autoencoder sample and each segment yields
``R`` of them. Its output ``x_{t+1}`` is *kept* iff ``t // R >= burn_in_restarts`` (default 2:
segments 0 and 1, before the second restart, are discarded). Without restarts every output is
kept; use :func:`~gae_jax.samplers.base.sample_chains`' ``burn_in`` instead.

Alg. 2 labels each kept sample with a trained classifier to build a synthetic labelled data
set: :func:`label_transform` records ``(x, label, kept)`` inside the scan and
:func:`kept_dataset` gathers the kept pairs ``(X, Y)`` on the host.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from gae_jax.models.adapter import ReconstructFn
from gae_jax.samplers.base import Kernel, Transform, TransitionFn, chain_keys
from gae_jax.samplers.conditionals import ReconstructDrawFn
from gae_jax.types import ArrayTree, PRNGKey

RestartFn = Callable[..., jax.Array]  # (key, shape, dtype) -> x, e.g. jax.random.normal


class ReinjectionState(NamedTuple):
    x: jax.Array  # float32[chains, *x_shape], the current point x_t
    step: jax.Array  # int32[chains], transitions taken so far (t)


class ReinjectionInfo(NamedTuple):
    kept: jax.Array  # bool[chains], x_{t+1} is a sample (past the burn-in)
    restarted: jax.Array  # bool[chains], the transition started from a fresh random point
    recon_change: jax.Array  # float32[chains], ||r(x) - x|| for the point x fed to r
    is_finite: jax.Array  # bool[chains], every entry of x_{t+1} is finite


def init(x: jax.Array) -> ReinjectionState:
    """The state at points ``x: float32[chains, *x_shape]`` (e.g. ``starts.normal_noise``)."""
    return ReinjectionState(x, jnp.zeros(x.shape[:1], jnp.int32))


def build_kernel(
    reconstruct_fn: ReconstructFn,
    *,
    step_size: float | jax.Array,
    restart_every: int | None = None,
    burn_in_restarts: int = 2,
    restart_fn: RestartFn = jax.random.normal,
    reconstruct_draw: ReconstructDrawFn | None = None,
) -> TransitionFn[ReinjectionState, ReinjectionInfo]:
    """The transition ``kernel(rng_key, state, variables) -> (ReinjectionState, ReinjectionInfo)``.

    Args:
      reconstruct_fn: ``(variables, x) -> r(x)``, the autoencoder's reconstruction.
      step_size: lambda; the reinjected noise has standard deviation ``sqrt(lambda)``. May be a
        traced value (e.g. under ``jax.vmap`` over step sizes).
      restart_every: R, transitions per walk before jumping to a fresh point; None: never.
      burn_in_restarts: restarts that must have happened before outputs are kept.
      restart_fn: ``(key, shape, dtype) -> x`` drawing one chain's fresh point (default
        N(0, I), as in the paper).
      reconstruct_draw: ``(keys: key[chains], variables, x) -> x'``, a stochastic
        reconstruction used instead of ``reconstruct_fn`` (its keys are derived with
        ``fold_in``, so the deterministic kernel's randomness is unchanged); None: r(x).
    """
    if restart_every is not None and restart_every < 1:
        raise ValueError(f"restart_every must be positive or None, got {restart_every}")
    if burn_in_restarts < 0:
        raise ValueError(f"burn_in_restarts must be >= 0, got {burn_in_restarts}")

    def kernel(rng_key: PRNGKey, state: ReinjectionState, variables: ArrayTree):
        x, t = state
        keys = jax.vmap(lambda k: jax.random.split(k, 2))(chain_keys(rng_key, x.shape[0]))
        if restart_every is None:
            restarted = jnp.zeros_like(t, dtype=bool)
            kept = jnp.ones_like(t, dtype=bool)
        else:
            restarted = (t > 0) & (t % restart_every == 0)
            kept = t // restart_every >= burn_in_restarts
            fresh = jax.vmap(lambda k: restart_fn(k, x.shape[1:], x.dtype))(keys[:, 0])
            x = jnp.where(restarted.reshape(-1, *([1] * (x.ndim - 1))), fresh, x)
        if reconstruct_draw is None:
            recon = reconstruct_fn(variables, x)
        else:
            recon_keys = jax.vmap(lambda k: jax.random.fold_in(k, 2))(
                chain_keys(rng_key, x.shape[0])
            )
            recon = reconstruct_draw(recon_keys, variables, x)
        eps = jax.vmap(lambda k: jax.random.normal(k, x.shape[1:], x.dtype))(keys[:, 1])
        new_x = recon + jnp.sqrt(step_size) * eps
        info = ReinjectionInfo(
            kept=kept,
            restarted=restarted,
            recon_change=jnp.linalg.norm((recon - x).reshape(x.shape[0], -1), axis=1),
            is_finite=jnp.isfinite(new_x.reshape(x.shape[0], -1)).all(axis=1),
        )
        return ReinjectionState(new_x, t + 1), info

    return kernel


def reinjection_chain(
    reconstruct_fn: ReconstructFn,
    variables: ArrayTree,
    *,
    step_size: float | jax.Array,
    restart_every: int | None = None,
    burn_in_restarts: int = 2,
    restart_fn: RestartFn = jax.random.normal,
    reconstruct_draw: ReconstructDrawFn | None = None,
) -> Kernel:
    """Paper 002 Alg. 1 with the restart heuristic as a Kernel; ``Kernel.init(x0)``.

    See :func:`build_kernel` for the arguments and the module docstring for the bookkeeping.
    """
    kernel = build_kernel(
        reconstruct_fn,
        step_size=step_size,
        restart_every=restart_every,
        burn_in_restarts=burn_in_restarts,
        restart_fn=restart_fn,
        reconstruct_draw=reconstruct_draw,
    )
    return Kernel(init=init, step=lambda rng_key, state: kernel(rng_key, state, variables))


def steps_for_samples(
    num_samples: int, num_chains: int, restart_every: int | None, burn_in_restarts: int = 2
) -> int:
    """Transitions needed for ``num_chains`` chains to produce ``num_samples`` kept samples."""
    burn_in = 0 if restart_every is None else restart_every * burn_in_restarts
    return burn_in + -(-num_samples // num_chains)


class LabelledSamples(NamedTuple):
    x: jax.Array  # float32[records, chains, *x_shape], the samples
    y: jax.Array  # float32[records, chains, K], the classifier's soft labels or logits
    kept: jax.Array  # bool[records, chains], past the burn-in


def label_transform(
    classifier_fn: Callable[[jax.Array], jax.Array], *, soft_labels: bool = True
) -> Transform:
    """A ``sample_chains`` transform for Alg. 2: records each sample with its label.

    Args:
      classifier_fn: ``x: float32[chains, *x_shape] -> logits: float32[chains, K]``.
      soft_labels: record ``softmax(logits)`` (True) or the logits themselves.
    """

    def transform(state: ReinjectionState, info: ReinjectionInfo) -> LabelledSamples:
        logits = classifier_fn(state.x)
        y = jax.nn.softmax(logits, axis=-1) if soft_labels else logits
        return LabelledSamples(state.x, y, info.kept)

    return transform


def kept_dataset(
    samples: LabelledSamples, num_samples: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The kept ``(X, Y)`` pairs of Alg. 2 as host arrays, in step-major order.

    Args:
      samples: the trace of ``sample_chains(..., transform=label_transform(...))``.
      num_samples: keep only the first ``num_samples`` (error if fewer were produced).

    Returns:
      ``X: float32[n, *x_shape]`` and ``Y: float32[n, K]``.
    """
    kept = np.asarray(samples.kept)
    x, y = np.asarray(samples.x)[kept], np.asarray(samples.y)[kept]
    if num_samples is not None:
        if len(x) < num_samples:
            raise ValueError(
                f"only {len(x)} kept samples, {num_samples} requested; run more steps "
                "(see steps_for_samples)"
            )
        x, y = x[:num_samples], y[:num_samples]
    return x, y


__all__ = [
    "LabelledSamples",
    "ReinjectionInfo",
    "ReinjectionState",
    "build_kernel",
    "init",
    "kept_dataset",
    "label_transform",
    "reinjection_chain",
    "steps_for_samples",
]
