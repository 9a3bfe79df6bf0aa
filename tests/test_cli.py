"""train.py as a user runs it: flag errors, a short run, kill and resume, export."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from helpers import reaped

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN = os.path.join(ROOT, "train.py")
SMALL = ["--steps_per_execution=50", "--log_every=50", "--eval_every=500",
         "--checkpoint_every=250", "--eval_samples=500", "--hidden_units=16", "--verbose=0"]


def _train(*args, **kwargs):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([sys.executable, TRAIN, *args], capture_output=True, text=True,
                          env=env, cwd=kwargs.get("cwd", ROOT), timeout=600)


@pytest.mark.parametrize("args,message", [
    (["--train_steps=-5"], "--train_steps=-5: must be >= 1"),
    (["--trian_steps=5"], "Unknown command line flag 'trian_steps'"),
    (["--dataset=cifar"], "--dataset"),
    (["--num_far=64"], "--num_far=64: must be < --batch_size=64"),
    (["--flagfile=configs/nope.flags"], "nope.flags"),
    (["--eval_every=30"], "must be a multiple of --steps_per_execution"),
])
def test_bad_flags_fail_before_training(args, message, tmp_path):
    out = _train(*args, f"--model_dir={tmp_path}/run")
    assert out.returncode != 0
    assert message in out.stderr + out.stdout
    assert not os.path.exists(tmp_path / "run" / "checkpoints")


def test_end_to_end_kill_resume_and_export(tmp_path):
    model_dir, export_dir = tmp_path / "run", tmp_path / "export"
    cmd = [sys.executable, TRAIN, "--flagfile=configs/ring8.flags", *SMALL,
           "--train_steps=20000", f"--model_dir={model_dir}", f"--export_dir={export_dir}"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    index = model_dir / "checkpoints" / "checkpoint"
    deadline = time.time() + 300
    while not index.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert index.exists(), "no checkpoint was written before the kill"

    out = _train("--flagfile=configs/ring8.flags", *SMALL, "--train_steps=1000",
                 f"--model_dir={model_dir}", f"--export_dir={export_dir}")
    assert out.returncode == 0, out.stderr
    assert "Resuming from" in out.stdout and "Done at step 1000" in out.stdout
    with open(model_dir / "metrics.json") as f:
        metrics = json.load(f)
    assert metrics["final"]["step"] == 1000 and metrics["flags"]["num_far"] == 16
    assert (model_dir / "samples.png").exists()
    assert list((model_dir / "logs").glob("events.out.tfevents.*"))

    # The SavedModel loads with TensorFlow alone and reproduces the generator.
    probe = f"""
import sys, numpy as np, tensorflow as tf
m = tf.saved_model.load({str(export_dir)!r})
z = tf.constant(np.linspace(-2, 2, 20, dtype=np.float32).reshape(10, 2))
a = m.signatures["generate"](z=z)["samples"].numpy()
b = m.generate(z)["samples"].numpy()
s = m.sample(n=tf.constant(7), seed=tf.constant(3, tf.int64))
c = m.generate(s["z"])["samples"].numpy()
assert a.shape == (10, 2) and np.allclose(a, b) and np.allclose(c, s["samples"].numpy())
assert not any(k.startswith("far_keras") for k in sys.modules), "far_keras was imported"
np.save({str(tmp_path / 'out.npy')!r}, a)
"""
    res = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         cwd=str(tmp_path), timeout=300)
    assert res.returncode == 0, res.stderr

    # ... and equals the checkpointed generator's output.
    sys.path.insert(0, ROOT)
    from far_keras import builders, config
    from far_keras.training import checkpointing
    cfg = config.from_flat(dict(hidden_units=16))
    model = builders.build_model(cfg)
    checkpointing.Checkpointer(str(model_dir), **model.checkpoint_objects()).restore_latest()
    z = np.linspace(-2, 2, 20, dtype=np.float32).reshape(10, 2)
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), model.generator(z).numpy(),
                               rtol=1e-5, atol=1e-6)


def test_deterministic_runs_repeat_exactly(tmp_path):
    # Image-free and tiny; two processes with --deterministic and the same seed, run
    # at the same time (each on its own; neither waits for the other's TF start-up).
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    procs = {name: subprocess.Popen(
        [sys.executable, TRAIN, "--flagfile=configs/ring8.flags", *SMALL,
         "--train_steps=1000", "--deterministic", "--threads=2",
         f"--model_dir={tmp_path / name}", f"--export_dir={tmp_path / name / 'export'}"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for name in ("a", "b")}
    with reaped(procs.values()):
        outs = {name: p.communicate(timeout=600) for name, p in procs.items()}
    finals = []
    for name, p in procs.items():
        assert p.returncode == 0, outs[name][1][-2000:]
        with open(tmp_path / name / "metrics.json") as f:
            finals.append(json.load(f)["final"])
    for key in ("train_d_loss", "train_g_loss", "health_grad_real", "high_quality"):
        assert finals[0][key] == finals[1][key], key
