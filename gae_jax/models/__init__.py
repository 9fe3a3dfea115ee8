"""Networks and the Autoencoder, plus a builder from a validated model config."""

from __future__ import annotations

from gae_jax.models.autoencoder import POSTERIORS, Autoencoder, Posterior, Reconstruction
from gae_jax.models.conv import SUPPORTED_SIZES, DCGANDecoder, DCGANEncoder
from gae_jax.models.discriminator import Discriminator
from gae_jax.models.mlp import MLPDecoder, MLPEncoder

ARCHITECTURES = ("mlp", "dcgan")


def build_autoencoder(
    *,
    architecture: str,
    image_shape: tuple[int, int, int],
    latent_dim: int,
    posterior: str = "deterministic",
    encoder_hidden: tuple[int, ...] = (1000, 1000),
    decoder_hidden: tuple[int, ...] = (1000, 1000),
    activation: str = "relu",
    conv_width: int = 64,
) -> Autoencoder:
    """Builds an :class:`Autoencoder` for images of ``image_shape`` (H, W, C)."""
    if posterior not in POSTERIORS:
        raise ValueError(f"posterior must be one of {POSTERIORS}, got {posterior!r}")
    if latent_dim <= 0:
        raise ValueError(f"latent_dim must be positive, got {latent_dim}")
    out_dim = latent_dim * (2 if posterior == "gaussian" else 1)
    image_shape = tuple(int(d) for d in image_shape)
    if architecture == "mlp":
        encoder = MLPEncoder(tuple(encoder_hidden), out_dim, activation)
        decoder = MLPDecoder(tuple(decoder_hidden), image_shape, activation)
    elif architecture == "dcgan":
        h, w, _ = image_shape
        if h != w or h not in SUPPORTED_SIZES:
            raise ValueError(
                f"dcgan needs square images of size {SUPPORTED_SIZES}, got {h}x{w}; "
                "use architecture='mlp' for other sizes"
            )
        encoder = DCGANEncoder(out_dim, conv_width)
        decoder = DCGANDecoder(image_shape, conv_width)
    else:
        raise ValueError(f"architecture must be one of {ARCHITECTURES}, got {architecture!r}")
    return Autoencoder(encoder, decoder, latent_dim, posterior)


__all__ = [
    "ARCHITECTURES",
    "Autoencoder",
    "DCGANDecoder",
    "DCGANEncoder",
    "Discriminator",
    "MLPDecoder",
    "MLPEncoder",
    "POSTERIORS",
    "Posterior",
    "Reconstruction",
    "build_autoencoder",
]
