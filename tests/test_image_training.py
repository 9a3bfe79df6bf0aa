"""Image runs through the same runner: FAR-GAN ResNets and the SDKL family."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from far_keras import builders, config, experiment
from far_keras.models.families import SDKL_MODELS
from far_keras.training import checkpointing

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = dict(train_steps=100, steps_per_execution=50, log_every=50, eval_every=100,
            checkpoint_every=50, fid_samples=100, is_splits=2, verbose=0,
            inception_weights="digits", batch_size=16, num_candidates=32)


def _cfg(tmp_path, name, **overrides):
    values = dict(TINY, model_dir=str(tmp_path / "runs" / name),
                  export_dir=str(tmp_path / "export" / name))
    values.update(overrides)
    return config.from_flat(values)


def _restored(cfg):
    model = builders.build_model(cfg)
    checkpointing.Checkpointer(cfg.model_dir, **model.checkpoint_objects()).restore_latest()
    return model


def test_far_gan_resnet_on_digits_resumes_exactly_and_reports_fid(tmp_path):
    # No XLA: compiling the ResNet step took ~13 s in each of the three runs, most of
    # this test's time (XLA's exact resume is tested on the 2-D runs, test_training.py;
    # the compiled ResNet step trains in test_image_evaluation.py's checkpoint test).
    # Two calls of 10 steps, "killed" after the first.
    kw = dict(dataset="digits", base_width=4, num_far=8, steps_per_execution=10,
              log_every=10, eval_every=20, checkpoint_every=10, jit_compile=False)
    experiment.run(_cfg(tmp_path, "whole", train_steps=20, **kw), export_model=False,
                   log=lambda *_: None)
    experiment.run(_cfg(tmp_path, "resumed", train_steps=10, **kw), export_model=False,
                   log=lambda *_: None)
    result = experiment.run(_cfg(tmp_path, "resumed", train_steps=20, **kw),
                            log=lambda *_: None)
    assert result["resumed_from"] == 10 and result["step"] == 20
    a = _restored(_cfg(tmp_path, "whole", train_steps=20, **kw))
    b = _restored(_cfg(tmp_path, "resumed", train_steps=20, **kw))
    assert a.current_step() == b.current_step() == 20
    for x, y in zip(a.generator.get_weights() + a.discriminator.get_weights(),
                    b.generator.get_weights() + b.discriminator.get_weights()):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
    with open(os.path.join(tmp_path, "runs", "resumed", "metrics.json")) as f:
        final = json.load(f)["final"]
    assert final["weights_id"].startswith("far-keras-digits-cnn-16px")
    assert np.isfinite(final["fid"]) and final["inception_score"] >= 1.0
    assert "train_d_loss" in final and "train_d_far" in final
    loaded = tf.saved_model.load(result["export_dir"])
    images = loaded.generate(tf.zeros([3, 64]))["samples"].numpy()
    assert images.shape == (3, 16, 16, 1) and np.abs(images).max() <= 1.0
    # the real-data statistics were cached beside the runs, for the next run
    assert any(n.endswith(".npz") for n in os.listdir(tmp_path / "runs" / "stats"))


def test_cifar10_config_trains_on_mock_data(tmp_path):
    # The paper's CIFAR-10 setup (Tables 5-6 layout), narrowed for a CPU test.
    # The FID/IS network of --inception_weights=digits at 32 px, trained for one epoch
    # where the run looks for it (the run would train it for 15: most of this test's
    # time, and not what it is about).
    from far_keras.metrics import digits_classifier
    classifier, _ = digits_classifier.train_digits_classifier(32, epochs=1)
    (tmp_path / "runs" / "stats").mkdir(parents=True)
    classifier.save(str(tmp_path / "runs" / "stats" / "digits_classifier_32px.keras"))
    with tfds.testing.mock_data(num_examples=64):
        # (No XLA: compiling the 32x32 ResNet step dominated this test; the same
        # networks train compiled on digits in test_image_evaluation.py.)
        cfg = _cfg(tmp_path, "cifar", dataset="cifar10", base_width=4, num_far=8,
                   optimizer="rmsprop", ema_decay=0.999, train_steps=20, eval_every=20,
                   steps_per_execution=10, log_every=10, checkpoint_every=10,
                   jit_compile=False)
        result = experiment.run(cfg, log=lambda *_: None)
    assert result["step"] == 20
    loaded = tf.saved_model.load(result["export_dir"])
    assert loaded.generate(tf.zeros([2, 128]))["samples"].shape == (2, 32, 32, 3)


def test_cifar10_without_data_fails_clearly(tmp_path):
    out = subprocess.run(
        [sys.executable, os.path.join(ROOT, "train.py"), "--flagfile=configs/cifar10.flags",
         f"--data_dir={tmp_path / 'tfds'}", f"--model_dir={tmp_path / 'run'}"],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 1
    assert "cifar10" in out.stderr and str(tmp_path / "tfds") in out.stderr
    assert "--download" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize("model", SDKL_MODELS)
def test_sdkl_models_train_from_their_configs(tmp_path, model):
    flags = {}
    with open(os.path.join(ROOT, "configs", f"celeba_{model}.flags")) as f:
        for line in f:
            if line.startswith("--"):
                key, value = line[2:].strip().split("=", 1)
                flags[key] = value
    assert flags["model"] == model and flags["dataset"] == "celeb_a"
    # No XLA: compiling each SDKL step was most of these runs' time; the compiled SDKL
    # steps have their own tests (test_sdkl_models.py, test_mirrored.py).
    cfg = _cfg(tmp_path, model, model=model, dataset="digits", base_width=8, fc_units=32,
               latent_dim=8, sigma=float(flags["sigma"]), train_steps=50, eval_every=50,
               ortho_weight=float(flags["ortho_weight"]), jit_compile=False)
    result = experiment.run(cfg, log=lambda *_: None)
    final = result["metrics"]
    assert np.isfinite(final["train_d_loss"])
    if model != "gan":
        assert {"train_recon_nll", "train_kl", "train_neg_elbo"} <= set(final)
    loaded = tf.saved_model.load(result["export_dir"])
    assert loaded.generate(tf.zeros([2, 8]))["samples"].shape == (2, 16, 16, 1)
    drawn = loaded.sample(n=tf.constant(3), seed=tf.constant(0, tf.int64))  # for evaluate.py
    assert drawn["samples"].shape == (3, 16, 16, 1)
    assert hasattr(loaded, "encode") == (model != "gan")
    events = tf.io.gfile.glob(os.path.join(cfg.model_dir, "logs", "events.*"))
    tags = {v.tag for e in events for ev in tf.compat.v1.train.summary_iterator(e)
            for v in ev.summary.value}
    assert "eval/samples" in tags and "train/d_loss" in tags
    assert ("eval/reconstructions" in tags) == (model != "gan")
    if model == "sdkl":  # rerunning the same command (more steps) resumes
        again = experiment.run(_cfg(tmp_path, model, model=model, dataset="digits",
                                    base_width=8, fc_units=32, latent_dim=8, train_steps=100,
                                    eval_every=50, jit_compile=False),
                               export_model=False, log=lambda *_: None)
        assert again["resumed_from"] == 50 and again["step"] == 100
