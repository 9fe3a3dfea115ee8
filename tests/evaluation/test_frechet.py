import jax
import numpy as np
import pytest
from scipy import linalg

from gae_jax.data import load_dataset
from gae_jax.evaluation import (
    MLPClassifier,
    classifier_frechet_distance,
    frechet_distance,
    frechet_distance_gaussians,
)


def random_cov(rng, dim):
    a = rng.normal(size=(dim, dim))
    return a @ a.T / dim + 0.1 * np.eye(dim)


def test_gaussians_match_the_closed_form_for_diagonal_covariances():
    mean_a, mean_b = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    var_a, var_b = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    expected = 5.0 + np.sum(np.square(np.sqrt(var_a) - np.sqrt(var_b)))  # 5 + 4 + 1 + 0
    got = frechet_distance_gaussians(mean_a, np.diag(var_a), mean_b, np.diag(var_b))
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_gaussians_match_the_scipy_sqrtm_formula_for_full_covariances():
    rng = np.random.default_rng(0)
    mean_a, mean_b = rng.normal(size=6), rng.normal(size=6)
    cov_a, cov_b = random_cov(rng, 6), random_cov(rng, 6)
    sqrtm = linalg.sqrtm(cov_a @ cov_b).real
    expected = np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a + cov_b - 2 * sqrtm)
    np.testing.assert_allclose(
        frechet_distance_gaussians(mean_a, cov_a, mean_b, cov_b), expected, rtol=1e-9
    )


def test_samples_of_two_gaussians_approach_the_closed_form():
    rng = np.random.default_rng(1)
    cov_a, cov_b = random_cov(rng, 3), random_cov(rng, 3)
    mean_b = np.array([0.5, -0.5, 0.0])
    a = rng.multivariate_normal(np.zeros(3), cov_a, size=50_000)
    b = rng.multivariate_normal(mean_b, cov_b, size=50_000)
    expected = frechet_distance_gaussians(np.zeros(3), cov_a, mean_b, cov_b)
    np.testing.assert_allclose(frechet_distance(a, b), expected, rtol=0.05)


def test_a_set_has_zero_distance_to_itself_even_with_singular_covariance():
    rng = np.random.default_rng(2)
    for n in (500, 10):  # 10 samples of 32 features: rank-deficient covariance
        features = rng.normal(size=(n, 32))
        assert abs(frechet_distance(features, features)) < 1e-8


def test_distance_grows_monotonically_with_the_perturbation():
    rng = np.random.default_rng(3)
    features = rng.normal(size=(400, 8))
    direction = rng.normal(size=8)
    noise = rng.normal(size=(400, 8))
    shifted = [frechet_distance(features, features + t * direction) for t in (0, 0.1, 0.5, 2)]
    noisy = [frechet_distance(features, features + t * noise) for t in (0, 0.1, 0.5, 2)]
    assert np.all(np.diff(shifted) > 0)
    assert np.all(np.diff(noisy) > 0)


def test_feature_sets_must_be_matrices_of_the_same_width():
    with pytest.raises(ValueError, match="feature matrices"):
        frechet_distance(np.zeros((5, 3)), np.zeros((5, 4)))


def test_classifier_distance_per_chain_step():
    images = load_dataset("digits", "test").images
    model = MLPClassifier(10, (16,))
    params = model.init(jax.random.key(0), images[:1])["params"]
    noise = np.random.default_rng(4).normal(size=images.shape).astype(np.float32)
    steps = np.stack([images, images + 0.1 * noise, images + 0.5 * noise])
    per_step = classifier_frechet_distance(model, params, images, steps, batch_size=64)
    assert per_step.shape == (3,)
    assert abs(per_step[0]) < 1e-6
    assert 0 < per_step[1] < per_step[2]
    single = classifier_frechet_distance(model, params, images, steps[2])
    np.testing.assert_allclose(single, per_step[2], rtol=1e-9)
    with pytest.raises(ValueError, match="rank"):
        classifier_frechet_distance(model, params, images, steps[None])
