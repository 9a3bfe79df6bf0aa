"""MirroredStrategy on two logical CPUs computes the same training as one device,
with and without XLA, and with several steps per call.

XLA's stateless RNG draws other numbers than TF's kernels, so jit runs are compared
with jit runs and non-jit runs with non-jit runs.
"""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

HEADER = r"""
import sys
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
sys.path.insert(0, ROOT)
from far_keras import builders, config, experiment
"""

SCRIPT = HEADER + r"""
def train(strategy, regularizer, jit=False):
    cfg = config.from_flat(dict(
        strategy=strategy, regularizer=regularizer, train_steps=100,
        log_every=50, eval_every=100, checkpoint_every=100, eval_samples=200,
        hidden_units=16, verbose=0, plot_contour=False, jit_compile=jit,
        steps_per_execution=1 if strategy == "default" else 50,
        model_dir=OUT + f"/{strategy}_{regularizer}_{jit}"))
    experiment.run(cfg, export_model=False, log=lambda *_: None)
    from far_keras.training import checkpointing
    model = builders.build_model(cfg)
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

# Model-level (fit on the runner's input pipeline, without evaluation and
# checkpoints) to keep the XLA compilations within a test's time.
JIT_SCRIPT = HEADER + r"""
import keras
from far_keras.data import synthetic
from far_keras.training import strategy as strategy_lib

STEPS, K = 20, 5
FLAGS = {
    "far": dict(hidden_units=16),  # FAR: M0 = 16 of M1 = 256, selected globally
    "interpolation": dict(hidden_units=16, regularizer="interpolation"),
    "sdkl": dict(model="sdkl", dataset="digits", image_size=16, base_width=8, fc_units=32,
                 latent_dim=8, batch_size=16),
}[KIND]


def weights(model):
    return [np.array(v) for v in model.trainable_variables]


def train(strategy):
    cfg = config.from_flat(dict(FLAGS, strategy=strategy, jit_compile=True,
                                steps_per_execution=K, train_steps=STEPS, log_every=STEPS,
                                eval_every=STEPS, checkpoint_every=STEPS))
    dist = strategy_lib.make_strategy(strategy)
    keras.utils.set_random_seed(0)
    with dist.scope():
        model = builders.build_model(cfg)
    batch = model.num_real * cfg.model.d_steps
    if cfg.data.is_image:
        data = builders.image_data(cfg, batch, 0)
    else:
        data = synthetic.make_dataset(builders.make_source(cfg), batch, 0)
    data = strategy_lib.distribute_batches(data.batch(K), dist, batch_axis=1)
    start = weights(model)
    model.fit(data, epochs=1, steps_per_epoch=STEPS // K, verbose=0, shuffle=False)
    assert model.current_step() == STEPS
    return start, weights(model)


start_one, one = train("default")
start_two, two = train("mirrored")
for a, b in zip(start_one, start_two):
    np.testing.assert_array_equal(a, b)
moved = max(float(np.max(np.abs(a - b))) for a, b in zip(one, start_one))
worst = max(float(np.max(np.abs(a - b))) for a, b in zip(one, two))
print(KIND, "max abs difference", worst, "largest move", moved)
assert moved > 1e-3, moved  # the runs trained: equal weights are not the initial ones
assert worst < 1e-5, worst
print("OK")
"""


def _run(script):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env=env, timeout=900)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-5000:]
    assert "OK" in res.stdout


def test_mirrored_two_cpus_matches_one_device(tmp_path):
    """No XLA: one step per call on one device, 50 per call on two replicas."""
    _run(f"ROOT = {ROOT!r}\nOUT = {str(tmp_path)!r}\n" + SCRIPT)


@pytest.mark.parametrize("kind", ["far", "interpolation", "sdkl"])
def test_mirrored_xla_several_steps_per_call_matches_one_device(kind):
    """XLA and K = 5 steps per call on both: the one-device in-graph loop against
    the replicas' loop of strategy.run calls with XLA-compiled gradients."""
    _run(f"ROOT = {ROOT!r}\nKIND = {kind!r}\n" + JIT_SCRIPT)
