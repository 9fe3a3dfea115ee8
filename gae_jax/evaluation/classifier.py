"""A small MLP classifier and paper 002's synthetic-data protocol.

The classifier ([500, 500] ReLU by default, paper 002's MNIST ground truth) serves three
measures: labelling synthetic samples (soft labels), scoring how well a classifier trained only
on synthetic data does on real test data, and providing penultimate features for the Fréchet
distance (:mod:`gae_jax.evaluation.frechet`) and class occupancy (:mod:`.diagnostics`).

Training is a single ``lax.scan`` over minibatches drawn uniformly with replacement, so one
compiled program trains a whole classifier and ``vmap`` can train several at once (the
protocol trains every point of a curve in parallel that way).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, PartitionSpec

from gae_jax import parallel
from gae_jax.evaluation.common import apply_in_batches


class MLPClassifier(nn.Module):
    """Flattens its input and applies ReLU dense layers, then a linear layer to class logits."""

    num_classes: int
    hidden: Sequence[int] = (500, 500)

    def setup(self):
        self.hidden_layers = [nn.Dense(width) for width in self.hidden]
        self.output_layer = nn.Dense(self.num_classes)

    def features(self, x: jax.Array) -> jax.Array:
        """x: float32[B, ...] -> penultimate activations float32[B, hidden[-1]]."""
        h = x.reshape(x.shape[0], -1)
        for layer in self.hidden_layers:
            h = nn.relu(layer(h))
        return h

    def __call__(self, x: jax.Array) -> jax.Array:
        """x: float32[B, ...] -> logits float32[B, num_classes]."""
        return self.output_layer(self.features(x))


class TrainedClassifier(NamedTuple):
    params: dict  # the classifier's "params" collection
    losses: jax.Array  # float32[num_steps], training cross-entropy of each minibatch


@functools.partial(jax.jit, static_argnames=("model", "num_steps", "batch_size", "learning_rate"))
def train_classifier(
    rng_key: jax.Array,
    model: MLPClassifier,
    x: jax.Array,
    y: jax.Array,
    *,
    num_steps: int,
    batch_size: int = 128,
    learning_rate: float = 1e-3,
    num_examples: int | jax.Array | None = None,
) -> TrainedClassifier:
    """Trains a classifier from scratch with Adam on softmax cross-entropy.

    Args:
      rng_key: a ``jax.random.key`` for initialisation and minibatches.
      model: the (static) classifier module.
      x: float32[N, ...] inputs.
      y: hard labels int[N], or soft labels float32[N, num_classes] (probabilities, e.g. a
        teacher's softmax): the loss is the cross-entropy against them in both cases.
      num_steps: optimisation steps.
      batch_size: examples per step, drawn uniformly with replacement.
      learning_rate: Adam step size.
      num_examples: train only on the first ``num_examples`` rows (may be traced, so a ``vmap``
        over it trains classifiers on nested subsets); all N by default.

    Returns:
      The trained parameters and the per-step losses.
    """
    if jnp.issubdtype(y.dtype, jnp.integer) and y.ndim == 1:
        targets = jax.nn.one_hot(y, model.num_classes)
    elif y.ndim == 2 and y.shape[1] == model.num_classes:
        targets = y.astype(jnp.float32)
    else:
        raise ValueError(
            f"y must be int labels [N] or probabilities [N, {model.num_classes}], got "
            f"{y.dtype}{list(y.shape)}"
        )
    n = x.shape[0] if num_examples is None else num_examples
    k_init, k_batch = jax.random.split(rng_key)
    params = model.init(k_init, x[:1])["params"]
    tx = optax.adam(learning_rate)

    def loss_fn(params, xb, tb):
        logits = model.apply({"params": params}, xb)
        return optax.softmax_cross_entropy(logits, tb).mean()

    def step(carry, i):
        params, opt_state = carry
        idx = jax.random.randint(jax.random.fold_in(k_batch, i), (batch_size,), 0, n)
        loss, grads = jax.value_and_grad(loss_fn)(params, x[idx], targets[idx])
        updates, opt_state = tx.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), loss

    (params, _), losses = jax.lax.scan(step, (params, tx.init(params)), jnp.arange(num_steps))
    return TrainedClassifier(params, losses)


def predict_logits(
    model: MLPClassifier,
    params,
    x: jax.Array,
    *,
    batch_size: int = 1000,
    mesh: Mesh | None = None,
) -> jax.Array:
    """x: float32[N, ...] -> logits float32[N, num_classes], in batches.

    Args:
      mesh: a 1-D device mesh (of one or several processes) to split ``x`` over, each device
        classifying its share in batches; ``x`` and ``params`` must then be host values, the
        same on every process, and the result is a numpy array on every process. None: the
        default device.
    """
    return _apply(model, "__call__", params, x, batch_size, mesh)


def penultimate_features(
    model: MLPClassifier,
    params,
    x: jax.Array,
    *,
    batch_size: int = 1000,
    mesh: Mesh | None = None,
) -> jax.Array:
    """x: float32[N, ...] -> last hidden layer's activations float32[N, hidden[-1]].

    Args:
      mesh: devices to split ``x`` over (see :func:`predict_logits`).
    """
    return _apply(model, "features", params, x, batch_size, mesh)


def _apply(model: MLPClassifier, method: str, params, x, batch_size: int, mesh: Mesh | None):
    if mesh is None:
        return _batched(model, method, batch_size)(params, x)
    sharded, n = parallel.shard_padded(np.asarray(x, np.float32), mesh)
    out = _batched(model, method, batch_size, mesh)(parallel.replicate(params, mesh), sharded)
    return parallel.gather(out)[:n]


# Cached, so that repeated calls on same-shaped inputs reuse one compiled loop (un-jitted, the
# lax.map inside was traced and compiled afresh on every call).
@functools.lru_cache(maxsize=16)
def _batched(model: MLPClassifier, method: str, batch_size: int, mesh: Mesh | None = None):
    """The compiled ``(params, x) -> model.<method>(x)`` in batches of ``batch_size`` rows; with
    a mesh, every device applies it to its share of the rows (no communication)."""

    def apply(params, x):
        fn = lambda xb: model.apply({"params": params}, xb, method=method)  # noqa: E731
        return apply_in_batches(fn, x, batch_size)

    if mesh is None:
        return jax.jit(apply)
    (axis,) = mesh.axis_names
    return jax.jit(
        jax.shard_map(
            apply,
            mesh=mesh,
            in_specs=(PartitionSpec(), PartitionSpec(axis)),
            out_specs=PartitionSpec(axis),
        )
    )


def classifier_accuracy(
    model: MLPClassifier, params, x: jax.Array, labels: jax.Array, *, batch_size: int = 1000
) -> jax.Array:
    """Fraction of ``x`` (float32[N, ...]) whose arg-max logit equals ``labels`` (int[N])."""
    logits = predict_logits(model, params, x, batch_size=batch_size)
    return jnp.mean(jnp.argmax(logits, axis=-1) == labels)


class SyntheticDataCurves(NamedTuple):
    """Paper 002's curves: real-test accuracy against the number of training examples."""

    sample_counts: np.ndarray  # int64[P]
    # float64[P], trained on the synthetic samples and their soft labels; a pytree of such
    # curves, one per set, when several synthetic sets are given
    synthetic: np.ndarray
    lower_bound: np.ndarray  # float64[P], trained on N(0, I) inputs labelled the same way
    upper_bound: np.ndarray  # float64[P], trained on real data (min(count, N_real) examples)
    ground_truth: float  # test accuracy of the labelling ("ground truth") classifier


def synthetic_data_protocol(
    rng_key: jax.Array,
    synthetic_images,
    train_images: jax.Array,
    train_labels: jax.Array,
    test_images: jax.Array,
    test_labels: jax.Array,
    *,
    sample_counts: Sequence[int],
    num_classes: int,
    hidden: Sequence[int] = (500, 500),
    num_steps: int = 2000,
    batch_size: int = 128,
    learning_rate: float = 1e-3,
) -> SyntheticDataCurves:
    """Paper 002 §IV: how good are synthetic samples as training data for a classifier?

    1. A ground-truth classifier is trained on the real training data.
    2. It labels the synthetic samples with soft labels: its softmax probabilities (paper 002's
       "logit/distillation"; the paper fits them with a binary cross-entropy on the logits, we
       use the usual softmax cross-entropy against the probabilities).
    3. For every count n, a fresh classifier of the same architecture is trained only on the
       first n synthetic (X, Y) pairs and scored on the real test set.
    4. Lower bound: the same with n inputs drawn from N(0, I) and labelled by the ground truth.
       Upper bound: the same with n real training examples and their labels.

    Every classifier uses the same initialisation and minibatch key (common random numbers), so
    differences between the curves come from the data. Each trains for ``num_steps`` steps
    whatever n is, so the curves measure the information in n examples, not the training time.
    Several synthetic sets (e.g. one per autoencoder) can be scored against one ground truth and
    one pair of bounds by passing them as a pytree.

    Args:
      rng_key: a ``jax.random.key``.
      synthetic_images: float32[S, H, W, C] samples, e.g. from a sampler chain after burn-in;
        or a pytree (e.g. a dict) of such arrays, each with its own S.
      train_images: float32[N, H, W, C] real training images.
      train_labels: int32[N].
      test_images: float32[M, H, W, C] real test images.
      test_labels: int32[M].
      sample_counts: increasing counts n, each at most S.
      num_classes: number of classes.
      hidden: hidden widths of every classifier.
      num_steps: optimisation steps of every classifier.
      batch_size: minibatch size.
      learning_rate: Adam step size.

    Returns:
      A :class:`SyntheticDataCurves`; its ``synthetic`` has the structure of
      ``synthetic_images``.
    """
    counts = np.asarray(sample_counts, np.int64)
    num_synthetic = min(x.shape[0] for x in jax.tree.leaves(synthetic_images))
    if counts.ndim != 1 or counts.size == 0 or np.any(np.diff(counts) <= 0) or counts[0] < 1:
        raise ValueError(f"sample_counts must be positive and increasing, got {sample_counts}")
    if counts[-1] > num_synthetic:
        raise ValueError(
            f"sample_counts go up to {counts[-1]} but only {num_synthetic} synthetic samples given"
        )
    model = MLPClassifier(num_classes, tuple(hidden))
    train = functools.partial(
        train_classifier,
        model=model,
        num_steps=num_steps,
        batch_size=batch_size,
        learning_rate=learning_rate,
    )
    k_truth, k_noise, k_fresh = jax.random.split(rng_key, 3)
    truth = train(k_truth, x=train_images, y=train_labels).params
    soft_labels = lambda x: jax.nn.softmax(predict_logits(model, truth, x), axis=-1)
    noise = jax.random.normal(k_noise, (int(counts[-1]), *train_images.shape[1:]))

    def curve(x, y, ns):  # -> float64[P]
        fit = lambda n: train(k_fresh, x=x, y=y, num_examples=n).params
        params = jax.vmap(fit)(jnp.asarray(ns, jnp.int32))
        score = lambda p: classifier_accuracy(model, p, test_images, test_labels)
        return np.asarray(jax.vmap(score)(params), np.float64)

    return SyntheticDataCurves(
        sample_counts=counts,
        synthetic=jax.tree.map(lambda x: curve(x, soft_labels(x), counts), synthetic_images),
        lower_bound=curve(noise, soft_labels(noise), counts),
        upper_bound=curve(train_images, train_labels, np.minimum(counts, train_images.shape[0])),
        ground_truth=float(classifier_accuracy(model, truth, test_images, test_labels)),
    )
