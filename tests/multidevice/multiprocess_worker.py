"""One of two processes (hosts) of a data-parallel training run under ``jax.distributed``.

Started by test_multiprocess.py as ``worker.py PROCESS_ID PORT OUT`` with 2 forced host devices
per process, or as ``worker.py -1 0 OUT`` alone with 4 (the single-process reference). Trains
a few DAAE steps through the library's own path (``build_mesh``, ``init_state``,
``jit_train_steps``, ``shard_host_array``) and writes its losses and parameter checksums to OUT.
"""

import json
import sys

import jax

process_id, port, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
if process_id >= 0:
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(f"localhost:{port}", num_processes=2, process_id=process_id)

import numpy as np  # noqa: E402
from helpers import tiny_config  # noqa: E402
from jax.sharding import NamedSharding, PartitionSpec  # noqa: E402

from gae_jax import builders, data, parallel  # noqa: E402
from gae_jax import config as config_lib  # noqa: E402
from gae_jax.train import loop, make_optimizer  # noqa: E402


def main():
    config = tiny_config(
        "daae", disc_hidden=(32,), schedule=None, batch_size=32, steps_per_dispatch=3
    )
    cfg = config_lib.validate(config)
    images = data.load_dataset("digits", "train").images
    mesh = builders.build_mesh(cfg)  # all 4 devices, of both processes
    assert mesh.devices.size == 4 and jax.process_count() == (2 if process_id >= 0 else 1)
    model = builders.build_model(cfg.model, images.shape[1:])
    tx = make_optimizer(cfg.train.optimizer, cfg.train.learning_rate, b1=cfg.train.b1)
    state = parallel.replicate(builders.init_state(cfg, model, tx, images.shape[1:]), mesh)
    step_fn = builders.build_train_step(cfg.model, model, tx, builders.build_adversary(cfg))
    train_steps = loop.jit_train_steps(step_fn, mesh)
    order = data.BatchOrder(len(images), cfg.train.batch_size, cfg.seed)
    sharding = NamedSharding(mesh, PartitionSpec(None, "data"))
    losses = []
    for start in (0, 3):
        batches = np.stack([images[order.indices(s)] for s in range(start, start + 3)])
        state, metrics = train_steps(
            state, parallel.shard_host_array(batches, sharding), jax.random.key(cfg.seed)
        )
        losses += [float(v) for v in metrics["loss"]]
    sums = [float(np.asarray(x, np.float64).sum()) for x in jax.tree.leaves(state.params)]
    with open(out, "w") as f:
        json.dump({"losses": losses, "param_sums": sums, "step": int(state.step)}, f)


if __name__ == "__main__":
    main()
