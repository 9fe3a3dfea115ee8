"""The tiny main-job config of the entry-point tests, loaded the way users load theirs:
``--config=tests/multidevice/tiny_configs.py``: one AAE on digits, 8 steps of 4 per dispatch with
checkpoints at 4 and 8 and ``mesh.topology_exact`` (its training steps are bitwise the same on
any topology), 30 latent chains (which do not divide 4 devices) of 2 steps.
"""

from helpers import override, tiny_job_config

_TRAIN = dict(
    num_steps=8,
    batch_size=32,
    log_every=4,
    eval_every=4,
    checkpoint_every=4,
    eval_batch_size=180,
    steps_per_dispatch=4,
)
_SAMPLER = dict(
    kernels=("latent",),
    num_chains=30,
    num_steps=2,
    record_steps=(0, 1, 2),
    grid_size=8,
    slerp_pairs=1,
    slerp_points=3,
    slerp_steps=1,
)


def get_config():
    config = tiny_job_config()
    del config.models["idaae"]
    override(config.models["aae"].train, _TRAIN)
    config.models["aae"].mesh = dict(topology_exact=True)
    override(config.sampler, _SAMPLER)
    override(config.evaluation, dict(classifier_steps=20))
    return config
