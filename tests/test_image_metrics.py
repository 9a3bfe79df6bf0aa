"""FID, Inception Score, feature extractors, statistics cache and digits classifier."""

import numpy as np
import pytest
import tensorflow as tf
from scipy import linalg

from far_keras.metrics import digits_classifier, image_metrics, inception
from far_keras.metrics.image_metrics import FeatureStatistics


# --- independent reference computations ------------------------------------------

def reference_fid(x, y):
    """FID written differently from the library: tr sqrt(S1 S2) via eigenvalues of
    the symmetric matrix sqrt(S1) S2 sqrt(S1), with explicit covariance sums."""
    mu_x, mu_y = x.mean(0), y.mean(0)
    cx = (x - mu_x).T @ (x - mu_x) / (len(x) - 1)
    cy = (y - mu_y).T @ (y - mu_y) / (len(y) - 1)
    w, v = linalg.eigh(cx)
    sqrt_cx = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    m = sqrt_cx @ cy @ sqrt_cx
    tr_sqrt = np.sqrt(np.clip(linalg.eigvalsh((m + m.T) / 2), 0, None)).sum()
    return np.sum((mu_x - mu_y) ** 2) + np.trace(cx) + np.trace(cy) - 2 * tr_sqrt


class FakeExtractor:
    """Cheap deterministic extractor: per-image channel means and 4x4 pooled pixels."""

    def __init__(self, weights_id="fake-v1", num_classes=4):
        self.weights_id = weights_id
        self.num_classes = num_classes
        self.calls = 0

    def __call__(self, images):
        self.calls += 1
        images = tf.convert_to_tensor(images, tf.float32)
        pooled = tf.image.resize(images, [4, 4], method="area")
        features = tf.reshape(pooled, [tf.shape(images)[0], -1])
        logits = features[:, :self.num_classes] * 5.0
        return features, logits


# --- Fréchet distance and IS ---------------------------------------------------------

def test_fid_matches_independent_computation():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 12))
    y = rng.normal(size=(300, 12)) @ rng.normal(size=(12, 12)) * 0.5 + 0.3
    expected = reference_fid(x, y)
    assert image_metrics.fid_from_features(x, y) == pytest.approx(expected, rel=1e-6)
    stats_x = image_metrics.activation_statistics(x, "w")
    stats_y = image_metrics.activation_statistics(y, "w")
    assert image_metrics.fid_from_statistics(stats_x, stats_y) == pytest.approx(expected,
                                                                                  rel=1e-6)


def test_identical_statistics_give_zero():
    x = np.random.default_rng(1).normal(size=(200, 8))
    stats = image_metrics.activation_statistics(x, "w")
    assert image_metrics.fid_from_statistics(stats, stats) == pytest.approx(0.0, abs=1e-6)
    assert image_metrics.fid_from_features(x, x) == pytest.approx(0.0, abs=1e-6)


def test_fid_refuses_different_weights():
    x = np.random.default_rng(2).normal(size=(20, 3))
    with pytest.raises(ValueError, match="not comparable"):
        image_metrics.fid_from_statistics(image_metrics.activation_statistics(x, "a"),
                                          image_metrics.activation_statistics(x, "b"))


def test_inception_score_uniform_is_one():
    mean, std = image_metrics.inception_score(np.full((100, 7), 1 / 7), splits=10)
    assert mean == pytest.approx(1.0) and std == pytest.approx(0.0, abs=1e-12)
    mean, _ = image_metrics.inception_score(np.zeros((100, 7)), splits=10)  # logits
    assert mean == pytest.approx(1.0)


@pytest.mark.parametrize("k", [1, 2, 5, 10])
def test_inception_score_of_k_equally_likely_one_hot_classes_is_k(k):
    probs = np.eye(k)[np.arange(20 * k) % k]  # each split holds every class equally
    mean, std = image_metrics.inception_score(probs, splits=10 if k > 1 else 4)
    assert mean == pytest.approx(k) and std == pytest.approx(0.0, abs=1e-9)


