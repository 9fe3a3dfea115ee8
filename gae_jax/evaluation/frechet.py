"""Fréchet distance between feature sets (the FID recipe, in a classifier's feature space).

For Gaussians fitted to two feature sets,

    d^2 = |mu_a - mu_b|^2 + tr(S_a) + tr(S_b) - 2 tr((S_a S_b)^{1/2}).

Only the trace of the matrix square root is needed, and (S_a S_b)^{1/2} is similar to the
symmetric positive semi-definite C = S_a^{1/2} S_b S_a^{1/2}, so tr((S_a S_b)^{1/2}) is the sum
of square roots of C's eigenvalues. We compute it with two symmetric eigendecompositions
(``numpy.linalg.eigh``) in float64, zeroing eigenvalues below the usual rank tolerance. Unlike
``scipy.linalg.sqrtm`` of the non-symmetric S_a S_b, this never returns complex values and does
not need an epsilon added to singular covariances (common when features outnumber samples).
"""

from __future__ import annotations

import numpy as np

from gae_jax.evaluation.classifier import MLPClassifier, penultimate_features


def _clip_spectrum(eigvals: np.ndarray) -> np.ndarray:
    """Zeroes eigenvalues below numpy's matrix-rank tolerance: round-off of size 1e-16 in a
    singular covariance would otherwise add sqrt(1e-16) = 1e-8 per null direction."""
    tol = eigvals.max(initial=0.0) * eigvals.size * np.finfo(np.float64).eps
    return np.where(eigvals > tol, eigvals, 0.0)


def _psd_sqrt(cov: np.ndarray) -> np.ndarray:
    eigvals, eigvecs = np.linalg.eigh(cov)
    return (eigvecs * np.sqrt(_clip_spectrum(eigvals))) @ eigvecs.T


def frechet_distance_gaussians(mean_a, cov_a, mean_b, cov_b) -> float:
    """Squared Fréchet (2-Wasserstein) distance between N(mean_a, cov_a) and N(mean_b, cov_b).

    Args:
      mean_a: float[F].
      cov_a: float[F, F], symmetric positive semi-definite.
      mean_b: float[F].
      cov_b: float[F, F].

    Returns:
      The distance (non-negative up to round-off), as in FID.
    """
    mean_a, mean_b = np.asarray(mean_a, np.float64), np.asarray(mean_b, np.float64)
    cov_a, cov_b = np.asarray(cov_a, np.float64), np.asarray(cov_b, np.float64)
    sqrt_a = _psd_sqrt(cov_a)
    inner = sqrt_a @ cov_b @ sqrt_a
    inner = 0.5 * (inner + inner.T)  # exact symmetry for eigh
    trace_sqrt = np.sum(np.sqrt(_clip_spectrum(np.linalg.eigvalsh(inner))))
    mean_term = np.sum(np.square(mean_a - mean_b))
    return float(mean_term + np.trace(cov_a) + np.trace(cov_b) - 2.0 * trace_sqrt)


def frechet_distance(features_a, features_b) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets.

    Args:
      features_a: float[N, F].
      features_b: float[M, F]; N, M >= 2 (covariances use ``ddof=1``).

    Returns:
      The squared Fréchet distance.
    """
    a = np.asarray(features_a, np.float64)
    b = np.asarray(features_b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"need feature matrices [N, F] and [M, F], got {a.shape} and {b.shape}")
    cov = lambda f: np.atleast_2d(np.cov(f, rowvar=False))
    return frechet_distance_gaussians(a.mean(axis=0), cov(a), b.mean(axis=0), cov(b))


def classifier_frechet_distance(
    model: MLPClassifier, params, reference_images, samples, *, batch_size: int = 1000
):
    """Fréchet distance in a classifier's penultimate features, per chain step if given steps.

    Args:
      model: the classifier module (e.g. the ground truth of
        :func:`gae_jax.evaluation.classifier.synthetic_data_protocol`).
      params: its parameters.
      reference_images: float32[N, H, W, C] real images.
      samples: float32[M, H, W, C] samples, or float32[steps, M, H, W, C] the samples of each
        step of a chain (``sample_chains`` output with chains flattened into M).
      batch_size: images per classifier call.

    Returns:
      A float, or float64[steps] with one distance per step.
    """
    features = lambda x: penultimate_features(model, params, x, batch_size=batch_size)
    reference = features(reference_images)
    samples = np.asarray(samples)
    if samples.ndim == reference_images.ndim:
        return frechet_distance(reference, features(samples))
    if samples.ndim == reference_images.ndim + 1:
        return np.array([frechet_distance(reference, features(step)) for step in samples])
    raise ValueError(
        f"samples must have the reference's rank {reference_images.ndim} or one more "
        f"(a leading steps axis), got shape {samples.shape}"
    )
