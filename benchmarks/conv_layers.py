"""The DCGAN networks' stride-2 layers, flax's against ours, and the conv DAAE train step.

    python -m benchmarks.conv_layers [--rounds=5] [--batch_size=64] [--step=daae_conv,fashion]
        [--out=PATH]

Times one forward and backward pass, in a ``lax.scan`` body as the training loop runs it
(``gae_jax.train.steps.scan_steps``), of each 4x4, stride-2 layer of the DCGAN encoders
(``flax.linen.Conv`` against :func:`gae_jax.models.conv.downconv_space_to_depth`) and decoders
(``flax.linen.ConvTranspose`` against :func:`gae_jax.models.conv.upconv_phases`) at width 64
(28x28 Fashion-MNIST/MNIST, 64x64 CelebA), the candidates taking turns in one process. The
backward pass computes the gradients of the kernel and, except for an encoder's first layer
(whose input is the image), of the input, as in training. ``DownConv`` and ``UpConv`` use the
faster form of each layer (``UpConv`` keeps ``lax.conv_transpose`` for the image layers of
small images, ``conv.upconv_uses_phases``); all forms have the same parameters and agree to float
rounding (``tests/models/test_models.py``).

With ``--step`` (empty: skipped), it also times the whole train step of that
``configs/models.py`` variant with the library's layers against the same step built with
flax's ``nn.Conv`` / ``nn.ConvTranspose`` (the parameters are the same), taking turns.
"""

from __future__ import annotations

import contextlib
import os
from unittest import mock

import flax.linen as nn
import jax
import jax.numpy as jnp
from absl import app, flags

from benchmarks import common
from gae_jax.models import conv

_ROUNDS = flags.DEFINE_integer("rounds", 5, "timing rounds (the median is reported)")
_BATCH = flags.DEFINE_integer("batch_size", 64, "images per pass")
_STEP = flags.DEFINE_string(
    "step", "daae_conv,fashion", "configs/models.py VARIANT,DATA whose train step is timed"
)
_OUT = flags.DEFINE_string(
    "out", "", "JSON output path (default: benchmarks/results/<isa>/conv_layers.json)"
)
# (network, direction, input side, input channels, output channels): the DCGAN layers at width
# 64 (gae_jax.models.conv), and two decoder widths between the image and hidden layers that
# place UpConv's switch (conv.upconv_uses_phases).
LAYERS = (
    ("28x28", "down", 28, 1, 64),
    ("28x28", "down", 14, 64, 128),
    ("28x28", "down", 7, 128, 256),
    ("28x28", "up", 7, 128, 64),
    ("28x28", "up", 14, 64, 1),
    ("28x28-like", "up", 14, 64, 4),
    ("28x28-like", "up", 14, 64, 8),
    ("64x64", "down", 64, 3, 64),
    ("64x64", "down", 32, 64, 128),
    ("64x64", "down", 16, 128, 256),
    ("64x64", "down", 8, 256, 512),
    ("64x64", "up", 4, 512, 256),
    ("64x64", "up", 8, 256, 128),
    ("64x64", "up", 16, 128, 64),
    ("64x64", "up", 32, 64, 3),
)
_SPEC = ("NHWC", "HWIO", "NHWC")
FORMS = {
    "down": {
        "flax Conv": lambda x, k: jax.lax.conv_general_dilated(
            x, k, (2, 2), "SAME", dimension_numbers=_SPEC
        ),
        "space-to-depth": conv.downconv_space_to_depth,
    },
    "up": {
        "flax ConvTranspose": lambda x, k: jax.lax.conv_transpose(
            x, k, (2, 2), "SAME", dimension_numbers=_SPEC
        ),
        "phases": conv.upconv_phases,
    },
}


