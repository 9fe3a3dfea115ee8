"""Losses. Per-example functions return float32[B] so callers choose how to reduce."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

RECONSTRUCTION_LOSSES = ("bce", "mse")


def _sum_per_example(x: jax.Array) -> jax.Array:
    return x.reshape(x.shape[0], -1).sum(axis=-1)


def bernoulli_nll(logits: jax.Array, x: jax.Array) -> jax.Array:
    """-log p(x | logits) summed over pixels: binary cross-entropy from logits.

    Args:
      logits: float32[B, ...] decoder outputs before the sigmoid.
      x: float32[B, ...] targets in [0, 1] (need not be binary).

    Returns:
      float32[B].
    """
    return _sum_per_example(optax.sigmoid_binary_cross_entropy(logits, x))


def squared_error(logits: jax.Array, x: jax.Array) -> jax.Array:
    """Sum over pixels of (sigmoid(logits) - x)^2, float32[B]."""
    return _sum_per_example(jnp.square(jax.nn.sigmoid(logits) - x))


def mean_squared_error(logits: jax.Array, x: jax.Array) -> jax.Array:
    """Per-pixel mean of (sigmoid(logits) - x)^2, float32[B] (the papers' reconstruction MSE)."""
    return squared_error(logits, x) / (x.size // x.shape[0])


def reconstruction_loss(name: str):
    """``bce`` -> :func:`bernoulli_nll`, ``mse`` -> :func:`squared_error`."""
    if name not in RECONSTRUCTION_LOSSES:
        raise ValueError(
            f"reconstruction loss must be one of {RECONSTRUCTION_LOSSES}, got {name!r}"
        )
    return {"bce": bernoulli_nll, "mse": squared_error}[name]


def gaussian_kl(mean: jax.Array, log_var: jax.Array) -> jax.Array:
    """KL(N(mean, exp(log_var)) || N(0, I)) summed over latent dimensions, float32[B]."""
    return 0.5 * jnp.sum(jnp.square(mean) + jnp.exp(log_var) - 1.0 - log_var, axis=-1)


def discriminator_loss(real_logits: jax.Array, fake_logits: jax.Array) -> jax.Array:
    """-log D(z_real) - log(1 - D(z_fake)) per pair (paper 001 Alg. 1, line 14), float32[B].

    Args:
      real_logits: float32[B], discriminator logits of prior samples.
      fake_logits: float32[B], discriminator logits of encodings.
    """
    return jax.nn.softplus(-real_logits) + jax.nn.softplus(fake_logits)


def generator_loss(fake_logits: jax.Array) -> jax.Array:
    """The non-saturating prior-matching loss -log D(z_fake), float32[B].

    Paper 001 writes log(1 - D(z_fake)), whose gradient vanishes while the discriminator still
    rejects the encodings; -log D has the same fixed point and strong early gradients.
    """
    return jax.nn.softplus(-fake_logits)


def pairwise_reconstruction_loss(name: str, logits: jax.Array, x: jax.Array) -> jax.Array:
    """``reconstruction_loss(name)`` of every target against every decoded code.

    Args:
      name: ``bce`` or ``mse`` (see :func:`reconstruction_loss`).
      logits: float32[Bz, ...], decodings of Bz codes.
      x: float32[Bx, ...], targets.

    Returns:
      float32[Bx, Bz] with entry [i, j] = loss(logits_j, x_i) = -log p(x_i | z_j) (up to a
      constant for ``mse``), computed with matrix products instead of Bx * Bz decodings.
    """
    if name not in RECONSTRUCTION_LOSSES:
        raise ValueError(
            f"reconstruction loss must be one of {RECONSTRUCTION_LOSSES}, got {name!r}"
        )
    lz = logits.reshape(logits.shape[0], -1)
    xx = x.reshape(x.shape[0], -1)
    if name == "bce":
        # Per pixel, BCE(l, x) = softplus(l) - x * l, which separates into a z-term and a product.
        return jax.nn.softplus(lz).sum(-1)[None, :] - xx @ lz.T
    s = jax.nn.sigmoid(lz)
    return jnp.square(xx).sum(-1)[:, None] - 2.0 * xx @ s.T + jnp.square(s).sum(-1)[None, :]


def mixture_nll(name: str, logits: jax.Array, x: jax.Array) -> jax.Array:
    """-log (1/Bz) sum_j p(x_i | z_j): the minibatch estimate of the GAE likelihood term
    (paper 004), where z_j ~ q(z|x_j) are the codes of the batch itself. float32[Bx]."""
    log_lik = -pairwise_reconstruction_loss(name, logits, x)
    return -(jax.nn.logsumexp(log_lik, axis=-1) - jnp.log(logits.shape[0]))


def gae_regulariser(
    mean: jax.Array, log_var: jax.Array, lambda1: float, lambda2: float
) -> jax.Array:
    """lambda1 sum mu^2 - lambda2 sum(1 + log s^2 - s^2), float32[B]; a penalty to minimise.

    Paper 004 adds lambda1 sum mu^2 + lambda2 sum(1 + log s^2 - s^2) to the likelihood it
    maximises; only the sign convention above keeps codes bounded (mu -> 0) and scales away
    from 0 (s -> 1), as the VAE's KL term that motivated it does (lambda1 = lambda2 = 1/2 gives
    exactly that KL).
    """
    mu_term = jnp.sum(jnp.square(mean), axis=-1)
    var_term = jnp.sum(1.0 + log_var - jnp.exp(log_var), axis=-1)
    return lambda1 * mu_term - lambda2 * var_term


def gae_loss(
    name: str,
    logits: jax.Array,
    x: jax.Array,
    mean: jax.Array,
    log_var: jax.Array,
    *,
    lambda1: float,
    lambda2: float,
) -> jax.Array:
    """The GAE objective per example, float32[B]: :func:`mixture_nll` + :func:`gae_regulariser`.

    Args:
      name: reconstruction loss, ``bce`` or ``mse``.
      logits: float32[B, ...], decodings of z_j ~ q(z|x_j) for the batch's own x_j.
      x: float32[B, ...], the batch.
      mean, log_var: float32[B, D], the parameters of q(z|x_j).
      lambda1, lambda2: regulariser weights.
    """
    return mixture_nll(name, logits, x) + gae_regulariser(mean, log_var, lambda1, lambda2)