def test_inception_score_logits_and_probabilities_agree():
    logits = np.random.default_rng(3).normal(size=(50, 6)) * 3
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    a = image_metrics.inception_score(logits, splits=5)
    b = image_metrics.inception_score(probs, splits=5)
    c = image_metrics.inception_score(probs, splits=5, from_logits=False)
    np.testing.assert_allclose(a, b, rtol=1e-9)
    np.testing.assert_allclose(b, c, rtol=1e-12)


def test_inception_score_rejects_too_many_splits():
    with pytest.raises(ValueError, match="splits"):
        image_metrics.inception_score(np.ones((3, 2)) / 2, splits=4)


# --- streaming, evaluation and cache -------------------------------------------------

def test_compute_activations_truncates_and_detects_shortage():
    batches = [np.zeros((4, 8, 8, 3), np.float32)] * 3
    extractor = FakeExtractor()
    features, logits = image_metrics.compute_activations(batches, extractor, 10,
                                                         progress=False)
    assert features.shape == (10, 48) and logits.shape == (10, 4)
    with pytest.raises(ValueError, match="ran out"):
        image_metrics.compute_activations(batches, extractor, 13, progress=False)


def test_evaluate_generator_scores():
    rng = np.random.default_rng(4)
    real = rng.uniform(-1, 1, (256, 8, 8, 3)).astype(np.float32)
    extractor = FakeExtractor()
    real_stats = image_metrics.real_statistics([real], extractor, 256, "uniform",
                                               progress=False)

    def same(n):
        return rng.uniform(-1, 1, (n, 8, 8, 3)).astype(np.float32)

    def shifted(n):
        return np.clip(same(n) * 0.3 + 0.5, -1, 1)

    good = image_metrics.evaluate_generator(same, 250, 64, extractor, real_stats,
                                            splits=5, progress=False)
    bad = image_metrics.evaluate_generator(shifted, 250, 64, extractor, real_stats,
                                           splits=5, progress=False)
    assert good.fid < bad.fid
    assert good.num_samples == 250 and good.weights_id == "fake-v1"
    assert good.real_source == "uniform"
    assert 1.0 <= good.inception_score <= extractor.num_classes
    no_fid = image_metrics.evaluate_generator(same, 20, 8, extractor, splits=2,
                                              progress=False)
    assert no_fid.fid is None
    with pytest.raises(ValueError, match="recompute"):
        image_metrics.evaluate_generator(same, 20, 8, FakeExtractor("other"), real_stats,
                                         progress=False)


def test_statistics_cache_round_trip_and_invalidation(tmp_path):
    rng = np.random.default_rng(5)
    real = rng.uniform(-1, 1, (64, 8, 8, 3)).astype(np.float32)
    made = []

    def make_batches():
        made.append(1)
        return [real[:32], real[32:]]

    path = tmp_path / "cache" / "real_stats.npz"
    first = image_metrics.load_or_compute_real_statistics(
        path, FakeExtractor("fake-v1"), make_batches, 64, source="toy", progress=False)
    assert path.exists() and len(made) == 1

    loaded = FeatureStatistics.load(path)
    np.testing.assert_array_equal(loaded.mu, first.mu)
    np.testing.assert_array_equal(loaded.sigma, first.sigma)
    assert (loaded.num_samples, loaded.weights_id, loaded.source) == (64, "fake-v1", "toy")

    again = image_metrics.load_or_compute_real_statistics(
        path, FakeExtractor("fake-v1"), make_batches, 64, source="toy", progress=False)
    assert len(made) == 1  # served from the cache
    np.testing.assert_array_equal(again.sigma, first.sigma)

    other = image_metrics.load_or_compute_real_statistics(
        path, FakeExtractor("fake-v2"), make_batches, 64, source="toy", progress=False)
    assert len(made) == 2 and other.weights_id == "fake-v2"
    assert FeatureStatistics.load(path).weights_id == "fake-v2"

    image_metrics.load_or_compute_real_statistics(
        path, FakeExtractor("fake-v2"), make_batches, 32, source="toy", progress=False)
    assert len(made) == 3  # a different sample count is not served from the cache


