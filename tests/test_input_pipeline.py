"""The streaming input pipeline (gae_jax.data): uint8 record sources, per-record TFDS decoding,
batches streamed from (seed, step), exact float conversion on the device, and early clear errors
for a missing TFDS directory, a corrupt record and an image size the architecture cannot take."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tensorflow_datasets as tfds
from helpers import tiny_config

from gae_jax import builders, data
from gae_jax import config as config_lib
from gae_jax.jobs import train_and_evaluate
from gae_jax.train.writer import read_metrics


def _mesh(cfg=None):
    return builders.build_mesh(cfg or config_lib.validate(tiny_config(batch_size=32)))


def test_train_batches_stream_the_batch_order_from_any_start_step():
    source = data.open_source("digits", "train")
    order = data.BatchOrder(len(source), 32, seed=3)
    stream = data.TrainBatches(source, order, _mesh(), start_step=40, num_steps=50, prefetch=4)
    first = stream.take(3)
    assert first.dtype == jnp.uint8 and first.shape == (3, 32, 8, 8, 1)
    expected = np.stack([source.images[order.indices(s)] for s in (40, 41, 42)])
    np.testing.assert_array_equal(np.asarray(first), expected)
    # Epoch 0 ends at step 44: the stream crosses into the next permutation and stops at 50.
    rest = np.asarray(stream.take(7))
    np.testing.assert_array_equal(rest[-1], source.images[order.indices(49)])
    with pytest.raises(StopIteration):
        stream.take(1)


def test_to_float_on_the_device_equals_the_host_division_bit_for_bit():
    records = np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1)
    for scale in (255.0, 16.0, 1.0):
        host = records.astype(np.float32) / np.float32(scale)
        device = jax.jit(lambda x, s=scale: data.to_float(x, s))(records)
        assert device.dtype == jnp.float32
        np.testing.assert_array_equal(np.asarray(device).view(np.uint32), host.view(np.uint32))
    floats = np.random.default_rng(0).random((2, 4, 4, 1), dtype=np.float32)
    assert data.to_float(floats, 1.0) is floats


def test_with_float_images_feeds_the_step_float32_in_0_1():
    seen = {}

    def step(state, batch, rng_key):
        seen["dtype"], seen["max"] = batch.dtype, jnp.max(batch)
        return state, {}

    jax.jit(data.with_float_images(step, 255.0))(0, jnp.full((2, 3), 255, jnp.uint8), None)
    assert seen["dtype"] == jnp.float32


def test_process_rows_of_a_single_process_are_the_whole_batch():
    mesh = _mesh()
    sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("data"))
    assert data.process_rows(sharding, 64) == slice(0, 64)


def test_celeb_a_is_decoded_per_record_at_its_real_size_with_attributes():
    with tfds.testing.mock_data(num_examples=9):
        source = data.open_source("tfds:celeb_a", "train")
        assert isinstance(source, data.TfdsSource)
        assert source.image_shape == (64, 64, 3) and source.dtype == np.uint8
        assert source.read([4, 0, 4]).shape == (3, 64, 64, 3)
        test = data.load_dataset("tfds:celeb_a", "test")
    assert test.images.shape == (9, 64, 64, 3) and test.images.dtype == np.float32
    assert test.attributes.shape == (9, 40) and test.attributes.dtype == bool
    assert len(test.attribute_names) == 40 and "Smiling" in test.attribute_names
    assert test.labels is None


def test_crop_resize_of_a_record_takes_the_centre():
    image = np.zeros((218, 178, 3), np.uint8)
    image[20:198] = 255  # the central 178x178 square is white, the bands above and below black
    out = data._crop_resize_u8(image, 64)
    assert out.shape == (64, 64, 3) and out.dtype == np.uint8
    assert out.min() == 255


def _omniglot_source(classes: int, drawings: int):
    """A stand-in for TFDS's omniglot data source: ``classes`` characters x ``drawings``."""
    rng = np.random.default_rng(0)
    examples = [
        {"image": rng.integers(0, 256, (105, 105, 3), dtype=np.uint8), "label": c, "alphabet": 0}
        for _ in range(drawings)
        for c in range(classes)
    ]
    return lambda builder, split, **kwargs: examples


