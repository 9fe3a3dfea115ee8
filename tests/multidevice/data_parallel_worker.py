"""Data-parallel training on 4 forced host devices equals the one-device run; exits non-zero if not.

Started by test_data_parallel.py with XLA_FLAGS=--xla_force_host_platform_device_count=4 (the
flag must be set before JAX initialises, hence a separate process). Usage: worker.py WORKDIR.
"""

import os
import sys

import helpers
import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from gae_jax import builders, parallel
from gae_jax import config as config_lib
from gae_jax.jobs import train_and_evaluate
from gae_jax.train import loop, make_optimizer
from gae_jax.train.writer import read_metrics
from gae_jax.workdir import load_trained


def tiny_config(family, devices, steps_per_dispatch):
    return helpers.tiny_config(
        family,
        disc_hidden=(32,),
        noise_free=False,
        train=dict(num_steps=12, b1=0.5, log_every=4, eval_every=12, checkpoint_every=12),
        steps_per_dispatch=steps_per_dispatch,
        mesh=dict(data=devices),
    )


def compare(family, workdir, rtol):
    runs = {}
    for devices, k in ((1, 1), (4, 4)):
        path = os.path.join(workdir, f"{family}_{devices}")
        summary = train_and_evaluate(tiny_config(family, devices, k), path)
        _, _, state = load_trained(path)
        losses = [row["loss"] for row in read_metrics(path, "train")]
        runs[devices] = (summary["test"], losses, state)
    (test1, losses1, state1), (test4, losses4, state4) = runs[1], runs[4]
    np.testing.assert_allclose(losses4, losses1, rtol=rtol)
    for name in test1:
        np.testing.assert_allclose(test4[name], test1[name], rtol=rtol, err_msg=name)
    worst = 0.0
    for a, b in zip(jax.tree.leaves(state1), jax.tree.leaves(state4), strict=True):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        np.testing.assert_allclose(b, a, rtol=rtol, atol=rtol)
        worst = max(worst, float(np.abs(a - b).max()))
    print(f"{family}: 4 devices == 1 device (losses {losses4}; max abs param diff {worst:.2g})")


def check_placement():
    """The compiled steps split the batch and all-reduce; the state stays replicated."""
    cfg = config_lib.validate(tiny_config("dae", 4, 2))
    mesh = builders.build_mesh(cfg)
    model = builders.build_model(cfg.model, (8, 8, 1))
    tx = make_optimizer("adam", 1e-3)
    state = parallel.replicate(builders.init_state(cfg, model, tx, (8, 8, 1)), mesh)
    train_steps = loop.jit_train_steps(builders.build_train_step(cfg.model, model, tx), mesh)
    sharding = NamedSharding(mesh, PartitionSpec(None, "data"))
    batches = parallel.shard_host_array(np.zeros((2, 32, 8, 8, 1), np.float32), sharding)
    assert batches.addressable_shards[0].data.shape == (2, 8, 8, 8, 1)
    key = jax.random.key(0)
    assert "all-reduce" in train_steps.lower(state, batches, key).compile().as_text()
    state, metrics = train_steps(state, batches, key)
    for leaf in jax.tree.leaves((state, metrics)):
        assert len(leaf.sharding.device_set) == 4 and leaf.sharding.is_fully_replicated
    assert int(state.step) == 2 and metrics["loss"].shape == (2,)
    print("placement: batch split 4 ways, gradients all-reduced, state replicated")


def main():
    assert len(jax.devices()) == 4, jax.devices()
    workdir = sys.argv[1]
    check_placement()
    for family in ("daae", "vae"):
        compare(family, workdir, rtol=2e-4)
    # The batch must split evenly across the data axis; the error says how to fix it.
    config = tiny_config("dae", 4, 1)
    config.train.batch_size = 30
    try:
        train_and_evaluate(config, os.path.join(workdir, "bad"))
    except config_lib.ConfigError as e:
        assert "batch_size=30 does not split across the 4 devices" in str(e), e
    else:
        raise AssertionError("batch_size 30 on 4 devices was accepted")
    print("OK")


if __name__ == "__main__":
    main()
