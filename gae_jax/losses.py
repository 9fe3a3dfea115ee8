"""Losses. Per-example functions return float32[B] so callers choose how to reduce."""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

RECONSTRUCTION_LOSSES = ("bce", "mse")
# The GAE's estimators of its mixture likelihood (config.model.gae_estimator): "batch", the
# mixture over the minibatch's codes alone (own code weighted 1/B); "reweighted", the own code
# weighted 1/n (mixture_log_weights); "em", the E-step over all n codes of a memory bank and a
# minibatch M-step (gae_jax.train.steps.make_gae_em_step).
GAE_ESTIMATORS = ("batch", "reweighted", "em")


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


def saturating_generator_loss(fake_logits: jax.Array) -> jax.Array:
    """Paper 001 eq. 2's log(1 - D(z_fake)) = -softplus(logit), float32[B], to be minimised.

    Its gradient vanishes while the discriminator confidently rejects the encodings (D -> 0),
    which is why :func:`generator_loss` (-log D) is the default.
    """
    return -jax.nn.softplus(fake_logits)


# Prior-matching losses of the encoder by name: "non_saturating" -log D(z_fake) (the default)
# or paper 001's own "saturating" log(1 - D(z_fake)).
GENERATOR_LOSSES = {"non_saturating": generator_loss, "saturating": saturating_generator_loss}


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


def mixture_log_weights(batch_size: int, num_train: int) -> jax.Array:
    """Log-weights of the minibatch estimate of the full-n mixture (paper 004), float32[B, B].

    The mixture term of the GAE likelihood for training point i is
    (1/n) sum_j p(x_i | z_j) over all n training codes: weight 1/n on its own code and total
    weight (n - 1)/n on the other n - 1. A minibatch of B distinct training points drawn
    uniformly holds i's own code and B - 1 of the others, each of which stands for
    (n - 1)/(B - 1) of them, so the estimate

        (1/n) p(x_i | z_i) + ((n - 1)/n) mean_{j != i in batch} p(x_i | z_j)

    has the full mixture as its expectation over batches, whatever B. Entry [i, j] of the
    result is log(1/n) on the diagonal and log((n - 1)/(n (B - 1))) off it; each row's
    weights sum to 1. With B = n both are log(1/n) (the exact mixture); with n = B = 1 the
    single entry is 0.

    Args:
      batch_size: B >= 1, the number of distinct training points in the minibatch.
      num_train: n >= B, the number of training points the mixture runs over.
    """
    if not isinstance(num_train, int) or isinstance(num_train, bool) or num_train < 1:
        raise ValueError(
            f"num_train must be a positive int (the training set size), got {num_train!r}"
        )
    if batch_size > num_train:
        raise ValueError(
            f"a minibatch of {batch_size} distinct training points needs num_train >= "
            f"{batch_size}, got num_train={num_train}"
        )
    if batch_size < 2 and num_train > 1:
        raise ValueError(
            f"the mixture over n = {num_train} training codes needs minibatches of at least 2 "
            f"(one's own code and another), got batch size {batch_size}"
        )
    own = -math.log(num_train)
    if batch_size == 1:
        return jnp.full((1, 1), own, jnp.float32)
    other = math.log(num_train - 1) - math.log(num_train) - math.log(batch_size - 1)
    return jnp.where(jnp.eye(batch_size, dtype=bool), own, other).astype(jnp.float32)


