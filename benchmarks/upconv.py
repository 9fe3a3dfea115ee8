"""The DCGAN decoder's upsampling layer: ``UpConv`` against ``flax.linen.ConvTranspose``.

    python -m benchmarks.upconv [--rounds=5] [--batch_size=64] [--out=PATH]

Times one forward and backward pass (gradients of the parameters and the input) of each 4x4,
stride-2 transposed convolution of the DCGAN decoders (28x28 Fashion-MNIST/MNIST, 64x64
CelebA), the two implementations taking turns in one process. Both have the same parameters
and agree to float rounding (``tests/models/test_models.py``); XLA's CPU backend runs
``ConvTranspose`` as a convolution of a zero-dilated input on a slow generic path.
"""

from __future__ import annotations

import os

import flax.linen as nn
import jax
import jax.numpy as jnp
from absl import app, flags

from benchmarks import common
from gae_jax.models.conv import UpConv

_ROUNDS = flags.DEFINE_integer("rounds", 5, "timing rounds (the median is reported)")
_BATCH = flags.DEFINE_integer("batch_size", 64, "images per pass")
_OUT = flags.DEFINE_string(
    "out", "", "JSON output path (default: benchmarks/results/<isa>/upconv.json)"
)
# (decoder, input side, input channels, output channels): the DCGAN decoders' layers at
# width 64 (gae_jax.models.conv.DCGANDecoder).
LAYERS = (
    ("28x28", 7, 128, 64),
    ("28x28", 14, 64, 1),
    ("64x64", 4, 512, 256),
    ("64x64", 8, 256, 128),
    ("64x64", 16, 128, 64),
    ("64x64", 32, 64, 3),
)


def _fns(side: int, cin: int, cout: int) -> dict:
    x = jax.random.normal(jax.random.key(0), (_BATCH.value, side, side, cin))
    layers = {
        "flax ConvTranspose": nn.ConvTranspose(cout, (4, 4), strides=(2, 2), padding="SAME"),
        "UpConv": UpConv(cout),
    }
    params = layers["UpConv"].init(jax.random.key(1), x)
    fns = {}
    for name, layer in layers.items():
        loss = lambda p, x, layer=layer: jnp.sum(layer.apply(p, x) ** 2)
        fns[name] = common.blocking(jax.jit(jax.grad(loss, argnums=(0, 1))), params, x)
    return fns


def main(argv):
    del argv
    payload = {"machine": common.machine_info(), "batch_size": _BATCH.value, "rows": []}
    print(common.header(payload["machine"]))
    rows = []
    for decoder, side, cin, cout in LAYERS:
        seconds = common.time_interleaved(_fns(side, cin, cout), rounds=_ROUNDS.value)
        flops = 3 * 2 * _BATCH.value * side * side * 16 * cin * cout  # forward + 2 backward
        old, new = seconds["flax ConvTranspose"], seconds["UpConv"]
        layer = f"{decoder} decoder, {side}x{side}x{cin} -> {2 * side}x{2 * side}x{cout}"
        payload["rows"].append({"layer": layer, "seconds": seconds, "flops": flops})
        rows.append([layer, old * 1e3, new * 1e3, old / new, flops / new / 1e9])
        print(f"{layer}: ConvTranspose {old * 1e3:.1f} ms, UpConv {new * 1e3:.1f} ms")
    payload["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    print(common.header(payload["machine"]))
    headers = [
        "layer (forward + backward)",
        "ConvTranspose ms",
        "UpConv ms",
        "speed-up",
        "UpConv GFLOP/s",
    ]
    print(common.markdown_table(headers, rows))
    common.write_json(_OUT.value or common.results_path("upconv.json"), payload)


if __name__ == "__main__":
    app.run(main)
