"""What several jobs share: named keys, split loading and the cached ground-truth classifier."""

from __future__ import annotations

import dataclasses
import zlib
from typing import NamedTuple

import flax.serialization
import jax
from etils import epath

from gae_jax import config as config_lib
from gae_jax import data as data_lib
from gae_jax import evaluation
from gae_jax import workdir as workdir_lib
from gae_jax.train.writer import atomic_write

CLASSIFIER_DIR = "classifier"


def named_key(seed: int, *names: str) -> jax.Array:
    """A key per named use, so adding a run or a measure never changes another's randomness."""
    return jax.random.fold_in(jax.random.key(seed), zlib.crc32("/".join(names).encode()))


class Splits(NamedTuple):
    train: data_lib.Dataset
    validation: data_lib.Dataset
    test: data_lib.Dataset


def load_splits(data_cfg) -> Splits:
    """The train, validation and test splits of ``config.data`` (a DataConfig or ConfigDict)."""
    return Splits(*(data_lib.load_split(data_cfg, split) for split in data_lib.SPLITS))


def load_job_splits(experiments: dict) -> Splits:
    """The splits of a job's data (its experiments share ``config.data``), after checking every
    experiment against them, so values the data rules out fail before any training."""
    splits = load_splits(next(iter(experiments.values())).data)
    train, test = splits.train, splits.test
    for exp in experiments.values():
        config_lib.check_against_data(
            exp, train.image_shape, num_train=len(train), num_test=len(test)
        )
    return splits


@dataclasses.dataclass(frozen=True)
class ClassifierSettings:
    """How the ground-truth classifier is trained (the cache key, with the data's name)."""

    hidden: tuple[int, ...] = (500, 500)
    num_steps: int = 1000
    batch_size: int = 128
    learning_rate: float = 1e-3

    @classmethod
    def of(cls, ev) -> ClassifierSettings:
        """The settings an EvaluationConfig (``config.evaluation`` of a job) asks for."""
        return cls(
            ev.classifier_hidden,
            ev.classifier_steps,
            ev.classifier_batch_size,
            ev.classifier_learning_rate,
        )


def ground_truth_classifier(
    rng_key: jax.Array,
    settings: ClassifierSettings,
    data_name: str,
    train: data_lib.Dataset,
    cache_dir: str | None,
) -> tuple[evaluation.MLPClassifier, dict, bool]:
    """Paper 002's ground-truth classifier on the real training split, cached in ``cache_dir``
    (None: no cache) and reused while the data and settings are the same.

    Returns:
      ``(model, params, cached)``; ``cached`` is True if the parameters were restored.
    """
    num_classes = int(train.labels.max()) + 1
    model = evaluation.MLPClassifier(num_classes, settings.hidden)
    key = {"data": data_name, "num_classes": num_classes, **dataclasses.asdict(settings)}
    key["hidden"] = list(settings.hidden)
    if cache_dir is not None:
        settings_path = epath.Path(cache_dir) / "classifier.json"  # local or remote (gs://)
        params_path = epath.Path(cache_dir) / "params.msgpack"
        complete = settings_path.exists() and params_path.exists()
        if complete and workdir_lib.read_json(settings_path) == key:
            template = model.init(rng_key, train.images[:1])["params"]
            params = flax.serialization.from_bytes(template, params_path.read_bytes())
            return model, params, True
    params = evaluation.train_classifier(
        rng_key,
        model,
        train.images,
        train.labels,
        num_steps=settings.num_steps,
        batch_size=settings.batch_size,
        learning_rate=settings.learning_rate,
    ).params
    if cache_dir is not None and workdir_lib.is_writer():  # every process trained the same
        epath.Path(cache_dir).mkdir(parents=True, exist_ok=True)
        atomic_write(params_path, flax.serialization.to_bytes(params))
        workdir_lib.write_json(settings_path, key)  # written last: marks the parameters complete
    return model, params, False


__all__ = [
    "CLASSIFIER_DIR",
    "ClassifierSettings",
    "Splits",
    "ground_truth_classifier",
    "load_splits",
    "named_key",
]
