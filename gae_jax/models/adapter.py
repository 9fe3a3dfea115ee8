"""THE adapter from a Flax :class:`~gae_jax.models.Autoencoder` to pure functions.

Samplers, evaluation measures and jobs never see a Flax module. They take pure functions whose
first (or second) argument is the model's variables ``{'params': ..., 'batch_stats': ...}``, so
the variables stay explicit arguments of whatever the caller traces (no recompilation when
weights change; ``jax.grad`` with respect to them works) and tests can plug in analytic models
instead. :class:`AutoencoderFns` names each function by what it returns:

* ``encode(variables, x) -> Posterior``: the parameters (mean, log_var) of q(z|x);
* ``sample_code(keys: key[chains], variables, x) -> float32[chains, D]``: a draw from q(z|x),
  one key per chain (the mean for deterministic encoders);
* ``decode_logits(variables, z: float32[chains, D]) -> float32[chains, *x_shape]``: the
  decoder's Bernoulli logits (what the likelihoods and losses take);
* ``decode_mean(variables, z) -> float32[chains, *x_shape]``: the decoder mean
  E[x|z] = sigmoid(logits) (what chains and figures show);
* ``reconstruct_mean(variables, x) -> float32[chains, *x_shape]``: the deterministic
  reconstruction E[x | z = mean of q(z|x)] used by pixel-space samplers.

Evaluation measures take the variables bound: ``functools.partial(fns.encode, variables)``.

Batch norm at sampling time (``batch_stats_mode``):

* ``'population'``: the stored running statistics (``train=False``); chains are independent.
* ``'minibatch'`` (paper 000 Sec. 5): normalise with the statistics of the chains themselves
  (``train=True``), which partially compensates for inputs far from the training data. The
  chain axis is cut into consecutive tiles of ``bn_tile_size`` chains (chains ``[0, T)``,
  ``[T, 2T)``, ...), each normalised by its own statistics, so a chain's result depends only on
  its tile; ``bn_tile_size=None`` (or a tile larger than the batch) makes all chains of a call
  one batch. With the chain axis sharded across devices, a batch spanning several devices gets
  its statistics by a cross-device reduction that XLA inserts. Updated statistics are
  discarded, never written back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import flax.linen as nn
import jax

from gae_jax.models.autoencoder import Autoencoder, Posterior
from gae_jax.types import ArrayTree

BATCH_STATS_MODES = ("population", "minibatch")

PosteriorFn = Callable[[ArrayTree, jax.Array], Posterior]
DecodeFn = Callable[[ArrayTree, jax.Array], jax.Array]
EncodeFn = Callable[[jax.Array, ArrayTree, jax.Array], jax.Array]
ReconstructFn = Callable[[ArrayTree, jax.Array], jax.Array]


class AutoencoderFns(NamedTuple):
    """The pure functions of one autoencoder (see the module docstring for signatures)."""

    encode: PosteriorFn
    sample_code: EncodeFn
    decode_logits: DecodeFn
    decode_mean: DecodeFn
    reconstruct_mean: ReconstructFn


def sample_posterior(keys: jax.Array, posterior: Posterior) -> jax.Array:
    """A reparameterised draw per chain from q(z|x): float32[chains, D]; the mean if deterministic."""
    return jax.vmap(lambda key, mean, log_var: Posterior(mean, log_var).sample(key))(
        keys, posterior.mean, posterior.log_var
    )


def autoencoder_fns(
    model: Autoencoder,
    *,
    batch_stats_mode: str = "population",
    bn_tile_size: int | None = None,
) -> AutoencoderFns:
    """Wraps ``model`` into :class:`AutoencoderFns` with the given batch-norm behaviour.

    Args:
      model: the autoencoder module (static; its variables are passed to each function).
      batch_stats_mode: ``'population'`` or ``'minibatch'`` (see the module docstring).
      bn_tile_size: in minibatch mode, the number of consecutive chains that share batch
        statistics; it must divide the number of chains, or exceed it (one batch). None: all
        chains form one batch.
    """
    if batch_stats_mode not in BATCH_STATS_MODES:
        raise ValueError(
            f"batch_stats_mode must be one of {BATCH_STATS_MODES}, got {batch_stats_mode!r}"
        )
    if bn_tile_size is not None and bn_tile_size < 1:
        raise ValueError(f"bn_tile_size must be positive or None, got {bn_tile_size}")
    minibatch = batch_stats_mode == "minibatch"

    def apply(variables, x, method, **kwargs):
        if not minibatch:
            return model.apply(variables, x, train=False, method=method, **kwargs)

        def apply_batch(x):
            out, _ = model.apply(
                variables, x, train=True, method=method, mutable=["batch_stats"], **kwargs
            )
            return out  # the updated statistics are dropped: sampling never changes the model

        n = x.shape[0]
        if bn_tile_size is None or n <= bn_tile_size:
            return apply_batch(x)
        if n % bn_tile_size:
            raise ValueError(f"bn_tile_size={bn_tile_size} does not divide the {n} chains")
        tiles = x.reshape(n // bn_tile_size, bn_tile_size, *x.shape[1:])
        out = jax.vmap(apply_batch)(tiles)
        return jax.tree.map(lambda a: a.reshape(n, *a.shape[2:]), out)

    def encode(variables, x):
        return apply(variables, x, Autoencoder.encode)

    def sample_code(keys, variables, x):
        return sample_posterior(keys, encode(variables, x))

    def decode_logits(variables, z):
        return apply(variables, z, Autoencoder.decode)

    def decode_mean(variables, z):
        return nn.sigmoid(decode_logits(variables, z))

    def reconstruct_mean(variables, x):
        return nn.sigmoid(apply(variables, x, Autoencoder.__call__, sample=False).logits)

    return AutoencoderFns(encode, sample_code, decode_logits, decode_mean, reconstruct_mean)


def model_variables(state) -> dict[str, ArrayTree]:
    """``{'params', 'batch_stats'}`` of a training state (anything with those attributes)."""
    return {"params": state.params, "batch_stats": state.batch_stats}


__all__ = [
    "BATCH_STATS_MODES",
    "AutoencoderFns",
    "DecodeFn",
    "EncodeFn",
    "PosteriorFn",
    "ReconstructFn",
    "autoencoder_fns",
    "model_variables",
    "sample_posterior",
]
