"""Importing TensorFlow without its GPU-probing noise on machines without a GPU.

On a CPU-only machine ``import tensorflow`` and its first device query print, before
anything of ours, lines such as

    WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
    I0000 ... cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.
    E0000 ... cuda_platform.cc:52] failed call to cuInit: ... UNKNOWN ERROR (303)

``TF_CPP_MIN_LOG_LEVEL`` does not hide them (they are written before TensorFlow's
logging is initialised) and ``CUDA_VISIBLE_DEVICES=""`` does not stop the probe. So
the entry points import TensorFlow through ``import_tensorflow``, which points file
descriptor 2 at a temporary file while TensorFlow loads and lists its GPUs, then
writes back everything it caught *except* those lines when no GPU was found. Any
other message (a real import error, a Python warning) is replayed as it was.

Importing this module does not import TensorFlow.
"""

import os
import re
import sys
import tempfile

# Lines TensorFlow prints while probing for CUDA on a machine that has none.
GPU_PROBE_NOISE = re.compile(
    r"cuInit|cudart_stub\.cc|cuda_platform\.cc|cuda_executor\.cc|Could not find cuda drivers"
    r"|All log messages before absl::InitializeLog\(\) is called|Unable to register cu(DNN|FFT|BLAS)"
    r"|computation placer already registered|cpu_feature_guard\.cc"
    r"|To enable the following instructions: .* rebuild TensorFlow")


def filter_gpu_probe_noise(text):
    """``text`` without the lines of ``GPU_PROBE_NOISE``."""
    return "".join(line for line in text.splitlines(keepends=True)
                   if not GPU_PROBE_NOISE.search(line))


def import_tensorflow(verbose=1):
    """``import tensorflow`` with the GPU-probing noise hidden unless ``verbose >= 2``
    or a GPU is found (then everything TensorFlow printed is shown). Returns the
    module. A second call (TensorFlow already imported) only returns it."""
    if "tensorflow" in sys.modules or verbose >= 2:
        import tensorflow as tf
        return tf
    sys.stderr.flush()
    saved = os.dup(2)
    has_gpu = True  # if the import fails, show everything
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            import tensorflow as tf
            has_gpu = bool(tf.config.list_physical_devices("GPU"))
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            text = caught.read().decode("utf-8", errors="replace")
            if not has_gpu:
                text = filter_gpu_probe_noise(text)
            if text:
                sys.stderr.write(text)
                sys.stderr.flush()
    return tf
