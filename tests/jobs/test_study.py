"""The chain study (gae_jax.jobs.study) end to end on a tiny preset: digits, two models (the
VAE and the GAE, whose prior is its aggregate posterior), two variants (decoder mean and sampled
x), two chain steps, one seed (tests/test_readme_results.py and test_aggregate_seeds check
the spread over seeds)."""

import json
import os

import numpy as np
import pytest
from helpers import override

from configs import study_fashion
from gae_jax import config as config_lib
from gae_jax import workdir as workdir_lib
from gae_jax.jobs import results, study

MEASURES = ("frechet", "precision", "recall", "density", "coverage", "parzen_ll")
VARIANTS = ["mean_pop_0.5", "sample_pop_0.5"]

# The tests share one study run (module fixture): one worker under pytest-xdist runs them.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("study")]


def tiny_study_config():
    """VAE and GAE on digits, 15 steps each; seed 0 x (decoder mean, sampled x) at sigma 0.5
    with population batch norm; chains of 2 steps."""
    config = study_fashion.study_config("mnist5k", ("vae", "gae"), epochs=1 / 3)
    config.data.name = "digits"
    for name in ("vae", "gae"):
        override(config.models[name].model, dict(encoder_hidden=(16,), decoder_hidden=(16,)))
        override(config.models[name].model, dict(latent_dim=3))
        override(
            config.models[name].train,
            dict(batch_size=32, log_every=5, eval_every=15, checkpoint_every=15),
        )
    override(config.sampler, dict(num_chains=64, num_steps=2, record_steps=(0, 1, 2)))
    override(config.evaluation, dict(classifier_hidden=(16,), classifier_steps=30))
    override(
        config.study,
        dict(
            seeds=(0,),
            batch_stats_modes=("population",),
            corruption_levels=(0.5,),
            table_steps=(0, 2),
        ),
    )
    return config


@pytest.fixture(scope="module")
def study_run(tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("study"))
    out = os.path.join(workdir, "docs_results", "study_tiny.json")
    summary = study.run_study(tiny_study_config(), workdir, results_path=out, command="cmd")
    return workdir, out, summary


def _result_files(workdir):
    root = os.path.join(workdir, study.RESULTS_DIR)
    return sorted(
        os.path.relpath(os.path.join(d, f), root) for d, _, files in os.walk(root) for f in files
    )


def test_writes_table_figure_and_results_file(study_run):
    workdir, out, summary = study_run
    assert summary["seeds_done"] == [0]
    assert os.path.getsize(os.path.join(workdir, study.FIGURE_FILE)) > 10_000
    with open(out) as f:
        file = json.load(f)
    assert file["seeds"] == [0] and file["command"] == "cmd"
    assert {"cpu_model", "isa", "cpu_count"} <= set(file["machine"]) and file["date"]
    with open(os.path.join(workdir, study.RESULTS_FILE)) as f:
        assert json.load(f)["tables"] == file["tables"]
    with open(os.path.join(workdir, study.TABLE_FILE)) as f:
        table_md = f.read()
    assert table_md == results.markdown_table(file["tables"][study.TABLE_NAME])
    lines = table_md.splitlines()
    assert len(lines) == 2 + 2 * 2 + 1  # header, rule, 2 models x 2 variants, real images
    assert [line.split(" | ")[:2] for line in lines[2:4]] == [
        ["| gae", "x mean, σ 0.5"],
        ["| gae", "x sample, σ 0.5"],
    ]
    assert lines[2].count("→") == 5  # 5 measures at table steps 0 and 2
    assert "±" not in table_md  # one seed: no spread to show