def test_corrupt_cache_is_recomputed(tmp_path):
    path = tmp_path / "stats.npz"
    path.write_bytes(b"garbage")
    stats = image_metrics.load_or_compute_real_statistics(
        path, FakeExtractor(), lambda: [np.zeros((8, 4, 4, 1), np.float32) +
                                        np.linspace(-1, 1, 8)[:, None, None, None]],
        8, progress=False)
    assert FeatureStatistics.load(path).num_samples == 8 == stats.num_samples


# --- Inception extractors --------------------------------------------------------------

@pytest.fixture(scope="module")
def random_inception():
    return inception.inception_extractor(weights=None)


def test_random_inception_gives_2048_features(random_inception):
    images = np.random.default_rng(6).uniform(-1, 1, (2, 16, 16, 1)).astype(np.float32)
    features, logits = random_inception(images)
    assert features.shape == (2, 2048) and logits.shape == (2, 1000)
    assert np.all(np.isfinite(features)) and np.all(np.isfinite(logits))
    assert "random" in random_inception.weights_id
    # Another batch size, image size and channel count in the same extractor.
    features, logits = random_inception(np.zeros((1, 8, 8, 3), np.float32))
    assert features.shape == (1, 2048) and logits.shape == (1, 1000)


def test_local_weights_file_is_loaded_and_identified(random_inception, tmp_path):
    import keras

    # A recognisable change: random init never sets this bias to 0.5.
    bias = random_inception.model.get_layer("predictions").bias
    bias.assign(np.full(bias.shape, 0.5, np.float32))
    path = tmp_path / "my_inception.weights.h5"
    random_inception.model.save_weights(path)
    extractor = inception.inception_extractor(str(path))
    assert extractor.weights_id == (
        f"keras-inceptionv3:my_inception.weights.h5:sha256-{inception.short_sha256(path)}")
    loaded_bias = keras.ops.convert_to_numpy(extractor.model.get_layer("predictions").bias)
    np.testing.assert_array_equal(loaded_bias, 0.5)


def test_offline_imagenet_weights_give_clear_error(monkeypatch):
    from keras.src.utils import file_utils

    def offline(*args, **kwargs):
        raise Exception("URL fetch failure on https://example.invalid: None -- offline")

    monkeypatch.setattr(file_utils, "get_file", offline)
    with pytest.raises(inception.InceptionWeightsError) as info:
        inception.inception_extractor("imagenet")
    message = str(info.value)
    assert "imagenet" in message and "weights=" in message and "local" in message
    assert "URL fetch failure" in message


def test_missing_weights_file_is_an_error(tmp_path):
    with pytest.raises(inception.InceptionWeightsError, match="does not exist"):
        inception.inception_extractor(str(tmp_path / "nope.h5"))


class _TinyFeatureNet(tf.Module):
    """Stands in for an exported Inception graph: pool_3 [B,1,1,3], logits [B,5]."""

    @tf.function(input_signature=[tf.TensorSpec([None, 299, 299, 3], tf.float32)])
    def serve(self, images):
        pool = tf.reduce_max(images, axis=[1, 2], keepdims=True)  # exact, unlike a mean
        logits = tf.concat([pool[:, 0, 0, :], tf.zeros([tf.shape(images)[0], 2])], axis=1)
        return {"pool_3": pool, "logits": logits}


def test_savedmodel_extractor(tmp_path):
    module = _TinyFeatureNet()
    path = tmp_path / "fid_inception"
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})
    extractor = inception.inception_extractor(str(path), input_range=(0.0, 255.0))
    assert extractor.weights_id.startswith("savedmodel:fid_inception:sha256-")
    images = np.zeros((3, 8, 8, 1), np.float32)  # grey, mid-range
    features, logits = extractor(images)
    assert features.shape == (3, 3) and logits.shape == (3, 5)
    np.testing.assert_allclose(features, 127.5, rtol=1e-6)  # [-1,1] mapped onto [0,255]


def test_savedmodel_without_expected_outputs(tmp_path):
    class Bad(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None, 299, 299, 3], tf.float32)])
        def serve(self, images):
            return {"something": tf.reduce_mean(images, axis=[1, 2])}

    module = Bad()
    path = tmp_path / "bad_model"
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})
    with pytest.raises(inception.InceptionWeightsError, match="something"):
        inception.inception_extractor(str(path))


