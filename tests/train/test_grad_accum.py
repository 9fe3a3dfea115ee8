"""Gradient accumulation (config.train.grad_accum_steps, optax.MultiSteps): k minibatches of B
make the update of one batch of kB, and the parameters change only at every k-th step."""

import jax
import numpy as np
import pytest
from helpers import tiny_config

from gae_jax import builders, data
from gae_jax import config as config_lib


def _ae(grad_accum_steps: int):
    cfg = config_lib.validate(tiny_config("ae", grad_accum_steps=grad_accum_steps))
    model = builders.build_model(cfg.model, (8, 8, 1))
    tx = builders.build_optimizer(cfg.train)
    state = builders.init_state(cfg, model, tx, (8, 8, 1))
    return state, jax.jit(builders.build_train_step(cfg.model, model, tx))


def test_two_accumulated_halves_make_the_update_of_the_whole_batch():
    batch = data.load_dataset("digits", "train").images[:32]
    key = jax.random.key(0)
    whole, step = _ae(1)
    whole, _ = step(whole, batch, key)
    accum, step = _ae(2)
    first, _ = step(accum, batch[:16], key)
    start = jax.tree.leaves(accum.params)
    for before, after in zip(start, jax.tree.leaves(first.params), strict=True):
        np.testing.assert_array_equal(after, before)  # mid-accumulation: no update yet
    second, _ = step(first, batch[16:], key)
    assert int(second.step) == 2
    for a, b in zip(jax.tree.leaves(whole.params), jax.tree.leaves(second.params), strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-7)  # mean of means = mean
    end = jax.tree.leaves(second.params)
    assert not any(np.allclose(a, b) for a, b in zip(start, end, strict=True))


@pytest.mark.parametrize("value", [0, -2, 1.5, "4"])
def test_bad_accumulation_counts_are_refused(value):
    raw = tiny_config("ae").to_dict()
    raw["train"]["grad_accum_steps"] = value
    with pytest.raises(config_lib.ConfigError, match=r"config\.train\.grad_accum_steps="):
        config_lib.validate(raw)