def mixture_nll(
    name: str, logits: jax.Array, x: jax.Array, num_train: int | None = None
) -> jax.Array:
    """Minibatch estimate of -log (1/n) sum_j p(x_i | z_j), the GAE likelihood term (paper 004).

    Args:
      name: reconstruction loss, ``bce`` or ``mse`` (``mse`` is -log p up to a constant).
      logits: float32[B, ...], decodings of z_j ~ q(z|x_j) for the batch's own x_j, in the
        same order as ``x``.
      x: float32[B, ...], the batch: B distinct training points.
      num_train: n, the size of the training set the mixture runs over. Then the own code is
        weighted 1/n and the other B - 1 codes share (n - 1)/n (see
        :func:`mixture_log_weights`), so the estimate's expectation over minibatches (of
        the mixture likelihood itself; its log carries a Jensen gap that shrinks as B grows,
        see :func:`batch_mixture_nll`) does not depend on B. ``None``: the mixture over the B batch codes alone, each
        weighted 1/B -- the old estimate, whose own-code weight 1/B instead of 1/n makes the
        objective depend on B; the same as ``num_train=B``.

    Returns:
      float32[B], computed with logsumexp of log p(x_i | z_j) + log w_ij.
    """
    if num_train is not None and logits.shape[0] != x.shape[0]:
        raise ValueError(
            f"the own-code weighting needs one code per example, got {logits.shape[0]} codes "
            f"for {x.shape[0]} examples"
        )
    return batch_mixture_nll(-pairwise_reconstruction_loss(name, logits, x), num_train)


def batch_mixture_nll(log_lik: jax.Array, num_train: int | None = None) -> jax.Array:
    """:func:`mixture_nll` from the minibatch's log-likelihood matrix, float32[B].

    Args:
      log_lik: float32[B, B], entry [i, j] = log p(x_i | z_j) for the batch's own codes (the
        diagonal is each example's own code); float32[Bx, Bz] if ``num_train`` is None.
      num_train: n, or ``None`` for the batch-only mixture (see :func:`mixture_nll`).

    Because log is concave, E[log of the estimate] <= log of the full mixture: in expectation
    over minibatches the returned NLL is an upper bound on the full-n mixture NLL, exact for
    B = n and tightening as B grows (the gap is about Var/(2 mean^2) of the estimate). It is
    small only when each example's own code dominates its mixture. A trained GAE is not in
    that regime: on mnist5k (n = 4,000, 600 steps at B = 64) the own code's NLL was 309 nats
    against a full mixture NLL of 141, i.e. the mixture is carried by a few near neighbours
    that a minibatch rarely holds, and the estimate's mean exceeded the full NLL by
    18.1 +/- 0.4 nats at B = 64 and 5.2 +/- 0.2 at B = 512 (the batch-only estimate: 17.5
    and 4.5). Removing that B-dependence needs all n codes in the E-step (a memory bank).
    """
    if num_train is None:
        return -(jax.nn.logsumexp(log_lik, axis=-1) - jnp.log(log_lik.shape[-1]))
    log_weights = mixture_log_weights(log_lik.shape[0], num_train)
    return -jax.nn.logsumexp(log_lik + log_weights, axis=-1)


def full_mixture_nll(log_lik: jax.Array) -> jax.Array:
    """-log (1/n) sum_j p(x_i | z_j) from a full log-likelihood matrix, float32[Bx].

    Args:
      log_lik: float32[Bx, n], entry [i, j] = log p(x_i | z_j) over all n training codes
        (e.g. ``-pairwise_reconstruction_loss`` in chunks of the training set).
    """
    return -(jax.nn.logsumexp(log_lik, axis=-1) - jnp.log(log_lik.shape[-1]))


class EStep(NamedTuple):
    """E-step of the GAE's EM over all n mixture components, truncated to the top K per example."""

    index: jax.Array  # int32[B, K], the K components j with the largest p(x_i | z_j)
    log_resp: jax.Array  # float32[B, K], log responsibilities renormalised over those K
    log_norm: jax.Array  # float32[B], log sum_{all n} p(x_i | z_j)
    log_norm_kept: jax.Array  # float32[B], log sum_{top K} p(x_i | z_j) (<= log_norm)


