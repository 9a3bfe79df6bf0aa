"""ResNet generator and discriminator of the FAR-GAN paper (Tables 5-8).

The paper uses "ResNet-architectures similar with that in Mescheder et al. (2018)"
(the GAN_stability code). Both of its image architectures are built here by one
generator function and one discriminator function from the resolution and the
per-stage widths; :func:`paper_architecture` gives the paper's presets and
:func:`resnet_architecture` scales them (e.g. base width 16 at 16x16 for fast CPU
runs and the offline digits setting).

Layouts (``nf`` = base width, ``n = log2(resolution / 4)``), channels-last:

``'cifar'`` (Tables 5, 6; 32x32, z = 128, nf = 64, one block per stage)
    G: Dense z -> 8nf*4*4, reshape 4x4x8nf; block 8nf->4nf (4x4); up; 4nf->2nf (8x8);
    up; 2nf->nf (16x16); up; nf->nf (32x32); lrelu; conv3x3 nf->3; tanh.
    D: conv3x3 3->nf; block nf->2nf (32x32); pool; 2nf->4nf (16x16); pool;
    4nf->8nf (8x8); pool; flatten 8nf*4*4; lrelu; Dense -> 1.
``'imagenet'`` (Tables 7, 8; 64x64, z = 256, nf = 64, two blocks per stage)
    G: Dense z -> 16nf*4*4; stages of widths 16nf, 8nf, 4nf, 2nf, nf at 4, 8, 16,
    32, 64 (upsampling between stages; the first block of a stage changes width).
    D: conv3x3 3->nf; stages of widths 2nf, 4nf, 8nf, 16nf, 16nf at 64, 32, 16, 8,
    4 (pooling between stages; the *last* block of a stage changes width, as in
    GAN_stability's resnet2.py: 64->64->64 then 64->64->128).

Residual block (GAN_stability ``ResnetBlock``): ``shortcut(x) + 0.1 * residual(x)``
with ``residual = conv3x3(lrelu(conv3x3(lrelu(x))))`` (pre-activation, leaky ReLU
slope 0.2), hidden width ``min(fin, fout)`` (the tables' ``fin -> fhidden -> fout``),
and a learned bias-free 1x1 convolution as shortcut when ``fin != fout``.

Details the tables do not show and that we take from GAN_stability: a leaky ReLU
before the generator's last convolution and before the discriminator's dense layer;
no biases on shortcut convolutions. Unconditional nets: the label embedding of
GAN_stability is dropped (the paper trains without labels; Table 7's first layer is
256 -> 1024*4*4). The discriminator returns one logit (D0, no sigmoid).

Two deliberate differences from the PyTorch reference, neither changing a shape or
a parameter count: (1) pooling is Keras ``AveragePooling2D(3, 2, 'same')``, which
averages only over in-image pixels at the border where PyTorch's
``avg_pool2d(3, 2, padding=1)`` counts the zero padding; (2) kernels use PyTorch's
default scale (uniform +-1/sqrt(fan_in)) but biases start at zero.
"""

import dataclasses
import math

import keras

# Residual branches are scaled by this factor (GAN_stability's ``0.1 * dx``); it keeps
# a deep stack of blocks close to the identity at initialisation.
RESIDUAL_SCALE = 0.1
LEAKY_SLOPE = 0.2
# Every net works on a 4x4 grid at its coarsest stage (Tables 5-8).
BOTTOM_RESOLUTION = 4
LAYOUTS = ("cifar", "imagenet")


def torch_default_kernel_initializer():
    """Uniform(+-1/sqrt(fan_in)), PyTorch's default for Linear/Conv2d weights.

    The 0.1 residual scale of the reference nets was tuned with this scale, so we use
    it rather than Keras' Glorot default.
    """
    return keras.initializers.VarianceScaling(
        scale=1.0 / 3.0, mode="fan_in", distribution="uniform")


