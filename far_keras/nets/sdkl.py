"""Convolutional networks of the SDKL paper (Berger & Sebag, "New losses for
generative adversarial learning", section 4.2 and appendix B).

Three networks, all with ELU activations (Clevert et al. 2015):

- the encoder q(z|x): conv net → (μ, log s) of a diagonal Gaussian over z;
- the decoder Dec(z) = x̂: FC, FC, deconvolutions, tanh output in [−1, 1];
- the discriminator D0 (logit; the paper's final sigmoid is folded into the
  losses), split at h2, the activations (after ELU) of its *second* convolution
  layer, where the observation model p_θ(x|z) = N(h2(x̂), σ²) lives (sec. 4.2):
  ``features`` maps x → h2, ``head`` maps h2 → D0, ``discriminator`` is
  head ∘ features and shares their weights.

Appendix B keeps only the layer *types*; every size was lost with the equations.
We keep the appendix's sequence of layers exactly and choose DCGAN/VAEGAN-like
sizes (Radford et al. 2015; Larsen et al. 2016, whose decoder FC → 8x8x256 → three
upsamplings → conv tanh the appendix's decoder closely follows). With
w = ``base_width`` (default 64), F = ``fc_units`` (default 1024), R = ``resolution``
(default 64, any multiple of 16), C = ``channels`` (1 or 3), d = ``latent_dim``
(default 128); "4x4/2" = kernel 4x4, stride 2; all padding "same":

Encoder (x: R x R x C)

| layer       | kernel | filters / units | output (R = 64)  |
|-------------|--------|-----------------|------------------|
| Conv + ELU  | 4x4/2  | w               | 32 x 32 x 64     |
| Conv + ELU  | 4x4/2  | 2w              | 16 x 16 x 128    |
| Conv + ELU  | 4x4/2  | 4w              | 8 x 8 x 256      |
| Conv + ELU  | 4x4/2  | 8w              | 4 x 4 x 512      |
| Conv + ELU  | 3x3/1  | 8w              | 4 x 4 x 512      |
| FC + ELU    |        | F               | 1024             |
| FC          |        | 2d → (μ, log s) | 128 + 128 (*)    |

(*) built as two d-unit Dense layers, ``fc2_mean`` and ``fc2_log_scale``: the same
affine map as one 2d-unit FC split in halves.

Decoder (z: d)

| layer        | kernel | filters / units       | output (R = 64) |
|--------------|--------|-----------------------|-----------------|
| FC + ELU     |        | F                     | 1024            |
| FC + ELU     |        | (R/8)² · 4w, reshaped | 8 x 8 x 256     |
| Deconv + ELU | 4x4/2  | 4w                    | 16 x 16 x 256   |
| Conv + ELU   | 3x3/1  | 2w                    | 16 x 16 x 128   |
| Deconv + ELU | 4x4/2  | 2w                    | 32 x 32 x 128   |
| Deconv + ELU | 4x4/2  | w/2                   | 64 x 64 x 32    |
| Conv + tanh  | 3x3/1  | C                     | 64 x 64 x 3     |

Discriminator (x: R x R x C)

| layer       | kernel | filters / units | output (R = 64)        |
|-------------|--------|-----------------|------------------------|
| Conv + ELU  | 4x4/2  | w               | 32 x 32 x 64           |
| Conv + ELU  | 4x4/2  | 2w              | 16 x 16 x 128  ← h2    |
| Conv + ELU  | 4x4/2  | 4w              | 8 x 8 x 256            |
| Conv + ELU  | 4x4/2  | 8w              | 4 x 4 x 512            |
| Conv + ELU  | 3x3/1  | 8w              | 4 x 4 x 512            |
| FC + ELU    |        | F               | 1024                   |
| FC + ELU    |        | F               | 1024                   |
| FC          |        | 1               | logit D0 (sigmoid in the loss) |

Other resolutions keep the same layers and strides, so every spatial size scales
with R: for the CPU / offline-digits variant ``resolution=16, base_width=16,
fc_units=128`` the encoder and discriminator end at 1 x 1, h2 is 4 x 4 x 32 and
the decoder starts at 2 x 2.

Mixed precision. Built under a ``mixed_float16`` / ``mixed_bfloat16`` Keras dtype
policy, every layer computes in the half type and keeps float32 weights; each
network's outputs (μ and log s, x̂, h2, D0) then pass a weightless float32
``Activation("linear")`` (``_float32_output``), so the observation model, the KL and
every loss are built from float32 tensors (Keras' recommendation: a model's outputs
in float32). Under the default float32 policy these layers are identities; having
them in every precision keeps the networks' layers and checkpoints the same.

No normalisation layers: the paper lists none, and the discriminator is kept
well-conditioned by the orthogonal regulariser (``objectives/orthogonal.py``)
instead; its kernels therefore start orthogonal (Keras' ``Orthogonal``
initialiser flattens a conv kernel to [k·k·in, out], the same matrix the
regulariser penalises), so the penalty starts at its minimum.
"""

