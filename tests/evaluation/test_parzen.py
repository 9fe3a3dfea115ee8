import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.stats import gaussian_kde
from sklearn.neighbors import KernelDensity

from gae_jax.evaluation import (
    PAPER_BANDWIDTHS,
    parzen_evaluate,
    parzen_log_density,
    parzen_log_likelihood,
    select_bandwidth,
)


def test_paper_bandwidths_are_ten_log_spaced_values_in_tenth_to_one():
    assert len(PAPER_BANDWIDTHS) == 10
    np.testing.assert_allclose(PAPER_BANDWIDTHS[0], 0.1)
    np.testing.assert_allclose(PAPER_BANDWIDTHS[-1], 1.0)
    np.testing.assert_allclose(np.diff(np.log(PAPER_BANDWIDTHS)), np.log(10) / 9)


@pytest.mark.parametrize("sigma", [0.1, 0.35, 1.0])
@pytest.mark.parametrize("chunks", [(1000, 1000), (8, 5), (1, 23)])
def test_matches_sklearn_kernel_density(sigma, chunks):
    rng = np.random.default_rng(0)
    samples = rng.random((37, 2, 3)).astype(np.float32)  # trailing axes are flattened
    points = rng.random((23, 2, 3)).astype(np.float32)
    kde = KernelDensity(kernel="gaussian", bandwidth=sigma).fit(samples.reshape(37, -1))
    expected = kde.score_samples(points.reshape(23, -1).astype(np.float64))
    got = parzen_log_likelihood(
        samples, points, sigma, sample_chunk=chunks[0], point_chunk=chunks[1]
    )
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4)


def test_matches_scipy_gaussian_kde_in_one_dimension():
    rng = np.random.default_rng(1)
    samples = rng.normal(size=50)
    points = rng.normal(size=17)
    sigma = 0.3
    # gaussian_kde's kernel covariance is the data variance (ddof=1) times bw_method^2.
    kde = gaussian_kde(samples, bw_method=sigma / samples.std(ddof=1))
    expected = kde.logpdf(points)
    got = parzen_log_likelihood(samples[:, None], points[:, None], sigma, sample_chunk=16)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_all_bandwidths_in_one_pass_match_one_at_a_time():
    rng = np.random.default_rng(2)
    samples, points = rng.random((30, 4)), rng.random((9, 4))
    sigmas = np.array([0.2, 0.5, 0.9])
    together = parzen_log_density(samples, points, sigmas, sample_chunk=7, point_chunk=4)
    for s, row in zip(sigmas, together, strict=True):
        np.testing.assert_allclose(row, parzen_log_likelihood(samples, points, s), rtol=1e-5)


def test_bandwidth_selection_recovers_the_noise_level():
    # Far-apart centres; validation points are centres plus N(0, 0.3^2) noise, so each point's
    # density is its own centre's kernel and the likelihood peaks at sigma ~ 0.3. The grid
    # value closest to 0.3 is 10^(-5/9) ~ 0.278.
    rng = np.random.default_rng(3)
    centres = 50.0 * rng.normal(size=(20, 8))
    validation = centres[rng.integers(0, 20, 2000)] + 0.3 * rng.normal(size=(2000, 8))
    selection = select_bandwidth(centres, validation)
    np.testing.assert_allclose(selection.sigma, 10 ** (-5 / 9), rtol=1e-6)
    assert selection.sigma == selection.sigmas[np.argmax(selection.validation_log_likelihood)]


def test_evaluate_reports_test_mean_and_standard_error_at_the_chosen_sigma():
    rng = np.random.default_rng(4)
    samples, validation, test = rng.random((40, 6)), rng.random((30, 6)), rng.random((25, 6))
    result = parzen_evaluate(samples, validation, test, sample_chunk=16, point_chunk=8)
    assert result.sigma == select_bandwidth(samples, validation).sigma
    test_ll = np.asarray(parzen_log_likelihood(samples, test, result.sigma), np.float64)
    np.testing.assert_allclose(result.mean, test_ll.mean(), rtol=1e-6)
    np.testing.assert_allclose(result.stderr, test_ll.std(ddof=1) / 5.0, rtol=1e-6)


def test_bad_bandwidths_are_rejected():
    with pytest.raises(ValueError, match="positive"):
        select_bandwidth(np.zeros((3, 2)), np.zeros((2, 2)), sigmas=[0.1, 0.0])


_N, _M, _D = 13, 7, 3
_coords = st.floats(-3.0, 3.0, width=32)


@settings(max_examples=25, deadline=None)
@given(
    samples=hnp.arrays(np.float32, (_N, _D), elements=_coords),
    points=hnp.arrays(np.float32, (_M, _D), elements=_coords),
    perm_s=st.permutations(range(_N)),
    perm_p=st.permutations(range(_M)),
    shift=hnp.arrays(np.float32, (_D,), elements=st.floats(-10.0, 10.0, width=32)),
    sigma=st.sampled_from(PAPER_BANDWIDTHS),
)
def test_properties(samples, points, perm_s, perm_p, shift, sigma):
    ll = np.asarray(parzen_log_likelihood(samples, points, sigma, sample_chunk=4, point_chunk=3))
    # Invariant to the order of the samples, equivariant to the order of the points.
    permuted = parzen_log_likelihood(samples[list(perm_s)], points[list(perm_p)], sigma)
    np.testing.assert_allclose(permuted, ll[list(perm_p)], rtol=1e-4, atol=1e-3)
    # Invariant to moving samples and points together.
    shifted = parzen_log_likelihood(samples + shift, points + shift, sigma)
    np.testing.assert_allclose(shifted, ll, rtol=1e-4, atol=1e-3)
    # No point scores above the peak of one kernel.
    assert np.all(ll <= -0.5 * _D * np.log(2 * np.pi * sigma**2) + 1e-4)


def test_log_likelihood_falls_as_points_move_away_from_the_samples():
    rng = np.random.default_rng(5)
    samples = rng.normal(size=(50, 4))
    direction = jnp.ones((1, 4)) / 2.0
    lls = [float(parzen_log_likelihood(samples, 3.0 * t * direction, 0.5)[0]) for t in range(6)]
    assert np.all(np.diff(lls[1:]) < 0)
