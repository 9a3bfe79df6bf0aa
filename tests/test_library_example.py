"""docs/library.md's examples run as written: FAR-GAN with your own G and D, ``compile``,
``fit`` on a NumPy array and on a tf.data pipeline with your callbacks, the batch-size
error, the generator saved as a Keras file and as a SavedModel; an SDKL model."""

import contextlib
import csv
import io
import os
import re

import keras
import numpy as np
import tensorflow as tf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _python_blocks(path):
    with open(path, encoding="utf-8") as f:
        return re.findall(r"```python\n(.*?)```", f.read(), re.S)


def _run(block):
    printed = io.StringIO()
    namespace = {"__name__": "library_example"}
    with contextlib.redirect_stdout(printed):
        exec(compile(block, "docs/library.md", "exec"), namespace)
    return printed.getvalue(), namespace


def test_library_examples_run_as_written(tmp_path, monkeypatch):
    far_gan, sdkl = _python_blocks(os.path.join(ROOT, "docs", "library.md"))
    monkeypatch.chdir(tmp_path)  # it writes training.csv, generator.keras, generator_savedmodel
    out, namespace = _run(far_gan)

    assert "real rows per step: 48" in out
    assert len(re.findall(r"^epoch \d: d_loss [\d.]+  g_loss [\d.]+  D on FAR samples [\d.]+$",
                          out, re.M)) == 4  # the callback, in both fits
    assert "training steps so far: 400" in out
    assert ("FARGAN got fit(batch_size=64); it takes 48 per training step: "
            "N0 = N − M0 = 64 − 16 = 48 real rows per discriminator step") in out
    assert "'modes_covered'" in out and out.rstrip().endswith("(3, 2)")

    model = namespace["model"]
    assert model.current_step() == 400
    with open("training.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows] == ["0", "1"] and "d_far" in rows[0]
    # Both saved generators give the trained generator's samples.
    z = tf.random.stateless_normal([7, 2], [1, 2])
    expected = model.generator(z, training=False).numpy()
    reloaded = keras.models.load_model("generator.keras")
    np.testing.assert_allclose(reloaded(z).numpy(), expected, rtol=1e-5, atol=1e-6)
    exported = tf.saved_model.load("generator_savedmodel")
    np.testing.assert_allclose(exported.generate(z)["samples"].numpy(), expected,
                               rtol=1e-5, atol=1e-6)

    # The SDKL example: d_steps x B images per step, what it logs, its outputs.
    out, namespace = _run(sdkl)
    assert out.splitlines() == [
        "real images per step: 32",
        "['adv', 'd_fake', 'd_loss', 'd_real', 'g_loss', 'kl', 'neg_elbo', 'ortho', "
        "'recon_nll']",
        "(4, 16, 16, 1) (4, 16, 16, 1)"]
    assert namespace["sdkl"].current_step() == 56


def test_the_readme_example_runs_as_written(tmp_path, monkeypatch):
    """README.md's 'Use it in your own Keras code' block, as printed there."""
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        section = f.read().split("## Use it in your own Keras code", 1)[1].split("\n## ", 1)[0]
    block, = re.findall(r"```python\n(.*?)```", section, re.S)
    monkeypatch.chdir(tmp_path)  # it exports generator_savedmodel
    out, namespace = _run(block)
    assert namespace["model"].current_step() == 200  # 2 epochs of 4,800 / 48 rows
    assert "'modes_covered'" in out and "'high_quality'" in out
    exported = tf.saved_model.load("generator_savedmodel")
    z = tf.random.stateless_normal([5, 2], [3, 4])
    np.testing.assert_allclose(exported.generate(z)["samples"].numpy(),
                               namespace["model"].generator(z, training=False).numpy(),
                               rtol=1e-5, atol=1e-6)
