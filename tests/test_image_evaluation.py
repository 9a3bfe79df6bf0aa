"""Image evaluation: the sample grid, ImageEvaluator and evaluate.py."""

import glob
import json
import math
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from far_keras.metrics import digits_classifier, image_metrics
from far_keras.nets.resnet import build_resnet_pair, paper_architecture
from far_keras import export
from far_keras.evaluation.metrics_log import MetricsLog
from far_keras.evaluation.images import (D_LOSS_EQUILIBRIUM, G_LOSS_EQUILIBRIUM,
                                                 ImageEvaluator, image_grid, to_uint8)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EVALUATE = os.path.join(ROOT, "evaluate.py")


class FakeExtractor:
    """Cheap deterministic extractor: 4x4 area-pooled pixels as features."""

    weights_id = "fake-extractor-v1"

    def __call__(self, images):
        images = tf.convert_to_tensor(images, tf.float32)
        pooled = tf.image.resize(images, [4, 4], method="area")
        features = tf.reshape(pooled, [tf.shape(images)[0], -1])
        return features, features[:, :5] * 3.0


@pytest.fixture(scope="module")
def tiny_generator():
    keras.utils.set_random_seed(0)
    arch = paper_architecture("digits", base_width=4)  # 16x16x1, z = 64
    generator, _ = build_resnet_pair(arch)
    return generator, arch


@pytest.fixture(scope="module")
def digits_cnn_path(tmp_path_factory):
    classifier, _ = digits_classifier.train_digits_classifier(image_size=16, epochs=1, seed=0)
    path = str(tmp_path_factory.mktemp("classifier") / "digits_cnn.keras")
    classifier.save(path)
    return path, classifier.weights_id


