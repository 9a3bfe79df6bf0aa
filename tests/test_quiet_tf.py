"""TensorFlow's GPU-probing messages ("failed call to cuInit") are hidden on a
machine without a GPU unless --verbose=2, and nothing else TensorFlow prints is lost."""

import os
import subprocess
import sys

from far_keras import quiet_tf
from helpers import reaped

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# As printed by TF 2.21 on a CPU-only machine (timestamps and thread ids vary).
NOISE = (
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
    "I0000 00:00:1795891539.815181    4239 cudart_stub.cc:31] Could not find cuda drivers "
    "on your machine, GPU will not be used.\n"
    "E0000 00:00:1795891541.736980    4239 cuda_platform.cc:52] failed call to cuInit: "
    "INTERNAL: CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)\n")


def _run_together(*commands):
    """Runs ``(args, env)`` commands at the same time; their CompletedProcesses.

    Each is mostly its own single-threaded TensorFlow import: on two cores they overlap.
    """
    procs = [subprocess.Popen([sys.executable, *args], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=dict(os.environ, **env))
             for args, env in commands]
    with reaped(procs):
        outs = [p.communicate(timeout=300) for p in procs]
    return [subprocess.CompletedProcess(p.args, p.returncode, out, err)
            for p, (out, err) in zip(procs, outs)]


def test_filter_drops_only_the_gpu_probe_lines():
    # A real message between the noise lines must survive, in order.
    text = NOISE + "UserWarning: something of ours\n" + NOISE + "last line\n"
    assert quiet_tf.filter_gpu_probe_noise(text) == "UserWarning: something of ours\nlast line\n"
    assert quiet_tf.filter_gpu_probe_noise("") == ""


def test_train_py_hides_cuinit_unless_verbose_2(tmp_path):
    # A run that fails right after TensorFlow is imported (no such data folder): our own
    # error must reach stderr, the driver probe must not.
    # (With the verbose=2 control below, run at the same time.)
    quiet, loud = _run_together(
        (["train.py", "--dataset=folder", "--data_path=/nonexistent/images",
          f"--model_dir={tmp_path / 'run'}", "--verbose=0"], {}),
        (["-c", "from far_keras import quiet_tf; import tensorflow as tf; "
          "quiet_tf.import_tensorflow(2).config.list_physical_devices('GPU')"],
         {"TF_CPP_MIN_LOG_LEVEL": "2"}))
    assert quiet.returncode == 1, quiet.stderr
    assert "does not exist" in quiet.stderr
    assert "cuInit" not in quiet.stderr and "cudart_stub" not in quiet.stderr, quiet.stderr
    # verbose=2 is a plain import: whatever this machine's TF prints is shown. On a
    # CPU-only machine that includes the probe, which makes the assertion above a
    # real check (on a GPU machine there is nothing to hide).
    assert loud.returncode == 0, loud.stderr
    if not quiet_tf.import_tensorflow(0).config.list_physical_devices("GPU"):
        assert "cuInit" in loud.stderr, loud.stderr
