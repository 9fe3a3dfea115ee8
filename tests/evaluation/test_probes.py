import numpy as np
import pytest

from gae_jax.data import load_dataset
from gae_jax.evaluation import leave_one_out_accuracy, pca_svm_accuracy, svm_accuracy

TRAIN = load_dataset("digits", "train")
TEST = load_dataset("digits", "test")


@pytest.mark.parametrize(("kernel", "floor"), [("rbf", 0.9), ("linear", 0.85)])
def test_svm_on_pixels_beats_chance(kernel, floor):
    acc = svm_accuracy(TRAIN.images, TRAIN.labels, TEST.images, TEST.labels, kernel=kernel)
    assert acc > floor  # chance is 0.1


def test_pca_baseline_beats_chance_and_improves_with_components():
    args = (TRAIN.images, TRAIN.labels, TEST.images, TEST.labels)
    one = pca_svm_accuracy(*args, num_components=1)
    ten = pca_svm_accuracy(*args, num_components=10)
    assert 0.1 < one < ten
    assert ten > 0.85


def test_pca_baseline_is_reproducible():
    # 1437 x 64 pixels with 10 components takes sklearn's randomized SVD path.
    args = (TRAIN.images, TRAIN.labels, TEST.images, TEST.labels)
    runs = {pca_svm_accuracy(*args, num_components=10, kernel="linear") for _ in range(3)}
    assert len(runs) == 1


def test_unknown_kernel_is_rejected():
    with pytest.raises(ValueError, match="kernel"):
        svm_accuracy(TRAIN.images, TRAIN.labels, TEST.images, TEST.labels, kernel="poly")


def test_leave_one_out_on_digits():
    result = leave_one_out_accuracy(
        TRAIN.images, TRAIN.labels, num_classes=10, examples_per_class=8
    )
    assert result.fold_accuracies.shape == (8,)
    np.testing.assert_array_equal(result.classes, np.arange(10))
    assert result.accuracy == pytest.approx(result.fold_accuracies.mean())
    assert result.accuracy > 0.5  # chance is 0.1


def test_leave_one_out_holds_out_the_jth_example_of_every_class_in_fold_j():
    # Well-separated classes, interleaved in the data, except that the first example of each
    # class sits on the next class's centre: only fold 0 tests on those and gets all wrong.
    num_classes, n = 5, 6
    labels = np.tile(np.arange(num_classes), n)
    centres = 10.0 * np.eye(num_classes)
    noise = 0.1 * np.random.default_rng(0).normal(size=(num_classes * n, num_classes))
    features = centres[labels] + noise
    features[:num_classes] = centres[(labels[:num_classes] + 1) % num_classes]
    result = leave_one_out_accuracy(features, labels, num_classes=num_classes)
    assert result.fold_accuracies[0] == 0.0
    np.testing.assert_array_equal(result.fold_accuracies[1:], 1.0)
    assert result.accuracy == pytest.approx((n - 1) / n)


def test_leave_one_out_draws_the_requested_number_of_classes():
    result = leave_one_out_accuracy(
        TRAIN.images, TRAIN.labels, num_classes=4, examples_per_class=5, seed=3
    )
    assert result.classes.shape == (4,)
    assert np.unique(result.classes).size == 4
    other = leave_one_out_accuracy(
        TRAIN.images, TRAIN.labels, num_classes=4, examples_per_class=5, seed=4
    )
    assert not np.array_equal(result.classes, other.classes)


def test_leave_one_out_argument_checks():
    with pytest.raises(ValueError, match="classes"):
        leave_one_out_accuracy(TRAIN.images, TRAIN.labels, num_classes=11)
    with pytest.raises(ValueError, match="examples_per_class"):
        leave_one_out_accuracy(TRAIN.images, TRAIN.labels, num_classes=10, examples_per_class=1000)
