"""Checkpoints: a train state saved and restored is bitwise the same."""

import jax
import numpy as np
from helpers import tiny_config

from gae_jax import builders, checkpoint
from gae_jax import config as config_lib
from gae_jax.train import create_train_state, make_optimizer


def test_checkpoint_round_trip_is_exact(tmp_path):
    cfg = config_lib.validate(tiny_config())
    model = builders.build_model(cfg.model, (8, 8, 1))
    tx = make_optimizer("adam", 1e-3)
    state = create_train_state(jax.random.key(3), model, tx, (8, 8, 1))
    ckpt = checkpoint.Checkpointer(str(tmp_path))
    ckpt.save(7, state)
    ckpt.wait()
    other = create_train_state(jax.random.key(4), model, tx, (8, 8, 1))
    restored = ckpt.restore(jax.eval_shape(lambda: other))
    ckpt.close()
    assert type(restored) is type(state)
    for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(restored), strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_checkpoint_from_before_a_new_empty_state_field_still_restores(tmp_path):
    """Runs checkpointed before TrainState gained ``gae_bank`` resume with it left None."""
    cfg = config_lib.validate(tiny_config())
    model = builders.build_model(cfg.model, (8, 8, 1))
    tx = make_optimizer("adam", 1e-3)
    state = create_train_state(jax.random.key(3), model, tx, (8, 8, 1))
    older_layout = {k: v for k, v in vars(state).items() if k != "gae_bank"}
    ckpt = checkpoint.Checkpointer(str(tmp_path))
    ckpt.save(7, older_layout)
    ckpt.wait()
    restored = ckpt.restore(jax.eval_shape(lambda: state))
    ckpt.close()
    assert type(restored) is type(state) and restored.gae_bank is None
    for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(restored), strict=True):
        np.testing.assert_array_equal(a, b)
