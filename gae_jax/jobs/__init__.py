"""Jobs: what the entry points in ``experiments/`` run. Each takes a config and a workdir.

* :func:`train_and_evaluate` (:mod:`~gae_jax.jobs.train`) -- ``experiments.train``;
* :func:`sample_and_save` (:mod:`~gae_jax.jobs.sample`) -- ``experiments.sample``;
* :func:`run_pipeline` (:mod:`~gae_jax.jobs.main`) -- ``experiments.main``, with its report
  (:mod:`~gae_jax.jobs.report`);
* :func:`reproduce` (:mod:`~gae_jax.jobs.reproduce`) -- ``experiments.reproduce``.
"""

from gae_jax.jobs.main import run_pipeline
from gae_jax.jobs.reproduce import reproduce
from gae_jax.jobs.sample import sample_and_save
from gae_jax.jobs.train import train_and_evaluate

__all__ = ["reproduce", "run_pipeline", "sample_and_save", "train_and_evaluate"]
