"""Shapes of every architecture at every image size, posteriors and batch-norm modes."""

import functools
from unittest import mock

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import tiny_model

from gae_jax.models import build_autoencoder, conv
from gae_jax.models.conv import PHASES_MIN_FEATURES, DownConv, UpConv


@pytest.mark.parametrize("architecture", ["mlp", "dcgan"])
@pytest.mark.parametrize("image_shape", [(28, 28, 1), (32, 32, 3), (64, 64, 3)])
@pytest.mark.parametrize("posterior", ["deterministic", "gaussian"])
def test_shapes(architecture, image_shape, posterior):
    model = build_autoencoder(
        architecture=architecture,
        image_shape=image_shape,
        latent_dim=6,
        posterior=posterior,
        encoder_hidden=(16, 8),
        decoder_hidden=(8, 16),
        conv_width=4,
    )
    x = jnp.zeros((3, *image_shape))
    variables = jax.eval_shape(
        lambda: model.init({"params": jax.random.key(0), "latent": jax.random.key(1)}, x)
    )
    assert ("batch_stats" in variables) == (architecture == "dcgan")
    post = jax.eval_shape(lambda v: model.apply(v, x, method=model.encode), variables)
    assert post.mean.shape == (3, 6)
    assert (post.log_var is None) == (posterior == "deterministic")
    logits = jax.eval_shape(
        lambda v: model.apply(v, jnp.zeros((3, 6)), method=model.decode), variables
    )
    assert logits.shape == (3, *image_shape)


def _dcgan(latent_dim=4):
    model = build_autoencoder(
        architecture="dcgan", image_shape=(28, 28, 1), latent_dim=latent_dim, conv_width=4
    )
    x = jax.random.uniform(jax.random.key(0), (8, 28, 28, 1))
    return model, model.init(jax.random.key(1), x), x


def test_batch_norm_train_mode_uses_minibatch_statistics():
    model, variables, x = _dcgan()
    z = jax.random.normal(jax.random.key(2), (8, 4)) * 5.0 + 3.0
    pop = model.apply(variables, z, train=False, method=model.decode)
    mb, updates = model.apply(
        variables, z, train=True, method=model.decode, mutable=["batch_stats"]
    )
    assert not np.allclose(pop, mb)  # fresh population stats (0, 1) differ from the batch's
    # Minibatch mode: each example's output depends on the rest of the batch ...
    mb_half, _ = model.apply(
        variables, z[:4], train=True, method=model.decode, mutable=["batch_stats"]
    )
    assert not np.allclose(mb[:4], mb_half)
    # ... population mode does not.
    np.testing.assert_allclose(
        pop[:4], model.apply(variables, z[:4], train=False, method=model.decode), atol=1e-5
    )
    moved = jax.tree.map(
        lambda a, b: np.abs(a - b).max(), updates["batch_stats"], variables["batch_stats"]
    )
    assert max(jax.tree.leaves(moved)) > 0  # the running averages were updated


def test_gaussian_posterior_sample_is_reparameterised():
    model = tiny_model()
    x = jax.random.uniform(jax.random.key(0), (4, 8, 8, 1))
    variables = model.init({"params": jax.random.key(1), "latent": jax.random.key(2)}, x)
    post = model.apply(variables, x, method=model.encode)
    draws = jax.vmap(post.sample)(jax.random.split(jax.random.key(3), 4000))  # [4000, 4, 3]
    np.testing.assert_allclose(
        draws.mean(0), post.mean, atol=4 * np.exp(0.5 * post.log_var).max() / 60
    )
    np.testing.assert_allclose(draws.var(0), np.exp(post.log_var), rtol=0.1)
    out = model.apply(variables, x, sample=False)
    np.testing.assert_allclose(out.z, post.mean, atol=1e-6)


