"""Paper 004's approximate log-likelihood on binarized mnist5k, for the GAE and the VAE.

    python -m benchmarks.paper004_binarized_ll [--models=gae,vae] [--epochs=5]
        [--samples=10000] [--importance_samples=100] [--workdir=runs/paper004_binarized]
        [--out=docs/results/paper004_binarized_ll.json]

Paper 004's biMNIST table scores log p(x) ~= log (1/S) sum_s p(x|z_s) with z_s drawn from the
model's prior (:func:`gae_jax.evaluation.prior_sampled_log_likelihood`): for the GAE its
aggregate posterior (a training image y, then z ~ q(z|y)), for the VAE N(0, I). Beside it the
run reports the importance-sampled estimate with q(z|x) as proposal
(:func:`gae_jax.evaluation.importance_sampled_log_likelihood`; for the GAE log p(z) is the
aggregate posterior's density), which is tighter for the same number of decodings.

Data: mnist5k binarized once, stochastically (pixel ~ Bernoulli(intensity), a fixed seed, as
the usual binarized MNIST), written as IDX files and read as ``idx:DIR``: the 4,500 train and
validation digits of mnist5k form the training file (the loader holds its last 750 out for
validation), the 500 test digits the test file. Models: ``configs/models.py`` ``gae,mnist5k``
(``--gae_estimator``, default ``em``) and ``vae,mnist5k`` with the data replaced, trained for
``--epochs`` epochs in resumable workdirs under ``--workdir``.

Writes ``--out`` in the results-file format (:mod:`gae_jax.jobs.results`, table ``binarized``;
the README's table is checked against it) with each model's raw numbers under ``models``.
"""

from __future__ import annotations

import math
import os
import struct

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from benchmarks import common
from configs import models as model_configs
from gae_jax import builders, data, evaluation, models
from gae_jax import workdir as workdir_lib
from gae_jax.jobs import results as results_lib
from gae_jax.jobs import train_and_evaluate

_MODELS = flags.DEFINE_list("models", ["gae", "vae"], "configs/models.py variants")
_EPOCHS = flags.DEFINE_float("epochs", 5.0, "training epochs of every model")
_SAMPLES = flags.DEFINE_integer("samples", 10_000, "prior samples S (paper 004's estimate)")
_IMPORTANCE = flags.DEFINE_integer("importance_samples", 100, "importance samples per example")
_GAE_ESTIMATOR = flags.DEFINE_string("gae_estimator", "em", "the GAE's model.gae_estimator")
_WORKDIR = flags.DEFINE_string("workdir", "runs/paper004_binarized", "data and model workdirs")
_OUT = flags.DEFINE_string(
    "out", os.path.join(common.REPO, "docs", "results", "paper004_binarized_ll.json"), "JSON"
)

# Paper 004's biMNIST table (full MNIST, 1-4 layer networks): best GAE and VAE rows.
PAPER = {"gae": "-94.66 (4 layers)", "vae": "-96.94"}
TABLE = "binarized"


