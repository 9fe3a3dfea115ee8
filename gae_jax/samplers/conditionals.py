"""Draws from a generative autoencoder's two conditionals, for the chain kernels.

Paper 000's chain (eq. 1) alternates ``x ~ p(x|z)`` and ``z ~ q(z|x)``; its ergodicity (Lemma 1)
needs both to put mass everywhere. With the decoder *mean* and a deterministic encoder the chain
is a deterministic map z <- E(D(z)). The kernels therefore take these draws as functions:

* an *observation* ``(key, mean) -> x``: ``x ~ p(x|z)`` for one chain given the decoder mean
  E[x|z] (:func:`bernoulli` for decoders trained with BCE, :func:`gaussian` pixel noise of a
  chosen standard deviation for continuous decoders trained with MSE, whose likelihood
  N(E[x|z], sd^2 I) the MSE loss leaves unspecified); :func:`observation` picks by loss name;
* a *code draw* ``(keys, variables, x) -> z`` (:func:`code_draw`): ``z ~ q(z|x)`` (a
  reparameterised draw of a Gaussian posterior; for a deterministic encoder q(z|x) is a point
  mass at E(x), so its draw *is* the code) or the posterior mean;
* a *reconstruction draw* ``(keys, variables, x) -> x'`` (:func:`reconstruction_draw`), the
  two in sequence, for the pixel-space kernels (reinjection, ascent).

All are pure, take explicit keys and work under ``jit``/``vmap``.
"""

from __future__ import annotations

from collections.abc import Callable

import jax

from gae_jax.models.adapter import DecodeFn, EncodeFn, PosteriorFn, sample_posterior
from gae_jax.types import ArrayTree

# (key, mean: float32[*x_shape]) -> x: float32[*x_shape], one chain's draw x ~ p(x | z).
Observation = Callable[[jax.Array, jax.Array], jax.Array]
# (keys: key[chains], variables, x: float32[chains, *x_shape]) -> x': float32[chains, *x_shape]
ReconstructDrawFn = Callable[[jax.Array, ArrayTree, jax.Array], jax.Array]

LIKELIHOODS = {"bce": "Bernoulli", "mse": "Gaussian"}  # reconstruction loss -> p(x|z)
CODE_DRAWS = ("mean", "sample")


def bernoulli(key: jax.Array, mean: jax.Array) -> jax.Array:
    """x ~ Bernoulli(mean), element-wise, as 0/1 values of ``mean``'s dtype."""
    return jax.random.bernoulli(key, mean).astype(mean.dtype)


def gaussian(sd: float) -> Observation:
    """``(key, mean) -> x ~ N(mean, sd^2 I)`` (not clipped: the likelihood's own support)."""
    if not sd > 0:
        raise ValueError(f"the Gaussian pixel noise sd must be > 0, got {sd}")
    return lambda key, mean: mean + sd * jax.random.normal(key, mean.shape, mean.dtype)


def observation(reconstruction_loss: str, sd: float) -> Observation:
    """The observation model a decoder was trained with: ``bce`` -> :func:`bernoulli`, ``mse``
    -> :func:`gaussian` with standard deviation ``sd`` (ignored for ``bce``)."""
    if reconstruction_loss not in LIKELIHOODS:
        raise ValueError(
            f"reconstruction_loss must be one of {tuple(LIKELIHOODS)}, got {reconstruction_loss!r}"
        )
    return bernoulli if reconstruction_loss == "bce" else gaussian(sd)


def code_draw(encode_fn: PosteriorFn, mode: str) -> EncodeFn:
    """``(keys: key[chains], variables, x) -> z: float32[chains, D]`` from q(z|x).

    Args:
      encode_fn: ``(variables, x) -> Posterior`` (``AutoencoderFns.encode``).
      mode: ``sample`` (a reparameterised draw, one key per chain; the code itself for a
        deterministic encoder, a point mass) or ``mean`` (the posterior mean; keys unused).
        ``sample`` equals ``AutoencoderFns.sample_code`` bit for bit.
    """
    if mode not in CODE_DRAWS:
        raise ValueError(f"code draw mode must be one of {CODE_DRAWS}, got {mode!r}")
    if mode == "mean":
        return lambda keys, variables, x: encode_fn(variables, x).mean
    return lambda keys, variables, x: sample_posterior(keys, encode_fn(variables, x))


def reconstruction_draw(
    encode_fn: EncodeFn, decode_fn: DecodeFn, observe: Observation | None
) -> ReconstructDrawFn:
    """``x' ~ p(x | z)``, ``z ~ encode_fn(x)``: one stochastic pass through the autoencoder.

    Args:
      encode_fn: a code draw ``(keys, variables, x) -> z`` (:func:`code_draw`).
      decode_fn: ``(variables, z) -> E[x|z]``.
      observe: ``(key, mean) -> x``; None returns the decoder mean E[x|z].
    """

    def draw(keys, variables, x):
        pair = jax.vmap(jax.random.split)(keys)  # [chains, 2]: encoder key, observation key
        mean = decode_fn(variables, encode_fn(pair[:, 0], variables, x))
        return mean if observe is None else jax.vmap(observe)(pair[:, 1], mean)

    return draw


__all__ = [
    "CODE_DRAWS",
    "LIKELIHOODS",
    "Observation",
    "ReconstructDrawFn",
    "bernoulli",
    "code_draw",
    "gaussian",
    "observation",
    "reconstruction_draw",
]
