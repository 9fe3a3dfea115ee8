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
import jax.numpy as jnp

from gae_jax import hardware
from gae_jax.models.autoencoder import Autoencoder, Posterior
from gae_jax.models.mlp import MLPDecoder, MLPEncoder
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


def map_chain_tiles(fn: Callable, x: jax.Array, tile_size: int, num_shards: int = 1):
    """``fn(x)`` computed tile by tile: ``fn`` over consecutive tiles of ``tile_size`` chains
    of each of ``num_shards`` equal shards of the chain axis, one tile after another
    (``lax.map``; the shards side by side, so a sharded chain axis stays on its devices).

    Exact where ``fn`` treats chains independently, or couples them only within groups that
    divide both ``tile_size`` and the shard: every chain's output is computed from the same
    inputs by the same operations. For the library's MLPs at the automatic tile size the
    results are bitwise the untiled ones on XLA:CPU (tests/samplers/test_chain_tiling.py);
    otherwise XLA may compile another row count differently (another dot kernel for a few
    rows, another convolution algorithm, a multiply-add fused into an FMA or not), so they
    agree to float rounding. The last tile of a shard is padded with copies of its last
    chain, which are dropped. A chain count that ``num_shards`` does not divide is tiled as
    one shard.

    Args:
      fn: ``float[chains, ...] -> pytree of float[chains, ...]``.
      x: float[chains, ...].
      tile_size: chains per tile (positive).
      num_shards: shards of the chain axis (the devices it is split across).

    Returns:
      ``fn(x)``'s pytree, every leaf float[chains, ...].
    """
    n = x.shape[0]
    shards = num_shards if n % num_shards == 0 else 1
    per_shard = n // shards
    if per_shard <= tile_size:
        return fn(x)
    num_tiles = -(-per_shard // tile_size)
    xs = x.reshape(shards, per_shard, *x.shape[1:])
    pad = num_tiles * tile_size - per_shard
    if pad:
        xs = jnp.concatenate([xs, jnp.repeat(xs[:, -1:], pad, axis=1)], axis=1)
    # Tile j of every shard side by side, as one batch of shards * tile_size chains: each
    # device computes its own tile, and fn sees a plain batch (a vmap over the shards would
    # turn its matmuls into batched ones, which XLA computes with other kernels).
    xs = jnp.swapaxes(xs.reshape(shards, num_tiles, tile_size, *x.shape[1:]), 0, 1)
    out = jax.lax.map(lambda t: fn(t.reshape(shards * tile_size, *x.shape[1:])), xs)

    def untile(a):  # [num_tiles, shards * tile_size, ...] -> [n, ...]
        a = jnp.swapaxes(a.reshape(num_tiles, shards, tile_size, *a.shape[2:]), 0, 1)
        return a.reshape(shards, num_tiles * tile_size, *a.shape[3:])[:, :per_shard].reshape(
            n, *a.shape[3:]
        )

    return jax.tree.map(untile, out)


def _tile_size(
    chain_tile_size: int | None,
    chains_per_shard: int,
    bn_tile_size: int | None,
    coupled: bool,
    dense: bool = True,
) -> int:
    """The chains per tile of :func:`autoencoder_fns`'s ``chain_tile_size`` (0: untiled);
    ``dense``: the networks are MLPs (the only ones the automatic rule tiles)."""
    if chain_tile_size is None or (chain_tile_size == 0 and not dense):
        return 0
    tile = chain_tile_size or hardware.auto_chain_tile_size(chains_per_shard)
    if not coupled or not tile:
        return tile
    if bn_tile_size is None or chains_per_shard % bn_tile_size:
        if chain_tile_size == 0:
            return 0
        raise ValueError(
            f"chain_tile_size={chain_tile_size} with minibatch batch norm needs statistics "
            f"groups (bn_tile_size={bn_tile_size}) that divide the {chains_per_shard} chains of "
            "a shard; valid: chain_tile_size=0 (automatic: untiled here), or such a bn_tile_size"
        )
    if chain_tile_size == 0:
        return max(bn_tile_size, tile // bn_tile_size * bn_tile_size)
    if tile % bn_tile_size:
        raise ValueError(
            f"chain_tile_size={chain_tile_size} must be a multiple of bn_tile_size="
            f"{bn_tile_size}, so that a tile holds whole batch-statistics groups"
        )
    return tile


def autoencoder_fns(
    model: Autoencoder,
    *,
    batch_stats_mode: str = "population",
    bn_tile_size: int | None = None,
    chain_tile_size: int | None = None,
    num_shards: int = 1,
) -> AutoencoderFns:
    """Wraps ``model`` into :class:`AutoencoderFns` with the given batch-norm behaviour.

    Args:
      model: the autoencoder module (static; its variables are passed to each function).
      batch_stats_mode: ``'population'`` or ``'minibatch'`` (see the module docstring).
      bn_tile_size: in minibatch mode, the number of consecutive chains that share batch
        statistics; it must divide the number of chains, or exceed it (one batch). None: all
        chains form one batch.
      chain_tile_size: run the network over tiles of this many consecutive chains of each
        shard, one after another (:func:`map_chain_tiles`), so its matmuls run at a size that
        stays in cache; 0: :func:`gae_jax.hardware.auto_chain_tile_size` for MLPs (measured
        faster and bitwise exact), untiled for conv nets (XLA picks convolution algorithms by
        batch size, so their tiled results differ by float rounding); None: untiled. Where
        minibatch batch norm couples chains, a tile holds whole statistics groups: it must be
        a multiple of ``bn_tile_size`` (0 rounds the automatic tile to one), and chains coupled
        all together (``bn_tile_size`` None) are never tiled.
      num_shards: the devices the chain axis is split across (tiles never straddle two).
    """
    if batch_stats_mode not in BATCH_STATS_MODES:
        raise ValueError(
            f"batch_stats_mode must be one of {BATCH_STATS_MODES}, got {batch_stats_mode!r}"
        )
    if bn_tile_size is not None and bn_tile_size < 1:
        raise ValueError(f"bn_tile_size must be positive or None, got {bn_tile_size}")
    if chain_tile_size is not None and chain_tile_size < 0:
        raise ValueError(f"chain_tile_size must be >= 0 or None, got {chain_tile_size}")
    minibatch = batch_stats_mode == "minibatch"
    dense = isinstance(model.encoder, MLPEncoder) and isinstance(model.decoder, MLPDecoder)

    def apply(variables, x, method, **kwargs):
        coupled = minibatch and bool(jax.tree.leaves(variables.get("batch_stats", {})))
        per_shard = x.shape[0] // (num_shards if x.shape[0] % num_shards == 0 else 1)
        tile = _tile_size(chain_tile_size, per_shard, bn_tile_size, coupled, dense)
        group = lambda x: apply_group(variables, x, method, **kwargs)  # noqa: E731
        return map_chain_tiles(group, x, tile, num_shards) if tile else group(x)

    def apply_group(variables, x, method, **kwargs):
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
    "map_chain_tiles",
    "model_variables",
    "sample_posterior",
]
