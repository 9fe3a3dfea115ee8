"""PyTorch references of the benchmarked networks, chain and DAAE update: eager and compiled.

They are what a user of the papers' code would otherwise run: ``torch.nn`` modules, eager mode,
``torch.optim.Adam`` with its fastest CPU implementation (``fused=True``), gradients only where
they are needed (``torch.no_grad`` for the sampler and the discriminator's fake codes, the
discriminator frozen during the generator update). Weights are copied from our Flax parameters,
so both sides compute the same functions from the same starting point.

The compiled reference is what a PyTorch user who cares about speed runs: the same code under
``torch.compile`` (TorchDynamo + inductor, which generates C++/OpenMP kernels on CPU and calls
MKL/oneDNN for the matmuls), with static shapes. For training, the three forward passes with
their losses are compiled (their backward graphs too, by AOTAutograd); ``backward()`` and the
fused Adam updates stay as they are. :func:`compile_and_run` reports how long the first call
(the compilation) took, or why compilation failed, so that a benchmark can carry on eagerly.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

# Every (shape, dtype) of a benchmark is its own static-shape graph of the same function;
# TorchDynamo's default limit of 8 graphs per function would otherwise fall back to eager.
for _name in ("recompile_limit", "cache_size_limit", "accumulated_recompile_limit"):
    if hasattr(torch._dynamo.config, _name):
        setattr(torch._dynamo.config, _name, max(256, getattr(torch._dynamo.config, _name)))


def compile_fn(fn: Callable, mode: str = "default") -> Callable:
    """``torch.compile(fn)`` with static shapes (one graph per shape: the fastest code)."""
    return torch.compile(fn, dynamic=False, mode=None if mode == "default" else mode)


def compile_and_run(
    make: Callable[[], Callable[[], object]],
) -> tuple[Callable[[], object] | None, float | None, str | None]:
    """Builds a compiled candidate and calls it once, which compiles it (inductor compiles lazily).

    Args:
      make: returns the candidate, a thunk that runs compiled code.

    Returns:
      ``(thunk, seconds of the first call, None)``, or ``(None, None, why)`` if TorchDynamo or
      inductor failed (e.g. no C++ compiler): the caller carries on with eager PyTorch only.
    """
    try:
        fn = make()
        t0 = time.perf_counter()
        fn()
        return fn, time.perf_counter() - t0, None
    except Exception as e:  # noqa: BLE001 -- any compiler failure means "no compiled reference"
        lines = [x for x in str(e).splitlines() if x.strip()]
        return None, None, f"{type(e).__name__}: {lines[0][:400] if lines else ''}"


def _linear(dense_params) -> nn.Linear:
    """A ``torch.nn.Linear`` holding a Flax ``Dense``'s kernel [in, out] and bias [out]."""
    kernel = np.array(dense_params["kernel"], np.float32)  # a writable copy
    layer = nn.Linear(*kernel.shape)
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(kernel.T.copy()))
        layer.bias.copy_(torch.from_numpy(np.array(dense_params["bias"], np.float32)))
    return layer


def mlp_from_flax(params, activation: nn.Module, dropout: float = 0.0) -> nn.Sequential:
    """``Dense_0 -> act [-> dropout] -> Dense_1 -> ... -> Dense_n`` (linear output layer).

    Args:
      params: the Flax parameters of an MLP whose layers are named ``Dense_0 ... Dense_n``.
      activation: applied after every hidden layer.
      dropout: rate of the dropout after every hidden activation (0: none).
    """
    layers = []
    num = len(params)
    for i in range(num):
        layers.append(_linear(params[f"Dense_{i}"]))
        if i < num - 1:
            layers.append(activation)
            if dropout:
                layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class Autoencoder(nn.Module):
    """The MLP autoencoder on flattened 28x28 images: encode [B, 784] -> [B, D], decode back."""

    def __init__(self, flax_params):
        super().__init__()
        self.encoder = mlp_from_flax(flax_params["encoder"], nn.ReLU())
        self.decoder = mlp_from_flax(flax_params["decoder"], nn.ReLU())


def chain_step(model: Autoencoder, x: torch.Tensor, sigma: float):
    """One transition from decoded images x: float32[chains, 784]: add N(0, sigma^2), encode,
    decode, sigmoid. Returns ``(z, x, mean code norm)``."""
    z = model.encoder(x + sigma * torch.randn_like(x))
    return z, torch.sigmoid(model.decoder(z)), torch.linalg.vector_norm(z, dim=-1).mean()


