"""The kernel interface and the ``lax.scan`` driver every sampler runs on.

A sampler is a :class:`Kernel`: a pair of pure functions ``init(...) -> State`` and
``step(rng_key, state) -> (State, Info)`` over NamedTuples whose leaves all have the chain axis
first. :func:`sample_chains` runs any kernel for a number of steps and records only what its
``transform`` returns at the requested steps.

Randomness is derived so that a chain's trajectory depends only on the key, the chain's index
and the step number: step ``t`` uses ``fold_in(rng_key, t)`` and chain ``i`` inside a step uses
``fold_in(step_key, i)`` (:func:`chain_keys`). Results are therefore the same however the chain
axis is sharded across devices, whatever ``burn_in``/``thin`` record, and the first ``k`` chains
of a run are the first ``k`` chains of any larger run (unless batch norm couples the chains, see
:mod:`gae_jax.models.adapter`).

Nothing here calls ``jit``: callers put :func:`sample_chains` inside their own ``jax.jit``,
``jax.vmap`` or ``jax.grad``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, TypeVar

import jax
import jax.numpy as jnp
import numpy as np

from gae_jax.types import ArrayTree, PRNGKey

State = Any  # a NamedTuple of arrays with the chain axis first
Info = Any  # a NamedTuple of per-step diagnostics with the chain axis first
Transform = Callable[[State, Info], ArrayTree]
S = TypeVar("S")
I = TypeVar("I")  # noqa: E741
# A module's ``build_kernel`` returns ``kernel(rng_key, state, variables) -> (state, info)``.
TransitionFn = Callable[[PRNGKey, S, ArrayTree], tuple[S, I]]


class Kernel(NamedTuple):
    """A Markov transition operator as two pure functions (the blackjax shape).

    Attributes:
      init: builds the initial ``State`` of a batch of chains (e.g. from codes or images).
      step: ``step(rng_key, state) -> (state, info)``, one transition of every chain.
    """

    init: Callable[..., State]
    step: Callable[[PRNGKey, State], tuple[State, Info]]


def chain_keys(rng_key: PRNGKey, num_chains: int) -> jax.Array:
    """One key per chain, ``fold_in(rng_key, i)`` for chain ``i``: key[num_chains].

    Folding in the global chain index (instead of ``split(rng_key, num_chains)``) makes a chain's
    key independent of how many chains run and of how they are split across devices.
    """
    return jax.vmap(jax.random.fold_in, in_axes=(None, 0))(rng_key, jnp.arange(num_chains))


def record_schedule(
    num_steps: int,
    *,
    burn_in: int = 0,
    thin: int = 1,
    record_steps: Sequence[int] | None = None,
) -> tuple[int, ...]:
    """The steps (1-based; step ``t`` is the state after ``t`` transitions) that are recorded.

    Either every ``thin``-th step after ``burn_in`` (``burn_in + thin, burn_in + 2 * thin, ...``)
    or exactly ``record_steps``.
    """
    if num_steps < 0 or burn_in < 0 or thin < 1:
        raise ValueError(
            f"need num_steps >= 0, burn_in >= 0, thin >= 1; got {num_steps}, {burn_in}, {thin}"
        )
    if record_steps is None:
        return tuple(range(burn_in + thin, num_steps + 1, thin))
    if burn_in or thin != 1:
        raise ValueError("give either record_steps or burn_in/thin, not both")
    steps = tuple(int(t) for t in record_steps)
    if list(steps) != sorted(set(steps)) or (steps and not 1 <= steps[0] <= steps[-1] <= num_steps):
        raise ValueError(
            f"record_steps must be increasing and within [1, {num_steps}], got {steps}; "
            "step 0 is the initial state, which the caller already holds"
        )
    return steps


# Restart draws of a step use fold_in(step_key, _RESTART_STREAM), a value no chain index reaches
# (chain_keys folds in 0 .. num_chains - 1), so they never reuse a chain's transition key.
_RESTART_STREAM = 2**32 - 1


class GuardedState(NamedTuple):
    """State of a :func:`guard_non_finite` kernel."""

    state: State  # the wrapped kernel's state
    num_non_finite: jax.Array  # int32[chains], transitions of the chain with a non-finite result


def guard_non_finite(
    kernel: Kernel, restart: Callable[[PRNGKey, int], State] | None = None
) -> Kernel:
    """Counts the non-finite transitions of every chain and optionally restarts those chains.

    The wrapped kernel's ``Info`` must have ``is_finite: bool[chains]`` (every kernel here does).
    A chain whose transition is non-finite is counted in ``GuardedState.num_non_finite``; with
    ``restart``, its state is replaced by a fresh draw, so it goes on sampling (and, for a kernel
    with a burn-in, burns in again). The other chains are untouched: they are vmapped and never
    read another chain's state, except where minibatch batch norm shares statistics between
    chains (see :mod:`gae_jax.models.adapter`), which a non-finite chain then poisons for
    its whole tile. Without non-finite chains the guarded chains equal the unguarded ones.

    Args:
      kernel: the transition operator to guard.
      restart: ``restart(rng_key, num_chains) -> State``, fresh states for all chains, chain ``i``
        drawn from ``fold_in(rng_key, i)`` like the ``init`` helpers (e.g.
        ``lambda k, n: kernel.init(init.prior_samples(k, n, latent_dim))``); it is only
        evaluated at steps where some chain is non-finite. None only counts.

    Returns:
      A kernel over :class:`GuardedState`: ``init`` takes the wrapped kernel's arguments; ``step``
      returns the wrapped kernel's ``Info``, so ``info.is_finite`` False marks the steps at which
      a chain was counted (and restarted).
    """

    def init(*args, **kwargs) -> GuardedState:
        state = kernel.init(*args, **kwargs)
        num_chains = jax.tree.leaves(state)[0].shape[0]
        return GuardedState(state, jnp.zeros((num_chains,), jnp.int32))

    def step(rng_key: PRNGKey, guarded: GuardedState) -> tuple[GuardedState, Info]:
        state, info = kernel.step(rng_key, guarded.state)
        bad = jnp.logical_not(info.is_finite)
        if restart is not None:

            def replace_bad():
                fresh = restart(jax.random.fold_in(rng_key, _RESTART_STREAM), bad.shape[0])
                return jax.tree.map(
                    lambda f, s: jnp.where(bad.reshape(-1, *([1] * (s.ndim - 1))), f, s),
                    fresh,
                    state,
                )

            state = jax.lax.cond(bad.any(), replace_bad, lambda: state)
        return GuardedState(state, guarded.num_non_finite + bad.astype(jnp.int32)), info

    return Kernel(init=init, step=step)


def _default_transform(state: State, info: Info) -> tuple[State, Info]:
    return state, info


def sample_chains(
    rng_key: PRNGKey,
    kernel: Kernel,
    state: State,
    num_steps: int,
    *,
    burn_in: int = 0,
    thin: int = 1,
    record_steps: Sequence[int] | None = None,
    transform: Transform | None = None,
) -> tuple[State, ArrayTree]:
    """Runs ``num_steps`` transitions of every chain with one ``lax.scan``.

    Args:
      rng_key: key of this run; step ``t`` uses ``fold_in(rng_key, t)``. Use a fresh key for
        each call (continuing a chain with the same key would repeat its noise).
      kernel: the transition operator.
      state: initial state, every leaf with the chain axis first.
      num_steps: number of transitions (static).
      burn_in: transitions run before the first recorded one (static).
      thin: record every ``thin``-th state after the burn-in (static).
      record_steps: alternatively, exactly the steps to record, e.g. ``(1, 5, 10)`` (static).
      transform: ``transform(state, info) -> pytree``; what is recorded at each recorded step
        (default: ``(state, info)``). It is evaluated at recorded steps only, except under an
        outer ``jax.vmap``, where ``lax.cond`` becomes a select and it runs every step.

    Returns:
      ``(final_state, trace)``: the state after ``num_steps`` transitions, and the transform's
      outputs stacked along a new leading axis of length ``len(record_schedule(...))``. Memory
      is that of the recorded outputs plus one state, whatever ``num_steps`` is.
    """
    steps = record_schedule(num_steps, burn_in=burn_in, thin=thin, record_steps=record_steps)
    transform = _default_transform if transform is None else transform
    num_records = len(steps)
    # Row ``num_records`` of the buffer is scratch: unrecorded steps write there, so every step
    # does the same in-place update and the loop body has no data-dependent shapes.
    slots = np.full(num_steps + 1, num_records, np.int32)
    slots[list(steps)] = np.arange(num_records, dtype=np.int32)
    record_spec = jax.eval_shape(lambda s: transform(*kernel.step(rng_key, s)), state)
    zeros = lambda: jax.tree.map(lambda a: jnp.zeros(a.shape, a.dtype), record_spec)
    buffer = jax.tree.map(lambda a: jnp.zeros((num_records + 1, *a.shape), a.dtype), record_spec)

    def body(carry, xs):
        state, buffer = carry
        t, slot = xs
        state, info = kernel.step(jax.random.fold_in(rng_key, t), state)
        record = jax.lax.cond(slot < num_records, lambda: transform(state, info), zeros)
        buffer = jax.tree.map(
            lambda b, r: jax.lax.dynamic_update_index_in_dim(b, r, slot, 0), buffer, record
        )
        return (state, buffer), None

    xs = (jnp.arange(1, num_steps + 1, dtype=jnp.int32), jnp.asarray(slots[1:]))
    (state, buffer), _ = jax.lax.scan(body, (state, buffer), xs)
    return state, jax.tree.map(lambda b: b[:num_records], buffer)


__all__ = [
    "GuardedState",
    "Info",
    "Kernel",
    "State",
    "Transform",
    "TransitionFn",
    "chain_keys",
    "guard_non_finite",
    "record_schedule",
    "sample_chains",
]
