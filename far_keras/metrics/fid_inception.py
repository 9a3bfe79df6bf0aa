"""The reference FID/IS network: the 2015 TF Inception graph, ported to Keras 3.

FID (Heusel et al. 2017, the TTUR code) and the Inception Score (Salimans et al.
2016) as published are computed with ``inception-2015-12-05``'s ``pool_3`` features
and its 1008-way softmax — the graph pytorch-fid, torch-fidelity, clean-fid's legacy
mode and GAN_stability's IS load. It is *not* Keras Applications' InceptionV3:

- batch norm has no scale γ (``x̂ + β``, ε = 0.001);
- average pools exclude the padding (TF's SAME), as Keras/TF's do;
- the last block (``mixed_10``) pools its fourth branch with a 3x3 *max* pool;
- the 1008 logits are ``pool_3 · W`` with no bias (the IS code's ``logits``).

Layers are named after the TF graph's nodes (``conv``, ``mixed_4/tower_1/conv_2``...,
``/`` written ``.``), so a converted weights file reads like the graph.

Input: [B, 299, 299, 3] already preprocessed as the reference does
(:func:`reference_preprocess`: uint8 pixels, TF1 bilinear resize to 299,
(x − 128)/128, so values lie in [−1, 127/128]).
"""

import numpy as np
import tensorflow as tf

SIZE = 299
FEATURES = 2048
NUM_LOGITS = 1008
BN_EPSILON = 0.001

# (block name, kind): A = 35x35 (mixed..mixed_2), B = grid reduction (mixed_3),
# C = 17x17 (mixed_4..mixed_7), D = reduction (mixed_8), E = 8x8 (mixed_9, mixed_10).
_BLOCKS = [("mixed", "A", 32), ("mixed_1", "A", 64), ("mixed_2", "A", 64),
           ("mixed_3", "B", None),
           ("mixed_4", "C", 128), ("mixed_5", "C", 160), ("mixed_6", "C", 160),
           ("mixed_7", "C", 192),
           ("mixed_8", "D", None),
           ("mixed_9", "E", "avg"), ("mixed_10", "E", "max")]


def conv_layer_names():
    """Every conv+BN unit's name, in the graph's order (the converter's checklist)."""
    names = ["conv", "conv_1", "conv_2", "conv_3", "conv_4"]
    for block, kind, _ in _BLOCKS:
        if kind == "A":
            units = ["conv", "tower.conv", "tower.conv_1", "tower_1.conv", "tower_1.conv_1",
                     "tower_1.conv_2", "tower_2.conv"]
        elif kind == "B":
            units = ["conv", "tower.conv", "tower.conv_1", "tower.conv_2"]
        elif kind == "C":
            units = ["conv", "tower.conv", "tower.conv_1", "tower.conv_2", "tower_1.conv",
                     "tower_1.conv_1", "tower_1.conv_2", "tower_1.conv_3", "tower_1.conv_4",
                     "tower_2.conv"]
        elif kind == "D":
            units = ["tower.conv", "tower.conv_1", "tower_1.conv", "tower_1.conv_1",
                     "tower_1.conv_2", "tower_1.conv_3"]
        else:
            units = ["conv", "tower_conv", "tower_mixed_conv", "tower_mixed_conv_1",
                     "tower_1_conv", "tower_1_conv_1", "tower_1_mixed_conv",
                     "tower_1_mixed_conv_1", "tower_2_conv"]
        names += [f"{block}.{u}" for u in units]
    return names


