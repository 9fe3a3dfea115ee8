"""The pieces of the training loop that do not depend on a config: compiling the step over a
data-parallel mesh, the dispatch schedule, and the non-finite check before a checkpoint.

The loop itself, ``train_and_evaluate(config, workdir)``, is the training job
(:mod:`gae_jax.jobs.train`): it builds these pieces from a config.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from gae_jax import config as config_lib
from gae_jax import data, parallel
from gae_jax.train import steps


def jit_train_steps(
    step_fn: steps.StepFn, mesh: Mesh, *, topology_exact: bool = False, inputs: tuple = ()
):
    """``step_fn`` over a stack of batches (:func:`steps.scan_steps`), compiled data-parallel.

    Returns ``train_steps(state, batches: float32[K, B, H, W, C], rng_key) -> (state,
    metrics[K])`` with the state replicated over ``mesh`` and donated (updated in place), and
    every batch split along B over the ``data`` axis. Its ``lower`` takes the same arguments.

    Args:
      topology_exact: False: each device computes its share of the batch and XLA inserts the
        all-reduces of the gradients, loss means and batch-norm statistics, whose summation
        order depends on the collective's implementation (in-process vs gloo/NCCL across
        processes), so runs on different topologies agree up to float rounding. True: the
        batch is all-gathered (a copy, exact) and every device computes the whole step, so the
        compiled step holds no all-reduce and its results are bitwise the same on any number
        of devices and processes; each device then does the work of the whole batch.
      inputs: arrays every step receives after its key (``step_fn(state, batch, rng_key,
        *inputs)``; the GAE EM step's training set), host values the same on every process.
        They are replicated over ``mesh`` once and passed to the compiled step as arguments,
        not baked into it as constants.
    """
    replicated = NamedSharding(mesh, PartitionSpec())
    batches = NamedSharding(mesh, PartitionSpec(None, "data"))
    if topology_exact:
        inner = step_fn

        def step_fn(state, batch, rng_key, *inputs):
            batch = jax.lax.with_sharding_constraint(batch, replicated)
            return inner(state, batch, rng_key, *inputs)

    placed = parallel.replicate(tuple(inputs), mesh)
    jitted = parallel.compile_then_align(
        jax.jit(
            steps.scan_steps(step_fn),
            in_shardings=(replicated, batches, replicated) + (replicated,) * len(placed),
            out_shardings=replicated,
            donate_argnums=0,
        ),
        "jit_train_steps",
    )

    def train_steps(state, batches, rng_key):
        return jitted(state, batches, rng_key, *placed)

    train_steps.lower = lambda state, batches, rng_key: jitted.lower(
        state, batches, rng_key, *placed
    )
    return train_steps


def make_evaluate(eval_step, mesh: Mesh, batch_size: int):
    """``evaluate(state, images, rng_key) -> {name: mean}``: the means of ``eval_step``'s
    per-example metrics over ``images``, with every batch split over ``mesh``'s ``data`` axis.

    Each batch's per-example values are all-gathered (a copy, exact) and summed on the device in
    one fixed order, so the means are bitwise the same however the mesh's devices are spread
    over processes (the per-example values themselves may round differently with another number
    of devices, i.e. another per-device batch); the per-batch sums stay on the devices until one
    transfer at the end (no host round trip per batch).

    Args:
      eval_step: ``(state, batch: float32[b, H, W, C], rng_key) -> {name: float32[b]}``
        (:func:`steps.make_eval_step`), unjitted.
      mesh: the training mesh (a ``data`` axis).
      batch_size: examples per batch, rounded up to a multiple of the mesh's device count.

    Returns:
      ``evaluate``, whose attribute ``batch_sums(state, batch, num_valid, rng_key)`` is the
      jitted function of one batch (for inspecting its compiled sharding).
    """
    replicated = NamedSharding(mesh, PartitionSpec())
    split = NamedSharding(mesh, PartitionSpec("data"))
    batch_size = parallel.padded_size(batch_size, mesh)

    def batch_sums(state, batch, num_valid, rng_key):
        metrics = eval_step(state, batch, rng_key)
        valid = jnp.arange(batch.shape[0]) < num_valid
        gathered = jax.lax.with_sharding_constraint(metrics, replicated)
        return {k: jnp.sum(jnp.where(valid, v, 0.0)) for k, v in gathered.items()}

    compiled = parallel.compile_then_align(
        jax.jit(
            batch_sums,
            in_shardings=(replicated, split, replicated, replicated),
            out_shardings=replicated,
        ),
        "make_evaluate",
    )

    def evaluate(state, images: np.ndarray, rng_key) -> dict[str, float]:
        sums = [
            compiled(
                state,
                parallel.shard_host_array(batch, split),
                np.int32(valid),
                jax.random.fold_in(rng_key, i),
            )
            for i, (batch, valid) in enumerate(data.iterate_batches(images, batch_size))
        ]
        totals = jax.device_get(sums)  # one transfer for all batches
        return {k: math.fsum(float(s[k]) for s in totals) / len(images) for k in totals[0]}

    evaluate.batch_sums = compiled  # one batch's jitted sums, for inspecting its sharding
    return evaluate


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


__all__ = ["check_finite", "dispatch_end", "jit_train_steps", "make_evaluate"]
