"""Fault injection, provenance: a resume with other settings is refused naming the keys (or,
when asked for, recorded in run_history.jsonl without touching config.json); a rerun of a
finished run, or ``num_steps`` at or below the checkpoint, does nothing and changes no file."""

import json

import pytest
from helpers import snapshot, tiny_config

from gae_jax import workdir as workdir_lib
from gae_jax.jobs import train_and_evaluate
from gae_jax.train.writer import read_metrics


def _config(num_steps=20, **changes):
    config = tiny_config(num_steps=num_steps, log_every=10, checkpoint_every=10)
    for key, value in changes.items():
        section, _, name = key.rpartition(".")
        (config[section] if section else config)[name] = value
    return config


def test_a_rerun_of_a_finished_run_changes_no_file(run_copy, caplog):
    before = snapshot(run_copy)
    stored = json.loads((run_copy / "summary.json").read_text())
    for _ in range(2):
        with caplog.at_level("INFO"):
            assert train_and_evaluate(_config(), str(run_copy)) == stored
        assert snapshot(run_copy) == before  # metrics.jsonl, summary.json, ... byte-identical
    assert "is finished: checkpoint 20 = train.num_steps; nothing to do" in caplog.text


def test_num_steps_below_the_checkpoint_does_nothing_and_says_so(run_copy, caplog):
    before = snapshot(run_copy)
    summary = train_and_evaluate(_config(num_steps=10), str(run_copy))
    assert summary["step"] == 20 and summary["steps_this_run"] >= 0
    assert snapshot(run_copy) == before
    assert "train.num_steps=10 is below the checkpoint step 20" in caplog.text


@pytest.mark.parametrize(
    "key, value",
    [
        ("seed", 7),
        ("train.learning_rate", 1e-3),
        ("train.batch_size", 16),
        ("model.corruption_level", 0.25),
    ],
)
def test_a_resume_with_other_settings_is_refused_naming_the_key(run_copy, key, value):
    before = snapshot(run_copy)
    with pytest.raises(workdir_lib.ConfigChangedError, match=rf"{key}: .* -> {value!r}") as e:
        train_and_evaluate(_config(num_steps=30, **{key: value}), str(run_copy))
    assert "--allow_config_change" in str(e.value)
    assert snapshot(run_copy) == before


def test_an_allowed_change_is_recorded_and_config_json_keeps_the_original(run_copy):
    original = (run_copy / "config.json").read_bytes()
    train_and_evaluate(
        _config(num_steps=30, **{"train.learning_rate": 1e-3}),
        str(run_copy),
        allow_config_change=True,
    )
    assert (run_copy / "config.json").read_bytes() == original
    rows = workdir_lib.read_history(str(run_copy))
    assert rows[-1]["step"] == 20
    assert rows[-1]["changes"] == {"train.learning_rate": {"from": 2e-3, "to": 1e-3}}
    assert workdir_lib.effective_config(str(run_copy))["train"]["learning_rate"] == 1e-3
    # The new settings are now the run's: resuming with them needs no flag.
    train_and_evaluate(_config(num_steps=40, **{"train.learning_rate": 1e-3}), str(run_copy))
    steps = [r["step"] for r in read_metrics(str(run_copy), "train")]
    assert steps == [10, 20, 30, 40]  # no duplicated or missing steps
    assert [r["step"] for r in read_metrics(str(run_copy), "test")] == [0, 20, 30, 40]


def test_a_run_killed_after_its_last_checkpoint_finishes_without_training(run_copy):
    (run_copy / "summary.json").unlink()  # killed after checkpoint 20, before the summary
    summary = train_and_evaluate(_config(), str(run_copy))
    assert summary["step"] == 20 and summary["steps_this_run"] == 0
    assert [r["step"] for r in read_metrics(str(run_copy), "test")] == [0, 20]  # not twice


def test_data_files_swapped_for_other_image_sizes_are_named(run_copy):
    history = run_copy / workdir_lib.HISTORY_FILE
    row = json.loads(history.read_text().splitlines()[0])
    row[workdir_lib.IMAGE_SHAPE_KEY] = [28, 28, 1]  # as if trained on 28x28 files
    history.write_text(json.dumps(row) + "\n")
    with pytest.raises(
        workdir_lib.ConfigChangedError, match=r"data.image_shape: \[28, 28, 1\] -> \[8, 8, 1\]"
    ):
        train_and_evaluate(_config(num_steps=30), str(run_copy))