def em_estep(log_lik: jax.Array, num_components: int) -> EStep:
    """Responsibilities r_ij = p(x_i | z_j) / sum_j' p(x_i | z_j') over all n codes, top K kept.

    Paper 004 fits the mixture (1/n) sum_j p(x_i|z_j) by EM with the component j latent. The
    exact E-step posterior over j has n entries per example; a trained GAE puts nearly all of it
    on a few near neighbours, so keeping the K largest and renormalising them gives the bound of
    :func:`em_mixture_nll`, exact for K = n and loose by ``log_norm - log_norm_kept`` otherwise.

    Args:
      log_lik: float32[B, n], entry [i, j] = log p(x_i | z_j) over all n training codes.
      num_components: K, 1 <= K <= n.
    """
    n = log_lik.shape[-1]
    if not 1 <= num_components <= n:
        raise ValueError(f"the E-step keeps 1..{n} components (n = {n}), got {num_components}")
    kept, index = jax.lax.top_k(log_lik, num_components)
    log_norm_kept = jax.nn.logsumexp(kept, axis=-1)
    return EStep(
        index=index.astype(jnp.int32),
        log_resp=kept - log_norm_kept[:, None],
        log_norm=jax.nn.logsumexp(log_lik, axis=-1),
        log_norm_kept=log_norm_kept,
    )


def em_mixture_nll(log_lik: jax.Array, log_resp: jax.Array, num_train: int) -> jax.Array:
    """The negated EM lower bound on log (1/n) sum_j p(x_i|z_j), float32[B]; an upper bound on
    the mixture NLL.

    With responsibilities r_ik fixed by the E-step (the component is the latent variable),
    Jensen gives log (1/n) sum_j p(x_i|z_j) >= sum_k r_ik [log p(x_i|z_jk) - log n - log r_ik].
    At the E-step's parameters and codes the bound equals log (1/n) sum_{top K} p(x_i|z_j),
    i.e. the mixture log-likelihood itself for K = n; its gradient there is the mixture's
    (Fisher's identity), so a gradient step on it is a generalised EM M-step. Each example's
    bound involves only its own components, so a minibatch mean of it is an unbiased estimate
    of the mean over all n examples whatever the batch size.

    Args:
      log_lik: float32[B, K], log p(x_i | z_jk) for the E-step's components j_k of example i
        (with the M-step's parameters and codes).
      log_resp: float32[B, K], the E-step's log responsibilities (each row sums to 1 in
        probability; treated as constants).
      num_train: n, the number of mixture components (training examples).
    """
    resp = jax.lax.stop_gradient(jnp.exp(log_resp))
    log_resp = jax.lax.stop_gradient(log_resp)
    # 0 * log 0 = 0: a component whose responsibility underflowed contributes nothing.
    terms = jnp.where(resp > 0, resp * (log_lik - math.log(num_train) - log_resp), 0.0)
    return -jnp.sum(terms, axis=-1)


def em_sampled_mixture_nll(log_lik: jax.Array, log_resp: jax.Array, num_train: int) -> jax.Array:
    """:func:`em_mixture_nll` estimated from M components drawn per example by responsibility.

    With j_s ~ r_i. (s = 1..M), -mean_s [log p(x_i|z_js) - log n - log r_ijs] is an unbiased
    estimate of the negated bound and its gradient of the bound's, at M decodings per example
    instead of K.

    Args:
      log_lik: float32[B, M], log p(x_i | z_js) for the drawn components.
      log_resp: float32[B, M], their E-step log responsibilities (constants).
      num_train: n.
    """
    log_resp = jax.lax.stop_gradient(log_resp)
    return -jnp.mean(log_lik - math.log(num_train) - log_resp, axis=-1)


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
    num_train: int | None = None,
) -> jax.Array:
    """The GAE objective per example, float32[B]: :func:`mixture_nll` + :func:`gae_regulariser`.

    Args:
      name: reconstruction loss, ``bce`` or ``mse``.
      logits: float32[B, ...], decodings of z_j ~ q(z|x_j) for the batch's own x_j.
      x: float32[B, ...], the batch.
      mean, log_var: float32[B, D], the parameters of q(z|x_j).
      lambda1, lambda2: regulariser weights.
      num_train: n, the training set size (see :func:`mixture_nll`; ``None`` is the old
        batch-only mixture).
    """
    mixture = mixture_nll(name, logits, x, num_train)
    return mixture + gae_regulariser(mean, log_var, lambda1, lambda2)
