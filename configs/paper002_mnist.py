"""Paper 002 Table I on MNIST: deep and shallow autoencoders and denoising autoencoders sampled by
reinjection, judged by classifiers trained on their labelled samples.

    python -m experiments.reproduce --config=configs/paper002_mnist.py --workdir=runs/paper002

``:small`` for CI, ``:full`` for the full MNIST with the paper's epochs (configs/tables.py).
"""

from configs import models, tables

# name -> (depth, denoising, the paper's epochs)
MODELS = {
    "deep_ae": ("deep", False, 200),
    "shallow_ae": ("shallow", False, 50),
    "deep_dae": ("deep", True, 200),
    "shallow_dae": ("shallow", True, 100),
}


def autoencoder(depth: str, denoising: bool):
    """Paper 002's MNIST autoencoders (Sec. IV-D, Table I): deep [600, 400, 100, 400, 600] relu
    (the 100-unit code a relu bottleneck), or shallow [32] tanh (the code is the single tanh
    layer, decoded by one sigmoid layer). The DAEs corrupt the input with salt-and-pepper noise
    (probability 0.5) and add N(0, 0.5^2) to the first layer's pre-activations. Adam 1e-3
    (beta1 0.9), BCE."""
    config = models.get_config("dae,mnist5k" if denoising else "ae,mnist5k")
    m = config.model
    if depth == "deep":
        m.encoder_hidden, m.latent_dim, m.decoder_hidden = (600, 400), 100, (400, 600)
        m.code_activation = "relu"
    else:
        m.encoder_hidden, m.latent_dim, m.decoder_hidden = (), 32, ()
        m.code_activation = "tanh"
    if denoising:
        m.corruption, m.corruption_level = "salt_and_pepper", 0.5
        m.preactivation_noise = 0.5
    config.train.learning_rate = 1e-3
    config.train.b1 = 0.9
    config.sampler.kernels = ("reinjection",)
    return config


# scale -> (fraction of the paper's epochs, sample counts n, classifier steps and batch size).
# The autoencoders are cheap, so default trains them for the paper's epochs (of mnist5k); full
# shows each classifier 2M examples, as the paper's 50 epochs of 40,000 synthetic samples do.
SCALES = {
    "small": (0.002, (100, 300), 100, 64),
    "default": (1.0, (1000, 5000, 20_000), 1000, 128),
    "full": (1.0, (1000, 10_000, 100_000), 4000, 512),
}


def get_config(scale: str = "default"):
    models = {name: autoencoder(depth, noisy) for name, (depth, noisy, _) in MODELS.items()}
    config = tables.table_config("paper002_mnist", scale, models)
    fraction, counts, classifier_steps, classifier_batch = SCALES[scale]
    r = config.reproduce
    r.epochs = {name: fraction * epochs for name, (_, _, epochs) in MODELS.items()}
    r.sample_counts = counts
    r.classifier_steps = classifier_steps
    r.classifier_batch_size = classifier_batch
    return config
