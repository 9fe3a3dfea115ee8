"""Fault injection, data: a dataset corrupted between runs stops the resumed run and changes no
file of the last good one."""

import pytest
from helpers import snapshot, tiny_config, write_idx_dir

from gae_jax import data
from gae_jax.jobs import train_and_evaluate


def test_a_corrupted_dataset_stops_the_resumed_run_and_changes_nothing(tmp_path):
    idx_dir = tmp_path / "idx"
    idx_dir.mkdir()
    write_idx_dir(idx_dir, n_train=60, n_test=12, gz=False, size=8)
    config = tiny_config(num_steps=10, batch_size=10, checkpoint_every=10, log_every=10)
    config.data.name = f"idx:{idx_dir}"
    workdir = tmp_path / "run"
    train_and_evaluate(config, str(workdir))
    before = snapshot(workdir)
    images = idx_dir / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:-7])  # e.g. a copy that did not finish
    data._load_idx.cache_clear()  # the loader caches files it has read in this process
    config.train.num_steps = 20
    with pytest.raises(data.IdxFormatError, match="train-images-idx3-ubyte.*truncated or corrupt"):
        train_and_evaluate(config, str(workdir))
    assert snapshot(workdir) == before