def build_fid_inception(with_logits=True):
    """The graph as a ``keras.Model``: images → pool_3 [B, 2048] (, logits [B, 1008]).

    Weights are random until :mod:`far_keras.metrics.fid_weights` loads them.
    """
    import keras
    from keras import layers

    def unit(x, name, filters, kernel, strides=1, padding="valid"):
        x = layers.Conv2D(filters, kernel, strides=strides, padding=padding, use_bias=False,
                          name=f"{name}.conv2d")(x)
        x = layers.BatchNormalization(scale=False, epsilon=BN_EPSILON, name=f"{name}.bn")(x)
        return layers.ReLU(name=f"{name}.relu")(x)

    def same(x, name, filters, kernel):
        return unit(x, name, filters, kernel, padding="same")

    def avg(x, name):
        # TF's SAME average pool divides by the number of in-image pixels (the
        # reference's count_include_pad=False).
        return layers.AveragePooling2D(3, strides=1, padding="same", name=name)(x)

    images = keras.Input((SIZE, SIZE, 3), name="images")
    x = unit(images, "conv", 32, 3, strides=2)
    x = unit(x, "conv_1", 32, 3)
    x = same(x, "conv_2", 64, 3)
    x = layers.MaxPooling2D(3, strides=2, name="pool0")(x)
    x = unit(x, "conv_3", 80, 1)
    x = unit(x, "conv_4", 192, 3)
    x = layers.MaxPooling2D(3, strides=2, name="pool1")(x)
    for block, kind, arg in _BLOCKS:
        b = block
        if kind == "A":
            branches = [
                same(x, f"{b}.conv", 64, 1),
                same(same(x, f"{b}.tower.conv", 48, 1), f"{b}.tower.conv_1", 64, 5),
                same(same(same(x, f"{b}.tower_1.conv", 64, 1), f"{b}.tower_1.conv_1", 96, 3),
                     f"{b}.tower_1.conv_2", 96, 3),
                same(avg(x, f"{b}.tower_2.pool"), f"{b}.tower_2.conv", arg, 1)]
        elif kind == "B":
            t = same(same(x, f"{b}.tower.conv", 64, 1), f"{b}.tower.conv_1", 96, 3)
            branches = [unit(x, f"{b}.conv", 384, 3, strides=2),
                        unit(t, f"{b}.tower.conv_2", 96, 3, strides=2),
                        layers.MaxPooling2D(3, strides=2, name=f"{b}.pool")(x)]
        elif kind == "C":
            c = arg
            t = same(x, f"{b}.tower.conv", c, 1)
            t = same(t, f"{b}.tower.conv_1", c, (1, 7))
            t = same(t, f"{b}.tower.conv_2", 192, (7, 1))
            u = same(x, f"{b}.tower_1.conv", c, 1)
            u = same(u, f"{b}.tower_1.conv_1", c, (7, 1))
            u = same(u, f"{b}.tower_1.conv_2", c, (1, 7))
            u = same(u, f"{b}.tower_1.conv_3", c, (7, 1))
            u = same(u, f"{b}.tower_1.conv_4", 192, (1, 7))
            branches = [same(x, f"{b}.conv", 192, 1), t, u,
                        same(avg(x, f"{b}.tower_2.pool"), f"{b}.tower_2.conv", 192, 1)]
        elif kind == "D":
            t = unit(same(x, f"{b}.tower.conv", 192, 1), f"{b}.tower.conv_1", 320, 3,
                     strides=2)
            u = same(x, f"{b}.tower_1.conv", 192, 1)
            u = same(u, f"{b}.tower_1.conv_1", 192, (1, 7))
            u = same(u, f"{b}.tower_1.conv_2", 192, (7, 1))
            u = unit(u, f"{b}.tower_1.conv_3", 192, 3, strides=2)
            branches = [t, u, layers.MaxPooling2D(3, strides=2, name=f"{b}.pool")(x)]
        else:
            a = same(x, f"{b}.tower_conv", 384, 1)
            c = same(same(x, f"{b}.tower_1_conv", 448, 1), f"{b}.tower_1_conv_1", 384, 3)
            if arg == "max":  # the reference's mixed_10 pools with a max (see above)
                pool = layers.MaxPooling2D(3, strides=1, padding="same",
                                           name=f"{b}.tower_2_pool")(x)
            else:
                pool = avg(x, f"{b}.tower_2_pool")
            branches = [same(x, f"{b}.conv", 320, 1),
                        same(a, f"{b}.tower_mixed_conv", 384, (1, 3)),
                        same(a, f"{b}.tower_mixed_conv_1", 384, (3, 1)),
                        same(c, f"{b}.tower_1_mixed_conv", 384, (1, 3)),
                        same(c, f"{b}.tower_1_mixed_conv_1", 384, (3, 1)),
                        same(pool, f"{b}.tower_2_conv", 192, 1)]
        x = layers.Concatenate(name=f"{b}.concat")(branches)
    pool3 = layers.GlobalAveragePooling2D(name="pool_3")(x)
    outputs = [pool3]
    if with_logits:
        # softmax/logits of the graph: MatMul with no bias (the IS code's 'logits').
        outputs.append(layers.Dense(NUM_LOGITS, use_bias=False, name="logits")(pool3))
    return keras.Model(images, outputs, name="fid_inception_2015_12_05")


