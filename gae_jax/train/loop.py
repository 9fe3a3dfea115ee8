"""The pieces of the training loop that do not depend on a config: compiling the step over a
data-parallel mesh, the dispatch schedule, and the non-finite check before a checkpoint.

The loop itself, ``train_and_evaluate(config, workdir)``, is the training job
(:mod:`gae_jax.jobs.train`): it builds these pieces from a config.
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from gae_jax import config as config_lib
from gae_jax.train import steps


def jit_train_steps(step_fn: steps.StepFn, mesh: Mesh):
    """``step_fn`` over a stack of batches (:func:`steps.scan_steps`), compiled data-parallel.

    Returns ``train_steps(state, batches: float32[K, B, H, W, C], rng_key) -> (state,
    metrics[K])`` with the state replicated over ``mesh`` and donated (updated in place), and
    every batch split along B over the ``data`` axis; XLA inserts the gradient all-reduce.
    """
    replicated = NamedSharding(mesh, PartitionSpec())
    batches = NamedSharding(mesh, PartitionSpec(None, "data"))
    return jax.jit(
        steps.scan_steps(step_fn),
        in_shardings=(replicated, batches, replicated),
        out_shardings=replicated,
        donate_argnums=0,
    )


def dispatch_end(step: int, train_cfg: config_lib.TrainConfig, eval_every: int) -> int:
    """The step that one dispatch from ``step`` runs up to: at most ``steps_per_dispatch``
    steps, aligned to multiples of it, and never past a step that logs, evaluates or
    checkpoints. Dispatches are a function of the step number alone, so a resumed run
    repeats the uninterrupted run's dispatches (and its floating-point results)."""
    t = train_cfg
    everies = (t.steps_per_dispatch, t.log_every, t.checkpoint_every, eval_every)
    return min([t.num_steps] + [(step // every + 1) * every for every in everies])


_all_finite = jax.jit(steps.all_finite)


def check_finite(step: int, checked_step: int, family: str, metrics: dict, state, ckpt) -> None:
    """Stops before a non-finite state can be checkpointed, so the latest checkpoint stays good.

    Args:
      step: the step just completed.
      checked_step: the last step whose state was seen to be finite (the previous check).
    """
    bad = {k: v for k, v in metrics.items() if not np.isfinite(v)}
    if bad or not bool(_all_finite(state)):
        what = f"loss metrics {bad}" if bad else "parameters or optimiser state"
        latest = ckpt.latest_step()
        resume = (
            f"the latest checkpoint, step {latest} in {ckpt.directory}, is good; rerunning resumes "
            "from it"
            if latest is not None
            else f"no checkpoint was written yet (in {ckpt.directory})"
        )
        raise FloatingPointError(
            f"non-finite {what} at step {step} while training family {family!r} (finite at step "
            f"{checked_step}; checked every log_every / checkpoint_every steps). {resume}. Lower "
            "the learning rate or check the data, or set --config.train.on_non_finite=skip to "
            "skip the updates of such batches."
        )


__all__ = ["check_finite", "dispatch_end", "jit_train_steps"]
