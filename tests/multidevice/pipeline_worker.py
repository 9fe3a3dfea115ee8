"""Six data-parallel DAAE training steps fed by ``data.TrainBatches`` (see
test_pipeline_multiprocess.py), on all the devices of the job.

``pipeline_worker.py PROCESS_ID PORT OUT``: one of two processes under ``jax.distributed`` (2
forced host devices each); writes :func:`train_six_steps`'s result to OUT. The one-process
reference imports :func:`train_six_steps` and runs it on its own devices.
"""

import json
import sys

import jax
import numpy as np
from helpers import tiny_config

from gae_jax import builders, data, parallel
from gae_jax import config as config_lib
from gae_jax.train import loop, make_optimizer


class SpySource(data.ArraySource):
    """The in-memory records, remembering which indices were read."""

    reads: list

    def read(self, indices):
        self.reads.append([int(i) for i in indices])
        return super().read(indices)


def train_six_steps() -> dict:
    """Trains 6 DAAE steps (2 dispatches of 3) on uint8 ``digits`` records streamed by the
    library's pipeline, with the batch split over every device of every process.

    Returns:
      The losses, parameter checksums and step, this process's rows of each batch and every
      record index it read.
    """
    config = tiny_config(
        "daae", disc_hidden=(32,), schedule=None, batch_size=32, steps_per_dispatch=3
    )
    cfg = config_lib.validate(config)
    records = data.open_source("digits", "train")
    source = SpySource(records.images, records.labels, records.scale, records.name)
    object.__setattr__(source, "reads", [])
    mesh = builders.build_mesh(cfg)  # every device, of every process
    model = builders.build_model(cfg.model, source.image_shape)
    tx = make_optimizer(cfg.train.optimizer, cfg.train.learning_rate, b1=cfg.train.b1)
    state = parallel.replicate(builders.init_state(cfg, model, tx, source.image_shape), mesh)
    step_fn = builders.build_train_step(cfg.model, model, tx, builders.build_adversary(cfg))
    train_steps = loop.jit_train_steps(data.with_float_images(step_fn, source.scale), mesh)
    order = data.BatchOrder(len(source), cfg.train.batch_size, cfg.seed)
    stream = data.TrainBatches(source, order, mesh, start_step=0, num_steps=6, num_threads=1)
    losses = []
    for _ in range(2):
        batches = stream.take(3)
        assert batches.shape == (3, 32, 8, 8, 1) and batches.dtype == np.uint8
        state, metrics = train_steps(state, batches, jax.random.key(cfg.seed))
        losses += [float(v) for v in metrics["loss"]]
    sums = [float(np.asarray(x, np.float64).sum()) for x in jax.tree.leaves(state.params)]
    return {
        "losses": losses,
        "param_sums": sums,
        "step": int(state.step),
        "devices": mesh.devices.size,
        "rows": [stream.rows.start, stream.rows.stop],
        "reads": source.reads,
    }


if __name__ == "__main__":
    process_id, port, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(f"localhost:{port}", num_processes=2, process_id=process_id)
    assert jax.process_count() == 2
    with open(out, "w") as f:
        json.dump(train_six_steps(), f)