def _idx_bytes(array: np.ndarray) -> bytes:
    """``array`` (uint8) as an IDX file."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_binarized(splits: dict[str, tuple], directory: str, seed: int = 0) -> str:
    """Writes ``splits['train']`` and ``splits['test']`` binarized as MNIST IDX files.

    Each pixel becomes 1 with probability its intensity (numpy's generator seeded ``seed``);
    values are stored as 0 / 255, so ``idx:DIR`` reads them back as exactly 0.0 / 1.0.

    Args:
      splits: ``train`` and ``test``: (float32[N, H, W, 1] images in [0, 1], int[N] labels).
      directory: where to write (created); existing files are overwritten.
      seed: the binarization's seed.

    Returns:
      ``idx:<directory>``, the dataset name to train on.
    """
    os.makedirs(directory, exist_ok=True)
    rng = np.random.default_rng(seed)
    for part, prefix in (("train", "train"), ("test", "t10k")):
        images, labels = splits[part]
        binary = rng.random(images.shape) < images
        files = {
            "images-idx3-ubyte": np.where(binary[..., 0], 255, 0).astype(np.uint8),
            "labels-idx1-ubyte": np.asarray(labels).astype(np.uint8),
        }
        for stem, array in files.items():
            with open(os.path.join(directory, f"{prefix}-{stem}"), "wb") as f:
                f.write(_idx_bytes(array))
    return f"idx:{directory}"


def approximate_log_likelihood(
    workdir: str, *, num_samples: int, importance_samples: int, rng_key: jax.Array
) -> dict:
    """Paper 004's prior-sampled and the importance-sampled log p(x) of a trained model on its
    data's test split: mean over test images and its standard error (nats)."""
    cfg, model, state = workdir_lib.load_trained(workdir)
    test = data.load_dataset(cfg.data.name, "test", tfds_data_dir=cfg.data.tfds_data_dir)
    train = data.load_dataset(cfg.data.name, "train", tfds_data_dir=cfg.data.tfds_data_dir)
    prior = builders.build_prior(cfg.model, model=model, state=state, images=train.images)
    fns = models.autoencoder_fns(model)
    variables = models.model_variables(state)

    def decode_fn(z):
        return fns.decode_logits(variables, z)

    def encode_fn(x):
        return tuple(fns.encode(variables, x))

    k_prior, k_importance = jax.random.split(rng_key)
    x = jnp.asarray(test.images)
    prior_ll = jax.jit(
        lambda key: evaluation.prior_sampled_log_likelihood(
            key, x, decode_fn, prior.sample, num_samples=num_samples
        )
    )(k_prior)
    importance_ll = jax.jit(
        lambda key: evaluation.importance_sampled_log_likelihood(
            key, x, encode_fn, decode_fn, prior.log_prob, num_samples=importance_samples
        )
    )(k_importance)
    return {
        "prior_sampled": _mean_se(prior_ll),
        "importance_sampled": _mean_se(importance_ll),
        "test_images": len(x),
        "prior": cfg.model.prior,
    }


def _mean_se(values) -> dict:
    v = np.asarray(values, np.float64)
    return {"mean": float(v.mean()), "se": float(v.std(ddof=1) / math.sqrt(len(v)))}


def results_table(models_results: dict, gae_estimator: str) -> dict:
    """The README's table (:mod:`gae_jax.jobs.results` format) from ``{variant: the result of
    :func:`approximate_log_likelihood` and "paper"}``: each estimate's mean over the test images
    and, in the column after it, its standard error (one seed)."""
    labels = {"gae": f"GAE (2 layers, `{gae_estimator}`)", "vae": "VAE (2 layers)"}

    def value(x):
        return [results_lib.summarize([x])]

    rows = []
    for variant, r in models_results.items():
        p, q = r["prior_sampled"], r["importance_sampled"]
        row = [labels.get(variant, variant), value(p["mean"]), value(p["se"])]
        rows.append(row + [value(q["mean"]), value(q["se"]), r["paper"] or "–"])
    return {
        "columns": [
            "Model",
            "log (1/S) Σ p(x given z_s), z_s ~ p(z) (paper 004)",
            "s.e.",
            "importance-sampled",
            "s.e.",
            "(paper, full MNIST)",
        ],
        "decimals": [None, 1, 1, 1, 1, None],
        "rows": rows,
    }


def main(argv):
    start = results_lib.run_start()
    del argv
    train, val, test = (data.load_dataset("mnist5k", s) for s in data.SPLITS)
    splits = {
        "train": (
            np.concatenate([train.images, val.images]),
            np.concatenate([train.labels, val.labels]),
        ),
        "test": (test.images, test.labels),
    }
    name = write_binarized(splits, os.path.join(_WORKDIR.value, "binarized_mnist5k"))
    models_results, seeds = {}, set()
    for variant in _MODELS.value:
        config = model_configs.get_config(f"{variant},mnist5k")
        config.data.name = name
        if config.model.family == "gae":
            config.model.gae_estimator = _GAE_ESTIMATOR.value
        num_train = len(data.open_source(name, "train"))
        config.train.num_steps = round(_EPOCHS.value * (num_train // config.train.batch_size))
        config.train.eval_every = config.train.num_steps
        config.train.checkpoint_every = min(500, config.train.num_steps)
        seeds.add(config.seed)
        workdir = os.path.join(_WORKDIR.value, variant)
        summary = train_and_evaluate(config, workdir)
        models_results[variant] = {
            "steps": config.train.num_steps,
            "train_seconds": summary["train_seconds"],
            "paper": PAPER.get(variant),
            **approximate_log_likelihood(
                workdir,
                num_samples=_SAMPLES.value,
                importance_samples=_IMPORTANCE.value,
                rng_key=jax.random.key(0),
            ),
        }
        print(variant, models_results[variant], flush=True)
    table = results_table(models_results, _GAE_ESTIMATOR.value)
    out = results_lib.results_file(
        "paper004_binarized_ll",
        {TABLE: table},
        seeds=sorted(seeds),
        start=start,
    )
    out.update(
        epochs=_EPOCHS.value,
        samples=_SAMPLES.value,
        importance_samples=_IMPORTANCE.value,
        gae_estimator=_GAE_ESTIMATOR.value,
        models=models_results,
    )
    results_lib.write_results(_OUT.value, out)
    print("\nApproximate test log-likelihood on binarized mnist5k (nats, one seed):\n")
    print(results_lib.markdown_table(table))


if __name__ == "__main__":
    app.run(main)