def test_builder_rejects_bad_arguments():
    with pytest.raises(ValueError, match="dcgan needs square images of size"):
        build_autoencoder(architecture="dcgan", image_shape=(8, 8, 1), latent_dim=2)
    with pytest.raises(ValueError, match="architecture must be one of"):
        build_autoencoder(architecture="resnet", image_shape=(8, 8, 1), latent_dim=2)
    with pytest.raises(ValueError, match="posterior must be one of"):
        build_autoencoder(architecture="mlp", image_shape=(8, 8, 1), latent_dim=2, posterior="x")
    with pytest.raises(ValueError, match="activation must be one of"):
        m = build_autoencoder(
            architecture="mlp", image_shape=(8, 8, 1), latent_dim=2, activation="gelu"
        )
        m.init(jax.random.key(0), jnp.zeros((1, 8, 8, 1)))


@pytest.mark.parametrize(
    "activation, fn", [("tanh", np.tanh), ("relu", lambda h: np.maximum(h, 0))]
)
def test_mlp_encoder_matches_hand_computation(activation, fn):
    from gae_jax.models import MLPEncoder

    enc = MLPEncoder(hidden=(5,), out_dim=2, activation=activation)
    x = jax.random.normal(jax.random.key(0), (3, 2, 2, 1))
    p = enc.init(jax.random.key(1), x)["params"]
    h = fn(np.asarray(x).reshape(3, 4) @ p["Dense_0"]["kernel"] + p["Dense_0"]["bias"])
    expected = h @ p["Dense_1"]["kernel"] + p["Dense_1"]["bias"]
    np.testing.assert_allclose(enc.apply({"params": p}, x), expected, rtol=1e-5, atol=1e-6)


def test_bfloat16_matmuls_keep_float32_parameters_and_stay_close():
    kwargs = dict(architecture="mlp", image_shape=(8, 8, 1), latent_dim=4, encoder_hidden=(64,))
    fp32 = build_autoencoder(**kwargs, decoder_hidden=(64,))
    bf16 = build_autoencoder(**kwargs, decoder_hidden=(64,), matmul_dtype="bfloat16")
    x = jax.random.uniform(jax.random.key(0), (16, 8, 8, 1))
    keys = {"params": jax.random.key(1), "latent": jax.random.key(2)}
    variables = fp32.init(keys, x)
    same_layout = jax.tree.map(
        lambda a, b: (a.shape, a.dtype) == (b.shape, b.dtype), variables, bf16.init(keys, x)
    )
    assert all(jax.tree.leaves(same_layout))  # checkpoints are interchangeable

    def loss(model, params):
        return jnp.sum(jax.nn.sigmoid(model.apply({"params": params}, x).logits) ** 2)

    jaxpr = str(jax.make_jaxpr(jax.grad(lambda p: loss(bf16, p)))(variables["params"]))
    assert "bf16" in jaxpr and "preferred_element_type=float32" in jaxpr
    for model in (fp32, bf16):
        out = model.apply(variables, x).logits
        assert out.dtype == jnp.float32
    np.testing.assert_allclose(
        bf16.apply(variables, x).logits, fp32.apply(variables, x).logits, atol=0.05
    )
    g32, g16 = (jax.grad(lambda p, m=m: loss(m, p))(variables["params"]) for m in (fp32, bf16))
    for a, b in zip(jax.tree.leaves(g32), jax.tree.leaves(g16), strict=True):
        a, b = np.ravel(a), np.ravel(b)
        assert b.dtype == np.float32
        assert np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)) > 0.99
    with pytest.raises(ValueError, match="dcgan supports matmul_dtype='float32' only"):
        build_autoencoder(
            architecture="dcgan", image_shape=(28, 28, 1), latent_dim=4, matmul_dtype="bfloat16"
        )