def test_per_variant_metric_keys(study_run):
    workdir, _, summary = study_run
    for name in ("vae", "gae"):
        model = summary["models"][name]
        assert model["batch_norm"] is False and model["seeds"] == [0]
        assert sorted(model["variants"]) == VARIANTS
        for vname, variant in model["variants"].items():
            draw = "Bernoulli(D(z))" if vname.startswith("sample") else "= D(z)"
            assert draw in variant["transition"] and "gaussian 0.5" in variant["transition"]
            assert variant["steps"] == [0, 1, 2]
            for key in MEASURES:
                per_seed = np.asarray(variant["per_seed"][key])
                assert per_seed.shape == (1, 3) and np.isfinite(per_seed).all()
                means = [s["mean"] for s in variant["summary"][key]]
                np.testing.assert_allclose(means, per_seed[0])
    # Every variant starts from the same prior draws: step 0 (the decoded draws) agrees.
    vae = summary["models"]["vae"]["variants"]
    mean, sampled = (np.asarray(vae[v]["per_seed"]["frechet"]) for v in VARIANTS)
    np.testing.assert_allclose(mean[:, 0], sampled[:, 0])
    assert not np.allclose(mean[:, 1:], sampled[:, 1:])
    assert _result_files(workdir) == [
        f"{name}/seed_0/{v}.json" for name in ("gae", "vae") for v in VARIANTS
    ]


def test_rerun_skips_finished_stages_and_refuses_changed_settings(study_run):
    workdir, _, summary = study_run
    files = _result_files(workdir)
    root = os.path.join(workdir, study.RESULTS_DIR)
    stamps = {f: os.stat(os.path.join(root, f)).st_mtime_ns for f in files}
    model_dir = os.path.join(workdir, study.MODELS_DIR, "gae", "seed_0")
    checkpoints = workdir_lib.finished_checkpoints(model_dir)
    again = study.run_study(tiny_study_config(), workdir)
    assert again["models"] == summary["models"]
    assert {f: os.stat(os.path.join(root, f)).st_mtime_ns for f in files} == stamps
    assert workdir_lib.finished_checkpoints(model_dir) == checkpoints
    changed = tiny_study_config()
    changed.sampler.num_chains = 32
    with pytest.raises(workdir_lib.ConfigChangedError, match="num_chains: 64"):
        study.run_study(changed, workdir)


def test_validation_names_the_bad_key():
    config = tiny_study_config()
    config.study.epochs = {"vae": 1.0}
    with pytest.raises(config_lib.ConfigError, match=r"study.epochs .*gae"):
        config_lib.validate_study(config)
    config = tiny_study_config()
    config.study.table_steps = (0, 3)
    with pytest.raises(config_lib.ConfigError, match="table_steps"):
        config_lib.validate_study(config)


def test_variants_and_paired_change():
    variants = study.chain_variants(config_lib.StudyConfig())
    assert len(variants) == 8 and len({v.name for v in variants}) == 8
    same = study.distinct_variants(variants, batch_norm=False)
    assert len(set(same.values())) == 4
    assert len(set(study.distinct_variants(variants, batch_norm=True).values())) == 8
    change = study.paired_change(np.array([[1.0, 2.0], [3.0, 6.0]]))
    assert change["mean"] == [0.0, 2.0]
    assert change["stderr"][1] == pytest.approx(np.std([1.0, 3.0], ddof=1) / np.sqrt(2))


def test_aggregate_seeds():
    runs = [
        {"steps": [0, 5], "metrics": {k: [1.0 + seed, 2.0 + 3 * seed] for k in MEASURES}}
        for seed in (0, 1, 2)
    ]
    for r in runs:
        r["metrics"].update(
            {k: [0.0, 0.0] for k in ("parzen_stderr", "class_tv", "classes_covered")}
        )
    out = study.aggregate_seeds(runs)
    fd = out["summary"]["frechet"]
    assert [s["n"] for s in fd] == [3, 3]
    assert fd[1]["mean"] == pytest.approx(5.0) and fd[1]["sd"] == pytest.approx(3.0)
    change = out["change_from_step_0"]["frechet"]  # per seed: 1, 3, 5
    assert change["mean"] == pytest.approx([0.0, 3.0])
    assert change["stderr"] == pytest.approx([0.0, 2.0 / np.sqrt(3)])
    runs[2]["steps"] = [0, 4]
    with pytest.raises(ValueError, match="different steps"):
        study.aggregate_seeds(runs)