@keras.saving.register_keras_serializable(package="far_keras")
class ResnetBlock(keras.layers.Layer):
    """``shortcut(x) + 0.1 * conv_1(lrelu(conv_0(lrelu(x))))`` (GAN_stability).

    Args:
      filters: output width ``fout``.
      hidden_filters: width of the first convolution; ``None`` means
        ``min(fin, fout)`` as in the reference.
      residual_scale: factor on the residual branch.
      negative_slope: leaky ReLU slope.
      kernel_initializer: initializer of the three convolutions; ``None`` means
        :func:`torch_default_kernel_initializer`.
    """

    def __init__(self, filters, hidden_filters=None, residual_scale=RESIDUAL_SCALE,
                 negative_slope=LEAKY_SLOPE, kernel_initializer=None, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.hidden_filters = None if hidden_filters is None else int(hidden_filters)
        self.residual_scale = float(residual_scale)
        self.negative_slope = float(negative_slope)
        self.kernel_initializer = keras.initializers.get(
            kernel_initializer or torch_default_kernel_initializer())
        self.conv_0 = None
        self.conv_1 = None
        self.conv_s = None

    def _conv(self, filters, kernel_size, use_bias, name):
        return keras.layers.Conv2D(
            filters, kernel_size, padding="same", use_bias=use_bias,
            kernel_initializer=self.kernel_initializer, name=name, dtype=self.dtype_policy)

    def build(self, input_shape):
        fin = int(input_shape[-1])
        hidden = self.hidden_filters or min(fin, self.filters)
        self.conv_0 = self._conv(hidden, 3, True, "conv_0")
        self.conv_1 = self._conv(self.filters, 3, True, "conv_1")
        self.conv_0.build(input_shape)
        self.conv_1.build(tuple(input_shape[:-1]) + (hidden,))
        if fin != self.filters:
            self.conv_s = self._conv(self.filters, 1, False, "conv_s")
            self.conv_s.build(input_shape)

    def call(self, x):
        shortcut = x if self.conv_s is None else self.conv_s(x)
        dx = self.conv_0(keras.ops.leaky_relu(x, self.negative_slope))
        dx = self.conv_1(keras.ops.leaky_relu(dx, self.negative_slope))
        return shortcut + self.residual_scale * dx

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.filters,)

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters,
            hidden_filters=self.hidden_filters,
            residual_scale=self.residual_scale,
            negative_slope=self.negative_slope,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
        )
        return config


@dataclasses.dataclass(frozen=True)
class ResNetArchitecture:
    """Widths of one generator/discriminator pair (see module docstring).

    Attributes:
      resolution: image side (a power of two >= 8).
      latent_dim: dimension of z.
      channels: image channels (3 for RGB, 1 for grey).
      g_fc_width: channels of the 4x4 tensor the generator's dense layer produces.
      g_stage_widths: generator stage widths, coarsest (4x4) first; one stage per
        resolution 4, 8, ..., ``resolution``.
      d_stem_width: output width of the discriminator's first convolution.
      d_stage_widths: discriminator stage output widths, finest first.
      blocks_per_stage: residual blocks per stage (1 for CIFAR, 2 for ImageNet).
    """

    resolution: int
    latent_dim: int
    channels: int
    g_fc_width: int
    g_stage_widths: tuple
    d_stem_width: int
    d_stage_widths: tuple
    blocks_per_stage: int

    def generator_kwargs(self):
        """Keyword arguments of :func:`resnet_generator`."""
        return dict(resolution=self.resolution, latent_dim=self.latent_dim,
                    fc_width=self.g_fc_width, stage_widths=self.g_stage_widths,
                    blocks_per_stage=self.blocks_per_stage, channels=self.channels)

    def discriminator_kwargs(self):
        """Keyword arguments of :func:`resnet_discriminator`."""
        return dict(resolution=self.resolution, stem_width=self.d_stem_width,
                    stage_widths=self.d_stage_widths,
                    blocks_per_stage=self.blocks_per_stage, channels=self.channels)


def _num_doublings(resolution):
    """n with resolution = 4 * 2**n; raises for other resolutions."""
    n = math.log2(resolution / BOTTOM_RESOLUTION) if resolution > 0 else -1
    if n < 1 or n != int(n):
        raise ValueError(
            f"resolution must be 4 * 2**n with n >= 1 (8, 16, 32, 64, ...), got {resolution}")
    return int(n)


