"""Defaults every experiment config starts from: a denoising autoencoder on mnist5k.

Named configs import this and override what differs, e.g. ``configs/dae_mnist5k.py``.
"""

import ml_collections


def get_config() -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict()
    config.seed = 0

    config.data = ml_collections.ConfigDict()
    config.data.name = "mnist5k"
    config.data.tfds_data_dir = ml_collections.config_dict.placeholder(str)

    # Paper 001 MNIST models: 2x1000 MLPs, 10-D code, corruption N(x, 0.5^2 I).
    config.model = ml_collections.ConfigDict()
    config.model.family = "dae"
    config.model.latent_dim = 10
    config.model.architecture = "mlp"
    config.model.encoder_hidden = (1000, 1000)
    config.model.decoder_hidden = (1000, 1000)
    config.model.activation = "relu"
    config.model.conv_width = 64
    config.model.reconstruction_loss = "bce"
    config.model.kl_weight = 1.0
    config.model.corruption = "gaussian"
    config.model.corruption_level = 0.5
    # Latent prior: "normal" N(0, I); "gmm_ring" (latent_dim 2 only; paper 001: 10 Gaussians of
    # std 0.5 evenly spaced on a circle of radius 4); "aggregate" (family gae only): the mixture
    # of the encoder's Gaussians q(z|x_j) over the training set (paper 004).
    config.model.prior = "normal"
    config.model.gmm_components = 10
    config.model.gmm_radius = 4.0
    config.model.gmm_std = 0.5
    # Adversary of aae/daae/idaae on z: leaky-ReLU MLP with dropout (paper 001 MNIST: 1000-1000-1).
    config.model.disc_hidden = (1000, 1000)
    config.model.disc_dropout = 0.2
    # idaae: M corruptions of each x whose encodings are averaged into its fake code (Alg. 2).
    config.model.integration_samples = 5
    # gae: loss weights of lambda1 sum mu^2 - lambda2 sum(1 + log s^2 - s^2) (paper 004 gives no
    # values; 0.5 and 0.5 would be the VAE's KL term).
    config.model.gae_lambda1 = 0.1
    config.model.gae_lambda2 = 0.1
    # Operand dtype of the MLP matrix products: "bfloat16" (float32 parameters and
    # accumulation) is about twice as fast where the hardware has bf16 dot products.
    config.model.matmul_dtype = "float32"

    # Adam 2e-4, beta1 0.5, batch 64 (papers 000 and 001).
    config.train = ml_collections.ConfigDict()
    config.train.num_steps = 3000
    config.train.batch_size = 64
    config.train.optimizer = "adam"
    config.train.learning_rate = 2e-4
    config.train.b1 = 0.5
    config.train.b2 = 0.999
    config.train.momentum = 0.0
    config.train.log_every = 100
    config.train.eval_every = 0  # 0 = once per epoch
    config.train.checkpoint_every = 1000
    config.train.keep_checkpoints = 3
    config.train.eval_batch_size = 500
    # Adversarial families: learning rates of the discriminator and of the prior-matching
    # (generator) updates of the encoder; unset = learning_rate. Same optimizer and betas.
    config.train.disc_learning_rate = ml_collections.config_dict.placeholder(float)
    config.train.gen_learning_rate = ml_collections.config_dict.placeholder(float)
    # A NaN/Inf loss or parameter: "stop" with an error naming the step (the latest checkpoint
    # stays the last good one), or "skip" the batch's update and count it (skipped_steps).
    config.train.on_non_finite = "stop"
    # Training steps per compiled call (lax.scan over that many batches): fewer dispatches.
    config.train.steps_per_dispatch = 1

    # experiments.sample: Markov chains on the trained model (gae_jax.samplers).
    config.sampler = ml_collections.ConfigDict()
    config.sampler.seed = 0
    config.sampler.kernels = ("latent", "reinjection", "ascent")
    config.sampler.num_chains = 4096
    config.sampler.num_steps = 10
    config.sampler.record_steps = (0, 1, 5, 10)  # paper 000 shows samples at steps 0, 1, 5, 10
    # Paper 000 samples with batch norm in training mode (minibatch statistics); bn_tile_size
    # chains share statistics, 0 = all chains of a run.
    config.sampler.batch_stats_mode = "minibatch"
    config.sampler.bn_tile_size = 0
    # Latent chain: decode (mean, or a Bernoulli draw), corrupt ("model": the training
    # corruption, i.e. none for non-denoising families; or a kind at corruption_level), encode.
    config.sampler.bernoulli_decode = False
    config.sampler.corruption = "model"
    config.sampler.corruption_level = 0.5
    config.sampler.num_devices = 0  # devices along the "chains" mesh axis, 0 = all
    config.sampler.grid_size = 64
    # Paper 000 Fig. 2: slerp between encodings of test images, then slerp_steps chain steps.
    config.sampler.slerp_pairs = 4
    config.sampler.slerp_points = 10
    config.sampler.slerp_steps = 5
    # Paper 002: x <- AE(x) + sqrt(lambda) eps, restart every R steps, keep after 2 restarts.
    config.sampler.reinjection_chains = 100
    config.sampler.reinjection_step_size = 0.1
    config.sampler.reinjection_restart_every = 10
    config.sampler.reinjection_burn_in_restarts = 2
    config.sampler.reinjection_num_samples = 2000
    # Paper 003: x <- R(x + N(0, ascent_noise^2 I)) from U(0, 1) noise or decoded prior draws.
    config.sampler.ascent_noise = 0.5
    config.sampler.ascent_init = "uniform"
    # Chains that turn NaN/Inf are counted in the summary; "restart" re-draws them from their
    # start distribution instead of leaving them ("continue"). Other chains are unaffected,
    # except those sharing minibatch batch-norm statistics with a bad one (see bn_tile_size).
    config.sampler.on_non_finite = "continue"

    # Devices: the training batch is split over a "data" mesh axis of mesh.data devices
    # (0 = all; the batch size must divide evenly), parameters are replicated. Sampling uses
    # config.sampler.num_devices along a "chains" axis.
    config.mesh = ml_collections.ConfigDict()
    config.mesh.data = 0
    return config