def _events(log_dir):
    """{tag: [(step, value: float, str for text, None for images)]} from log_dir."""
    found = {}
    for path in glob.glob(os.path.join(log_dir, "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                tensor = tf.make_ndarray(value.tensor) if value.HasField("tensor") else None
                scalar = None
                if tensor is not None and tensor.ndim == 0:
                    item = tensor.item()
                    scalar = item.decode() if isinstance(item, bytes) else float(item)
                found.setdefault(value.tag, []).append((event.step, scalar))
    return found


# --- image_grid ---------------------------------------------------------------------

def test_image_grid_shape_and_placement():
    images = np.stack([np.full((2, 3, 1), i, np.int32) for i in range(6)])
    grid = image_grid(images, rows=2)
    assert grid.shape == (4, 9, 1) and grid.dtype == np.int32
    for i in range(6):
        r, c = divmod(i, 3)
        np.testing.assert_array_equal(grid[r * 2:(r + 1) * 2, c * 3:(c + 1) * 3], i)


def test_image_grid_pads_missing_cells_and_keeps_pixels():
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(5, 4, 4, 3)).astype(np.float32)
    grid = image_grid(images, rows=2, fill=-7.0)
    assert grid.shape == (8, 12, 3)
    np.testing.assert_array_equal(grid[4:8, 4:8], images[4])  # image 4: row 1, column 1
    np.testing.assert_array_equal(grid[4:8, 8:12], -7.0)      # the sixth cell is empty
    np.testing.assert_array_equal(image_grid(images, rows=1)[:, 8:12], images[2])
    assert image_grid(images, rows=5).shape == (20, 4, 3)


def test_image_grid_rejects_bad_input():
    with pytest.raises(ValueError):
        image_grid(np.zeros((4, 4, 3)), rows=2)
    with pytest.raises(ValueError):
        image_grid(np.zeros((4, 4, 4, 3)), rows=0)


def test_to_uint8_maps_range():
    np.testing.assert_array_equal(to_uint8([-2.0, -1.0, 0.0, 1.0, 3.0]),
                                  [0, 0, 128, 255, 255])


# --- ImageEvaluator -----------------------------------------------------------------

def _real_batches():
    from far_keras.data.images import make_image_dataset
    return make_image_dataset("digits", 50, seed=0)


def test_image_evaluator_writes_metrics_and_summaries(tiny_generator, tmp_path):
    generator, arch = tiny_generator
    writer = tf.summary.create_file_writer(str(tmp_path / "logs"))
    log = MetricsLog(str(tmp_path), {"test": True})
    cache = tmp_path / "stats" / "digits.npz"
    calls = []

    def generator_fn():
        calls.append(1)
        return generator

    evaluator = ImageEvaluator(
        generator_fn, arch.latent_dim, writer, log, FakeExtractor(), num_samples=120,
        batch_size=50, splits=3, grid_rows=3, grid_cols=4, stats_cache=str(cache),
        real_batches_fn=_real_batches, real_samples=100, real_source="digits/train")
    assert cache.exists()
    assert evaluator.real_stats.num_samples == 100

    first = evaluator(5)
    second = evaluator(10, final=True)
    writer.close()
    assert len(calls) == 2
    for metrics in (first, second):
        assert set(metrics) >= {"fid", "inception_score", "inception_score_std",
                                "num_samples", "weights_id"}
        assert math.isfinite(metrics["fid"]) and metrics["fid"] >= 0
        assert 1.0 <= metrics["inception_score"] <= 5.0
        assert metrics["weights_id"] == FakeExtractor.weights_id
        assert metrics["num_samples"] == 120
    # Fixed latents and fixed weights: the same numbers at every evaluation.
    assert second["fid"] == pytest.approx(first["fid"], rel=1e-6)
    assert evaluator.last_grid.shape == (48, 64, 1) and evaluator.last_grid.dtype == np.uint8
    assert tf.io.decode_png(evaluator.last_png).shape == (48, 64, 1)

    with open(tmp_path / "metrics.json") as f:
        saved = json.load(f)
    assert [h["step"] for h in saved["history"]] == [5, 10]
    assert saved["final"]["step"] == 10
    assert saved["final"]["weights_id"] == FakeExtractor.weights_id
    assert saved["final"]["inception_score"] == pytest.approx(second["inception_score"])

    events = _events(str(tmp_path / "logs"))
    assert [s for s, _ in events["eval/samples"]] == [5, 10]
    assert {s for s, _ in events["eval/fid"]} == {5, 10}
    assert "eval/inception_score" in events
    # The protocol, once, as text: what decides whether these numbers are comparable.
    assert events["eval/protocol"] == [(5, "network=fake-extractor-v1 | n_generated=120 | "
                                           "n_real=100 | real_split=digits/train")]
    # The equilibrium references are written once (at step 0 and the first eval).
    assert events["train/d_loss_equilibrium"] == [(0, pytest.approx(D_LOSS_EQUILIBRIUM)),
                                                  (5, pytest.approx(D_LOSS_EQUILIBRIUM))]
    assert [v for _, v in events["train/g_loss_equilibrium"]] == [
        pytest.approx(math.log(2))] * 2
    assert D_LOSS_EQUILIBRIUM == pytest.approx(2 * G_LOSS_EQUILIBRIUM)

    # A second evaluator reuses the cached statistics (never calls real_batches_fn).
    def no_real_data():
        raise AssertionError("the cache should have been used")

    again = ImageEvaluator(generator_fn, arch.latent_dim, writer, log, FakeExtractor(),
                           num_samples=120, batch_size=50, splits=3,
                           stats_cache=str(cache), real_batches_fn=no_real_data,
                           real_samples=100, real_source="digits/train")
    assert np.allclose(again.real_stats.mu, evaluator.real_stats.mu)


def test_image_evaluator_with_digits_classifier_and_no_real_stats(
        tiny_generator, digits_cnn_path, tmp_path):
    generator, arch = tiny_generator
    path, weights_id = digits_cnn_path
    classifier = digits_classifier.DigitsClassifier.load(path)
    writer = tf.summary.create_file_writer(str(tmp_path / "logs"))
    log = MetricsLog(str(tmp_path), {})
    evaluator = ImageEvaluator(lambda: generator, arch.latent_dim, writer, log, classifier,
                               num_samples=60, batch_size=30, splits=2, grid_rows=2,
                               grid_cols=2)
    metrics = evaluator(0, final=True)
    writer.close()
    assert metrics["fid"] is None  # no real statistics: IS only
    assert 1.0 <= metrics["inception_score"] <= 10.0
    assert metrics["weights_id"] == weights_id
    events = _events(str(tmp_path / "logs"))
    assert "eval/samples" in events and "eval/fid" not in events


def test_image_evaluator_refuses_statistics_of_other_weights(tiny_generator, tmp_path):
    generator, arch = tiny_generator
    stats = image_metrics.activation_statistics(np.random.default_rng(0).normal(size=(10, 3)),
                                                "other-weights")
    with pytest.raises(ValueError, match="other-weights"):
        ImageEvaluator(lambda: generator, arch.latent_dim, None, None, FakeExtractor(),
                       real_stats=stats, num_samples=20)


# --- evaluate.py --------------------------------------------------------------------

def _evaluate(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, EVALUATE, *args], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=600)


