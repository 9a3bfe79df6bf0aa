"""SDKL conv nets against the size table of far_keras/nets/sdkl.py's docstring.

Expected shapes and parameter counts are written out by hand from that table,
never read back from the library's layer code.
"""

import numpy as np
import pytest

from far_keras.nets import sdkl


def conv(k, cin, cout):
    return k * k * cin * cout + cout


def dense(nin, nout):
    return nin * nout + nout


def encoder_params(r, c, w, f, d):
    s = r // 16
    return (conv(4, c, w) + conv(4, w, 2 * w) + conv(4, 2 * w, 4 * w)
            + conv(4, 4 * w, 8 * w) + conv(3, 8 * w, 8 * w)
            + dense(s * s * 8 * w, f) + dense(f, 2 * d))


def decoder_params(r, c, w, f, d):
    s = r // 8
    return (dense(d, f) + dense(f, s * s * 4 * w) + conv(4, 4 * w, 4 * w)
            + conv(3, 4 * w, 2 * w) + conv(4, 2 * w, 2 * w) + conv(4, 2 * w, w // 2)
            + conv(3, w // 2, c))


def features_params(c, w):
    return conv(4, c, w) + conv(4, w, 2 * w)


def head_params(r, w, f):
    s = r // 16
    return (conv(4, 2 * w, 4 * w) + conv(4, 4 * w, 8 * w) + conv(3, 8 * w, 8 * w)
            + dense(s * s * 8 * w, f) + dense(f, f) + dense(f, 1))


# (resolution, channels, base_width, fc_units, latent_dim): the paper-sized 64x64
# nets and the small CPU / offline-digits variants.
CASES = [
    (64, 3, 64, 1024, 128),
    (16, 1, 16, 128, 8),
    (32, 3, 16, 128, 16),
]


@pytest.mark.parametrize("r,c,w,f,d", CASES)
def test_encoder_shapes_and_size(r, c, w, f, d):
    enc = sdkl.sdkl_encoder(resolution=r, channels=c, latent_dim=d, base_width=w, fc_units=f)
    x = np.random.default_rng(0).uniform(-1, 1, (2, r, r, c)).astype("float32")
    mean, log_scale = enc(x)
    assert tuple(mean.shape) == (2, d)
    assert tuple(log_scale.shape) == (2, d)
    assert enc.count_params() == encoder_params(r, c, w, f, d)


@pytest.mark.parametrize("r,c,w,f,d", CASES)
def test_decoder_shapes_range_and_size(r, c, w, f, d):
    dec = sdkl.sdkl_decoder(resolution=r, channels=c, latent_dim=d, base_width=w, fc_units=f)
    z = np.random.default_rng(1).normal(size=(2, d)).astype("float32") * 10.0
    x_hat = np.asarray(dec(z))
    assert x_hat.shape == (2, r, r, c)
    assert np.all(np.abs(x_hat) <= 1.0)  # tanh output, even for large z
    assert dec.count_params() == decoder_params(r, c, w, f, d)


@pytest.mark.parametrize("r,c,w,f,d", CASES)
def test_discriminator_split_at_h2(r, c, w, f, d):
    # The orthogonal initialiser's QR of the 8192 x 1024 FC kernel costs seconds on
    # a small CPU; shapes and sizes do not depend on the initialiser (which
    # test_orthogonal.py checks on small nets).
    init = "glorot_uniform" if r == 64 else "orthogonal"
    parts = sdkl.sdkl_discriminator(resolution=r, channels=c, base_width=w, fc_units=f,
                                    kernel_initializer=init)
    x = np.random.default_rng(2).uniform(-1, 1, (3, r, r, c)).astype("float32")

    h2 = parts.features(x)
    # Second conv of two stride-2 convs: R/4 x R/4 x 2w.
    assert tuple(h2.shape) == (3, r // 4, r // 4, 2 * w)
    logits = parts.head(h2)
    assert tuple(logits.shape) == (3, 1)
    # The composed network is head ∘ features with the same weights.
    np.testing.assert_allclose(parts.discriminator(x), logits, rtol=1e-5, atol=1e-6)

    assert parts.features.count_params() == features_params(c, w)
    assert parts.head.count_params() == head_params(r, w, f)
    assert parts.discriminator.count_params() == features_params(c, w) + head_params(r, w, f)
    # Training D trains both halves: the composed model owns all their variables.
    composed = {id(v) for v in parts.discriminator.trainable_variables}
    halves = {id(v) for v in parts.features.trainable_variables + parts.head.trainable_variables}
    assert composed == halves


def test_h2_is_after_elu():
    """h2 are *activations* (post-ELU), so no entry is below −1."""
    parts = sdkl.sdkl_discriminator(resolution=16, channels=1, base_width=8, fc_units=16)
    x = np.random.default_rng(3).uniform(-1, 1, (4, 16, 16, 1)).astype("float32") * 50
    assert np.min(parts.features(x)) >= -1.0


def test_head_accepts_noisy_h2():
    """Samples of p_θ(x|z) enter D at h2 as h2(x̂) + σ·ε (sec. 4.2)."""
    parts = sdkl.sdkl_discriminator(resolution=16, channels=3, base_width=8, fc_units=16)
    x = np.random.default_rng(4).uniform(-1, 1, (2, 16, 16, 3)).astype("float32")
    h2 = np.asarray(parts.features(x))
    noisy = h2 + np.random.default_rng(5).normal(size=h2.shape).astype("float32")
    assert tuple(parts.head(noisy).shape) == (2, 1)


@pytest.mark.parametrize("builder", [sdkl.sdkl_encoder, sdkl.sdkl_decoder,
                                     sdkl.sdkl_discriminator])
@pytest.mark.parametrize("resolution", [8, 24, 40])
def test_rejects_resolution_not_multiple_of_16(builder, resolution):
    with pytest.raises(ValueError, match="multiple of 16"):
        builder(resolution=resolution)
