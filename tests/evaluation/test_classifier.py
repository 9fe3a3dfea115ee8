import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gae_jax.data import load_dataset
from gae_jax.evaluation import (
    MLPClassifier,
    classifier_accuracy,
    penultimate_features,
    predict_logits,
    synthetic_data_protocol,
    train_classifier,
)

TRAIN = load_dataset("digits", "train")
TEST = load_dataset("digits", "test")
SMALL = MLPClassifier(10, (32,))


def test_default_classifier_learns_digits():
    model = MLPClassifier(10)
    assert tuple(model.hidden) == (500, 500)  # paper 002
    result = train_classifier(
        jax.random.key(0), model, TRAIN.images, TRAIN.labels, num_steps=400, batch_size=64
    )
    assert result.losses.shape == (400,)
    assert result.losses[-50:].mean() < 0.2 * result.losses[:10].mean()
    assert classifier_accuracy(model, result.params, TEST.images, TEST.labels) > 0.9


def test_one_hot_soft_labels_train_exactly_like_hard_labels():
    train = lambda y: (
        train_classifier(
            jax.random.key(1), SMALL, TRAIN.images, y, num_steps=20, batch_size=32
        ).params
    )
    hard = train(TRAIN.labels)
    soft = train(jax.nn.one_hot(TRAIN.labels, 10))
    jax.tree.map(np.testing.assert_array_equal, hard, soft)


def test_num_examples_trains_on_a_prefix():
    kwargs = dict(num_steps=20, batch_size=32)
    prefix = train_classifier(
        jax.random.key(2), SMALL, TRAIN.images[:100], TRAIN.labels[:100], **kwargs
    ).params
    masked = train_classifier(
        jax.random.key(2),
        SMALL,
        TRAIN.images,
        TRAIN.labels,
        num_examples=jnp.int32(100),
        **kwargs,
    ).params
    jax.tree.map(np.testing.assert_array_equal, prefix, masked)


@pytest.mark.parametrize("y", [jnp.ones((1437, 3)), jnp.ones((1437, 3), jnp.int32)])
def test_labels_of_the_wrong_shape_are_rejected(y):
    with pytest.raises(ValueError, match="probabilities"):
        train_classifier(jax.random.key(0), SMALL, TRAIN.images, y, num_steps=1)


def test_logits_are_a_linear_read_out_of_the_penultimate_features():
    params = SMALL.init(jax.random.key(3), TEST.images[:1])["params"]
    features = penultimate_features(SMALL, params, TEST.images, batch_size=50)
    logits = predict_logits(SMALL, params, TEST.images, batch_size=50)
    assert features.shape == (180, 32)
    assert np.all(np.asarray(features) >= 0)  # ReLU outputs
    head = params["output_layer"]
    np.testing.assert_allclose(
        logits, features @ head["kernel"] + head["bias"], rtol=1e-5, atol=1e-5
    )
    np.testing.assert_allclose(logits, SMALL.apply({"params": params}, TEST.images), atol=1e-5)


def run_protocol(synthetic):
    return synthetic_data_protocol(
        jax.random.key(4),
        synthetic,
        TRAIN.images,
        TRAIN.labels,
        TEST.images,
        TEST.labels,
        sample_counts=(20, 100, 500),
        num_classes=10,
        hidden=(128,),
        num_steps=300,
        batch_size=64,
    )


# Easy case: the "synthetic" samples are noisy copies of the training images.
NOISY_COPIES = np.clip(
    TRAIN.images + 0.1 * np.random.default_rng(0).normal(size=TRAIN.images.shape), 0.0, 1.0
).astype(np.float32)


@pytest.fixture(scope="module")
def curves():
    return run_protocol(NOISY_COPIES)


def test_synthetic_protocol_bookkeeping(curves):
    np.testing.assert_array_equal(curves.sample_counts, [20, 100, 500])
    for curve in (curves.synthetic, curves.lower_bound, curves.upper_bound):
        assert curve.shape == (3,)
        assert np.all((curve >= 0) & (curve <= 1))
    assert curves.ground_truth > 0.9


def test_synthetic_protocol_orders_the_bounds_on_an_easy_case(curves):
    # Good samples teach more than labelled noise; more samples teach more.
    assert curves.upper_bound[-1] > curves.lower_bound[-1]
    assert curves.synthetic[-1] > curves.lower_bound[-1]
    assert curves.synthetic[-1] > curves.synthetic[0]
    assert curves.upper_bound[-1] > curves.upper_bound[0]


def test_synthetic_protocol_scores_several_sets_against_one_reference(curves):
    # Common random numbers: a set scored with others gets exactly its curve when scored alone,
    # and the shared ground truth and bounds are those of the single-set run.
    both = run_protocol({"copies": NOISY_COPIES, "grey": np.full_like(NOISY_COPIES, 0.5)})
    np.testing.assert_array_equal(both.synthetic["copies"], curves.synthetic)
    np.testing.assert_array_equal(both.lower_bound, curves.lower_bound)
    np.testing.assert_array_equal(both.upper_bound, curves.upper_bound)
    assert both.ground_truth == curves.ground_truth
    # A constant grey image carries one label: far worse training data than the copies.
    assert both.synthetic["grey"][-1] < both.synthetic["copies"][-1] - 0.3


@pytest.mark.parametrize("counts", [(100, 50), (0, 10), (10, 5000)])
def test_synthetic_protocol_rejects_bad_counts(counts):
    with pytest.raises(ValueError, match="sample_counts"):
        synthetic_data_protocol(
            jax.random.key(0),
            TRAIN.images,
            TRAIN.images,
            TRAIN.labels,
            TEST.images,
            TEST.labels,
            sample_counts=counts,
            num_classes=10,
        )
