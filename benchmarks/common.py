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


def compiled_2d_model(values, data=None):
    """(model, training data, steps per call) for the 2-D FAR-GAN that the flat config
    ``values`` describes, its step already compiled by one call. ``data(source, batch,
    per_call)`` replaces train.py's pipeline (``make_dataset`` in blocks of per_call)."""
    from far_keras import builders, config
    from far_keras.data import synthetic
    cfg = config.from_flat(values)
    model = builders.build_model(cfg)
    per_call = model.steps_per_call
    make = data or (lambda source, batch, k: synthetic.make_dataset(
        source, batch, 0, steps_per_element=k))
    dataset = make(builders.make_source(cfg), model.num_real, per_call)
    model.fit(dataset, epochs=1, steps_per_epoch=1, verbose=0, shuffle=False)  # compile
    return model, dataset, per_call


def raw_fit_seconds(values, steps, data=None):
    """Seconds of ``fit`` over ``steps`` training steps of ``compiled_2d_model(values,
    data)``, no callbacks, compilation outside the timing."""
    import time
    model, dataset, per_call = compiled_2d_model(values, data)
    start = time.perf_counter()
    model.fit(dataset, epochs=1, steps_per_epoch=steps // per_call, verbose=0, shuffle=False)
    return time.perf_counter() - start
