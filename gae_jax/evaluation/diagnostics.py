"""Markov-chain diagnostics for sampler outputs.

* :func:`split_rhat` and :func:`bulk_ess` -- rank-normalised split R-hat and bulk effective
  sample size of Vehtari, Gelman, Simpson, Carpenter & Bürkner (2021), "Rank-normalization,
  folding, and localization: an improved R-hat", on a scalar summary of each chain state
  (e.g. a classifier logit, an encoding norm): float[chains, draws]. They follow the reference
  implementations (Stan, ArviZ), including Geyer's initial monotone sequence for the ESS.
* :func:`autocorrelation` -- FFT autocorrelation along the draws axis.
* :func:`class_occupancy` -- how a chain's samples spread over the classes a classifier
  predicts, per step: the fraction in each class and how many classes are visited (mode
  dropping in paper 001 App. E-D shows up as classes leaving).

These run on the host (numpy / scipy) since they summarise finished chains.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from scipy.special import ndtri
from scipy.stats import rankdata


def autocorrelation(x, axis: int = -1) -> np.ndarray:
    """Autocorrelation along ``axis`` by FFT, normalised to 1 at lag 0.

    Uses the biased estimator (divides every lag by the length), the one whose lag sums are
    used by ESS estimators.

    Args:
      x: float[..., draws, ...].
      axis: the draws axis.

    Returns:
      float64 of the same shape; entry t along ``axis`` is the lag-t autocorrelation.
    """
    x = np.moveaxis(np.asarray(x, np.float64), axis, -1)
    acov = _autocovariance(x)
    with np.errstate(invalid="ignore", divide="ignore"):  # constant series -> nan, as it is
        return np.moveaxis(acov / acov[..., :1], -1, axis)


def _autocovariance(x: np.ndarray) -> np.ndarray:
    """Biased autocovariance along the last axis, float64[..., n]."""
    n = x.shape[-1]
    centred = x - x.mean(axis=-1, keepdims=True)
    # Zero-padding to >= 2n turns the FFT's circular correlation into the linear one.
    size = 1 << (2 * n - 1).bit_length()
    spectrum = np.fft.rfft(centred, n=size, axis=-1)
    return np.fft.irfft(spectrum * np.conj(spectrum), n=size, axis=-1)[..., :n] / n


def _check_chains(x) -> np.ndarray:
    x = np.asarray(x, np.float64)
    if x.ndim != 2 or x.shape[1] < 4:
        raise ValueError(f"need draws of a scalar as float[chains, draws >= 4], got {x.shape}")
    return x


def _split(x: np.ndarray) -> np.ndarray:
    """[chains, draws] -> [2 chains, draws // 2]: halves, dropping a middle draw if odd."""
    half = x.shape[1] // 2
    return np.concatenate([x[:, :half], x[:, -half:]], axis=0)


def _z_scale(x: np.ndarray) -> np.ndarray:
    """Rank-normalisation: pooled average ranks mapped through the normal quantile function."""
    ranks = rankdata(x, method="average").reshape(x.shape)
    return ndtri((ranks - 0.375) / (x.size + 0.25))


def _rhat(x: np.ndarray) -> float:
    """Classic potential scale reduction on [chains, draws]."""
    n = x.shape[1]
    between = n * np.var(x.mean(axis=1), ddof=1)
    within = np.mean(np.var(x, axis=1, ddof=1))
    return float(np.sqrt(((n - 1) / n * within + between / n) / within))


def split_rhat(x) -> float:
    """Rank-normalised split R-hat (Vehtari et al. 2021): the larger of the bulk R-hat of the
    rank-normalised split chains and the tail R-hat of their folded version |x - median|.

    Args:
      x: float[chains, draws] draws of a scalar summary; chains >= 1 (each is split in two).

    Returns:
      R-hat; values above ~1.01 suggest the chains have not mixed.
    """
    split = _split(_check_chains(x))
    bulk = _rhat(_z_scale(split))
    tail = _rhat(_z_scale(np.abs(split - np.median(split))))
    return max(bulk, tail)


def _ess(x: np.ndarray) -> float:
    """ESS of [chains, draws] by Geyer's initial monotone sequence (Stan's estimator)."""
    num_chains, n = x.shape
    acov = _autocovariance(x)
    mean_var = np.mean(acov[:, 0]) * n / (n - 1)
    var_plus = mean_var * (n - 1) / n
    if num_chains > 1:
        var_plus += np.var(x.mean(axis=1), ddof=1)
    rho = np.zeros(n)
    rho[0] = 1.0
    rho_even, rho_odd = 1.0, 1.0 - (mean_var - np.mean(acov[:, 1])) / var_plus
    rho[1] = rho_odd
    # Initial positive sequence: sum autocorrelation pairs while their sum stays positive.
    t = 1
    while t < n - 3 and rho_even + rho_odd > 0:
        rho_even = 1.0 - (mean_var - np.mean(acov[:, t + 1])) / var_plus
        rho_odd = 1.0 - (mean_var - np.mean(acov[:, t + 2])) / var_plus
        if rho_even + rho_odd >= 0:
            rho[t + 1], rho[t + 2] = rho_even, rho_odd
        t += 2
    max_t = t - 2
    if rho_even > 0:
        rho[max_t + 1] = rho_even
    # Initial monotone sequence: pair sums must not increase.
    t = 1
    while t <= max_t - 2:
        if rho[t + 1] + rho[t + 2] > rho[t - 1] + rho[t]:
            rho[t + 1] = rho[t + 2] = 0.5 * (rho[t - 1] + rho[t])
        t += 2
    total = num_chains * n
    tau = -1.0 + 2.0 * np.sum(rho[: max_t + 1]) + np.sum(rho[max_t + 1 : max_t + 2])
    # Stan's cap: antithetic chains may not report more than total * log10(total).
    return float(total / max(tau, 1.0 / np.log10(total)))


def bulk_ess(x) -> float:
    """Bulk effective sample size (Vehtari et al. 2021): the ESS of the rank-normalised split
    chains.

    Args:
      x: float[chains, draws] draws of a scalar summary.

    Returns:
      The effective number of independent draws (about chains * draws for iid draws).
    """
    return _ess(_z_scale(_split(_check_chains(x))))


class ClassOccupancy(NamedTuple):
    fractions: jax.Array  # float32[steps, num_classes], fraction of samples per class
    classes_covered: jax.Array  # int32[steps], classes with at least one sample


def class_occupancy(predicted_classes: jax.Array, num_classes: int) -> ClassOccupancy:
    """Per-step class histogram of a set of chains.

    Args:
      predicted_classes: int[steps, N], e.g. ``argmax`` of a classifier's logits for the N
        chains' samples at each step.
      num_classes: number of classes.

    Returns:
      A :class:`ClassOccupancy`.
    """
    fractions = jnp.mean(jax.nn.one_hot(predicted_classes, num_classes), axis=1)
    return ClassOccupancy(fractions, jnp.sum(fractions > 0, axis=-1).astype(jnp.int32))
