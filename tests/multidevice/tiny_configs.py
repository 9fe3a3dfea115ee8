"""Tiny configs for the entry-point tests, loaded the way users load theirs:
``--config=tests/multidevice/tiny_configs.py:train`` (a DAAE on digits, 8 steps with
``mesh.topology_exact``, 6 latent chains, which do not divide 4 devices) or ``...:main`` (the
main job with one tiny model).
"""

from helpers import override, tiny_config, tiny_job_config

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
    num_chains=6,
    num_steps=2,
    record_steps=(0, 1, 2),
    grid_size=6,
    slerp_pairs=1,
    slerp_points=3,
    slerp_steps=1,
)


def get_config(kind: str = "train"):
    if kind == "train":
        return tiny_config(
            "daae",
            hidden=(32,),
            disc_hidden=(32,),
            train=_TRAIN,
            sampler=_SAMPLER,
            mesh=dict(topology_exact=True),
        )
    if kind == "main":
        config = tiny_job_config()
        del config.models["idaae"]
        override(config.models["aae"].train, dict(_TRAIN, eval_every=8, checkpoint_every=8))
        override(config.sampler, dict(_SAMPLER, num_chains=30, grid_size=8))
        override(config.evaluation, dict(classifier_steps=20))
        return config
    raise ValueError(f"unknown tiny config {kind!r}; valid: 'train', 'main'")
