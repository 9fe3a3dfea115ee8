"""Sample quality at every recorded step of a Markov chain: did the chain improve the samples?

The same measures are applied to the samples of each step, so their change along the chain is
the chain's effect (paper 000: a few steps of the latent chain should improve decoded prior
samples):

* :func:`per_step_metrics` -- pixel-space measures against held-out real digits:

  - ``parzen_ll`` (and ``parzen_stderr``, ``parzen_sigma``): paper 001's Parzen-window
    log-likelihood of the test digits. The bandwidth is chosen *per step* on the validation
    digits, exactly as the protocol would for that step's samples alone, so no step is
    penalised by a bandwidth tuned for another;
  - ``frechet``: Fréchet distance between a classifier's penultimate features of the samples
    and of the test digits (FID with an MNIST classifier instead of Inception);
  - ``classes_covered`` and ``class_tv``: how the classifier's predicted classes of the samples
    spread over the classes -- how many receive any sample, and the total-variation distance
    to the class balance of the test labels (0: same balance; mode dropping raises it);
  - ``precision``, ``recall``, ``density`` and ``coverage`` in the same features
    (:mod:`gae_jax.evaluation.prdc`, k = 3): quality and diversity apart, so a chain that
    sharpens samples while dropping modes shows higher precision and lower recall.

* :func:`latent_step_metrics` -- the chain's codes against the prior and the encoder's learned
  code distribution (paper 000: the chain moves codes from the prior P(Z) towards the learned
  P^(Z); paper 001 Fig. 2 draws the same comparison as histograms):

  - ``latent_fd_prior``: Fréchet distance between Gaussians fitted to the codes and the prior;
  - ``latent_fd_data``: Fréchet distance between the codes and codes of real data (encoded
    the way the chain encodes, i.e. corrupted first for a denoising chain).

Every function takes host or device arrays and returns float64 numpy arrays with one entry per
step; none is random.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from gae_jax.evaluation.classifier import MLPClassifier, penultimate_features, predict_logits
from gae_jax.evaluation.diagnostics import class_occupancy
from gae_jax.evaluation.frechet import frechet_distance, frechet_distance_gaussians
from gae_jax.evaluation.parzen import PAPER_BANDWIDTHS, parzen_evaluate
from gae_jax.evaluation.prdc import per_step_prdc


class RealReference(NamedTuple):
    """The held-out real data and the trained classifier that samples are measured against."""

    classifier: MLPClassifier
    classifier_params: dict  # the classifier's "params" collection
    validation: np.ndarray  # float32[V, H, W, C]: chooses the Parzen bandwidth
    test: np.ndarray  # float32[M, H, W, C]: scored by the Parzen window; FD reference features
    test_labels: np.ndarray  # int32[M]: the class balance samples should match


def per_step_metrics(
    images_per_step,
    reference: RealReference,
    *,
    sigmas=PAPER_BANDWIDTHS,
    batch_size: int = 1000,
    mesh: Mesh | None = None,
) -> dict[str, np.ndarray]:
    """The sample measures of the module docstring at every step.

    Args:
      images_per_step: float[S, N, H, W, C], the N chains' images (in [0, 1]) at each of S
        recorded steps; or the images of any sample set (e.g. real digits) with S = 1.
      reference: real data and classifier to measure against.
      sigmas: candidate Parzen bandwidths (paper 001's 10 log-spaced values in [0.1, 1]).
      batch_size: images per classifier call.
      mesh: a 1-D device mesh (of one or several processes) that the Parzen window's points
        (:func:`~gae_jax.evaluation.parzen.parzen_log_density`) and the classifier's images
        (:func:`~gae_jax.evaluation.classifier.penultimate_features`) are split over; None:
        the default device.

    Returns:
      float64[S] arrays ``parzen_ll`` (mean test log-likelihood, nats), ``parzen_stderr``,
      ``parzen_sigma``, ``frechet``, ``classes_covered``, ``class_tv``, ``precision``,
      ``recall``, ``density`` and ``coverage``, and
      ``class_fractions``: float64[S, K], the fraction of samples predicted as each class.
    """
    images = np.asarray(images_per_step, np.float32)
    if images.ndim != reference.test.ndim + 1 or images.shape[2:] != reference.test.shape[1:]:
        raise ValueError(
            f"images_per_step must be [steps, N, *{reference.test.shape[1:]}], got {images.shape}"
        )
    parzen = [
        parzen_evaluate(x, reference.validation, reference.test, sigmas, mesh=mesh) for x in images
    ]
    model, params = reference.classifier, reference.classifier_params
    apply = dict(batch_size=batch_size, mesh=mesh)  # the classifier's images split over the mesh
    predicted = jnp.stack(
        [jnp.argmax(predict_logits(model, params, x, **apply), -1) for x in images]
    )
    occupancy = class_occupancy(predicted, model.num_classes)
    fractions = np.asarray(occupancy.fractions, np.float64)
    target = np.bincount(reference.test_labels, minlength=model.num_classes)
    target = target / target.sum()
    test_features = penultimate_features(model, params, reference.test, **apply)
    step_features = jnp.stack([penultimate_features(model, params, x, **apply) for x in images])
    prdc = per_step_prdc(test_features, step_features)
    return {
        "parzen_ll": np.array([p.mean for p in parzen]),
        "parzen_stderr": np.array([p.stderr for p in parzen]),
        "parzen_sigma": np.array([p.sigma for p in parzen]),
        "frechet": np.array([frechet_distance(test_features, f) for f in step_features]),
        "classes_covered": np.asarray(occupancy.classes_covered, np.float64),
        "class_tv": 0.5 * np.abs(fractions - target).sum(axis=-1),
        "class_fractions": fractions,
        **{name: np.asarray(values, np.float64) for name, values in prdc.items()},
    }


def latent_step_metrics(
    codes_per_step, data_codes, prior_mean, prior_covariance
) -> dict[str, np.ndarray]:
    """Where the chain's codes are at every step: Fréchet distances to the prior and to data.

    Args:
      codes_per_step: float[S, N, D], the chains' codes z_t at each recorded step.
      data_codes: float[M, D], codes of real data encoded as the chain encodes.
      prior_mean: float[D], the prior's exact mean.
      prior_covariance: float[D, D], its exact covariance.

    Returns:
      float64[S] arrays ``latent_fd_prior`` and ``latent_fd_data``.
    """
    codes = np.asarray(codes_per_step, np.float64)
    if codes.ndim != 3 or np.shape(data_codes)[-1] != codes.shape[-1]:
        raise ValueError(
            f"need codes [steps, N, D] and data codes [M, D], got {codes.shape} and "
            f"{np.shape(data_codes)}"
        )
    to_prior = [
        frechet_distance_gaussians(
            z.mean(axis=0), np.atleast_2d(np.cov(z, rowvar=False)), prior_mean, prior_covariance
        )
        for z in codes
    ]
    return {
        "latent_fd_prior": np.array(to_prior),
        "latent_fd_data": np.array([frechet_distance(z, data_codes) for z in codes]),
    }
