"""What a run leaves in its workdir, and reading it back: file names, atomic JSON, resume
checks, restoring training state and ``load_trained`` for sampling and evaluation.

A training workdir holds::

    config.json        the validated config the run was trained with
    metrics.jsonl      a row per logged step and split (train / validation / test)
    summary.json       the final summary
    checkpoints/       orbax checkpoints
    tensorboard/       TensorBoard event files
    samples/           what experiments.sample writes (samples.npz, sample_summary.json, PNGs)
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os

import jax
import ml_collections
from absl import logging
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from gae_jax import builders, checkpoint, data, parallel
from gae_jax import config as config_lib
from gae_jax.train.state import TrainState

CONFIG_FILE = "config.json"
SUMMARY_FILE = "summary.json"
METRICS_FILE = "metrics.jsonl"
SAMPLES_DIR = "samples"
SAMPLES_FILE = "samples.npz"
SAMPLE_SUMMARY_FILE = "sample_summary.json"
HISTOGRAM_FILE = "encodings_hist.png"
MOMENTS_FILE = "encodings_moments.json"


def is_writer() -> bool:
    """Whether this process writes the workdir's files: process 0 of a multi-process job (every
    process computes the same values; only one records them)."""
    return jax.process_index() == 0


def write_json(path: str, obj, *, indent: int = 2) -> None:
    """Writes atomically: a run killed mid-write leaves the previous file, never half of one.

    A no-op on processes other than process 0 (see :func:`is_writer`).
    """
    if not is_writer():
        return
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=indent)
    os.replace(tmp, path)


def read_json(path: str):
    with open(path) as f:
        return json.load(f)


def check_resumable(workdir: str, cfg: config_lib.ExperimentConfig) -> None:
    """Refuses to resume a workdir whose stored model or data differ from the config's."""
    path = os.path.join(workdir, CONFIG_FILE)
    current = {"data": dataclasses.asdict(cfg.data), "model": dataclasses.asdict(cfg.model)}
    current = json.loads(json.dumps(current))  # tuples -> lists, as stored
    # Keys added to a section after a run was stored take their defaults, so the run resumes.
    defaults = {"data": config_lib.DataConfig(), "model": config_lib.ModelConfig()}
    defaults = json.loads(json.dumps({k: dataclasses.asdict(v) for k, v in defaults.items()}))
    if os.path.exists(path):
        stored = read_json(path)
        for section in ("data", "model"):
            if {**defaults[section], **stored.get(section, {})} != current[section]:
                raise ValueError(
                    f"workdir {workdir} holds a run with a different config.{section} "
                    f"({stored.get(section)} vs {current[section]}); use a new --workdir"
                )


def restore_or_create(
    cfg: config_lib.ExperimentConfig,
    ckpt: checkpoint.Checkpointer,
    model,
    tx,
    image_shape,
    mesh: Mesh | None = None,
) -> TrainState:
    """The latest checkpoint in ``ckpt`` if there is one, else a freshly initialised state;
    replicated over ``mesh`` if given (restored straight into that placement)."""
    init = functools.partial(builders.init_state, cfg, model, tx, image_shape)
    if ckpt.latest_step() is None:
        state = init()
        return state if mesh is None else parallel.replicate(state, mesh)
    logging.info("Resuming from checkpoint %d in %s", ckpt.latest_step(), ckpt.directory)
    abstract = jax.eval_shape(init)
    if mesh is not None:
        replicated = NamedSharding(mesh, PartitionSpec())
        abstract = jax.tree.map(
            lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=replicated), abstract
        )
    return ckpt.restore(abstract)


def load_trained(workdir: str, config: ml_collections.ConfigDict | None = None):
    """Restores ``(cfg, model, state)`` from a training workdir (for sampling and evaluation)."""
    if config is None:
        path = os.path.join(workdir, CONFIG_FILE)
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"no trained model in {workdir}: {path} is missing; train one first with "
                f"`python -m experiments.train --config=... --workdir={workdir}`"
            )
        config = ml_collections.ConfigDict(read_json(path))
    cfg = config_lib.validate(config)
    image_shape = data.load_dataset(
        cfg.data.name, "test", tfds_data_dir=cfg.data.tfds_data_dir
    ).image_shape
    config_lib.check_against_data(cfg, image_shape)
    model = builders.build_model(cfg.model, image_shape)
    tx = builders.build_optimizer(cfg.train)
    ckpt = checkpoint.Checkpointer(workdir, read_only=True)  # sampling never writes checkpoints
    try:
        if ckpt.latest_step() is None:
            raise FileNotFoundError(
                f"no checkpoint in {ckpt.directory}; train first with experiments.train"
            )
        state = restore_or_create(cfg, ckpt, model, tx, image_shape)
    finally:
        ckpt.close()
    return cfg, model, state


__all__ = [
    "CONFIG_FILE",
    "HISTOGRAM_FILE",
    "METRICS_FILE",
    "MOMENTS_FILE",
    "SAMPLES_DIR",
    "SAMPLES_FILE",
    "SAMPLE_SUMMARY_FILE",
    "SUMMARY_FILE",
    "check_resumable",
    "is_writer",
    "load_trained",
    "read_json",
    "restore_or_create",
    "write_json",
]
