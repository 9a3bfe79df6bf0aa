"""Importing TensorFlow without its start-up lines.

``import tensorflow`` and its first device query print, before anything of ours,
lines such as

    WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
    I0000 ... port.cc:153] oneDNN custom operations are on. You may see slightly different ...
    I0000 ... cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.
    E0000 ... cuda_platform.cc:52] failed call to cuInit: ... UNKNOWN ERROR (303)

(the first two twice, once per TensorFlow library loaded; the oneDNN line on CPUs
where TensorFlow turns oneDNN on, e.g. those with AVX-512). ``TF_CPP_MIN_LOG_LEVEL``
does not hide them: they are written before TensorFlow's logging is initialised. And
``TF_ENABLE_ONEDNN_OPTS=0``, which silences the oneDNN line, also turns oneDNN off,
which changes the numerics: not an option. So the entry points import TensorFlow
through ``import_tensorflow``, which points file descriptor 2 at a temporary file
while TensorFlow loads and lists its GPUs, then writes back everything it caught
*except* the start-up lines (``STARTUP_NOISE``) and, when no GPU was found, the
CUDA probe's (``GPU_PROBE_NOISE``; on a GPU machine they say which GPU is used). Any
other message (a real import error, a Python warning) is replayed as it was.

Everything is shown with ``verbose >= 2`` (the entry points' ``--verbose=2``) or
with the environment variable ``FAR_KERAS_TF_LOGS=1`` (which also reaches the
``train.py`` processes that ``compare.py`` and ``reproduce.py`` start).

Importing this module does not import TensorFlow.
"""

import os
import re
import sys
import tempfile

# Set to 1 (or anything but 0 / empty) to see every TensorFlow start-up line.
SHOW_ENV = "FAR_KERAS_TF_LOGS"

# What TensorFlow prints at start-up on any machine: logging not yet initialised,
# oneDNN on, the CPU instructions it was not built for, CUDA plugin registrations.
STARTUP_NOISE = re.compile(
    r"All log messages before absl::InitializeLog\(\) is called"
    r"|port\.cc:\d+\] oneDNN custom operations are on"
    r"|cpu_feature_guard\.cc|To enable the following instructions: .* rebuild TensorFlow"
    r"|Unable to register cu(DNN|FFT|BLAS)|computation placer already registered")

# Lines TensorFlow prints while probing for CUDA on a machine that has none.
GPU_PROBE_NOISE = re.compile(
    r"cuInit|cudart_stub\.cc|cuda_platform\.cc|cuda_executor\.cc|Could not find cuda drivers")


def shows_everything(verbose=1):
    """True when TensorFlow's start-up lines are wanted (``verbose >= 2`` or
    ``FAR_KERAS_TF_LOGS`` set)."""
    return verbose >= 2 or os.environ.get(SHOW_ENV, "").strip() not in ("", "0")


def filter_startup_noise(text, has_gpu=False):
    """``text`` without the lines of ``STARTUP_NOISE``, nor, when ``has_gpu`` is
    false, those of ``GPU_PROBE_NOISE``."""
    patterns = (STARTUP_NOISE,) if has_gpu else (STARTUP_NOISE, GPU_PROBE_NOISE)
    return "".join(line for line in text.splitlines(keepends=True)
                   if not any(p.search(line) for p in patterns))


def import_tensorflow(verbose=1):
    """``import tensorflow`` with its start-up lines hidden unless
    :func:`shows_everything`. Returns the module. A second call (TensorFlow
    already imported) only returns it."""
    if "tensorflow" in sys.modules or shows_everything(verbose):
        import tensorflow as tf
        return tf
    sys.stderr.flush()
    saved = os.dup(2)
    has_gpu, imported = False, False
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            import tensorflow as tf
            imported = True
            has_gpu = bool(tf.config.list_physical_devices("GPU"))
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            text = caught.read().decode("utf-8", errors="replace")
            if imported:  # a failed import shows everything
                text = filter_startup_noise(text, has_gpu)
            if text:
                sys.stderr.write(text)
                sys.stderr.flush()
    return tf
