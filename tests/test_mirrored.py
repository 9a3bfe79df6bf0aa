"""MirroredStrategy on two logical CPUs computes the same training as one device.

Under MirroredStrategy the runner uses one uncompiled step per call (Keras cannot
run multi-step or XLA calls there), so the one-device run uses the same; XLA's
stateless RNG draws other numbers than TF's kernels, so a jit run is not compared.
"""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SCRIPT = r"""
import sys
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
sys.path.insert(0, ROOT)
from far_keras import config, experiment

def train(strategy, regularizer, jit=False):
    cfg = config.from_flat(dict(
        strategy=strategy, regularizer=regularizer, train_steps=100,
        log_every=50, eval_every=100, checkpoint_every=100, eval_samples=200,
        hidden_units=16, verbose=0, plot_contour=False, jit_compile=jit,
        steps_per_execution=1 if strategy == "default" else 50,
        model_dir=OUT + f"/{strategy}_{regularizer}_{jit}"))
    experiment.run(cfg, export_model=False, log=lambda *_: None)
    from far_keras.training import checkpointing
    model = experiment.build_gan(cfg)
    checkpointing.Checkpointer(cfg.model_dir, **model.checkpoint_objects()).restore_latest()
    return model.generator.get_weights() + model.discriminator.get_weights()

for regularizer in ("real", "interpolation"):
    one = train("default", regularizer)
    two = train("mirrored", regularizer)
    worst = max(float(np.max(np.abs(a - b))) for a, b in zip(one, two))
    moved = max(float(np.max(np.abs(a))) for a in one)
    print(regularizer, "max abs difference", worst, "largest weight", moved)
    assert worst < 1e-4, (regularizer, worst)
print("OK")
"""


def test_mirrored_two_cpus_matches_one_device(tmp_path):
    script = f"ROOT = {ROOT!r}\nOUT = {str(tmp_path)!r}\n" + SCRIPT
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env=env, timeout=900)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-5000:]
    assert "OK" in res.stdout
