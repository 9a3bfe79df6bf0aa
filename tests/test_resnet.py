"""ResNet G/D against the paper's Tables 5-8, transcribed here by hand.

Expected shapes and parameter counts are computed from the tables with the
formulas below, never from the library's own layout code.
"""

import numpy as np
import pytest

import keras

from far_keras.nets import resnet


# --- hand-written parameter formulas ---------------------------------------------

def conv_params(k, cin, cout, bias=True):
    return k * k * cin * cout + (cout if bias else 0)


def dense_params(nin, nout):
    return nin * nout + nout


def block_params(fin, fhidden, fout):
    """GAN_stability ResnetBlock: two 3x3 convs with bias, 1x1 bias-free shortcut."""
    shortcut = conv_params(1, fin, fout, bias=False) if fin != fout else 0
    return conv_params(3, fin, fhidden) + conv_params(3, fhidden, fout) + shortcut


# --- the tables, row by row: (layer name, output shape HWC, params) --------------
# Blocks are written as in the tables: fin -> fhidden -> fout.

def _block(name, size, fin, fh, fout):
    return (name, (size, size, fout), block_params(fin, fh, fout))


def _free(name, shape):
    return (name, shape, 0)


TABLE_5_CIFAR_G = [
    ("fc", (512 * 4 * 4,), dense_params(128, 512 * 4 * 4)),
    _free("reshape", (4, 4, 512)),
    _block("block_0_0", 4, 512, 256, 256),
    _free("up_1", (8, 8, 256)),
    _block("block_1_0", 8, 256, 128, 128),
    _free("up_2", (16, 16, 128)),
    _block("block_2_0", 16, 128, 64, 64),
    _free("up_3", (32, 32, 64)),
    _block("block_3_0", 32, 64, 64, 64),
    _free("conv_img_act", (32, 32, 64)),
    ("conv_img", (32, 32, 3), conv_params(3, 64, 3)),
    _free("tanh", (32, 32, 3)),
]

TABLE_6_CIFAR_D = [
    ("conv_img", (32, 32, 64), conv_params(3, 3, 64)),
    _block("block_0_0", 32, 64, 64, 128),
    _free("pool_0", (16, 16, 128)),
    _block("block_1_0", 16, 128, 128, 256),
    _free("pool_1", (8, 8, 256)),
    _block("block_2_0", 8, 256, 256, 512),
    _free("pool_2", (4, 4, 512)),
    _free("flatten", (512 * 4 * 4,)),
    _free("fc_act", (512 * 4 * 4,)),
    ("fc", (1,), dense_params(512 * 4 * 4, 1)),
]

TABLE_7_IMAGENET_G = [
    ("fc", (1024 * 4 * 4,), dense_params(256, 1024 * 4 * 4)),
    _free("reshape", (4, 4, 1024)),
    _block("block_0_0", 4, 1024, 1024, 1024),
    _block("block_0_1", 4, 1024, 1024, 1024),
    _free("up_1", (8, 8, 1024)),
    _block("block_1_0", 8, 1024, 512, 512),
    _block("block_1_1", 8, 512, 512, 512),
    _free("up_2", (16, 16, 512)),
    _block("block_2_0", 16, 512, 256, 256),
    _block("block_2_1", 16, 256, 256, 256),
    _free("up_3", (32, 32, 256)),
    _block("block_3_0", 32, 256, 128, 128),
    _block("block_3_1", 32, 128, 128, 128),
    _free("up_4", (64, 64, 128)),
    _block("block_4_0", 64, 128, 64, 64),
    _block("block_4_1", 64, 64, 64, 64),
    _free("conv_img_act", (64, 64, 64)),
    ("conv_img", (64, 64, 3), conv_params(3, 64, 3)),
    _free("tanh", (64, 64, 3)),
]