@torch.no_grad()
def denoising_latent_chain(
    model: Autoencoder,
    z: torch.Tensor,
    num_steps: int,
    sigma: float,
    step: Callable = chain_step,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``num_steps`` transitions decode -> sigmoid -> add N(0, sigma^2) -> encode.

    Args:
      model: the autoencoder.
      z: float32[chains, D] initial codes.
      num_steps: transitions.
      sigma: standard deviation of the Gaussian corruption.
      step: :func:`chain_step`, or its compiled version (compiling one step rather than the
        unrolled chain keeps inductor's compile time to seconds, at the same speed per step).

    Returns:
      ``(z, z_norm_mean)``: float32[chains, D] final codes and float32[num_steps], the per-step
      mean code norm (the same per-step summary the JAX benchmark records).
    """
    x = torch.sigmoid(model.decoder(z))
    norms = []
    for _ in range(num_steps):
        z, x, norm = step(model, x, sigma)
        norms.append(norm)
    return z, torch.stack(norms)


class DAAE:
    """Paper 001 Algorithm 1 per minibatch: reconstruction, discriminator, generator update.

    Three Adam optimisers as in ``gae_jax``: autoencoder (reconstruction), discriminator, and
    the encoder's prior-matching updates. Losses are computed from logits as in ``gae_jax``:
    BCE summed over pixels and averaged over the batch; discriminator
    ``softplus(-D(z_real)) + softplus(D(z_fake))``; generator ``softplus(-D(z_fake))``.
    """

    def __init__(
        self,
        flax_params,
        flax_disc_params,
        *,
        sigma=0.5,
        learning_rate=2e-4,
        b1=0.5,
        b2=0.999,
        compile_mode: str | None = None,
    ):
        """``compile_mode``: None for eager; else the ``torch.compile`` mode ("default",
        "max-autotune", ...) of the three forward passes with their losses."""
        self.ae = Autoencoder(flax_params)
        self.disc = mlp_from_flax(flax_disc_params, nn.LeakyReLU(0.2), dropout=0.2)
        self.sigma = sigma
        self.latent_dim = self.ae.encoder[-1].out_features
        adam = lambda params: torch.optim.Adam(  # noqa: E731
            params, lr=learning_rate, betas=(b1, b2), fused=True
        )
        self.opt_ae = adam(self.ae.parameters())
        self.opt_disc = adam(self.disc.parameters())
        self.opt_gen = adam(self.ae.encoder.parameters())
        self.disc.train()
        self.recon_loss, self.disc_loss, self.gen_loss = self._recon, self._disc, self._gen
        if compile_mode is not None:
            self.recon_loss = compile_fn(self._recon, compile_mode)
            self.disc_loss = compile_fn(self._disc, compile_mode)
            self.gen_loss = compile_fn(self._gen, compile_mode)

    def _corrupt(self, x):
        return x + self.sigma * torch.randn_like(x)

    def _recon(self, x):
        """Reconstruction of clean x from C(x)."""
        logits = self.ae.decoder(self.ae.encoder(self._corrupt(x)))
        f = nn.functional
        return f.binary_cross_entropy_with_logits(logits, x, reduction="sum") / x.shape[0]

    def _disc(self, x):
        """Discriminator: prior samples are real, encodings of C(x) fake."""
        with torch.no_grad():
            z_fake = self.ae.encoder(self._corrupt(x))
        z_real = torch.randn(x.shape[0], self.latent_dim)
        out = self.disc(torch.cat([z_real, z_fake]))[:, 0]
        real, fake = out[: x.shape[0]], out[x.shape[0] :]
        f = nn.functional
        return (f.softplus(-real) + f.softplus(fake)).mean()

    def _gen(self, x):
        """Generator: the encoder against the (frozen) discriminator."""
        return nn.functional.softplus(-self.disc(self.ae.encoder(self._corrupt(x)))[:, 0]).mean()

    def step(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """One minibatch x: float32[B, 784]; returns the three losses (as tensors: no sync)."""
        recon = self.recon_loss(x)
        self.opt_ae.zero_grad(set_to_none=True)
        recon.backward()
        self.opt_ae.step()
        disc_loss = self.disc_loss(x)
        self.opt_disc.zero_grad(set_to_none=True)
        disc_loss.backward()
        self.opt_disc.step()
        self.disc.requires_grad_(False)
        gen_loss = self.gen_loss(x)
        self.opt_gen.zero_grad(set_to_none=True)
        gen_loss.backward()
        self.opt_gen.step()
        self.disc.requires_grad_(True)
        return {"recon_loss": recon, "disc_loss": disc_loss, "gen_loss": gen_loss}
