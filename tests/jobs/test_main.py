"""The main job (``experiments.main`` / ``gae_jax.pipeline``) end to end on a tiny config."""

import csv
import json
import math
import os

import pytest
from helpers import tiny_job_config

from configs import quickstart
from gae_jax import config as config_lib
from gae_jax.jobs import main as pipeline
from gae_jax.jobs import report

# The tests share one run of the job (module fixture): one worker under pytest-xdist runs them.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("main_job")]


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("main"))
    return workdir, pipeline.run_pipeline(tiny_job_config(), workdir)


def test_report_and_summaries_hold_finite_numbers_for_every_model_and_step(job):
    workdir, summary = job
    with open(os.path.join(workdir, report.SUMMARY_JSON)) as f:
        stored = json.load(f)
    assert set(stored["models"]) == {"aae", "idaae"}
    for name, model in stored["models"].items():
        assert model["steps"] == [0, 1, 4]
        for key, *_ in report.COLUMNS:
            values = model["metrics"][key]
            assert len(values) == 3 and all(math.isfinite(v) for v in values), (name, key)
        assert name in model["verdict"]
    assert stored["models"]["aae"]["chain"] == "latent (eq. 1)"
    assert stored["models"]["idaae"]["chain"] == "denoising latent (eq. 2)"
    assert 0.0 <= stored["classifier"]["test_accuracy"] <= 1.0
    assert math.isfinite(stored["real_data"]["parzen_ll"])

    with open(os.path.join(workdir, report.SUMMARY_CSV)) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 * 3 + 1  # models x steps, then the real-data row
    assert all(math.isfinite(float(r["frechet"])) for r in rows)

    with open(os.path.join(workdir, report.REPORT_FILE)) as f:
        page = f.read()
    # Self-contained: overview, metric plots, and per model the step grids, interpolation
    # and histograms, all embedded.
    assert page.count("data:image/png;base64,") == 2 + 3 * 2
    assert 'src="http' not in page and "Closing note" in page
    for model in stored["models"].values():
        assert model["verdict"].split(":")[0] in page


def test_rerun_skips_finished_training_and_prints_the_table(job, capsys):
    workdir, first = job
    summary = pipeline.run_pipeline(tiny_job_config(), workdir)
    # Finished training is left as it is: each model's training record is the first run's.
    assert [m["train"] for m in summary["models"].values()] == [
        m["train"] for m in first["models"].values()
    ]
    assert summary["classifier"]["cached"]
    out = capsys.readouterr().out
    assert report.format_table(summary) in out
    assert "real data (train digits)" in out and "The job took" in out


def test_default_config_is_the_issue_s_job():
    experiments, ev = config_lib.validate_job(quickstart.get_config())
    assert [e.model.family for e in experiments.values()] == ["aae", "daae", "idaae"]
    assert experiments["idaae"].model.integration_samples == 5
    for e in experiments.values():
        assert e.data.name == "mnist5k"
        assert e.sampler.num_chains >= 10_000 and e.sampler.num_steps == 10
        assert e.sampler.record_steps == (0, 1, 5, 10) and e.sampler.slerp_steps == 5


@pytest.mark.parametrize(
    "section, key, value, message",
    [
        ("evaluation", "classifier_steps", 0, "classifier_steps"),
        ("evaluation", "colour", "red", "unknown key"),
        ("sampler", "num_chains", 0, "num_chains"),
    ],
)
def test_bad_values_fail_before_training(section, key, value, message, tmp_path):
    config = tiny_job_config()
    config[section][key] = value
    with pytest.raises(config_lib.ConfigError, match=message):
        pipeline.run_pipeline(config, str(tmp_path))
    assert not os.listdir(tmp_path)
