"""``run_seeds(config, workdir, seeds)``: the main job over several seeds, as a results file.

Runs :func:`~gae_jax.jobs.main.run_pipeline` once per seed into ``<workdir>/seed_<seed>``
(``config.seed`` and ``config.sampler.seed`` set to the seed: training, chains and the
ground-truth classifier all vary), then writes the README's quickstart table -- each model's
measures at the chosen chain steps, mean ± sd over the seeds -- as a
:mod:`~gae_jax.jobs.results` file. Reruns resume each seed's job (finished training is skipped).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import ml_collections
from absl import logging

from gae_jax import config as config_lib
from gae_jax.jobs import results
from gae_jax.jobs.main import run_pipeline

TABLE_NAME = "quickstart"
# (summary key, column label, decimals) of the table's measures.
MEASURES = (
    ("parzen_ll", "Parzen LL (higher is better)", 0),
    ("frechet", "classifier FD (lower)", 1),
    ("class_tv", "class TV (lower)", 2),
    ("precision", "precision (higher)", 2),
    ("recall", "recall (higher)", 2),
)


def seeds_table(summaries: Sequence[dict], steps: Sequence[int]) -> dict:
    """The quickstart table of the main job's summaries, one per seed.

    Args:
      summaries: :func:`run_pipeline`'s summaries of the same config with different seeds.
      steps: recorded chain steps to show, e.g. (0, 1, 10).

    Returns:
      A results-file table: a row per model (its measures at ``steps``, mean ± sd over the
      seeds) and one for the real training images.

    Raises:
      ValueError: a step that a model did not record.
    """
    first = summaries[0]
    rows = []
    for name, model in first["models"].items():
        missing = sorted(set(steps) - set(model["steps"]))
        if missing:
            raise ValueError(f"model {name} recorded steps {model['steps']}, not {missing}")
        at = [model["steps"].index(t) for t in steps]
        cells = [
            [
                results.summarize([s["models"][name]["metrics"][key][i] for s in summaries])
                for i in at
            ]
            for key, _, _ in MEASURES
        ]
        rows.append([name, model["chain"], *cells])
    real = [[results.summarize([s["real_data"][key] for s in summaries])] for key, _, _ in MEASURES]
    rows.append(["real training images", "—", *real])
    steps_text = results.ARROW.join(str(t) for t in steps)
    return {
        "columns": [
            "model",
            "chain",
            *(f"{label}, steps {steps_text}" for _, label, _ in MEASURES),
        ],
        "decimals": [None, None, *(d for _, _, d in MEASURES)],
        "rows": rows,
    }


def run_seeds(
    config: ml_collections.ConfigDict,
    workdir: str,
    seeds: Sequence[int],
    *,
    steps: Sequence[int],
    results_path: str | None = None,
    command: str | None = None,
) -> dict:
    """Runs the main job of ``config`` once per seed and writes the results file.

    Args:
      config: a main-job config (``configs/quickstart.py``).
      workdir: each seed's job runs in ``<workdir>/seed_<seed>``.
      seeds: distinct seeds, at least one.
      steps: recorded chain steps the table shows.
      results_path: where to write the results file (default ``<workdir>/results.json``).
      command: the command line recorded in the results file (None: the one that started this
      process, :func:`gae_jax.jobs.results.command_line`).

    Returns:
      The results file's contents.

    Raises:
      ConfigError: bad seeds or steps, or a bad config value (before anything runs).
    """
    if not seeds or len(set(seeds)) != len(seeds):
        raise config_lib.ConfigError(f"--seeds={list(seeds)}; valid: one or more distinct seeds")
    experiments, _ = config_lib.validate_job(config)
    for name, exp in experiments.items():
        missing = sorted(set(steps) - set(exp.sampler.record_steps))
        if missing:
            raise config_lib.ConfigError(
                f"--steps={list(steps)}: {missing} not in config.sampler.record_steps="
                f"{exp.sampler.record_steps} (model {name})"
            )
    start = results.run_start(command)
    summaries = []
    for seed in seeds:
        seeded = config.copy_and_resolve_references()
        seeded.seed = seed
        seeded.sampler.seed = seed
        logging.info("[seeds] seed %d of %s", seed, list(seeds))
        summaries.append(run_pipeline(seeded, os.path.join(workdir, f"seed_{seed}")))
    file = results.results_file(
        TABLE_NAME,
        {TABLE_NAME: seeds_table(summaries, steps)},
        seeds=seeds,
        start=start,
    )
    file["total_seconds"] = [s["total_seconds"] for s in summaries]
    results.write_results(results_path or os.path.join(workdir, "results.json"), file)
    print(results.markdown_table(file["tables"][TABLE_NAME]), flush=True)
    return file


__all__ = ["MEASURES", "TABLE_NAME", "run_seeds", "seeds_table"]