TABLE_8_IMAGENET_D = [
    ("conv_img", (64, 64, 64), conv_params(3, 3, 64)),
    _block("block_0_0", 64, 64, 64, 64),
    _block("block_0_1", 64, 64, 64, 128),
    _free("pool_0", (32, 32, 128)),
    _block("block_1_0", 32, 128, 128, 128),
    _block("block_1_1", 32, 128, 128, 256),
    _free("pool_1", (16, 16, 256)),
    _block("block_2_0", 16, 256, 256, 256),
    _block("block_2_1", 16, 256, 256, 512),
    _free("pool_2", (8, 8, 512)),
    _block("block_3_0", 8, 512, 512, 512),
    _block("block_3_1", 8, 512, 512, 1024),
    _free("pool_3", (4, 4, 1024)),
    _block("block_4_0", 4, 1024, 1024, 1024),
    _block("block_4_1", 4, 1024, 1024, 1024),
    _free("flatten", (1024 * 4 * 4,)),
    _free("fc_act", (1024 * 4 * 4,)),
    ("fc", (1,), dense_params(1024 * 4 * 4, 1)),
]

# Small CPU variant: the CIFAR layout at base width 16, 16x16 grey (the 'digits'
# preset), written out by hand as well.
DIGITS_G = [
    ("fc", (64 * 16,), dense_params(64, 64 * 16)),
    _free("reshape", (4, 4, 64)),
    _block("block_0_0", 4, 64, 32, 32),
    _free("up_1", (8, 8, 32)),
    _block("block_1_0", 8, 32, 16, 16),
    _free("up_2", (16, 16, 16)),
    _block("block_2_0", 16, 16, 16, 16),
    _free("conv_img_act", (16, 16, 16)),
    ("conv_img", (16, 16, 1), conv_params(3, 16, 1)),
    _free("tanh", (16, 16, 1)),
]

DIGITS_D = [
    ("conv_img", (16, 16, 16), conv_params(3, 1, 16)),
    _block("block_0_0", 16, 16, 16, 32),
    _free("pool_0", (8, 8, 32)),
    _block("block_1_0", 8, 32, 32, 64),
    _free("pool_1", (4, 4, 64)),
    _free("flatten", (64 * 16,)),
    _free("fc_act", (64 * 16,)),
    ("fc", (1,), dense_params(64 * 16, 1)),
]

CASES = [
    ("cifar", TABLE_5_CIFAR_G, TABLE_6_CIFAR_D, (32, 128, 3)),
    ("imagenet", TABLE_7_IMAGENET_G, TABLE_8_IMAGENET_D, (64, 256, 3)),
    ("digits", DIGITS_G, DIGITS_D, (16, 64, 1)),
]


def _check_against_table(model, table):
    # Every layer after the input must appear in the table, in order.
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    assert [layer.name for layer in layers] == [row[0] for row in table]
    for layer, (name, shape, params) in zip(layers, table):
        assert tuple(layer.output.shape[1:]) == shape, name
        assert layer.count_params() == params, name
    assert model.count_params() == sum(row[2] for row in table)


@pytest.mark.parametrize("preset,g_table,d_table,dims", CASES, ids=[c[0] for c in CASES])
def test_paper_nets_match_tables(preset, g_table, d_table, dims):
    resolution, latent_dim, channels = dims
    arch = resnet.paper_architecture(preset)
    generator, discriminator = resnet.build_resnet_pair(arch)
    assert generator.input.shape[1:] == (latent_dim,)
    assert tuple(generator.output.shape[1:]) == (resolution, resolution, channels)
    assert tuple(discriminator.input.shape[1:]) == (resolution, resolution, channels)
    assert tuple(discriminator.output.shape[1:]) == (1,)
    _check_against_table(generator, g_table)
    _check_against_table(discriminator, d_table)


def test_cifar_totals_as_plain_numbers():
    # Tables 5 and 6 summed by hand (G: fc 1,056,768 + blocks 1,901,056 + 475,392
    # + 118,912 + 73,856 + conv 1,731), a check of the formulas themselves.
    g, d = resnet.build_resnet_pair(resnet.paper_architecture("cifar"))
    assert (g.count_params(), d.count_params()) == (3_627_715, 2_505_793)