def paper000_conv(data_name: str, family: str) -> ml_collections.ConfigDict:
    """Paper 000's DCGAN-style conv models on 64x64 images: 200-D code, Adam 2e-4, beta1 0.5,
    and for the denoising families the corruption N(x, 0.25 I), i.e. sigma = 0.5."""
    config = get_config()
    config.data.name = data_name
    config.model.family = family
    config.model.architecture = "dcgan"
    config.model.latent_dim = 200
    if family in ("ae", "vae", "aae"):
        config.model.corruption = "none"
        config.model.corruption_level = 0.0
    config.train.num_steps = 100_000
    config.train.checkpoint_every = 5000
    config.train.log_every = 200
    return config


# Training-set sizes after the validation hold-out (gae_jax.data), to express epochs in steps.
_TRAIN_EXAMPLES = {
    "mnist5k": 4_000,
    "tfds:mnist": 54_000,
    "tfds:omniglot": 17_352,
    "tfds:celeb_a": 162_770,
}


def epochs_to_steps(config: ml_collections.ConfigDict, epochs: int) -> int:
    """Steps in ``epochs`` passes over the training set (the last partial batch is dropped)."""
    return epochs * (_TRAIN_EXAMPLES[config.data.name] // config.train.batch_size)


def paper001_mnist(family: str, data_name: str = "mnist5k") -> ml_collections.ConfigDict:
    """Paper 001's MNIST models (Table III): encoder, decoder and discriminator MLPs of 2x1000,
    a 10-D N(0, I) prior, Adam 2e-4, batch 64, 100 epochs; sigma 0.5 for daae and idaae."""
    config = get_config()
    config.data.name = data_name
    config.model.family = family
    if family == "aae":
        config.model.corruption = "none"
        config.model.corruption_level = 0.0
    config.train.num_steps = epochs_to_steps(config, 100)
    return config


def paper001_omniglot(family: str) -> ml_collections.ConfigDict:
    """Paper 001's Omniglot models: decoder, encoder and discriminator MLPs of 6, 3 and 2 layers
    of 1000 units, 200-D N(0, I) prior, sigma 0.5, M = 5, Adam 1e-5, batch 64, 1000 epochs."""
    config = paper001_mnist(family, "tfds:omniglot")
    config.model.latent_dim = 200
    config.model.encoder_hidden = (1000,) * 3
    config.model.decoder_hidden = (1000,) * 6
    config.model.disc_hidden = (1000,) * 2
    config.model.integration_samples = 5
    config.train.learning_rate = 1e-5
    config.train.num_steps = epochs_to_steps(config, 1000)
    config.train.checkpoint_every = 5000
    return config


def paper001_celeba(family: str) -> ml_collections.ConfigDict:
    """Paper 001's CelebA models: DCGAN-style conv encoder and decoder, a 3-layer MLP
    discriminator (1000-1000-1), 200-D N(0, I) prior, RMSprop lr 1e-4 with momentum 0.1, batch
    64, 100 epochs; sigma 0.25 and M = 5 (its Fig. 5 iDAAE) for the denoising families."""
    config = paper000_conv("tfds:celeb_a", family)
    config.model.corruption_level = 0.0 if family == "aae" else 0.25
    config.model.integration_samples = 5
    config.train.optimizer = "rmsprop"
    config.train.learning_rate = 1e-4
    config.train.momentum = 0.1
    config.train.num_steps = epochs_to_steps(config, 100)
    return config