def _layer_fns(direction: str, side: int, cin: int, cout: int) -> dict:
    x = jax.random.normal(jax.random.key(0), (_BATCH.value, side, side, cin))
    kernel = jax.random.normal(jax.random.key(1), (4, 4, cin, cout)) * 0.05
    argnums = (0,) if direction == "down" and cin <= 3 else (0, 1)  # no gradient of an image
    fns = {}
    for name, form in FORMS[direction].items():
        grad = jax.grad(lambda k, x, form=form: jnp.sum(form(x, k) ** 2), argnums=argnums)

        def in_loop(kernel, xs, grad=grad):  # one pass in a loop body, as training runs it
            def body(k, x):
                grads = grad(k, x)
                return k + 1e-9 * grads[0], sum(jnp.sum(g) for g in grads[1:])

            return jax.lax.scan(body, kernel, xs)

        fns[name] = common.blocking(jax.jit(in_loop), kernel, x[None])
    return fns


def _flax_layer(kind):
    """A stand-in for ``conv.DownConv`` / ``conv.UpConv``: flax's own layer, same parameters."""

    def make(features, use_bias=True, name=None):
        return kind(features, (4, 4), strides=(2, 2), padding="SAME", use_bias=use_bias, name=name)

    return make


def _step_fns(variant: str) -> dict:
    """The compiled train step of ``variant`` (batch on device) with our layers and flax's."""
    fns = {}
    for name, flax_layers in (("flax layers", True), ("ours", False)):
        with contextlib.ExitStack() as stack:
            if flax_layers:  # the model is traced (in lower) while conv's layers are flax's
                stack.enter_context(mock.patch.object(conv, "DownConv", _flax_layer(nn.Conv)))
                stack.enter_context(
                    mock.patch.object(conv, "UpConv", _flax_layer(nn.ConvTranspose))
                )
            run = common.config_train_step(variant)
            compiled = run.train_steps.lower(run.state, run.batch, run.key).compile()
        holder = [run.state]  # the step donates its state: each call passes the new one on

        def call(compiled=compiled, holder=holder, run=run):
            holder[0], metrics = jax.block_until_ready(compiled(holder[0], run.batch, run.key))
            return metrics

        fns[name] = call
    return fns, run.cfg.train.batch_size


def main(argv):
    del argv
    payload = {"machine": common.machine_info(), "batch_size": _BATCH.value, "rows": []}
    print(common.header(payload["machine"]))
    rows = []
    for network, direction, side, cin, cout in LAYERS:
        seconds = common.time_interleaved(
            _layer_fns(direction, side, cin, cout), rounds=_ROUNDS.value
        )
        old, new = seconds.values()
        out_side = 2 * side if direction == "up" else -(-side // 2)
        passes = 3 if direction == "up" or cin > 3 else 2  # forward + the backward's gradients
        macs = _BATCH.value * min(side, out_side) ** 2 * 16 * cin * cout
        flops = passes * 2 * macs
        layer = f"{network} {direction}, {side}x{side}x{cin} -> {out_side}x{out_side}x{cout}"
        used = "phases" if direction == "up" and conv.upconv_uses_phases(side, side, cout) else None
        used = used or ("space-to-depth" if direction == "down" else "flax ConvTranspose")
        payload["rows"].append(
            {"layer": layer, "seconds": seconds, "flops": flops, "library_uses": used}
        )
        best = seconds[used]
        rows.append([layer, old * 1e3, new * 1e3, old / new, used, flops / best / 1e9])
        print(f"{layer}: " + ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in seconds.items()))
    if _STEP.value:
        fns, batch_size = _step_fns(_STEP.value)
        seconds = common.time_interleaved(fns, rounds=_ROUNDS.value)
        payload["step"] = {"variant": _STEP.value, "batch_size": batch_size, "seconds": seconds}
        print(
            f"train step of {_STEP.value}: "
            + ", ".join(f"{k} {v:.3f} s" for k, v in seconds.items())
        )
    payload["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    print(common.header(payload["machine"]))
    headers = [
        "layer (forward + backward)",
        "flax ms",
        "ours ms",
        "flax / ours",
        "library uses",
        "its GFLOP/s",
    ]
    print(common.markdown_table(headers, rows))
    if _STEP.value:
        s = payload["step"]["seconds"]
        print(
            f"\n{_STEP.value} train step (batch {batch_size}): flax layers "
            f"{s['flax layers']:.3f} s, ours {s['ours']:.3f} s ({s['flax layers'] / s['ours']:.1f}x)"
        )
    common.write_json(_OUT.value or common.results_path("conv_layers.json"), payload)


if __name__ == "__main__":
    app.run(main)