# --- digits classifier -----------------------------------------------------------------

@pytest.fixture(scope="module")
def digits_cnn():
    return digits_classifier.train_digits_classifier(image_size=16, epochs=15, seed=0)


def test_digits_classifier_learns(digits_cnn):
    classifier, val_accuracy = digits_cnn
    assert val_accuracy > 0.9
    assert classifier.weights_id.startswith("far-keras-digits-cnn-16px:sha256-")


def test_digits_classifier_interface_and_scores(digits_cnn):
    from far_keras.data.images import load_digits_arrays

    classifier, _ = digits_cnn
    images, _ = load_digits_arrays(16)
    features, logits = image_metrics.compute_activations(
        [images[:900], images[900:]], classifier, 1797, progress=False)
    assert features.shape == (1797, 128) and logits.shape == (1797, 10)
    real_is, _ = image_metrics.inception_score(logits, splits=5)
    assert 5.0 < real_is <= 10.0
    half = image_metrics.fid_from_features(features[::2], features[1::2])
    noise = np.random.default_rng(7).uniform(-1, 1, images.shape).astype(np.float32)
    noise_features, _ = classifier(noise)
    assert half < image_metrics.fid_from_features(features, np.asarray(noise_features))
    rgb_features, _ = classifier(np.repeat(images[:4], 3, axis=-1))  # RGB accepted
    np.testing.assert_allclose(rgb_features, features[:4], rtol=1e-4, atol=1e-5)


def test_digits_classifier_does_not_depend_on_the_global_seed():
    # A run's --seed sets TF's global seed before the first run of a stats directory
    # trains the classifier: the FID/IS network must not depend on which run that was.
    import tensorflow as tf
    train = getattr(digits_classifier.train_digits_classifier, "__wrapped__",
                    digits_classifier.train_digits_classifier)  # not conftest's cache
    # (8 px, the digits' own size, and one epoch: the shuffle order is what differs)
    tf.random.set_seed(1)
    a, _ = train(image_size=8, epochs=1, seed=0)
    tf.random.set_seed(2)
    b, _ = train(image_size=8, epochs=1, seed=0)
    assert a.weights_id == b.weights_id
    other, _ = train(image_size=8, epochs=1, seed=1)  # its own --seed still counts
    assert other.weights_id != a.weights_id


def test_digits_classifier_is_trained_alike_whatever_the_callers_threads(monkeypatch):
    # Its own single-threaded process: the parent's thread settings (which a run's
    # --threads or TF_NUM_INTRAOP_THREADS fix) must not change the classifier. One and
    # two threads give different weights when the training is not isolated.
    train = getattr(digits_classifier.train_in_own_process, "__wrapped__",
                    digits_classifier.train_in_own_process)  # the real subprocess
    ids = []
    for threads in ("1", "2"):
        monkeypatch.setenv("TF_NUM_INTRAOP_THREADS", threads)
        monkeypatch.setenv("TF_NUM_INTEROP_THREADS", threads)
        ids.append(train(8, seed=0, epochs=1).weights_id)
    assert ids[0] == ids[1], ids


def test_digits_classifier_save_load(digits_cnn, tmp_path):
    classifier, _ = digits_cnn
    path = tmp_path / "sub" / "digits.keras"
    same = digits_classifier.load_or_train_digits_classifier(path, epochs=1)  # trains, saves
    assert path.exists()
    loaded = digits_classifier.load_or_train_digits_classifier(path)  # loads
    assert loaded.weights_id == same.weights_id
    x = np.random.default_rng(8).uniform(-1, 1, (3, 16, 16, 1)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(loaded(x)[1]), np.asarray(same(x)[1]), atol=1e-5)
    classifier.save(tmp_path / "fixture.keras")
    assert digits_classifier.DigitsClassifier.load(
        tmp_path / "fixture.keras").weights_id == classifier.weights_id
    with pytest.raises(ValueError, match="px"):
        digits_classifier.load_or_train_digits_classifier(path, image_size=32)
