"""PyTorch eager references of the benchmarked networks, chain and DAAE update.

They are what a user of the papers' code would otherwise run: ``torch.nn`` modules, eager mode,
``torch.optim.Adam`` with its fastest CPU implementation (``fused=True``), gradients only where
they are needed (``torch.no_grad`` for the sampler and the discriminator's fake codes, the
discriminator frozen during the generator update). Weights are copied from our Flax parameters,
so both sides compute the same functions from the same starting point.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


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


@torch.no_grad()
def denoising_latent_chain(
    model: Autoencoder, z: torch.Tensor, num_steps: int, sigma: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """``num_steps`` transitions decode -> sigmoid -> add N(0, sigma^2) -> encode.

    Args:
      model: the autoencoder.
      z: float32[chains, D] initial codes.
      num_steps: transitions.
      sigma: standard deviation of the Gaussian corruption.

    Returns:
      ``(z, z_norm_mean)``: float32[chains, D] final codes and float32[num_steps], the per-step
      mean code norm (the same per-step summary the JAX benchmark records).
    """
    x = torch.sigmoid(model.decoder(z))
    norms = []
    for _ in range(num_steps):
        z = model.encoder(x + sigma * torch.randn_like(x))
        x = torch.sigmoid(model.decoder(z))
        norms.append(torch.linalg.vector_norm(z, dim=-1).mean())
    return z, torch.stack(norms)


class DAAE:
    """Paper 001 Algorithm 1 per minibatch: reconstruction, discriminator, generator update.

    Three Adam optimisers as in ``gae_jax``: autoencoder (reconstruction), discriminator, and
    the encoder's prior-matching updates. Losses are computed from logits as in ``gae_jax``:
    BCE summed over pixels and averaged over the batch; discriminator
    ``softplus(-D(z_real)) + softplus(D(z_fake))``; generator ``softplus(-D(z_fake))``.
    """

    def __init__(
        self, flax_params, flax_disc_params, *, sigma=0.5, learning_rate=2e-4, b1=0.5, b2=0.999
    ):
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

    def _corrupt(self, x):
        return x + self.sigma * torch.randn_like(x)

    def step(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """One minibatch x: float32[B, 784]; returns the three losses (as tensors: no sync)."""
        ae, disc = self.ae, self.disc
        f = nn.functional
        # 1. reconstruction of clean x from C(x)
        logits = ae.decoder(ae.encoder(self._corrupt(x)))
        recon = f.binary_cross_entropy_with_logits(logits, x, reduction="sum") / x.shape[0]
        self.opt_ae.zero_grad(set_to_none=True)
        recon.backward()
        self.opt_ae.step()
        # 2. discriminator: prior samples are real, encodings of C(x) fake
        with torch.no_grad():
            z_fake = ae.encoder(self._corrupt(x))
        z_real = torch.randn(x.shape[0], self.latent_dim)
        out = disc(torch.cat([z_real, z_fake]))[:, 0]
        real, fake = out[: x.shape[0]], out[x.shape[0] :]
        disc_loss = (f.softplus(-real) + f.softplus(fake)).mean()
        self.opt_disc.zero_grad(set_to_none=True)
        disc_loss.backward()
        self.opt_disc.step()
        # 3. generator: the encoder against the fixed discriminator
        disc.requires_grad_(False)
        gen_loss = f.softplus(-disc(ae.encoder(self._corrupt(x)))[:, 0]).mean()
        self.opt_gen.zero_grad(set_to_none=True)
        gen_loss.backward()
        self.opt_gen.step()
        disc.requires_grad_(True)
        return {"recon_loss": recon, "disc_loss": disc_loss, "gen_loss": gen_loss}
