"""One sampler path: ``config.sampler`` means the same thing in the sample job, the main job and
the paper tables, because all three build their chains through ``gae_jax.builders``."""

import pytest

from configs import base, paper001_mnist, quickstart
from gae_jax import builders
from gae_jax.jobs import reproduce, run_pipeline, sample_and_save, train_and_evaluate


class _Seen(Exception):
    """Raised by the spy at the first chain a job builds, carrying what it was built with."""


@pytest.fixture
def spy(monkeypatch):
    """Replaces ``builders.latent_kernel`` with a spy that stops the job at its first chain."""

    def latent_kernel(fns, corruption, sampler_cfg, *, reconstruction_loss):
        raise _Seen(corruption, sampler_cfg)

    monkeypatch.setattr(builders, "latent_kernel", latent_kernel)


def _override(sampler):
    sampler.corruption, sampler.corruption_level = "masking", 0.3
    sampler.batch_stats_mode, sampler.on_non_finite = "population", "restart"


def _assert_reached(seen):
    corruption, sampler_cfg = seen.value.args
    assert corruption is not None  # the masking corruption of the override, not "none"
    assert sampler_cfg.corruption == "masking" and sampler_cfg.corruption_level == 0.3
    assert sampler_cfg.batch_stats_mode == "population"
    assert sampler_cfg.on_non_finite == "restart"


def _tiny_model(section):
    m, t = section.model, section.train
    m.latent_dim, m.encoder_hidden, m.decoder_hidden, m.disc_hidden = 4, (16,), (16,), (16,)
    m.integration_samples = 2
    t.num_steps, t.batch_size, t.log_every, t.checkpoint_every = 4, 32, 2, 4
    t.eval_batch_size = 180


def test_the_sample_job_uses_config_sampler(tmp_path, spy):
    config = base.get_config()
    config.data.name = "digits"
    config.model.family = "ae"
    config.model.corruption, config.model.corruption_level = "none", 0.0
    _tiny_model(config)
    train_and_evaluate(config, str(tmp_path))
    _override(config.sampler)
    with pytest.raises(_Seen) as seen:
        sample_and_save(config, str(tmp_path))
    _assert_reached(seen)


def test_the_main_job_uses_config_sampler(tmp_path, spy):
    config = quickstart.get_config()
    config.data.name = "digits"
    for name in ("daae", "idaae"):
        del config.models[name]
    _tiny_model(config.models.aae)
    config.evaluation.classifier_hidden, config.evaluation.classifier_steps = (16,), 10
    _override(config.sampler)
    with pytest.raises(_Seen) as seen:
        run_pipeline(config, str(tmp_path))
    _assert_reached(seen)


def test_the_paper_tables_use_config_sampler(tmp_path, spy):
    config = paper001_mnist.get_config("small")
    config.data.name = "digits"
    for name in [n for n in config.models if n != "aae"]:
        del config.models[name]
        del config.reproduce.epochs[name]
    _tiny_model(config.models.aae)
    config.reproduce.classifier_steps = 10
    _override(config.models.aae.sampler)
    with pytest.raises(_Seen) as seen:
        reproduce(config, str(tmp_path))
    _assert_reached(seen)