def test_evaluate_cli_on_exported_generator(tiny_generator, digits_cnn_path, tmp_path):
    generator, arch = tiny_generator
    export_dir = export.export_generator(generator, arch.latent_dim, str(tmp_path / "export"))
    path, weights_id = digits_cnn_path
    output = tmp_path / "out" / "eval.json"
    cache = tmp_path / "stats.npz"
    common = [f"--saved_model={export_dir}", "--dataset=digits", "--num_samples=100",
              "--batch_size=50", "--splits=2", f"--stats_cache={cache}", "--noprogress"]
    out = _evaluate(*common, f"--weights={path}", f"--output={output}",
                    "--metrics=fid,is,kid,prdc")
    assert out.returncode == 0, out.stderr
    with open(output) as f:
        result = json.load(f)
    assert set(result) >= {"fid", "inception_score", "inception_score_std", "num_samples", "weights_id", "kid_mean",
                           "kid_std", "precision", "recall", "density", "coverage"}
    assert 0 <= result["precision"] <= 1 and 0 <= result["coverage"] <= 1
    assert result["protocol"]["n_generated"] == 100 and result["protocol"]["n_real"] == 100
    assert result["protocol"]["real_split"].startswith("digits/train")
    assert result["weights_id"] == weights_id and result["num_samples"] == 100
    assert math.isfinite(result["fid"]) and result["fid"] >= 0
    assert 1.0 <= result["inception_score"] <= 10.0
    assert json.loads(out.stdout) == result
    assert cache.exists()
    cached = image_metrics.FeatureStatistics.load(cache)
    assert cached.weights_id == weights_id and cached.num_samples == 100
    assert cached.features.shape[0] == 100  # kept for KID and P/R/D/C


def test_evaluate_cli_errors(tmp_path):
    out = _evaluate(f"--saved_model={tmp_path / 'missing'}", "--dataset=digits")
    assert out.returncode != 0
    assert "--saved_model=" in out.stderr and "no such directory" in out.stderr
    (tmp_path / "empty").mkdir()
    out = _evaluate(f"--saved_model={tmp_path / 'empty'}", "--dataset=digits",
                    "--weights=digits:nope.keras")
    assert out.returncode != 0 and "not a SavedModel" in out.stderr
    out = _evaluate("--dataset=digits")
    assert out.returncode != 0 and "one of --saved_model" in out.stderr
    out = _evaluate(f"--saved_model={tmp_path / 'empty'}", "--metrics=fid,kdi")
    assert out.returncode != 0 and "--metrics: unknown ['kdi']" in out.stderr


def test_evaluate_cli_on_a_training_checkpoint(tmp_path):
    from far_keras import config, experiment
    cfg = config.from_flat(dict(
        dataset="digits", base_width=4, num_far=8, batch_size=16, num_candidates=32,
        train_steps=50, steps_per_execution=50, log_every=50, eval_every=50,
        checkpoint_every=50, fid_samples=100, is_splits=2, verbose=0,
        inception_weights="digits", image_metrics="fid,is,kid,prdc",
        # XLA-compiled, as train.py runs it: the suite's compiled FAR-GAN ResNet run
        # (the other FAR-GAN image runs skip its ~13 s compilation).
        jit_compile=True,
        model_dir=str(tmp_path / "runs" / "digits")))
    experiment.run(cfg, export_model=False, log=lambda *_: None)
    final = json.loads((tmp_path / "runs" / "digits" / "metrics.json").read_text())["final"]
    assert {"kid_mean", "precision", "recall", "density", "coverage"} <= set(final)
    assert final["protocol"]["n_generated"] == 100
    classifier = tmp_path / "runs" / "stats" / "digits_classifier_16px.keras"
    output = tmp_path / "scores.json"
    out = subprocess.run(
        [sys.executable, os.path.join(ROOT, "evaluate.py"),
         f"--checkpoint_dir={cfg.model_dir}", f"--weights=digits:{classifier}",
         "--num_samples=100", "--splits=2", "--batch_size=50", "--progress=false",
         f"--output={output}"], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    scores = json.loads(output.read_text())
    assert scores["dataset"] == "digits" and scores["num_samples"] == 100
    assert scores["weights_id"].startswith("far-keras-digits-cnn-16px")
    assert scores["fid"] > 0 and scores["inception_score"] >= 1.0
