"""Helpers shared by the benchmark scripts in this folder."""

import os
import platform


def machine():
    """CPU model, cores, Python, TensorFlow and Keras versions."""
    import keras
    import tensorflow as tf
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"TF {tf.__version__}, Keras {keras.__version__}")


def check_names(flag, names, known):
    """Fails like absl does when a list flag names something unknown or nothing."""
    from absl import app
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise app.UsageError(f"--{flag}: unknown {unknown or 'empty list'}; choose from "
                             f"{', '.join(known)}")
