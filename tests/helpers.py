"""Small, fast run settings shared by the training tests."""

import contextlib
import socket

from far_keras import config

# No XLA: for these 200-step runs its compilation took ~3x the whole training time;
# the tests that are about XLA (or that keep the default, XLA, path covered) ask for
# jit_compile=True.
SMALL = dict(train_steps=200, steps_per_execution=50, log_every=50, eval_every=100,
             checkpoint_every=100, eval_samples=500, hidden_units=16, plot_contour=False,
             verbose=0, jit_compile=False)


def small_config(tmp_path, name="run", **overrides):
    values = dict(SMALL, model_dir=str(tmp_path / name),
                  export_dir=str(tmp_path / name / "export"))
    values.update(overrides)
    return config.from_flat(values)


def weights(model):
    return [w.copy() for w in model.generator.get_weights() + model.discriminator.get_weights()]


def free_ports(n):
    """n TCP ports free on localhost now (for the workers of a local cluster)."""
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@contextlib.contextmanager
def reaped(procs):
    """Kills whichever of ``procs`` still runs when the block ends: a failed or timed-out
    test must not leave TensorFlow processes holding the cores for the tests after it."""
    try:
        yield procs
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
