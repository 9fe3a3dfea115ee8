"""Networks, the Autoencoder, ``build_autoencoder`` and the one model -> pure-functions adapter
(:mod:`gae_jax.models.adapter`)."""

from __future__ import annotations

from gae_jax.models.adapter import (
    BATCH_STATS_MODES,
    AutoencoderFns,
    autoencoder_fns,
    model_variables,
    sample_posterior,
)
from gae_jax.models.autoencoder import POSTERIORS, Autoencoder, Posterior, Reconstruction
from gae_jax.models.conv import SUPPORTED_SIZES, DCGANDecoder, DCGANEncoder
from gae_jax.models.discriminator import DISC_ACTIVATIONS, Discriminator
from gae_jax.models.mlp import CODE_ACTIVATIONS, MATMUL_DTYPES, NOISE_RNG, MLPDecoder, MLPEncoder

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
    matmul_dtype: str = "float32",
    preactivation_noise: float = 0.0,
    code_activation: str = "linear",
) -> Autoencoder:
    """Builds an :class:`Autoencoder` for images of ``image_shape`` (H, W, C).

    ``matmul_dtype`` (:data:`MATMUL_DTYPES`) is the operand dtype of the MLPs' matrix products
    (float32 accumulation and parameters either way); the conv networks support float32 only.
    ``preactivation_noise`` and ``code_activation`` (paper 002's denoising autoencoders) are the
    MLP encoder's (:class:`MLPEncoder`); the code activation needs a deterministic posterior.
    """
    if posterior not in POSTERIORS:
        raise ValueError(f"posterior must be one of {POSTERIORS}, got {posterior!r}")
    if latent_dim <= 0:
        raise ValueError(f"latent_dim must be positive, got {latent_dim}")
    out_dim = latent_dim * (2 if posterior == "gaussian" else 1)
    image_shape = tuple(int(d) for d in image_shape)
    if matmul_dtype not in MATMUL_DTYPES:
        raise ValueError(f"matmul_dtype must be one of {MATMUL_DTYPES}, got {matmul_dtype!r}")
    if (preactivation_noise or code_activation != "linear") and architecture != "mlp":
        raise ValueError(
            f"preactivation_noise={preactivation_noise} and code_activation={code_activation!r} "
            f"are options of architecture='mlp', got {architecture!r}"
        )
    if code_activation != "linear" and posterior != "deterministic":
        raise ValueError(
            f"code_activation={code_activation!r} needs posterior='deterministic' (a Gaussian "
            f"encoder's outputs are a mean and a log-variance), got {posterior!r}"
        )
    if architecture == "mlp":
        encoder = MLPEncoder(
            tuple(encoder_hidden),
            out_dim,
            activation,
            matmul_dtype,
            preactivation_noise=float(preactivation_noise),
            code_activation=code_activation,
        )
        decoder = MLPDecoder(tuple(decoder_hidden), image_shape, activation, matmul_dtype)
    elif architecture == "dcgan":
        if matmul_dtype != "float32":
            raise ValueError(f"dcgan supports matmul_dtype='float32' only, got {matmul_dtype!r}")
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
    "BATCH_STATS_MODES",
    "CODE_ACTIVATIONS",
    "DISC_ACTIVATIONS",
    "Autoencoder",
    "AutoencoderFns",
    "DCGANDecoder",
    "DCGANEncoder",
    "Discriminator",
    "MATMUL_DTYPES",
    "MLPDecoder",
    "MLPEncoder",
    "NOISE_RNG",
    "POSTERIORS",
    "Posterior",
    "Reconstruction",
    "autoencoder_fns",
    "build_autoencoder",
    "model_variables",
    "sample_posterior",
]
