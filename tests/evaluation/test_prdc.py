"""Precision/recall/density/coverage against answers known by construction or by hand."""

import jax
import numpy as np
import pytest

from gae_jax.evaluation.prdc import PRDC, manifold_radii, per_step_prdc, prdc


def numpy_prdc(real, fake, k):
    """The definitions written out with full float64 distance matrices."""
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    dist = lambda a, b: np.sqrt(np.square(a[:, None, :] - b[None, :, :]).sum(-1))  # noqa: E731
    real_radii = np.sort(dist(real, real), axis=1)[:, k]  # column 0 is the point itself
    fake_radii = np.sort(dist(fake, fake), axis=1)[:, k]
    d = dist(real, fake)  # [N, M]
    in_real_ball = d <= real_radii[:, None]
    return PRDC(
        precision=in_real_ball.any(axis=0).mean(),
        recall=(d <= fake_radii[None, :]).any(axis=1).mean(),
        density=in_real_ball.sum(axis=0).mean() / k,
        coverage=(d.min(axis=1) <= real_radii).mean(),
    )


def clusters(rng, centres, per_cluster, scale=0.5):
    """float32[len(centres) * per_cluster, F]: isotropic Gaussian blobs around ``centres``."""
    points = [c + scale * rng.normal(size=(per_cluster, centres.shape[1])) for c in centres]
    return np.concatenate(points).astype(np.float32)


@pytest.fixture
def ten_modes():
    rng = np.random.default_rng(0)
    # Ten modes of intrinsic dimension 2, embedded in 8-D, 20 standard deviations apart.
    centres = 10.0 * np.concatenate([np.eye(8), -np.eye(8)])[:10]
    embed = np.linalg.qr(rng.normal(size=(8, 8)))[0][:, :2]  # a random 2-D plane
    real = np.concatenate([c + 0.5 * rng.normal(size=(100, 2)) @ embed.T for c in centres]).astype(
        np.float32
    )
    fresh = np.concatenate([c + 0.5 * rng.normal(size=(100, 2)) @ embed.T for c in centres]).astype(
        np.float32
    )
    return real, fresh  # mode c holds rows [100 c, 100 c + 100) of each


def test_hand_computed_one_dimensional_example():
    real = np.array([0.0, 1.0, 3.0, 7.0], np.float32)[:, None]
    fake = np.array([0.5, 2.0, 11.5, 12.0, 20.0], np.float32)[:, None]
    # k = 1. Real radii (distance to the nearest other real point): 1, 1, 2, 4, so the real
    # balls are [-1, 1], [0, 2], [1, 5], [3, 11].
    # Real balls around each sample: 0.5 -> {[-1,1], [0,2]}; 2 -> {[0,2] (on its closed edge),
    # [1,5]}; 11.5, 12, 20 -> none. Counts 2, 2, 0, 0, 0.
    precision, density = 2 / 5, (2 + 2) / (1 * 5)
    # Nearest sample to each real point: 0 -> 0.5 (0.5 <= 1), 1 -> 0.5 (0.5 <= 1),
    # 3 -> 2 (1 <= 2), 7 -> 11.5 (4.5 > 4): three of four real balls hold a sample.
    coverage = 3 / 4
    # Sample radii: 0.5 -> 1.5, 2 -> 1.5, 11.5 -> 0.5, 12 -> 0.5, 20 -> 8; balls [-1, 2],
    # [0.5, 3.5], [11, 12], [11.5, 12.5], [12, 28] hold the real 0, 1 and 3 but not 7.
    recall = 3 / 4
    result = prdc(real, fake, k=1)
    np.testing.assert_allclose(result, (precision, recall, density, coverage), rtol=1e-6)
    np.testing.assert_allclose(manifold_radii(real, k=1), [1.0, 1.0, 2.0, 4.0], rtol=1e-6)
    # The same answers with one-row blocks (padding and block edges) and from NumPy.
    np.testing.assert_allclose(prdc(real, fake, k=1, block_size=1), result, rtol=1e-6)
    np.testing.assert_allclose(numpy_prdc(real, fake, 1), result, rtol=1e-6)


