"""The main job over several seeds, as a results file for the README:

    python -m experiments.seeds --config=configs/quickstart.py --seeds=0,1,2 --workdir=DIR \
        --out=docs/results/quickstart.json

Runs ``experiments.main`` once per seed into ``DIR/seed_<seed>`` and writes the quickstart table
(mean ± sd over the seeds, with the command, commit and machine) to ``--out`` (see
:mod:`gae_jax.jobs.seeds`). Rerunning resumes each seed's job.
"""

from absl import app, flags
from ml_collections import config_flags

from gae_jax.jobs.seeds import run_seeds

_CONFIG = config_flags.DEFINE_config_file("config", "configs/quickstart.py", "Job config.")
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for the seeds' jobs.", required=True)
_SEEDS = flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds, comma-separated.")
_STEPS = flags.DEFINE_list("steps", ["0", "1", "10"], "Recorded chain steps the table shows.")
_OUT = flags.DEFINE_string("out", None, "The results file (default DIR/results.json).")


def main(argv):
    del argv
    run_seeds(
        _CONFIG.value,
        _WORKDIR.value,
        [int(s) for s in _SEEDS.value],
        steps=[int(t) for t in _STEPS.value],
        results_path=_OUT.value,
    )


if __name__ == "__main__":
    app.run(main)