def test_omniglot105_is_binary_105px_with_19_train_and_1_test_drawing_per_character():
    with tfds.testing.mock_data(as_data_source_fn=_omniglot_source(classes=3, drawings=20)):
        train = data.load_dataset("tfds:omniglot105", "train")
        test = data.load_dataset("tfds:omniglot105", "test")
        validation = data.load_dataset("tfds:omniglot105", "validation")
    # the stand-in serves the same 60 drawings for TFDS's train and test splits: 2 x 3 classes
    assert train.images.shape == (2 * 3 * 19, 105, 105, 1)
    assert test.images.shape == (2 * 3, 105, 105, 1)
    assert np.bincount(train.labels).tolist() == [38, 38, 38]
    assert set(np.unique(train.images)) <= {0.0, 1.0}
    np.testing.assert_array_equal(validation.images, test.images)


def test_a_missing_tfds_directory_is_named(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match=f"tfds_data_dir='{missing}' does not exist"):
        data.open_source("tfds:mnist", "train", tfds_data_dir=str(missing))
    config = tiny_config(num_steps=2)
    config.data.name, config.data.tfds_data_dir = "tfds:mnist", str(missing)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        train_and_evaluate(config, str(tmp_path / "run"))
    assert not (tmp_path / "run").exists()


def test_an_unprepared_tfds_dataset_says_how_to_prepare_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"'mnist'.*is not prepared in .*tfds build mnist"):
        data.open_source("tfds:mnist", "train", tfds_data_dir=str(tmp_path))


def test_a_corrupt_record_is_named_with_its_index():
    examples = [{"image": np.zeros((28, 28, 1), np.uint8), "label": 1}] * 4

    class Corrupt(list):
        def __getitem__(self, i):
            if i == 2:
                raise OSError("Checksum mismatch in ArrayRecord chunk")
            return super().__getitem__(i)

    with tfds.testing.mock_data(as_data_source_fn=lambda *a, **k: Corrupt(examples)):
        source = data.open_source("tfds:mnist", "train")
        with pytest.raises(data.DataError, match="tfds:mnist train: cannot read record 2.*corrupt"):
            source.read([0, 2])


def test_a_record_of_another_size_is_named():
    examples = [{"image": np.zeros((28, 28, 1), np.uint8), "label": 1}] * 3
    examples = [*examples, {"image": np.zeros((27, 28, 1), np.uint8), "label": 1}]
    with tfds.testing.mock_data(as_data_source_fn=lambda *a, **k: examples):
        source = data.open_source("tfds:mnist", "train")
        with pytest.raises(data.DataError, match=r"record 3: image of shape \(27, 28, 1\)"):
            source.read([3])


def test_an_image_size_the_architecture_cannot_take_fails_before_the_workdir(tmp_path):
    examples = [{"image": np.zeros((105, 105, 3), np.uint8), "label": c} for c in range(4)] * 2
    config = tiny_config(num_steps=2, batch_size=2, model={"architecture": "dcgan"})
    config.data.name = "tfds:omniglot105"
    with (
        tfds.testing.mock_data(as_data_source_fn=lambda *a, **k: examples),
        pytest.raises(config_lib.ConfigError, match="'dcgan' cannot take the 105x105 images"),
    ):
        train_and_evaluate(config, str(tmp_path / "run"))
    assert not (tmp_path / "run").exists()


def test_training_streams_a_tfds_source(tmp_path):
    config = tiny_config(num_steps=4, batch_size=8, log_every=2, checkpoint_every=4)
    config.data.name = "tfds:mnist"
    with tfds.testing.mock_data(num_examples=40):
        summary = train_and_evaluate(config, str(tmp_path))
    assert summary["step"] == 4
    rows = [r for r in read_metrics(str(tmp_path)) if r["split"] == "train"]
    assert [r["step"] for r in rows] == [2, 4] and all(np.isfinite(r["loss"]) for r in rows)