def test_cifar_layout_scales_with_base_width():
    # CIFAR layout at base width 16 and 32x32: every width is the paper's / 4.
    arch = resnet.paper_architecture("cifar", base_width=16)
    g, d = resnet.build_resnet_pair(arch)
    expected_g = (dense_params(128, 128 * 16) + block_params(128, 64, 64)
                  + block_params(64, 32, 32) + block_params(32, 16, 16)
                  + block_params(16, 16, 16) + conv_params(3, 16, 3))
    expected_d = (conv_params(3, 3, 16) + block_params(16, 16, 32) + block_params(32, 32, 64)
                  + block_params(64, 64, 128) + dense_params(128 * 16, 1))
    assert g.count_params() == expected_g
    assert d.count_params() == expected_d


def test_small_forward_pass_ranges():
    g, d = resnet.build_resnet_pair(resnet.paper_architecture("digits"))
    z = np.random.default_rng(0).normal(size=(4, 64)).astype("float32")
    images = keras.ops.convert_to_numpy(g(z))
    assert images.shape == (4, 16, 16, 1)
    assert np.all(np.abs(images) < 1.0)
    logits = keras.ops.convert_to_numpy(d(images))
    assert logits.shape == (4, 1) and np.all(np.isfinite(logits))


def test_resnet_block_matches_numpy_reference():
    """shortcut + 0.1 * conv(lrelu(conv(lrelu(x)))) with a 1x1 bias-free shortcut."""
    rng = np.random.default_rng(1)
    block = resnet.ResnetBlock(3)
    x = rng.normal(size=(2, 5, 5, 2)).astype("float32")
    y = keras.ops.convert_to_numpy(block(x))
    w0, b0 = [keras.ops.convert_to_numpy(v) for v in block.conv_0.weights]
    w1, b1 = [keras.ops.convert_to_numpy(v) for v in block.conv_1.weights]
    (ws,) = [keras.ops.convert_to_numpy(v) for v in block.conv_s.weights]
    assert w0.shape == (3, 3, 2, 2)  # hidden width min(2, 3)

    def lrelu(a):
        return np.where(a > 0, a, 0.2 * a)

    def conv3x3_same(a, w, b):
        padded = np.pad(a, ((0, 0), (1, 1), (1, 1), (0, 0)))
        out = np.zeros(a.shape[:3] + (w.shape[-1],))
        for i in range(3):
            for j in range(3):
                out += padded[:, i:i + a.shape[1], j:j + a.shape[2], :] @ w[i, j]
        return out + b

    dx = conv3x3_same(lrelu(conv3x3_same(lrelu(x), w0, b0)), w1, b1)
    expected = x @ ws[0, 0] + 0.1 * dx
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-5)


def test_identity_shortcut_when_widths_match():
    block = resnet.ResnetBlock(4)
    block.build((None, 3, 3, 4))
    assert block.conv_s is None
    assert len(block.weights) == 4


def test_saving_round_trip(tmp_path):
    g = resnet.resnet_generator(**resnet.paper_architecture("digits").generator_kwargs())
    path = tmp_path / "g.keras"
    g.save(path)
    loaded = keras.saving.load_model(path)
    z = np.ones((2, 64), "float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(z)),
                               keras.ops.convert_to_numpy(g(z)), atol=1e-6)


@pytest.mark.parametrize("bad", [12, 4, 0, 48])
def test_bad_resolution_is_rejected(bad):
    with pytest.raises(ValueError, match="resolution"):
        resnet.resnet_architecture("cifar", bad)


def test_wrong_number_of_stages_is_rejected():
    with pytest.raises(ValueError, match="stage widths"):
        resnet.resnet_generator(32, 128, 512, (256, 128, 64))
    with pytest.raises(ValueError, match="stage widths"):
        resnet.resnet_discriminator(32, 64, (128, 256))


def test_unknown_preset_lists_known_names():
    with pytest.raises(ValueError, match="cifar.*imagenet"):
        resnet.paper_architecture("mnist")
