import jax
import numpy as np
import pytest

from gae_jax.data import load_dataset
from gae_jax.evaluation import (
    MLPClassifier,
    RealReference,
    latent_step_metrics,
    per_step_metrics,
    train_classifier,
)


@pytest.fixture(scope="module")
def reference():
    train = load_dataset("digits", "train")
    validation = load_dataset("digits", "validation")
    test = load_dataset("digits", "test")
    model = MLPClassifier(10, (64,))
    params = train_classifier(
        jax.random.key(0), model, train.images, train.labels, num_steps=300
    ).params
    return RealReference(model, params, validation.images, test.images, test.labels), train


def test_real_digits_score_better_than_noise_on_every_sample_measure(reference):
    ref, train = reference
    rng = np.random.default_rng(0)
    noise = rng.uniform(size=train.images.shape).astype(np.float32)
    m = per_step_metrics(np.stack([train.images, noise]), ref)
    for key in ("parzen_ll", "parzen_stderr", "parzen_sigma", "frechet", "class_tv"):
        assert m[key].shape == (2,) and np.isfinite(m[key]).all(), key
    assert m["parzen_ll"][0] > m["parzen_ll"][1] + 10
    assert m["frechet"][0] < 0.2 * m["frechet"][1]
    assert m["class_tv"][0] < 0.2 and m["class_tv"][0] < 0.5 * m["class_tv"][1]
    assert m["classes_covered"][0] == 10
    assert m["class_fractions"].shape == (2, 10)
    np.testing.assert_allclose(m["class_fractions"].sum(axis=1), 1.0, rtol=1e-6)


def test_a_single_class_of_samples_covers_one_class_with_a_large_class_tv(reference):
    ref, train = reference
    zeros = train.images[train.labels == 0]
    m = per_step_metrics(zeros[None], ref)
    assert m["classes_covered"][0] <= 2  # a few digits may be misclassified
    assert m["class_tv"][0] > 0.8  # one class of ten holds (almost) everything


def test_precision_recall_separate_dropped_modes_from_noise(reference):
    # Real training digits against the test digits: high precision and recall. Only the zeros:
    # still real-looking (precision stays high) but nine modes gone (recall about 1/10). Noise:
    # nothing on the real manifold (precision and coverage near 0).
    ref, train = reference
    zeros = train.images[train.labels == 0]
    rng = np.random.default_rng(0)
    noise = rng.uniform(size=zeros.shape).astype(np.float32)
    real = per_step_metrics(train.images[None], ref)
    dropped = per_step_metrics(np.stack([zeros, noise]), ref)
    for m in (real, dropped):
        for key in ("precision", "recall", "density", "coverage"):
            assert m[key].dtype == np.float64 and np.isfinite(m[key]).all(), key
    assert real["precision"][0] > 0.8 and real["recall"][0] > 0.8
    assert dropped["precision"][0] > 0.8
    assert dropped["recall"][0] < 0.3 and dropped["coverage"][0] < 0.3
    assert dropped["precision"][1] < 0.05 and dropped["coverage"][1] < 0.05


def test_image_shape_mismatch_is_rejected(reference):
    ref, _ = reference
    with pytest.raises(ValueError, match="images_per_step"):
        per_step_metrics(ref.test, ref)  # missing the steps axis


def test_latent_distances_track_prior_and_data():
    rng = np.random.default_rng(1)
    prior = rng.normal(size=(4000, 3))
    data_codes = 0.5 * rng.normal(size=(4000, 3)) + 1.0
    # step 0 at the prior, a step halfway, a step at the data distribution
    halfway = 0.75 * rng.normal(size=(4000, 3)) + 0.5
    codes = np.stack([prior, halfway, 0.5 * rng.normal(size=(4000, 3)) + 1.0])
    m = latent_step_metrics(codes, data_codes, np.zeros(3), np.eye(3))
    assert m["latent_fd_prior"][0] < 0.02 and m["latent_fd_data"][2] < 0.02
    assert np.all(np.diff(m["latent_fd_prior"]) > 0)
    assert np.all(np.diff(m["latent_fd_data"]) < 0)
    # Closed form for the data end: |mu|^2 + sum (1 - 0.5)^2 = 3 + 0.75.
    assert m["latent_fd_prior"][2] == pytest.approx(3.75, rel=0.05)
