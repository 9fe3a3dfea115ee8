"""Monte-Carlo estimates of log p(x) for latent-variable models with a Bernoulli decoder.

* :func:`importance_sampled_log_likelihood` -- the importance-weighted estimate with a Gaussian
  encoder as proposal (Burda et al.'s IWAE bound; exact as K -> infinity):
  log p(x) ~= logsumexp_k[log p(x|z_k) + log p(z_k) - log q(z_k|x)] - log K,  z_k ~ q(z|x).
* :func:`prior_sampled_log_likelihood` -- paper 004's "approximated log likelihood":
  log p(x) ~= log (1/K) sum_k p(x|z_k),  z_k ~ p(z). It needs no encoder, so it applies to any
  prior (a GAE's aggregate posterior included), but its variance grows quickly with the latent
  dimension.

Both are consistent but biased low for finite K (Jensen). p(x|z) is the Bernoulli likelihood of
the decoder's logits, which is a proper likelihood for binary x (e.g. binarised MNIST); for grey
values in [0, 1] it is the usual cross-entropy surrogate.

The functions take pure callables (see :mod:`gae_jax.evaluation.common`):
``encode_fn(x) -> (mean, log_var)``, ``decode_fn(z) -> logits``, ``prior_log_prob(z) -> [...]``
(summed over the latent axis) and ``prior_sample(key, n) -> float32[n, D]``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp

from gae_jax.evaluation.common import DecodeFn, EncodeFn
from gae_jax.losses import bernoulli_nll

_LOG_2PI = math.log(2.0 * math.pi)


def importance_sampled_log_likelihood(
    rng_key: jax.Array,
    x: jax.Array,
    encode_fn: EncodeFn,
    decode_fn: DecodeFn,
    prior_log_prob: Callable[[jax.Array], jax.Array],
    *,
    num_samples: int,
    sample_batch_size: int = 100,
) -> jax.Array:
    """Importance-sampled log p(x) with the Gaussian encoder q(z|x) as proposal.

    Args:
      rng_key: a ``jax.random.key``.
      x: float32[B, H, W, C] data in [0, 1].
      encode_fn: ``x -> (mean, log_var)``, each float32[B, D]; ``log_var`` must not be None.
      decode_fn: ``z: float32[B, D] -> logits: float32[B, H, W, C]``.
      prior_log_prob: ``z: float32[..., D] -> float32[...]``.
      num_samples: K, importance samples per example.
      sample_batch_size: importance samples decoded per decoder call (memory: this many
        copies of the batch).

    Returns:
      float32[B]: the estimate of log p(x) per example (negate and average for an NLL).
    """
    mean, log_var = encode_fn(x)
    if log_var is None:
        raise ValueError(
            "importance sampling needs a Gaussian encoder (log_var is None: the encoder is "
            "deterministic); use prior_sampled_log_likelihood instead"
        )
    std = jnp.exp(0.5 * log_var)

    def log_weight(key):  # -> float32[B]
        eps = jax.random.normal(key, mean.shape, mean.dtype)
        z = mean + std * eps
        # log q(z|x) through eps = (z - mean) / std, which avoids dividing by a tiny std.
        log_q = -0.5 * jnp.sum(jnp.square(eps) + log_var + _LOG_2PI, axis=-1)
        return -bernoulli_nll(decode_fn(z), x) + prior_log_prob(z) - log_q

    keys = jax.random.split(rng_key, num_samples)
    log_w = jax.lax.map(log_weight, keys, batch_size=min(sample_batch_size, num_samples))
    return jax.nn.logsumexp(log_w, axis=0) - jnp.log(num_samples)


def bernoulli_log_prob_matrix(x: jax.Array, logits: jax.Array) -> jax.Array:
    """log p(x_b | logits_k) for every pair, as one matmul.

    Uses log Bern(x; sigmoid(l)) = x * l + log sigmoid(-l), summed over pixels, so K decoded
    codes score B examples with a [B, P] x [P, K] product instead of B * K cross-entropies.

    Args:
      x: float32[B, ...] targets in [0, 1].
      logits: float32[K, ...] decoder logits with the same trailing shape.

    Returns:
      float32[B, K].
    """
    x_flat = x.reshape(x.shape[0], -1)
    logits_flat = logits.reshape(logits.shape[0], -1)
    return x_flat @ logits_flat.T + jnp.sum(jax.nn.log_sigmoid(-logits_flat), axis=-1)


def code_log_likelihood_matrix(
    rng_key: jax.Array,
    x: jax.Array,
    images: jax.Array,
    encode_fn: EncodeFn,
    decode_fn: DecodeFn,
    *,
    chunk_size: int = 500,
) -> jax.Array:
    """log p(x_b | z_j) for one code z_j ~ q(z|images_j) per image: the GAE's mixture terms.

    ``logsumexp`` over j minus log n is paper 004's log (1/n) sum_j p(x_b|z_j) with the n
    training images as ``images`` (:func:`gae_jax.losses.full_mixture_nll`).

    Args:
      rng_key: a ``jax.random.key``; image j's code uses ``fold_in(rng_key, j)``.
      x: float32[B, H, W, C] targets in [0, 1].
      images: float32[n, H, W, C], the images whose codes are the mixture components.
      encode_fn: ``x -> (mean, log_var)`` (``log_var`` None: the mean is the code).
      decode_fn: ``z: float32[n, D] -> logits: float32[n, H, W, C]``.
      chunk_size: images encoded and decoded per call.

    Returns:
      float32[B, n].
    """

    def logits_of(inputs):  # one image and its index -> float32[H, W, C]
        image, j = inputs
        mean, log_var = encode_fn(image[None])
        z = mean
        if log_var is not None:
            eps = jax.random.normal(jax.random.fold_in(rng_key, j), mean.shape, mean.dtype)
            z = mean + jnp.exp(0.5 * log_var) * eps
        return decode_fn(z)[0]

    index = jnp.arange(images.shape[0])
    logits = jax.lax.map(logits_of, (images, index), batch_size=min(chunk_size, len(images)))
    return bernoulli_log_prob_matrix(x, logits)


def prior_sampled_log_likelihood(
    rng_key: jax.Array,
    x: jax.Array,
    decode_fn: DecodeFn,
    prior_sample: Callable[[jax.Array, int], jax.Array],
    *,
    num_samples: int,
    sample_batch_size: int = 1000,
) -> jax.Array:
    """Paper 004's approximate log-likelihood: log (1/K) sum_k p(x|z_k) with z_k ~ p(z).

    The same K prior codes score every example in ``x`` (each per-example estimate is still the
    paper's estimator; sharing makes the cost one decode per code instead of per pair).

    Args:
      rng_key: a ``jax.random.key``.
      x: float32[B, H, W, C] data in [0, 1].
      decode_fn: ``z: float32[n, D] -> logits: float32[n, H, W, C]``.
      prior_sample: ``(key, n) -> float32[n, D]``.
      num_samples: K, prior samples.
      sample_batch_size: codes decoded per decoder call.

    Returns:
      float32[B]: the estimate of log p(x) per example.
    """
    chunk = min(sample_batch_size, num_samples)
    num_chunks = -(-num_samples // chunk)

    def score_chunk(inputs):  # -> float32[B], logsumexp over this chunk's codes
        key, first = inputs
        log_p = bernoulli_log_prob_matrix(x, decode_fn(prior_sample(key, chunk)))
        # The last chunk may run past K; its extra codes are left out of the sum.
        valid = first + jnp.arange(chunk) < num_samples
        return jax.nn.logsumexp(log_p, axis=1, where=valid[None, :])

    keys = jax.random.split(rng_key, num_chunks)
    per_chunk = jax.lax.map(score_chunk, (keys, jnp.arange(num_chunks) * chunk))
    return jax.nn.logsumexp(per_chunk, axis=0) - jnp.log(num_samples)
