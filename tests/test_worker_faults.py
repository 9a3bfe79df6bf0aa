"""A worker of a two-worker run killed mid-training (kill -9): the survivor stops with
a clear message instead of hanging, the same commands restarted resume from the last
checkpoint, and the run ends with the weights of an uninterrupted one; the chief's
artefacts (metrics.json, export) are neither duplicated nor corrupted."""

import glob
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np

from helpers import free_ports, reaped

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# One step per call, so a worker is killed between collectives; 200 steps leave the
# chief 150 to go after the first checkpoint (step 50), so it is surely still training
# when its peer dies, however loaded the machine.
STEPS = 200
SETTINGS = dict(dataset="ring8", train_steps=STEPS, steps_per_execution=1, log_every=25,
                eval_every=50, checkpoint_every=50, eval_samples=200, hidden_units=16,
                verbose=0)


def _start_workers(model_dir, cluster):
    argv = [sys.executable, os.path.join(ROOT, "train.py"), "--strategy=multi_worker",
            "--nojit_compile", "--noplot_contour", f"--model_dir={model_dir}",
            f"--export_dir={model_dir}/export"] + [f"--{k}={v}" for k, v in SETTINGS.items()]
    procs = []
    for task in range(2):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", TF_CONFIG=json.dumps(
            {"cluster": cluster, "task": {"type": "worker", "index": task}}))
        procs.append(subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    return procs


def _weights(model_dir):
    from far_keras import builders, config
    from far_keras.training import checkpointing
    cfg = config.from_flat(dict(SETTINGS, model_dir=model_dir, jit_compile=False,
                                plot_contour=False))
    model = builders.build_model(cfg)
    checkpointing.Checkpointer(model_dir, **model.checkpoint_objects()).restore_latest()
    assert model.current_step() == STEPS
    return model.generator.get_weights() + model.discriminator.get_weights()


def test_killed_worker_then_restart_resumes_to_the_uninterrupted_weights(tmp_path):
    model_dir = str(tmp_path / "multi")
    cluster = {"worker": [f"localhost:{p}" for p in free_ports(2)]}
    chief, other = _start_workers(model_dir, cluster)
    # Kill the non-chief as soon as the chief has saved a checkpoint mid-run.
    deadline = time.time() + 300
    while not glob.glob(os.path.join(model_dir, "checkpoints", "ckpt-*.index")):
        assert chief.poll() is None, chief.communicate()[1][-3000:]
        assert time.time() < deadline, "no checkpoint within 300 s"
        time.sleep(0.1)
    other.send_signal(signal.SIGKILL)
    other.wait()
    # The survivor must end by itself (TF aborts its collectives), with our message.
    _, err = chief.communicate(timeout=180)
    assert chief.returncode != 0, "the chief finished although its peer was killed"
    assert "was lost" in err and "Restart every worker" in err, err[-3000:]
    saved = sorted(int(p.split("ckpt-")[1].split(".")[0])
                   for p in glob.glob(os.path.join(model_dir, "checkpoints", "ckpt-*.index")))
    assert saved and saved[-1] < STEPS  # killed mid-training, not after the end

    # The same commands again: both resume from the last checkpoint and finish.
    cluster = {"worker": [f"localhost:{p}" for p in free_ports(2)]}
    procs = _start_workers(model_dir, cluster)
    with reaped(procs):
        # The uninterrupted one-process run meanwhile, in its own directory.
        from far_keras import config, experiment
        single_dir = str(tmp_path / "single")
        experiment.run(config.from_flat(dict(SETTINGS, model_dir=single_dir,
                                             jit_compile=False, plot_contour=False)),
                       export_model=False, log=lambda *_: None)
        outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-4000:]
    assert "Resuming from" in outs[0][0] and f"at step {saved[-1]}" in outs[0][0]

    resumed, uninterrupted = _weights(model_dir), _weights(single_dir)
    assert max(float(np.max(np.abs(w))) for w in uninterrupted) > 0.05  # it trained
    for a, b in zip(resumed, uninterrupted):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)

    # The chief's artefacts: one valid metrics.json whose evaluations are each step
    # once, in order; one export; the other worker keeps only its checkpoints.
    with open(os.path.join(model_dir, "metrics.json")) as f:
        history = [h["step"] for h in json.load(f)["history"]]
    assert history == sorted(set(history)), history
    assert history[0] == 0 and history[-1] == STEPS
    assert set(range(0, STEPS + 1, SETTINGS["eval_every"])) <= set(history)
    assert os.path.exists(os.path.join(model_dir, "export", "saved_model.pb"))
    assert os.listdir(os.path.join(model_dir, "workers", "worker1")) == ["checkpoints"]
