"""gae_jax: generative autoencoders and the Markov-chain samplers that improve their samples."""

__version__ = "0.1.0"
