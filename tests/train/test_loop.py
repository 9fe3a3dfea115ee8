"""The training loop's pieces that need no training run: where each dispatch of steps ends."""

import pytest
from helpers import tiny_config

from gae_jax import config as config_lib
from gae_jax.train.loop import dispatch_end


@pytest.mark.parametrize("step, end", [(0, 8), (8, 16), (16, 20), (20, 24), (32, 36), (36, 40)])
def test_dispatches_stop_at_every_log_eval_and_checkpoint_step(step, end):
    cfg = config_lib.validate(
        tiny_config(num_steps=40, steps_per_dispatch=8, log_every=20, checkpoint_every=20)
    )
    assert dispatch_end(step, cfg.train, eval_every=36) == end