@pytest.mark.parametrize("k", [1, 3])
def test_identical_sets(ten_modes, k):
    rng = np.random.default_rng(k)
    features = (3.0 + rng.normal(size=(600, 64))).astype(np.float32)
    result = prdc(features, features, k=k, block_size=128)
    np.testing.assert_allclose(result.precision, 1.0)
    np.testing.assert_allclose(result.recall, 1.0)
    np.testing.assert_allclose(result.coverage, 1.0)
    # Each (closed) ball holds its own centre and its k neighbours: N (k + 1) memberships / kN.
    np.testing.assert_allclose(result.density, (k + 1) / k, rtol=1e-6)
    # Tight clusters far apart: neighbour gaps near float32 round-off of the norms, so a few
    # ties in a thousand may round either way; precision, recall and coverage are unaffected.
    real, _ = ten_modes
    result = prdc(real, real, k=k, block_size=128)
    np.testing.assert_allclose(result[:2], 1.0)
    np.testing.assert_allclose(result.coverage, 1.0)
    np.testing.assert_allclose(result.density, (k + 1) / k, rtol=0.01)


def test_independent_draws_of_the_same_distribution(ten_modes):
    real, fresh = ten_modes
    result = prdc(real, fresh, k=3)
    assert abs(float(result.density) - 1.0) < 0.1
    assert min(result.precision, result.recall, result.coverage) > 0.85


def test_half_of_the_modes_dropped(ten_modes):
    real, fresh = ten_modes
    # Samples of five of the ten modes only, drawn afresh: as real-looking as before, half the
    # data unreached.
    result = prdc(real, fresh[:500], k=3)
    assert float(result.precision) > 0.9
    assert abs(float(result.recall) - 0.5) < 0.05
    assert abs(float(result.coverage) - 0.5) < 0.05
    # The kept modes' real points themselves: exactly 1 and 1/2.
    exact = prdc(real, real[:500], k=3)
    np.testing.assert_allclose((exact.precision, exact.recall), (1.0, 0.5))
    np.testing.assert_allclose(exact.coverage, 0.5)


def test_shrunk_and_shifted_samples_lose_precision(ten_modes):
    real, fresh = ten_modes
    baseline = prdc(real, fresh, k=3)
    # Shrinking toward the mean (the feature-space picture of blur: averages of modes) puts
    # samples between the modes; shifting by two mode widths moves them off the modes.
    shrunk = real.mean(axis=0) + 0.7 * (fresh - real.mean(axis=0))
    shifted = fresh + 2.0
    for moved in (shrunk, shifted):
        result = prdc(real, moved, k=3)
        assert float(result.precision) < 0.5 * float(baseline.precision)
        assert float(result.density) < 0.5 * float(baseline.density)
        assert float(result.coverage) < float(baseline.coverage)


@pytest.mark.parametrize("k, block_size", [(3, 1024), (5, 37)])
def test_matches_numpy_on_random_data(k, block_size):
    rng = np.random.default_rng(k + block_size)
    real = rng.normal(size=(300, 12)).astype(np.float32)
    fake = (0.8 * rng.normal(size=(250, 12)) + 0.3).astype(np.float32)
    result = prdc(real, fake, k=k, block_size=block_size)
    expected = numpy_prdc(real, fake, k)
    # float32 vs float64 distances may flip a point lying within round-off of a ball's edge.
    np.testing.assert_allclose(result, expected, atol=2 / 250)
    order = np.sort(
        np.sqrt(np.square(real[:, None] - real[None]).sum(-1).astype(np.float64)), axis=1
    )
    np.testing.assert_allclose(manifold_radii(real, k), order[:, k], rtol=1e-4)


def test_per_step_prdc_is_prdc_of_each_step_and_jits(ten_modes):
    real, fresh = ten_modes
    steps = np.stack([fresh, fresh[::-1] + 1.0, real.mean(0) + 0.5 * (fresh - real.mean(0))])
    fn = jax.jit(per_step_prdc, static_argnames=("k", "block_size"))
    result = fn(real, steps, k=3, block_size=300)
    assert set(result) == {"precision", "recall", "density", "coverage"}
    for values in result.values():
        assert values.shape == (3,) and values.dtype == np.float32
    for s in range(3):
        np.testing.assert_allclose(
            [result[name][s] for name in PRDC._fields],
            prdc(real, steps[s], k=3, block_size=300),
            rtol=1e-6,
        )


def test_rejects_bad_shapes():
    x = np.zeros((10, 4), np.float32)
    with pytest.raises(ValueError, match="more than k"):
        prdc(x, x[:3], k=3)
    with pytest.raises(ValueError, match="feature sizes"):
        prdc(x, np.zeros((10, 5), np.float32))
    with pytest.raises(ValueError, match=r"\[S, M, F\]"):
        per_step_prdc(x, x)
