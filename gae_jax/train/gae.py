"""The GAE's memory bank (paper 004): one decoded code per training example, for the EM step.

Paper 004's likelihood is sum_i log (1/n) sum_j p(x_i | z_j) with z_j ~ q(z|x_j) over all n
training examples, fitted by EM. A minibatch holds B of the n components, and the log of a
minibatch mixture has a Jensen gap that depends on B (:func:`gae_jax.losses.batch_mixture_nll`).
The bank holds what an E-step over all n components needs: the decoder's logits of one code
z_j ~ q(z|x_j) per training example, drawn and decoded at the bank's last refresh (the E-step's
parameters). Scoring a minibatch against it is one float32[B, P] x float32[P, n] product, so
no example index has to travel with the batch (the streaming pipeline delivers images only).

Size: n x H x W x C float32 (12.5 MB for mnist5k, 188 MB for the 60,000 MNIST digits); it is
part of the train state, so a checkpoint holds it and a resumed run continues bit-exactly.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from gae_jax.types import ArrayTree


class GaeBank(NamedTuple):
    """The E-step's view of the n mixture components."""

    logits: jax.Array  # float32[n, H, W, C], decodings of z_j ~ q(z|x_j) at the last refresh


def init_bank(num_train: int, image_shape) -> GaeBank:
    """An empty bank of ``num_train`` components; the EM step fills it at step 0."""
    if not isinstance(num_train, int) or isinstance(num_train, bool) or num_train < 1:
        raise ValueError(f"num_train must be a positive int, got {num_train!r}")
    return GaeBank(logits=jnp.zeros((num_train, *image_shape), jnp.float32))


def refresh_bank(
    model, variables: ArrayTree, images: jax.Array, rng_key: jax.Array, *, chunk_size: int = 500
) -> GaeBank:
    """Draws z_j ~ q(z|x_j) for every training image and decodes it (population batch norm).

    Args:
      model: the Gaussian-encoder autoencoder.
      variables: its ``{"params", "batch_stats"}``.
      images: float32[n, H, W, C], the training set in a fixed order (row j is component j).
      rng_key: the refresh's key; example j's code uses ``fold_in(rng_key, j)``, so the bank
        does not depend on ``chunk_size``.
      chunk_size: examples encoded and decoded per call.
    """

    def decode_one(inputs):  # float32[H, W, C], key -> float32[H, W, C]
        x, j = inputs
        out = model.apply(
            variables, x[None], train=False, rngs={"latent": jax.random.fold_in(rng_key, j)}
        )
        return out.logits[0]

    index = jnp.arange(images.shape[0])
    logits = jax.lax.map(decode_one, (images, index), batch_size=min(chunk_size, len(images)))
    return GaeBank(logits=logits)


__all__ = ["GaeBank", "init_bank", "refresh_bank"]
