"""Data-parallel steps on 4 forced host devices equal the one-device steps; exits non-zero if not.

Started by test_data_parallel.py with XLA_FLAGS=--xla_force_host_platform_device_count=4 (the
flag must be set before JAX initialises, hence a separate process). Usage: worker.py WORKDIR.
The jobs on several devices and processes: tests/multidevice/test_entry_points.py.
"""

import functools
import os
import sys

import helpers
import jax
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from gae_jax import builders, parallel
from gae_jax import config as config_lib
from gae_jax.jobs import train_and_evaluate
from gae_jax.train import loop, make_optimizer, steps

# The split step sums the gradients of the 4 shards with an all-reduce: the same step as on one
# device up to float32 rounding (the largest difference after 3 steps: 7e-7 in one run).
SPLIT_ROUNDING = 1e-4


def tiny_config(family, devices, steps_per_dispatch):
    return helpers.tiny_config(
        family,
        disc_hidden=(32,),
        noise_free=False,
        train=dict(num_steps=12, b1=0.5, log_every=4, eval_every=12, checkpoint_every=12),
        steps_per_dispatch=steps_per_dispatch,
        mesh=dict(data=devices),
    )


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


def check_topology_exact():
    """With ``topology_exact`` the compiled steps hold no all-reduce and give bitwise the same
    state and metrics on 1 and 4 devices, batch norm (dcgan) included; without it they differ
    in the last bits only."""
    cfg = config_lib.validate(_dcgan_config())
    shape = (28, 28, 1)
    model = builders.build_model(cfg.model, shape)
    tx = make_optimizer("adam", 1e-2)
    step_fn = builders.build_train_step(cfg.model, model, tx, builders.build_adversary(cfg))
    init = builders.init_state(cfg, model, tx, shape)
    images = np.random.default_rng(0).uniform(size=(3, 32, *shape)).astype(np.float32)
    key = jax.random.key(1)
    results = {}
    for devices, exact in ((1, True), (4, True), (4, False)):
        mesh = parallel.make_mesh(devices, axis_name="data")
        state = parallel.replicate(init, mesh)
        batches = parallel.shard_host_array(
            images, NamedSharding(mesh, PartitionSpec(None, "data"))
        )
        train_steps = loop.jit_train_steps(step_fn, mesh, topology_exact=exact)
        compiled = train_steps.lower(state, batches, key).compile()
        if devices == 4:
            assert ("all-reduce" in compiled.as_text()) != exact, f"topology_exact={exact}"
        results[devices, exact] = jax.tree.map(np.asarray, compiled(state, batches, key))
    exact1, exact4, split4 = results.values()
    assert jax.tree.leaves(exact1[0].batch_stats), "the dcgan model has batch norm"
    helpers.assert_trees_equal(exact4, exact1)
    pairs = list(zip(jax.tree.leaves(split4), jax.tree.leaves(exact1), strict=True))
    assert any(not np.array_equal(a, b) for a, b in pairs), "the split step rounds differently"
    worst = 0.0
    for a, b in pairs:  # ... and only that: the same steps up to the all-reduce's rounding
        np.testing.assert_allclose(a, b, rtol=SPLIT_ROUNDING, atol=SPLIT_ROUNDING)
        worst = max(worst, float(np.abs(np.asarray(a, np.float64) - b).max()))
    print(
        f"topology_exact: no all-reduce, 4 devices bitwise == 1 (batch norm included); "
        f"split: max abs diff {worst:.2g}"
    )


def check_sharded_evaluation():
    """Classifier outputs and reconstruction errors split their images over the mesh (padded
    to a multiple of the devices; each device compiles for its share) and equal the one-device
    results."""
    from gae_jax import corruption, models
    from gae_jax.evaluation import classifier, reconstruction

    mesh = parallel.make_mesh(4)
    x = np.random.default_rng(0).uniform(size=(10, 8, 8, 1)).astype(np.float32)
    model = classifier.MLPClassifier(num_classes=3, hidden=(16,))
    params = model.init(jax.random.key(0), x[:1])["params"]
    for fn in (classifier.predict_logits, classifier.penultimate_features):
        got = fn(model, params, x, batch_size=2, mesh=mesh)
        assert isinstance(got, np.ndarray) and got.shape[0] == 10
        np.testing.assert_allclose(got, fn(model, params, x, batch_size=2), rtol=1e-6, atol=1e-6)
    padded, _ = parallel.shard_padded(x, mesh)
    features = classifier._batched(model, "features", 2, mesh)
    hlo = features.lower(parallel.replicate(params, mesh), padded).compile().as_text()
    assert "f32[3,8,8,1]" in hlo and "f32[12,8,8,1]" not in hlo  # 3 of the 12 rows per device
    ae, variables = helpers.tiny_autoencoder()
    fns = models.autoencoder_fns(ae)

    def errors(mesh):
        return reconstruction.corrupted_reconstruction_errors(
            jax.random.key(2),
            x,
            functools.partial(fns.encode, variables),
            functools.partial(fns.decode_logits, variables),
            corruption.make_corruption("gaussian", 0.3),
            batch_size=2,
            mesh=mesh,
        )

    np.testing.assert_allclose(errors(mesh), errors(None), rtol=1e-5)

    # The training job's evaluation: batches of 20 split 5 per device, sums on the devices.
    cfg = config_lib.validate(tiny_config("dae", 4, 1))
    state = builders.init_state(cfg, ae, make_optimizer("adam", 1e-3), (8, 8, 1))
    eval_step = steps.make_eval_step(ae)
    means = {}
    for devices in (1, 4):
        data_mesh = parallel.make_mesh(devices, axis_name="data")
        evaluate = loop.make_evaluate(eval_step, data_mesh, batch_size=20)
        placed = parallel.replicate(state, data_mesh)
        means[devices] = evaluate(placed, np.concatenate([x] * 5), jax.random.key(3))
    split = NamedSharding(data_mesh, PartitionSpec("data"))
    batch = parallel.shard_host_array(np.concatenate([x] * 2), split)
    lowered = evaluate.batch_sums.lower(placed, batch, np.int32(20), jax.random.key(3))
    hlo = lowered.compile().as_text()
    assert "f32[5,8,8,1]" in hlo and "f32[20,8,8,1]" not in hlo  # 5 images per device
    for name, value in means[1].items():  # per-example values: 5 or 20 rows per device call
        np.testing.assert_allclose(means[4][name], value, rtol=1e-6, err_msg=name)
    print("evaluation: classifier, reconstruction and training eval split over 4 devices")


def _dcgan_config():
    config = tiny_config("daae", 4, 2)
    config.model.architecture = "dcgan"
    config.model.conv_width = 4
    config.train.batch_size = 32
    return config


def main():
    assert len(jax.devices()) == 4, jax.devices()
    workdir = sys.argv[1]
    check_placement()
    check_topology_exact()
    check_sharded_evaluation()
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
