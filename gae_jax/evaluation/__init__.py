"""Evaluation measures for generative autoencoders and their samplers (papers 001, 002, 004).

Pure functions over arrays and model callables; see each module's docstring for the protocol
it follows.
"""

from __future__ import annotations

from gae_jax.evaluation.chain_metrics import (
    RealReference,
    latent_step_metrics,
    per_step_metrics,
)
from gae_jax.evaluation.classifier import (
    MLPClassifier,
    SyntheticDataCurves,
    TrainedClassifier,
    classifier_accuracy,
    penultimate_features,
    predict_logits,
    synthetic_data_protocol,
    train_classifier,
)
from gae_jax.evaluation.common import (
    MeanStderr,
    apply_in_batches,
    encode_dataset,
    mean_and_stderr,
)
from gae_jax.evaluation.diagnostics import (
    ClassOccupancy,
    autocorrelation,
    bulk_ess,
    class_occupancy,
    split_rhat,
)
from gae_jax.evaluation.frechet import (
    classifier_frechet_distance,
    frechet_distance,
    frechet_distance_gaussians,
)
from gae_jax.evaluation.likelihood import (
    bernoulli_log_prob_matrix,
    importance_sampled_log_likelihood,
    prior_sampled_log_likelihood,
)
from gae_jax.evaluation.parzen import (
    PAPER_BANDWIDTHS,
    BandwidthSelection,
    ParzenResult,
    parzen_evaluate,
    parzen_log_density,
    parzen_log_likelihood,
    select_bandwidth,
)
from gae_jax.evaluation.prdc import PRDC, manifold_radii, per_step_prdc, prdc
from gae_jax.evaluation.probes import (
    LeaveOneOutResult,
    leave_one_out_accuracy,
    pca_svm_accuracy,
    svm_accuracy,
)
from gae_jax.evaluation.reconstruction import (
    corrupted_reconstruction_error,
    corrupted_reconstruction_errors,
)

__all__ = [
    "PAPER_BANDWIDTHS",
    "PRDC",
    "BandwidthSelection",
    "ClassOccupancy",
    "LeaveOneOutResult",
    "MLPClassifier",
    "MeanStderr",
    "ParzenResult",
    "RealReference",
    "SyntheticDataCurves",
    "TrainedClassifier",
    "apply_in_batches",
    "autocorrelation",
    "bernoulli_log_prob_matrix",
    "bulk_ess",
    "class_occupancy",
    "classifier_accuracy",
    "classifier_frechet_distance",
    "corrupted_reconstruction_error",
    "corrupted_reconstruction_errors",
    "encode_dataset",
    "frechet_distance",
    "frechet_distance_gaussians",
    "importance_sampled_log_likelihood",
    "latent_step_metrics",
    "leave_one_out_accuracy",
    "manifold_radii",
    "mean_and_stderr",
    "parzen_evaluate",
    "parzen_log_density",
    "parzen_log_likelihood",
    "pca_svm_accuracy",
    "per_step_prdc",
    "per_step_metrics",
    "penultimate_features",
    "predict_logits",
    "prdc",
    "prior_sampled_log_likelihood",
    "select_bandwidth",
    "split_rhat",
    "svm_accuracy",
    "synthetic_data_protocol",
    "train_classifier",
]
