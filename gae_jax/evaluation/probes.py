"""Linear and RBF SVM probes on encodings, and the PCA + SVM baseline (paper 001, §VI-F, App. E).

* :func:`svm_accuracy` -- fit an SVM on training features, report test accuracy (Table VI: RBF
  SVM on encodings of MNIST).
* :func:`pca_svm_accuracy` -- the baseline: PCA of the raw pixels to as many components as the
  latent dimension, then the same SVM.
* :func:`leave_one_out_accuracy` -- the 20-way Omniglot protocol of Table II (see its docstring
  for how we read the paper).

Features are used as given (no standardisation; paper 001 names none): the RBF kernel uses
scikit-learn's ``gamma="scale"``, 1 / (D * Var[features]), which adapts to the overall scale
and keeps the relative scale of PCA components, as a plain PCA + SVM pipeline does.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from sklearn.decomposition import PCA
from sklearn.svm import SVC, LinearSVC

KERNELS = ("rbf", "linear")


def _flat(x) -> np.ndarray:
    x = np.asarray(x)
    return x.reshape(x.shape[0], -1)


def _make_svm(kernel: str, C: float):
    if kernel == "rbf":
        return SVC(kernel="rbf", C=C, gamma="scale")
    if kernel == "linear":
        # liblinear (one-vs-rest) scales to many examples far better than SVC's libsvm;
        # the generous iteration cap avoids convergence warnings on unscaled encodings.
        return LinearSVC(C=C, max_iter=20_000)
    raise ValueError(f"kernel must be one of {KERNELS}, got {kernel!r}")


def svm_accuracy(
    train_features,
    train_labels,
    test_features,
    test_labels,
    *,
    kernel: str = "rbf",
    C: float = 1.0,
) -> float:
    """Trains an SVM on features and returns its test accuracy.

    Args:
      train_features: float[N, ...] (e.g. encodings float32[N, D]); trailing axes are flattened.
      train_labels: int[N].
      test_features: float[M, ...].
      test_labels: int[M].
      kernel: ``rbf`` (``sklearn.svm.SVC``) or ``linear`` (``sklearn.svm.LinearSVC``).
      C: regularisation parameter.

    Returns:
      Fraction of test examples classified correctly.
    """
    svm = _make_svm(kernel, C).fit(_flat(train_features), np.asarray(train_labels))
    return float(np.mean(svm.predict(_flat(test_features)) == np.asarray(test_labels)))


def pca_svm_accuracy(
    train_images,
    train_labels,
    test_images,
    test_labels,
    *,
    num_components: int,
    kernel: str = "rbf",
    C: float = 1.0,
) -> float:
    """The PCA + SVM baseline: project pixels on the top principal components, then an SVM.

    Args:
      train_images: float[N, H, W, C] (flattened to pixels); PCA is fitted on these only.
      train_labels: int[N].
      test_images: float[M, H, W, C].
      test_labels: int[M].
      num_components: number of principal components; the latent dimension of the models it
        is compared with (10 for paper 001's MNIST models).
      kernel: ``rbf`` or ``linear``.
      C: regularisation parameter.

    Returns:
      Test accuracy.
    """
    # sklearn picks a randomized SVD for few components of large data; a fixed seed makes
    # the baseline reproducible run to run.
    pca = PCA(n_components=num_components, random_state=0).fit(_flat(train_images))
    return svm_accuracy(
        pca.transform(_flat(train_images)),
        train_labels,
        pca.transform(_flat(test_images)),
        test_labels,
        kernel=kernel,
        C=C,
    )


class LeaveOneOutResult(NamedTuple):
    accuracy: float  # mean over folds of the per-fold accuracy
    fold_accuracies: np.ndarray  # float64[examples_per_class]
    classes: np.ndarray  # int[num_classes], the classes used


def leave_one_out_accuracy(
    features,
    labels,
    *,
    num_classes: int = 20,
    examples_per_class: int | None = None,
    seed: int = 0,
    C: float = 1.0,
) -> LeaveOneOutResult:
    """Paper 001's 20-way leave-one-out linear SVM (Omniglot evaluation classes, Table II).

    Our reading of §VI-F1: take 20 classes of the Omniglot *evaluation* set (characters never
    seen while training the autoencoder), each with its 20 examples. Fold j (j = 1..20) trains a
    linear SVM on the 19 examples of every class other than the j-th and tests it on the j-th
    example of every class (20 test points, chance 5%); the reported accuracy is the mean over
    the 20 folds. It is therefore 20-way, 19-shot classification, not one-shot episodes. The
    paper does not say which 20 classes; we draw them at random with ``seed`` when more are
    given, and take each class's first examples in the order they appear.

    Args:
      features: float[N, ...] encodings (or PCA projections) of the examples.
      labels: int[N] class of each example.
      num_classes: classes per experiment (20 in the paper).
      examples_per_class: examples (= folds) per class; default: as many as the smallest
        chosen class has (20 for Omniglot).
      seed: chooses the classes when more than ``num_classes`` are present.
      C: regularisation parameter of the linear SVM.

    Returns:
      A :class:`LeaveOneOutResult`.
    """
    features, labels = _flat(features), np.asarray(labels)
    present = np.unique(labels)
    if num_classes > present.size:
        raise ValueError(f"need {num_classes} classes, the labels have {present.size}")
    classes = np.sort(np.random.default_rng(seed).choice(present, num_classes, replace=False))
    members = [np.flatnonzero(labels == c) for c in classes]
    smallest = min(len(m) for m in members)
    n = smallest if examples_per_class is None else examples_per_class
    if not 2 <= n <= smallest:
        raise ValueError(
            f"examples_per_class must be in [2, {smallest}] (the smallest chosen class), got {n}"
        )
    index = np.stack([m[:n] for m in members])  # [num_classes, n]
    fold_accuracies = np.empty(n)
    for j in range(n):
        held_out = np.arange(n) == j
        train, test = index[:, ~held_out].reshape(-1), index[:, held_out].reshape(-1)
        fold_accuracies[j] = svm_accuracy(
            features[train], labels[train], features[test], labels[test], kernel="linear", C=C
        )
    return LeaveOneOutResult(float(fold_accuracies.mean()), fold_accuracies, classes)