from typing import NamedTuple

import keras

MIN_RESOLUTION = 16  # four stride-2 layers in the encoder/discriminator


def _check_sizes(resolution, channels):
    if resolution < MIN_RESOLUTION or resolution % 16:
        raise ValueError(
            f"resolution must be a multiple of 16 (>= 16), got {resolution}")
    if channels < 1:
        raise ValueError(f"channels must be positive, got {channels}")


def _conv(filters, kernel, stride, name, activation="elu", initializer="glorot_uniform"):
    return keras.layers.Conv2D(
        filters, kernel, strides=stride, padding="same", activation=activation,
        kernel_initializer=initializer, name=name)


def _float32_output(h, name):
    """``h`` cast to float32 by a weightless layer (see "Mixed precision" above).

    A half-precision h2, logit or posterior parameter is rounded once, here; what
    is computed from it afterwards (log-densities, KL, losses) stays in float32.
    """
    return keras.layers.Activation("linear", dtype="float32", name=name)(h)


def sdkl_encoder(resolution=64, channels=3, latent_dim=128, base_width=64,
                 fc_units=1024, name="encoder"):
    """The encoder of q(z|x) = N(μ(x), diag(s(x)²)) (appendix B, first table).

    Returns a ``keras.Model`` mapping images [B, R, R, C] in [−1, 1] to the list
    ``[mean, log_scale]``, each [B, latent_dim]; s = exp(log_scale). The log-scale
    parametrisation keeps s > 0 without a constraint;
    ``objectives.elbo.posterior`` turns the pair into the distribution.
    """
    _check_sizes(resolution, channels)
    w = base_width
    x = keras.Input((resolution, resolution, channels), name="x")
    h = _conv(w, 4, 2, "conv1")(x)
    h = _conv(2 * w, 4, 2, "conv2")(h)
    h = _conv(4 * w, 4, 2, "conv3")(h)
    h = _conv(8 * w, 4, 2, "conv4")(h)
    h = _conv(8 * w, 3, 1, "conv5")(h)
    h = keras.layers.Flatten(name="flatten")(h)
    h = keras.layers.Dense(fc_units, activation="elu", name="fc1")(h)
    # The appendix's last FC with 2d outputs, as two d-unit halves: the same
    # affine map, without a Lambda split (Lambda layers do not reload safely).
    mean = _float32_output(keras.layers.Dense(latent_dim, name="fc2_mean")(h), "mean_float32")
    log_scale = _float32_output(
        keras.layers.Dense(latent_dim, name="fc2_log_scale")(h), "log_scale_float32")
    return keras.Model(x, [mean, log_scale], name=name)


