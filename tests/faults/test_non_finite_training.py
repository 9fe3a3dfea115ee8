"""Fault injection, NaN/Inf in training: "stop" names the step, family and loss and keeps the last
good checkpoint; "skip" rejects exactly the updates of the batches that hold a NaN."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import assert_trees_equal, tiny_config, trained_params

from gae_jax import builders, checkpoint, data
from gae_jax import config as config_lib
from gae_jax.jobs import train_and_evaluate
from gae_jax.train import steps
from gae_jax.train.state import create_train_state, make_optimizer
from gae_jax.train.writer import read_metrics


def _poison_training_example(monkeypatch, index):
    """Makes training example ``index`` of the training stream contain a NaN pixel."""
    open_source = data.open_source

    def poisoned(name, split, **kwargs):
        source = open_source(name, split, **kwargs)
        if split != "train":
            return source
        images = data.to_float(source.images, source.scale)  # float32 records (scale 1)
        images[index, 0, 0, 0] = np.nan
        return data.ArraySource(images, source.labels, 1.0, source.name)

    monkeypatch.setattr(data, "open_source", poisoned)


def test_stop_mode_names_the_step_family_and_loss_and_keeps_the_last_good_checkpoint(
    tmp_path, monkeypatch
):
    order = data.BatchOrder(1437, 32, seed=0)
    bad = int(order.indices(23)[0])  # first seen at step 23 (0-based), i.e. in step 24
    _poison_training_example(monkeypatch, bad)
    config = tiny_config(num_steps=60, log_every=10, checkpoint_every=20)
    expected = (
        "non-finite loss metrics \\{.*'loss': nan.*\\} at step 30 while training family 'dae' "
        "\\(finite at step 20.*the latest checkpoint, step 20 in .*, is good"
    )
    with pytest.raises(FloatingPointError, match=expected):
        train_and_evaluate(config, str(tmp_path))
    assert checkpoint.Checkpointer(str(tmp_path), read_only=True).all_steps() == [20]
    assert not (tmp_path / "summary.json").exists()


def test_skip_mode_skips_exactly_the_batches_that_hold_a_nan(tmp_path, monkeypatch):
    num_steps = 60
    order = data.BatchOrder(1437, 32, seed=0)
    # An example of step 3 that epoch 1 (steps 44..87) shows again before step 60.
    bad = next(
        int(i) for i in order.indices(3) if any(i in order.indices(s) for s in range(44, 60))
    )
    expected = [s for s in range(num_steps) if bad in order.indices(s)]
    assert len(expected) == 2
    _poison_training_example(monkeypatch, bad)
    config = tiny_config(num_steps=num_steps, log_every=10, on_non_finite="skip")
    summary = train_and_evaluate(config, str(tmp_path))
    assert summary["step"] == num_steps and summary["skipped_steps"] == len(expected)
    rows = read_metrics(str(tmp_path), "train")
    for row in rows:  # each skipped step is counted in the window that holds it
        window = range(row["step"] - 10, row["step"])
        assert row["skipped_steps"] == sum(s in window for s in expected)
    assert all(np.isfinite(x).all() for x in jax.tree.leaves(trained_params(tmp_path)))


def test_a_skipped_update_keeps_the_state_and_advances_only_the_step():
    cfg = config_lib.validate(tiny_config())
    model = builders.build_model(cfg.model, (8, 8, 1))
    tx = make_optimizer("adam", 1e-3)
    step_fn = builders.build_train_step(cfg.model, model, tx)
    guarded = jax.jit(steps.skip_non_finite(step_fn))
    state = create_train_state(jax.random.key(0), model, tx, (8, 8, 1))
    clean = jax.random.uniform(jax.random.key(1), (32, 8, 8, 1))
    key = jax.random.key(2)
    # A finite batch: exactly the unguarded update.
    new, metrics = guarded(state, clean, key)
    assert_trees_equal(new, jax.jit(step_fn)(state, clean, key)[0])
    assert float(metrics["skipped"]) == 0.0
    # A batch with an Inf: parameters, optimiser state and step count of Adam stay as they were.
    skipped, metrics = guarded(state, clean.at[3, 2, 2, 0].set(jnp.inf), key)
    assert float(metrics["skipped"]) == 1.0 and int(skipped.step) == int(state.step) + 1
    assert_trees_equal(skipped.replace(step=state.step), state)
