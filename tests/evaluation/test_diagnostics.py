import numpy as np
import pytest
from scipy.signal import lfilter

from gae_jax.evaluation import (
    autocorrelation,
    bulk_ess,
    class_occupancy,
    split_rhat,
)


def ar1_chains(rng, rho, chains, draws):
    """Stationary AR(1) chains x_t = rho x_{t-1} + sqrt(1 - rho^2) eps_t with unit variance."""
    eps = rng.normal(size=(chains, draws)) * np.sqrt(1 - rho**2)
    eps[:, 0] = rng.normal(size=chains)  # start in the stationary distribution
    return lfilter([1.0], [1.0, -rho], eps, axis=1)


def test_iid_chains_have_rhat_one_and_ess_near_the_number_of_draws():
    x = np.random.default_rng(0).normal(size=(4, 1000))
    assert abs(split_rhat(x) - 1.0) < 0.01
    assert bulk_ess(x) == pytest.approx(4000, rel=0.1)


@pytest.mark.parametrize("rho", [0.5, 0.8])
def test_ess_of_ar1_chains_matches_theory(rho):
    x = ar1_chains(np.random.default_rng(1), rho, chains=4, draws=5000)
    theory = x.size * (1 - rho) / (1 + rho)
    assert bulk_ess(x) == pytest.approx(theory, rel=0.15)
    assert split_rhat(x) < 1.01


def test_bulk_ess_is_invariant_to_monotone_transforms():
    # Rank-normalisation makes it so (the folded tail R-hat is not: folding is not monotone).
    x = ar1_chains(np.random.default_rng(2), 0.6, chains=3, draws=800)
    assert bulk_ess(np.exp(3 * x)) == pytest.approx(bulk_ess(x), rel=1e-9)


def test_rhat_flags_chains_with_shifted_means():
    x = np.random.default_rng(3).normal(size=(4, 500))
    x[3] += 2.0
    assert split_rhat(x) > 1.1


def test_rhat_flags_a_trend_within_one_chain():
    # Splitting each chain in two catches non-stationarity even with a single chain.
    x = np.random.default_rng(4).normal(size=(1, 1000)) + np.linspace(0, 3, 1000)
    assert split_rhat(x) > 1.1


def test_folded_rhat_flags_chains_with_different_scales():
    # Same location, different spread: invisible to the bulk R-hat, caught by the tail one.
    x = np.random.default_rng(5).normal(size=(4, 1000))
    x[:2] *= 4.0
    assert split_rhat(x) > 1.1


# Reference values from ArviZ 0.23.4 (az.ess(x, method="bulk"), az.rhat(x, method="rank")),
# computed once on exactly these arrays; ArviZ is not a dependency.
ARVIZ_CASES = {
    "ar1": (
        lambda: ar1_chains(np.random.default_rng(10), 0.9, chains=3, draws=401),
        71.99480743512859,
        1.0703039726169976,
    ),
    "cauchy": (
        lambda: np.random.default_rng(11).standard_cauchy(size=(2, 257)),
        505.53357289129985,
        1.001740274263317,
    ),
    "shifted": (
        lambda: np.random.default_rng(12).normal(size=(4, 100)) + [[0], [0], [0], [0.7]],
        123.79205709995891,
        1.0417859635983961,
    ),
}


@pytest.mark.parametrize("case", sorted(ARVIZ_CASES))
def test_matches_arviz(case):
    make, ess, rhat = ARVIZ_CASES[case]
    x = make()
    assert bulk_ess(x) == pytest.approx(ess, rel=1e-9)
    assert split_rhat(x) == pytest.approx(rhat, rel=1e-9)


def test_chains_must_be_a_matrix_with_enough_draws():
    with pytest.raises(ValueError, match="chains, draws"):
        bulk_ess(np.zeros(100))
    with pytest.raises(ValueError, match="chains, draws"):
        split_rhat(np.zeros((4, 3)))


def test_autocorrelation_matches_direct_sums_and_ar1_decay():
    rng = np.random.default_rng(6)
    x = rng.normal(size=37)
    centred = x - x.mean()
    direct = np.array([centred[: 37 - t] @ centred[t:] for t in range(37)]) / (centred @ centred)
    np.testing.assert_allclose(autocorrelation(x), direct, atol=1e-12)
    chains = ar1_chains(rng, 0.7, chains=8, draws=20000)
    acf = autocorrelation(chains.T, axis=0).mean(axis=1)
    np.testing.assert_allclose(acf[:4], 0.7 ** np.arange(4), atol=0.02)


def test_class_occupancy_counts_fractions_and_covered_classes():
    predicted = np.array([[0, 0, 1, 1], [2, 2, 2, 2], [0, 1, 2, 3]])
    occupancy = class_occupancy(predicted, num_classes=5)
    np.testing.assert_allclose(
        occupancy.fractions,
        [[0.5, 0.5, 0, 0, 0], [0, 0, 1.0, 0, 0], [0.25, 0.25, 0.25, 0.25, 0]],
    )
    np.testing.assert_array_equal(occupancy.classes_covered, [2, 1, 4])
