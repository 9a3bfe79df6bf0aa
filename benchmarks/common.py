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


def raw_fit_seconds(values, steps):
    """Seconds of ``fit`` over ``steps`` training steps of the 2-D FAR-GAN that the
    flat config ``values`` describes, no callbacks, compilation outside the timing."""
    import time
    from far_keras import builders, config
    from far_keras.data import synthetic
    cfg = config.from_flat(values)
    model = builders.build_model(cfg)
    per_call = model.steps_per_call
    data = synthetic.make_dataset(builders.make_source(cfg), model.num_real, 0,
                                  steps_per_element=per_call)
    model.fit(data, epochs=1, steps_per_epoch=2, verbose=0,  # compile outside the timing
              shuffle=False)
    start = time.perf_counter()
    model.fit(data, epochs=1, steps_per_epoch=steps // per_call, verbose=0, shuffle=False)
    return time.perf_counter() - start
