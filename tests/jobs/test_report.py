"""The report's automatic verdicts and table (pure functions of the summary)."""

import pytest

from gae_jax.jobs import report


def model(parzen, frechet, class_tv, stderr=1.0, latent=(1.0, 0.5, 0.2)):
    return {
        "steps": [0, 1, 10],
        "metrics": {
            "parzen_ll": list(parzen),
            "parzen_stderr": [stderr] * 3,
            "frechet": list(frechet),
            "class_tv": list(class_tv),
            "classes_covered": [10.0] * 3,
            "latent_fd_data": list(latent),
            "latent_fd_prior": [0.0, 0.5, 0.8],
        },
    }


def test_a_chain_that_improves_every_measure_is_called_an_improvement():
    text = report.chain_verdict("daae", model([100, 120, 130], [50, 40, 30], [0.3, 0.2, 0.1]))
    assert "the chain improved the samples (3 of 3" in text
    assert "Parzen LL rose from 100.0 to 130.0 (better)" in text
    assert "classifier FD fell from 50.00 to 30.00 (better)" in text


def test_a_chain_that_worsens_every_measure_says_so():
    worse = model([130, 120, 100], [30, 40, 50], [0.1, 0.2, 0.3], latent=(0.2, 0.5, 1.0))
    text = report.chain_verdict("aae", worse)
    assert "did NOT improve" in text and "(worse)" in text and "(better)" not in text
    assert "distance to data codes rose from 0.200 to 1.000 (worse)" in text


def test_changes_within_the_noise_are_not_called_either_way():
    # Parzen moves by less than 2 combined standard errors; FD and TV by under 5%.
    text = report.chain_verdict("x", model([100, 101, 102], [50, 50, 49], [0.2, 0.2, 0.2], 2.0))
    assert "left the samples about as they were" in text
    assert text.count("did not change clearly") == 3


def test_a_non_monotone_metric_reports_its_best_step():
    text = report.chain_verdict("x", model([100, 150, 90], [50, 20, 60], [0.2, 0.2, 0.2]))
    assert "mixed result" not in text  # worse at the end on two measures, no change on TV
    assert "best at step 1 (150)" in text and "best at step 1 (20)" in text


@pytest.mark.parametrize(
    "parzen, frechet, expected", [([100, 90, 130], [50, 55, 60], "mixed result: 1")]
)
def test_mixed_results_count_both_directions(parzen, frechet, expected):
    assert expected in report.chain_verdict("x", model(parzen, frechet, [0.2, 0.2, 0.2]))


def test_table_has_a_row_per_model_and_step_and_the_real_data_row():
    m = model([100, 120, 130], [50, 40, 30], [0.3, 0.2, 0.1])
    m["verdict"] = "verdict sentence"
    real = {"parzen_ll": 140.0, "parzen_stderr": 2.0, "frechet": 5.0, "class_tv": 0.05}
    real["classes_covered"] = 10.0
    summary = {
        "models": {"daae": m},
        "real_data": real,
        "total_seconds": 420.0,
        "machine": {"cpu_count": 2, "load_average_at_start": [1.0, 1.0, 1.0]},
    }
    rows = report.summary_rows(summary)
    assert [r["step"] for r in rows] == [0, 1, 10, ""]
    table = report.format_table(summary)
    assert "130.0 ± 1.0" in table and "140.0 ± 2.0" in table
    assert "verdict sentence" in table and "within the 10-minute budget" in table
    assert "Parzen LL 100 -> 130, FD 50.0 -> 30.0" in report.headline(summary)
    assert "improved the samples of 1 of 1 models by step 10" in report.headline(summary)
    summary["total_seconds"] = 700.0
    assert "OVER the 10-minute budget" in report.format_table(summary)
