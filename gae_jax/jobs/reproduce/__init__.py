"""Reproductions of the papers' result tables: ``reproduce(config, workdir)``.

``python -m experiments.reproduce --config=configs/paper001_mnist.py --workdir=DIR`` trains (or
restores) every model of the table into ``DIR/<model>``, measures them with
:mod:`gae_jax.evaluation` and writes into ``DIR``:

* ``table.md`` -- the tables, ours next to the paper's numbers, with the settings and notes;
* ``table.csv`` -- the same numbers, one per line (:mod:`gae_jax.jobs.reproduce.tables`);
* ``results.json`` -- everything measured (per-step curves, timings, settings);
* figures (``*.png``) -- samples of every model and the protocol's curves;
* with ``results_path`` (``--out``), the tables of ``table.md`` as a results file
  (:mod:`gae_jax.jobs.results`, tables named by :func:`~gae_jax.jobs.reproduce.tables.table_key`),
  which the README's tables are checked against.

Rerunning restores the trained models instead of retraining them; a longer ``epochs`` resumes
training from their checkpoints.
"""

from __future__ import annotations

import os
import time

import ml_collections
from absl import logging
from etils import epath

from gae_jax import config as config_lib
from gae_jax import parallel
from gae_jax import workdir as workdir_lib
from gae_jax.jobs import results
from gae_jax.jobs.common import load_splits
from gae_jax.jobs.reproduce import paper001, paper002, paper004, tables
from gae_jax.jobs.reproduce.common import Context, train_models
from gae_jax.jobs.reproduce.tables import Entry

# Each protocol module exports TITLE, PAPER (its rows' paper numbers by model name) and
# evaluate(Context) -> Result.
_PROTOCOLS = {"paper001_mnist": paper001, "paper002_mnist": paper002, "paper004_mnist": paper004}


def reproduce(
    config: ml_collections.ConfigDict,
    workdir: str,
    *,
    results_path: str | None = None,
    command: str | None = None,
) -> list[Entry]:
    """Trains or restores the table's models, measures them and writes the outputs.

    Args:
      config: a table config (``configs/paper00N_*.py``; see :mod:`gae_jax.jobs.reproduce.common`).
      workdir: output directory; each model trains into ``workdir/<name>``.
      results_path: where to write the tables as a results file too (e.g.
        ``docs/results/paper001.json``); None: not written.
      command: the command line recorded in the results file (None: the one that started this
      process, :func:`gae_jax.jobs.results.command_line`).

    Returns:
      The table entries (also in ``table.md`` / ``table.csv``).
    """
    table = config_lib.validate_table(config)
    protocol = _PROTOCOLS[table.protocol]
    # ConfigDicts sort their keys; rows follow the paper's order, then any extra models.
    names = [n for n in protocol.PAPER if n in config.models]
    names += sorted(set(config.models) - set(names))
    data = load_splits(config.data)
    # Values the data rules out (batch size, image size) fail now, not after earlier models train.
    for name in names:
        config_lib.check_against_data(
            config_lib.validate(config_lib.table_model_config(config, name)),
            data.train.image_shape,
            num_train=len(data.train),
            num_test=len(data.test),
        )
    start = results.run_start(command)
    t0 = time.perf_counter()
    models = train_models(config, table, names, len(data.train), workdir)
    t1 = time.perf_counter()
    result = protocol.evaluate(Context(config.seed, table, models, data, config.data.name, workdir))
    t2 = time.perf_counter()
    logging.info("%s: trained in %.0fs, evaluated in %.0fs", table.protocol, t1 - t0, t2 - t1)

    epochs = ", ".join(f"{name} {m.epochs:.3g}" for name, m in models.items())
    if workdir_lib.is_writer():  # every process measured the same; process 0 writes
        text = (
            f"### {protocol.TITLE}\n\nData `{config.data.name}`: {len(data.train)} training, "
            f"{len(data.validation)} validation and {len(data.test)} test images; scale "
            f"`{table.scale}`; epochs trained: {epochs}.\n\n"
            f"{tables.markdown(result.entries)}\n{result.notes}"
        )
        epath.Path(workdir, "table.md").write_text(text)
        tables.write_csv(os.path.join(workdir, "table.csv"), result.entries)
        if results_path:
            file = results.results_file(
                table.protocol,
                tables.results_tables(result.entries),
                seeds=[config.seed],
                start=start,
            )
            results.write_results(results_path, file)
    workdir_lib.write_json(
        os.path.join(workdir, "results.json"),
        {
            "protocol": table.protocol,
            "title": protocol.TITLE,
            "scale": table.scale,
            "data": config.data.name,
            "num_train": len(data.train),
            "num_test": len(data.test),
            "train_seconds": t1 - t0,
            "evaluate_seconds": t2 - t1,
            "entries": [e._asdict() for e in result.entries],
            "details": result.details,
        },
    )
    parallel.sync("reproduce")
    return result.entries


__all__ = ["Entry", "reproduce"]