def resnet_architecture(layout, resolution, base_width=64, latent_dim=128, channels=3):
    """Widths of the paper's ``layout`` ('cifar' or 'imagenet') at any resolution.

    With ``n = log2(resolution / 4)`` and ``nf = base_width``:

    - 'cifar' (one block per stage): G dense width ``nf*2**n``, G stages
      ``nf*2**(n-1), ..., 2nf, nf, nf``; D stages ``2nf, 4nf, ..., nf*2**n``.
    - 'imagenet' (two blocks per stage): G dense width ``nf*2**n``, G stages
      ``nf*2**n, ..., 2nf, nf``; D stages ``2nf, 4nf, ..., nf*2**n, nf*2**n``.

    ``resnet_architecture('cifar', 32, 64, 128)`` and
    ``resnet_architecture('imagenet', 64, 64, 256)`` are Tables 5-8 exactly.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"unknown ResNet layout {layout!r}; known: {', '.join(LAYOUTS)}")
    n = _num_doublings(resolution)
    nf = int(base_width)
    if nf < 1:
        raise ValueError(f"base_width must be positive, got {base_width}")
    if layout == "cifar":
        g_stages = tuple(nf * 2 ** (n - 1 - i) for i in range(n)) + (nf,)
        d_stages = tuple(nf * 2 ** (i + 1) for i in range(n))
        blocks = 1
    else:
        g_stages = tuple(nf * 2 ** (n - i) for i in range(n + 1))
        d_stages = tuple(nf * 2 ** min(i + 1, n) for i in range(n + 1))
        blocks = 2
    return ResNetArchitecture(
        resolution=int(resolution), latent_dim=int(latent_dim), channels=int(channels),
        g_fc_width=nf * 2 ** n, g_stage_widths=g_stages, d_stem_width=nf,
        d_stage_widths=d_stages, blocks_per_stage=blocks)


# name -> (layout, resolution, latent_dim, channels). 'digits' is this project's
# small offline setting (scikit-learn digits upscaled to 16x16, grey), not the paper's.
PRESETS = {
    "cifar": ("cifar", 32, 128, 3),
    "imagenet": ("imagenet", 64, 256, 3),
    "digits": ("cifar", 16, 64, 1),
}
_PRESET_BASE_WIDTH = {"cifar": 64, "imagenet": 64, "digits": 16}


def paper_architecture(name, base_width=None):
    """Preset architectures: 'cifar' (Tables 5, 6), 'imagenet' (Tables 7, 8), 'digits'.

    ``base_width`` overrides the base width (64 in the paper; 16 for 'digits'), e.g.
    ``paper_architecture('cifar', base_width=16)`` for a fast CPU variant.
    """
    if name not in PRESETS:
        raise ValueError(f"unknown architecture preset {name!r}; known: {', '.join(PRESETS)}")
    layout, resolution, latent_dim, channels = PRESETS[name]
    width = _PRESET_BASE_WIDTH[name] if base_width is None else base_width
    return resnet_architecture(layout, resolution, width, latent_dim, channels)


def _check_stage_count(widths, expected, what):
    if len(widths) not in expected:
        raise ValueError(
            f"{what}: {len(widths)} stage widths given, expected "
            f"{' or '.join(str(e) for e in expected)} for this resolution")


def resnet_generator(resolution, latent_dim, fc_width, stage_widths, blocks_per_stage=1,
                     channels=3, kernel_initializer=None, name="generator"):
    """ResNet generator: z [B, latent_dim] -> image [B, res, res, channels] in (-1, 1).

    Dense(latent_dim -> fc_width*4*4), reshape to 4x4, then one stage per resolution
    4, 8, ..., ``resolution`` (nearest-neighbour 2x upsampling before every stage but
    the first). A stage is ``blocks_per_stage`` residual blocks; the first one maps
    the incoming width to the stage width. Then leaky ReLU, 3x3 conv to ``channels``
    and tanh.

    Layer names: ``fc``, ``reshape``, ``block_{stage}_{i}``, ``up_{stage}``,
    ``conv_img_act``, ``conv_img``, ``tanh``.
    """
    n = _num_doublings(resolution)
    stage_widths = tuple(int(w) for w in stage_widths)
    _check_stage_count(stage_widths, (n + 1,), "generator")
    init = kernel_initializer or torch_default_kernel_initializer()
    z = keras.Input(shape=(int(latent_dim),), name="z")
    x = keras.layers.Dense(int(fc_width) * BOTTOM_RESOLUTION ** 2, kernel_initializer=init,
                           name="fc")(z)
    x = keras.layers.Reshape((BOTTOM_RESOLUTION, BOTTOM_RESOLUTION, int(fc_width)),
                             name="reshape")(x)
    for stage, width in enumerate(stage_widths):
        if stage > 0:
            x = keras.layers.UpSampling2D(2, interpolation="nearest", name=f"up_{stage}")(x)
        for i in range(blocks_per_stage):
            x = ResnetBlock(width, kernel_initializer=init, name=f"block_{stage}_{i}")(x)
    x = keras.layers.LeakyReLU(LEAKY_SLOPE, name="conv_img_act")(x)
    x = keras.layers.Conv2D(channels, 3, padding="same", kernel_initializer=init,
                            name="conv_img")(x)
    image = keras.layers.Activation("tanh", name="tanh")(x)
    return keras.Model(z, image, name=name)


def resnet_discriminator(resolution, stem_width, stage_widths, blocks_per_stage=1,
                         channels=3, kernel_initializer=None, name="discriminator"):
    """ResNet discriminator: image [B, res, res, channels] -> logit [B, 1] (D0).

    3x3 conv to ``stem_width``, then stages at resolutions ``resolution``,
    ``resolution/2``, ...; a 3x3 stride-2 average pooling follows every stage run
    above 4x4, so the last stage ends at 4x4 whether it runs at 8x8 ('cifar' layout:
    ``log2(res/4)`` stages) or at 4x4 ('imagenet' layout: one more stage). A stage is
    ``blocks_per_stage`` blocks of which the last maps to the stage width. Then
    flatten, leaky ReLU and Dense(-> 1), no sigmoid.

    Layer names: ``conv_img``, ``block_{stage}_{i}``, ``pool_{stage}``, ``flatten``,
    ``fc_act``, ``fc``.
    """
    n = _num_doublings(resolution)
    stage_widths = tuple(int(w) for w in stage_widths)
    _check_stage_count(stage_widths, (n, n + 1), "discriminator")
    init = kernel_initializer or torch_default_kernel_initializer()
    image = keras.Input(shape=(int(resolution), int(resolution), int(channels)), name="image")
    x = keras.layers.Conv2D(int(stem_width), 3, padding="same", kernel_initializer=init,
                            name="conv_img")(image)
    width_in, size = int(stem_width), int(resolution)
    for stage, width in enumerate(stage_widths):
        for i in range(blocks_per_stage):
            out = width if i == blocks_per_stage - 1 else width_in
            x = ResnetBlock(out, kernel_initializer=init, name=f"block_{stage}_{i}")(x)
        width_in = width
        if size > BOTTOM_RESOLUTION:
            x = keras.layers.AveragePooling2D(3, strides=2, padding="same",
                                              name=f"pool_{stage}")(x)
            size //= 2
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.LeakyReLU(LEAKY_SLOPE, name="fc_act")(x)
    logit = keras.layers.Dense(1, kernel_initializer=init, name="fc")(x)
    return keras.Model(image, logit, name=name)


def build_resnet_pair(architecture, kernel_initializer=None):
    """(generator, discriminator) for a :class:`ResNetArchitecture`."""
    generator = resnet_generator(**architecture.generator_kwargs(),
                                 kernel_initializer=kernel_initializer)
    discriminator = resnet_discriminator(**architecture.discriminator_kwargs(),
                                         kernel_initializer=kernel_initializer)
    return generator, discriminator
