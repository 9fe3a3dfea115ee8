"""Data sanity (issue 14, item 5): loaders check the dtype and value range they promise, refuse
out-of-range data naming the file before a workdir is touched, and warn about constant images."""

import logging
import struct

import numpy as np
import pytest
from helpers import idx_bytes, tiny_config

from gae_jax import data
from gae_jax.jobs import train_and_evaluate

_TYPE_CODES = {np.dtype(np.uint8): 0x08, np.dtype(">i2"): 0x0B, np.dtype(">f4"): 0x0D}


def _idx(array: np.ndarray) -> bytes:
    """``array`` as an IDX file of its own dtype (uint8, big-endian int16 or float32)."""
    dtype = array.dtype.newbyteorder(">") if array.dtype.itemsize > 1 else array.dtype
    header = struct.pack(">HBB", 0, _TYPE_CODES[dtype], array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(dtype).tobytes()


def _write_dir(root, train_images: np.ndarray, test_images: np.ndarray | None = None) -> str:
    """An ``idx:`` directory with the given training images (and random uint8 test images)."""
    rng = np.random.default_rng(0)
    test_images = (
        rng.integers(0, 256, (6, 8, 8)).astype(np.uint8) if test_images is None else test_images
    )
    (root / "train-images-idx3-ubyte").write_bytes(_idx(train_images))
    (root / "t10k-images-idx3-ubyte").write_bytes(_idx(test_images))
    labels = idx_bytes(rng.integers(0, 10, train_images.shape[0]))
    (root / "train-labels-idx1-ubyte").write_bytes(labels)
    (root / "t10k-labels-idx1-ubyte").write_bytes(
        idx_bytes(rng.integers(0, 10, test_images.shape[0]))
    )
    data._load_idx.cache_clear()
    return f"idx:{root}"


def test_float_idx_with_0_255_values_is_refused_naming_the_file_before_the_workdir(tmp_path):
    images = np.random.default_rng(1).integers(0, 256, (60, 8, 8)).astype(np.float32)
    name = _write_dir(tmp_path, images)
    with pytest.raises(
        data.DataError,
        match=r"train-images-idx3-ubyte: pixel values must lie in \[0, 1\], found 0\.\.255",
    ):
        data.load_dataset(name, "train")
    config = tiny_config(num_steps=2, batch_size=10)
    config.data.name = name
    workdir = tmp_path / "run"
    with pytest.raises(data.DataError, match="train-images-idx3-ubyte"):
        train_and_evaluate(config, str(workdir))
    assert not workdir.exists()


@pytest.mark.parametrize(
    "bad, match",
    [(np.nan, "NaN or infinite"), (np.inf, "NaN or infinite"), (-0.5, r"found -0\.5\.\.")],
)
def test_float_idx_with_nan_inf_or_negative_values_is_refused(tmp_path, bad, match):
    images = np.random.default_rng(2).random((12, 8, 8), dtype=np.float32)
    images[3, 2, 2] = bad
    name = _write_dir(tmp_path, images)
    with pytest.raises(data.DataError, match=f"train-images-idx3-ubyte.*{match}"):
        data.load_dataset(name, "validation")


def test_float_idx_in_range_is_kept_exactly_as_float32_records(tmp_path):
    images = np.random.default_rng(3).random((12, 8, 8), dtype=np.float32)
    name = _write_dir(tmp_path, images)
    source = data.open_source(name, "train")
    assert source.dtype == np.float32 and source.scale == 1.0
    np.testing.assert_array_equal(data.load_dataset(name, "train").images[..., 0], images[:10])


def test_integer_idx_other_than_uint8_must_be_binary(tmp_path):
    images = np.random.default_rng(4).integers(0, 256, (12, 8, 8)).astype(">i2")
    with pytest.raises(data.DataError, match="train-images-idx3-ubyte.*found 0..255"):
        data.load_dataset(_write_dir(tmp_path, images), "train")
    binary = (images > 127).astype(">i2")
    ds = data.load_dataset(_write_dir(tmp_path, binary), "train")
    assert ds.images.dtype == np.float32 and set(np.unique(ds.images)) == {0.0, 1.0}


def test_constant_and_all_zero_images_get_a_warning_naming_the_file(tmp_path, caplog):
    images = np.random.default_rng(5).integers(0, 256, (12, 8, 8)).astype(np.uint8)
    images[[2, 7]] = 0
    images[9] = 200
    name = _write_dir(tmp_path, images)
    with caplog.at_level(logging.WARNING):
        data.load_dataset(name, "train")
    (message,) = [r.getMessage() for r in caplog.records if "constant" in r.getMessage()]
    assert "train-images-idx3-ubyte: 3 of 12 images are constant (2 all zero)" in message
    assert "[2, 7, 9]" in message


def test_clean_data_gives_no_warning(tmp_path, caplog):
    images = np.random.default_rng(6).integers(0, 256, (12, 8, 8)).astype(np.uint8)
    with caplog.at_level(logging.WARNING):
        data.load_dataset(_write_dir(tmp_path, images), "train")
    assert not [r for r in caplog.records if "constant" in r.getMessage()]


def test_check_values_names_the_origin_and_the_promise():
    with pytest.raises(data.DataError, match=r"src: pixel values must lie in \[0, 16\]"):
        data.check_values(np.full((1, 2, 2, 1), 17, np.uint8), 16.0, "src")
    with pytest.raises(data.DataError, match="src: records must be uint8 or float32, got float64"):
        data.check_values(np.zeros((1, 2, 2, 1)), 1.0, "src")
    data.check_values(np.full((1, 2, 2, 1), 16, np.uint8), 16.0, "src")  # the top is allowed


def test_embedded_datasets_pass_their_own_checks():
    for name, scale in (("digits", 16.0), ("mnist5k", 255.0)):
        source = data.open_source(name, "train")
        assert source.dtype == np.uint8 and source.scale == scale
        assert source.images.max() <= scale
