"""Two worker processes on localhost (MultiWorkerMirroredStrategy) train the same
model as one process, both with XLA and 10 steps per call, and only the chief
writes logs, metrics and exports."""

import json
import os
import subprocess
import sys

import numpy as np

from helpers import free_ports, reaped

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SETTINGS = dict(train_steps=40, steps_per_execution=10, jit_compile=True, log_every=10, eval_every=40,
                checkpoint_every=20, eval_samples=200, hidden_units=16, verbose=0,
                plot_contour=False)

WORKER = r"""
import sys
sys.path.insert(0, ROOT)
from far_keras import builders, config, experiment
cfg = config.from_flat(dict(SETTINGS, strategy="multi_worker", model_dir=MODEL_DIR,
                            export_dir=MODEL_DIR + "/export"))
experiment.run(cfg, log=lambda *_: None)
"""


def _weights(model_dir):
    """The weights of the newest checkpoint; the initial weights with None."""
    sys.path.insert(0, ROOT)
    import keras
    from far_keras import builders, config
    from far_keras.training import checkpointing
    cfg = config.from_flat(dict(SETTINGS, model_dir=model_dir or "unused"))
    keras.utils.set_random_seed(0)
    model = builders.build_model(cfg)
    if model_dir is not None:
        checkpointing.Checkpointer(model_dir, **model.checkpoint_objects()).restore_latest()
        assert model.current_step() == 40
    return model.generator.get_weights() + model.discriminator.get_weights()


def test_two_workers_match_one_process(tmp_path):
    ports = free_ports(2)
    cluster = {"worker": [f"localhost:{p}" for p in ports]}
    model_dir = str(tmp_path / "multi")
    procs = []
    for task in range(2):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", TF_CONFIG=json.dumps(
            {"cluster": cluster, "task": {"type": "worker", "index": task}}))
        script = f"ROOT = {ROOT!r}\nSETTINGS = {SETTINGS!r}\nMODEL_DIR = {model_dir!r}\n" + WORKER
        procs.append(subprocess.Popen([sys.executable, "-c", script], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    with reaped(procs):
        # The one-process run meanwhile (its own directory; the workers start up,
        # compile and wait on each other much of the time).
        from far_keras import config, experiment
        single_dir = str(tmp_path / "single")
        experiment.run(config.from_flat(dict(SETTINGS, model_dir=single_dir)),
                       export_model=False, log=lambda *_: None)
        outs = [p.communicate(timeout=600) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-4000:]

    single = _weights(single_dir)
    chief = _weights(model_dir)
    other = _weights(os.path.join(model_dir, "workers", "worker1"))
    initial = _weights(None)
    assert max(float(np.max(np.abs(a - b))) for a, b in zip(single, initial)) > 1e-3
    for a, b, c in zip(single, chief, other):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
        np.testing.assert_array_equal(b, c)
    # Only the chief wrote logs, metrics and the export.
    assert os.path.exists(os.path.join(model_dir, "metrics.json"))
    assert os.path.exists(os.path.join(model_dir, "export", "saved_model.pb"))
    worker_files = os.listdir(os.path.join(model_dir, "workers", "worker1"))
    assert worker_files == ["checkpoints"]
