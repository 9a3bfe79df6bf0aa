"""KID as the evaluations report it: the subset size used, in the output and the protocol
(issue 20: on fewer samples than twice the subset size the spread was zero by
construction)."""

import dataclasses
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from far_keras.metrics import image_metrics

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class PooledPixels:
    """Cheap deterministic extractor: 4x4 area-pooled pixels as features."""

    weights_id = "pooled-pixels-v1"

    def __call__(self, images):
        images = tf.convert_to_tensor(images, tf.float32)
        features = tf.reshape(tf.image.resize(images, [4, 4], method="area"),
                              [tf.shape(images)[0], -1])
        return features, features[:, :5]


def _scores(num_generated, num_real):
    extractor = PooledPixels()
    rng = np.random.default_rng(0)
    real = rng.uniform(-1, 1, (num_real, 8, 8, 1)).astype(np.float32)
    features, _ = extractor(real)
    stats = dataclasses.replace(
        image_metrics.activation_statistics(np.asarray(features), extractor.weights_id),
        features=np.asarray(features))
    fake = rng.uniform(-0.8, 1, (num_generated, 8, 8, 1)).astype(np.float32)
    batches = iter(np.split(fake, 3))  # num_generated / 3 per call
    return image_metrics.evaluate_generator(lambda n: next(batches), num_generated,
                                            num_generated // 3, extractor, stats,
                                            progress=False, metrics=("fid", "kid"))


def test_kid_on_few_samples_records_its_subset_size_and_a_real_spread():
    scores = _scores(num_generated=60, num_real=50)
    metrics = scores.as_metrics()
    # the default 1000 asked; 50 real samples: subsets of 25
    assert metrics["kid_subset_size"] == 25 and metrics["kid_num_subsets"] == 100
    assert metrics["protocol"]["kid_subset_size"] == 25
    assert metrics["protocol"]["kid_num_subsets"] == 100
    assert metrics["protocol"]["n_generated"] == 60 and metrics["protocol"]["n_real"] == 50
    assert isinstance(metrics["kid_std"], float) and metrics["kid_std"] > 0
    assert metrics["kid_std"] > 1e-3 * abs(metrics["kid_mean"])  # not a rounding error


def test_kid_subset_size_is_only_in_the_protocol_when_kid_was_computed():
    extractor = PooledPixels()
    images = np.random.default_rng(1).uniform(-1, 1, (20, 8, 8, 1)).astype(np.float32)
    features, _ = extractor(images)
    stats = image_metrics.activation_statistics(np.asarray(features), extractor.weights_id)
    scores = image_metrics.evaluate_generator(lambda n: images[:n], 20, 20, extractor, stats,
                                              progress=False, metrics=("fid",))
    assert "kid_subset_size" not in scores.as_metrics()
    assert "kid_subset_size" not in scores.protocol


@pytest.mark.parametrize("flags,numbers", [
    (["--num_samples=3"], "--num_samples=3 and --real_samples=3"),
    (["--num_samples=100", "--real_samples=2"], "--num_samples=100 and --real_samples=2"),
])
def test_evaluate_refuses_kid_on_fewer_than_4_samples(flags, numbers):
    # Refused before TensorFlow is loaded, with both numbers in the message.
    out = subprocess.run(
        [sys.executable, os.path.join(ROOT, "evaluate.py"), "--saved_model=missing",
         "--metrics=fid,kid", "--splits=2", *flags],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    assert out.returncode != 0
    assert "--metrics=kid needs at least 4 generated and 4 real samples" in out.stderr
    assert numbers in out.stderr
