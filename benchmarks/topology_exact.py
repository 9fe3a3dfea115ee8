"""What ``mesh.topology_exact`` costs: the training step split over the devices (XLA's gradient
all-reduce) against every device computing the whole batch, interleaved in one process.

    XLA_FLAGS=--xla_force_host_platform_device_count=4 JAX_PLATFORMS=cpu \
        python -m benchmarks.topology_exact [--batch_size=256] [--rounds=5]

The model is paper 001's DAAE of ``configs/daae_mnist5k.py`` (MLPs 784-1000-1000-10, three Adam
updates per step) on random mnist-shaped batches. Prints the median seconds per step of each
path, their ratio, and the bytes of each compiled step's temporaries (XLA's memory analysis).
On forced host devices all "devices" share the machine's cores, so the ratio understates what
topology_exact gives up on real accelerators, where the split path's speed-up is the device
count.
"""

from __future__ import annotations

import time

import jax
import numpy as np
from absl import app, flags
from jax.sharding import NamedSharding, PartitionSpec

from configs import daae_mnist5k
from gae_jax import builders, parallel
from gae_jax import config as config_lib
from gae_jax.train import loop

_BATCH = flags.DEFINE_integer("batch_size", 256, "global batch size")
_STEPS = flags.DEFINE_integer("steps", 4, "training steps per timed call")
_ROUNDS = flags.DEFINE_integer("rounds", 5, "timing rounds (the median is reported)")


def main(_):
    config = daae_mnist5k.get_config()
    config.train.batch_size = _BATCH.value
    cfg = config_lib.validate(config)
    shape = (28, 28, 1)
    model = builders.build_model(cfg.model, shape)
    tx = builders.build_optimizer(cfg.train)
    step_fn = builders.build_train_step(cfg.model, model, tx, builders.build_adversary(cfg))
    mesh = builders.build_mesh(cfg)
    init = builders.init_state(cfg, model, tx, shape)
    images = np.random.default_rng(0).uniform(size=(_STEPS.value, _BATCH.value, *shape))
    batches = parallel.shard_host_array(
        images.astype(np.float32), NamedSharding(mesh, PartitionSpec(None, "data"))
    )
    key = jax.random.key(0)
    paths, times, memory = {}, {}, {}
    for exact in (False, True):
        paths[exact] = loop.jit_train_steps(step_fn, mesh, topology_exact=exact)
        state = parallel.replicate(init, mesh)
        compiled = paths[exact].lower(state, batches, key).compile()
        memory[exact] = compiled.memory_analysis().temp_size_in_bytes
        jax.block_until_ready(paths[exact](state, batches, key))  # warm up (state donated)
        times[exact] = []
    for _ in range(_ROUNDS.value):  # interleaved, so both see the same machine load
        for exact, train_steps in paths.items():
            state = parallel.replicate(init, mesh)
            t0 = time.perf_counter()
            jax.block_until_ready(train_steps(state, batches, key))
            times[exact].append((time.perf_counter() - t0) / _STEPS.value)
    split, exact = (float(np.median(times[e])) for e in (False, True))
    print(f"{len(jax.devices())} devices, batch {_BATCH.value}, DAAE of configs/daae_mnist5k.py")
    print(
        f"split (default):  {split * 1e3:.1f} ms/step, temporaries {memory[False] / 2**20:.1f} MiB"
    )
    print(
        f"topology_exact:   {exact * 1e3:.1f} ms/step, temporaries {memory[True] / 2**20:.1f} MiB"
    )
    print(f"ratio exact/split: {exact / split:.2f}")


if __name__ == "__main__":
    app.run(main)