def sdkl_decoder(resolution=64, channels=3, latent_dim=128, base_width=64,
                 fc_units=1024, name="decoder"):
    """The decoder x̂ = Dec(z) (appendix B, second table): [B, d] → [B, R, R, C].

    tanh output, so images live in [−1, 1]. x̂ is the mean of p_θ(x|z) only
    through the discriminator's features: the observation model is N(h2(x̂), σ²)
    on h2, not a pixel likelihood (sec. 4.2).
    """
    _check_sizes(resolution, channels)
    w = base_width
    start = resolution // 8  # three stride-2 deconvolutions follow
    z = keras.Input((latent_dim,), name="z")
    h = keras.layers.Dense(fc_units, activation="elu", name="fc1")(z)
    h = keras.layers.Dense(start * start * 4 * w, activation="elu", name="fc2")(h)
    h = keras.layers.Reshape((start, start, 4 * w), name="reshape")(h)
    h = keras.layers.Conv2DTranspose(
        4 * w, 4, strides=2, padding="same", activation="elu", name="deconv1")(h)
    h = _conv(2 * w, 3, 1, "conv1")(h)
    h = keras.layers.Conv2DTranspose(
        2 * w, 4, strides=2, padding="same", activation="elu", name="deconv2")(h)
    h = keras.layers.Conv2DTranspose(
        max(w // 2, 1), 4, strides=2, padding="same", activation="elu", name="deconv3")(h)
    x_hat = _float32_output(_conv(channels, 3, 1, "conv_out", activation="tanh")(h),
                            "x_hat_float32")
    return keras.Model(z, x_hat, name=name)


class SDKLDiscriminator(NamedTuple):
    """The discriminator split at h2 (second convolution's ELU activations).

    Attributes:
      features: ``keras.Model`` x [B, R, R, C] → h2 [B, R/4, R/4, 2w] (layers 1-2).
      head: ``keras.Model`` h2 → logit D0 [B, 1] (layers 3+). Samples of p_θ(x|z)
        enter here as h2(x̂) + σ·ε (sec. 4.2); real data enters noise-free.
      discriminator: ``keras.Model`` x → D0 = head(features(x)); it contains the two
        models above as layers, so its ``trainable_variables`` are all of D's.
    """

    features: keras.Model
    head: keras.Model
    discriminator: keras.Model


def sdkl_discriminator(resolution=64, channels=3, base_width=64, fc_units=1024,
                       kernel_initializer="orthogonal", name="discriminator"):
    """The discriminator of appendix B (third table), returned as its two halves.

    Returns an ``SDKLDiscriminator(features, head, discriminator)``. The output is
    the logit D0 (D = σ(D0)); losses take logits for numerical stability.
    ``kernel_initializer`` applies to every conv and dense kernel (default
    orthogonal: see the module docstring).
    """
    _check_sizes(resolution, channels)
    w = base_width
    init = kernel_initializer

    x = keras.Input((resolution, resolution, channels), name="x")
    h = _conv(w, 4, 2, "conv1", initializer=init)(x)
    h2 = _float32_output(_conv(2 * w, 4, 2, "conv2", initializer=init)(h), "h2_float32")
    features = keras.Model(x, h2, name=f"{name}_features")

    h2_in = keras.Input(tuple(h2.shape[1:]), name="h2")
    h = _conv(4 * w, 4, 2, "conv3", initializer=init)(h2_in)
    h = _conv(8 * w, 4, 2, "conv4", initializer=init)(h)
    h = _conv(8 * w, 3, 1, "conv5", initializer=init)(h)
    h = keras.layers.Flatten(name="flatten")(h)
    h = keras.layers.Dense(fc_units, activation="elu", kernel_initializer=init, name="fc1")(h)
    h = keras.layers.Dense(fc_units, activation="elu", kernel_initializer=init, name="fc2")(h)
    logit = _float32_output(
        keras.layers.Dense(1, kernel_initializer=init, name="logit")(h), "d0_float32")
    head = keras.Model(h2_in, logit, name=f"{name}_head")

    x_full = keras.Input((resolution, resolution, channels), name="x")
    discriminator = keras.Model(x_full, head(features(x_full)), name=name)
    return SDKLDiscriminator(features, head, discriminator)