def tf1_resize_bilinear(images, size):
    """TF1's ``tf.image.resize_bilinear`` (align_corners=False, half_pixel_centers=False).

    The reference graph resizes with it: source pixel of output pixel i is
    i · in/out (no half-pixel offset), interpolated between floor and floor + 1
    (clamped at the border). TF2's ``tf.image.resize`` uses half-pixel centres and
    differs by up to 1.3 grey levels on a 32→299 upsample.
    """
    images = tf.convert_to_tensor(images, tf.float32)
    return tf.raw_ops.ResizeBilinear(images=images, size=[size, size], align_corners=False,
                                     half_pixel_centers=False)


def to_uint8_pixels(images):
    """[-1, 1] float images → the integer pixels a saved PNG would hold (0..255).

    Generated images are quantised as the reference protocol does (it scores image
    files): round((x + 1) · 127.5), clipped.
    """
    images = tf.convert_to_tensor(images, tf.float32)
    return tf.clip_by_value(tf.round((images + 1.0) * 127.5), 0.0, 255.0)


def reference_preprocess(images, from_pixels=False):
    """NHWC images → the reference network's input: TF1 bilinear to 299, (x − 128)/128.

    ``images`` are [-1, 1] floats (rounded to uint8 pixels first), or with
    ``from_pixels`` 0..255 pixel values as they are. Grey images are repeated to 3
    channels.
    """
    images = tf.convert_to_tensor(images, tf.float32)
    if images.shape.rank != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(f"expected NHWC images with 1 or 3 channels, got shape {images.shape}")
    pixels = images if from_pixels else to_uint8_pixels(images)
    if pixels.shape[-1] == 1:
        pixels = tf.repeat(pixels, 3, axis=-1)
    if pixels.shape[1] != SIZE or pixels.shape[2] != SIZE:
        pixels = tf1_resize_bilinear(pixels, SIZE)
    return (pixels - 128.0) / 128.0


def numpy_tf1_resize_bilinear(images, size):
    """An independent NumPy version of :func:`tf1_resize_bilinear`, for tests."""
    images = np.asarray(images, np.float64)
    _, h, w, _ = images.shape

    def axis(n_in):
        src = np.arange(size) * (n_in / size)
        lo = np.floor(src).astype(int)
        hi = np.minimum(lo + 1, n_in - 1)
        return lo, hi, src - lo

    y0, y1, fy = axis(h)
    x0, x1, fx = axis(w)
    top = images[:, y0][:, :, x0] * (1 - fx)[None, None, :, None] + \
        images[:, y0][:, :, x1] * fx[None, None, :, None]
    bottom = images[:, y1][:, :, x0] * (1 - fx)[None, None, :, None] + \
        images[:, y1][:, :, x1] * fx[None, None, :, None]
    return top * (1 - fy)[None, :, None, None] + bottom * fy[None, :, None, None]