def _check_same_layer(ours, flax_layer, x, out_shape, use_bias):
    """``ours`` initialises to flax's parameters and computes its values and gradients."""
    params = ours.init(jax.random.key(1), x)
    reference = flax_layer.init(jax.random.key(1), x)
    assert jax.tree.map(jnp.shape, params) == jax.tree.map(jnp.shape, reference)
    np.testing.assert_array_equal(params["params"]["kernel"], reference["params"]["kernel"])
    if use_bias:  # a non-zero bias, so that adding it is checked too
        params = jax.tree.map(lambda p: p + 0.1, params)
    y = ours.apply(params, x)
    assert y.shape == out_shape
    np.testing.assert_allclose(y, flax_layer.apply(params, x), atol=1e-5)

    def loss(m, p, x):
        return jnp.sum(jnp.sin(m.apply(p, x)))

    grads = [
        jax.grad(functools.partial(loss, m), argnums=(0, 1))(params, x) for m in (ours, flax_layer)
    ]
    for a, b in zip(jax.tree.leaves(grads[0]), jax.tree.leaves(grads[1]), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize(
    ("side", "features", "use_bias"),
    [
        (7, PHASES_MIN_FEATURES, False),
        (4, PHASES_MIN_FEATURES + 1, True),
        (5, 1, True),
        (4, 3, False),
    ],
)
def test_upconv_is_flax_conv_transpose_with_the_same_parameters(side, features, use_bias):
    """UpConv (the DCGAN decoders' upsampling) initialises and computes what
    ``nn.ConvTranspose((4, 4), strides=(2, 2), padding="SAME")`` does, gradients included, in
    both of its forms: phases (from PHASES_MIN_FEATURES features) and lax.conv_transpose."""
    x = jax.random.normal(jax.random.key(0), (3, side, side, 6))
    _check_same_layer(
        UpConv(features, use_bias=use_bias),
        nn.ConvTranspose(features, (4, 4), strides=(2, 2), padding="SAME", use_bias=use_bias),
        x,
        (3, 2 * side, 2 * side, features),
        use_bias,
    )


@pytest.mark.parametrize(
    ("side", "channels", "use_bias"), [(28, 1, False), (14, 6, True), (7, 5, False), (5, 3, True)]
)
def test_downconv_is_flax_conv_with_the_same_parameters(side, channels, use_bias):
    """DownConv (the DCGAN encoders' downsampling, space-to-depth) initialises and computes what
    ``nn.Conv((4, 4), strides=(2, 2), padding="SAME")`` does, gradients included, at even and
    odd sizes (SAME pads 1 + 1 and 1 + 2)."""
    x = jax.random.normal(jax.random.key(0), (3, side, side, channels))
    out = -(-side // 2)
    _check_same_layer(
        DownConv(4, use_bias=use_bias),
        nn.Conv(4, (4, 4), strides=(2, 2), padding="SAME", use_bias=use_bias),
        x,
        (3, out, out, 4),
        use_bias,
    )


def _flax_layer(kind):
    def make(features, use_bias=True, name=None):
        return kind(features, (4, 4), strides=(2, 2), padding="SAME", use_bias=use_bias, name=name)

    return make


@pytest.mark.parametrize("image_shape", [(28, 28, 1), (64, 64, 3)])
def test_dcgan_parameter_tree_is_that_of_flax_layers(image_shape):
    """The DCGAN networks have the parameter tree (names, shapes) and initial values they had
    with nn.Conv / nn.ConvTranspose layers, so their checkpoints restore."""
    model = build_autoencoder(
        architecture="dcgan", image_shape=image_shape, latent_dim=3, conv_width=4
    )
    x = jnp.zeros((2, *image_shape))
    ours = model.init(jax.random.key(0), x)
    with (
        mock.patch.object(conv, "DownConv", _flax_layer(nn.Conv)),
        mock.patch.object(conv, "UpConv", _flax_layer(nn.ConvTranspose)),
    ):
        reference = model.init(jax.random.key(0), x)
    down, up = {28: (3, 2), 64: (4, 4)}[image_shape[0]]  # the names the flax layers had
    assert {f"Conv_{i}" for i in range(down)} < set(ours["params"]["encoder"])
    assert {f"ConvTranspose_{i}" for i in range(up)} < set(ours["params"]["decoder"])
    assert jax.tree.structure(ours) == jax.tree.structure(reference)
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(reference), strict=True):
        np.testing.assert_array_equal(a, b)
