"""Helpers shared by the benchmark scripts in this folder (not a benchmark itself).

Every script prints ``header()`` first: the machine (CPU model, cores, Python,
TensorFlow and Keras versions, the GPUs TensorFlow sees or "no GPU") and the command
that produced the output, so that a pasted result says where it came from.
"""

import json
import os
import platform
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _gpus():
    """'no GPU' or 'GPU: <n> x <name>' as TensorFlow sees them (does not initialise
    the runtime, so logical devices can still be configured afterwards)."""
    import tensorflow as tf
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return "no GPU"
    names = []
    for gpu in gpus:
        try:
            names.append(tf.config.experimental.get_device_details(gpu).get("device_name",
                                                                            gpu.name))
        except (RuntimeError, ValueError):
            names.append(gpu.name)
    return "GPU: " + ", ".join(f"{names.count(n)} x {n}" for n in dict.fromkeys(names))


def machine():
    """CPU model, cores, Python, TensorFlow and Keras versions, GPUs."""
    import keras
    import tensorflow as tf
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"TF {tf.__version__}, Keras {keras.__version__}, {_gpus()}")


def command():
    """The command line of this process, with the script relative to the repository."""
    script = os.path.relpath(os.path.abspath(sys.argv[0]), ROOT)
    return " ".join(["python", script] + sys.argv[1:])


def header():
    """Prints the machine and the command (the first lines of every benchmark)."""
    print(f"machine: {machine()}")
    print(f"command: {command()}", flush=True)


def check_names(flag, names, known):
    """Fails like absl does when a list flag names something unknown or nothing."""
    from absl import app
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise app.UsageError(f"--{flag}: unknown {unknown or 'empty list'}; choose from "
                             f"{', '.join(known)}")


def one_thread():
    """One TensorFlow thread per pool (what train.py picks for the 2-D MLPs); call
    before TensorFlow runs anything."""
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)


def role_command(script, *args):
    """The command that runs ``script`` (a benchmark's ``__file__``) again as a child
    measurement: each child has its own thread pools and its own compiled step."""
    return [sys.executable, script, *args]


def last_json(stdout):
    """The dict a child measurement printed as its last line."""
    return json.loads(stdout.strip().splitlines()[-1])


def run_role(script, *args, env=None):
    """Runs one child measurement to its end (with ``env`` added to this process's
    environment) and returns the dict it printed."""
    out = subprocess.run(role_command(script, *args), capture_output=True, text=True,
                         env=dict(os.environ, **(env or {})))
    if out.returncode:
        raise SystemExit(f"{' '.join(args)}: child measurement failed (exit "
                         f"{out.returncode}):\n{out.stderr[-3000:]}")
    return last_json(out.stdout)


def ring8_values(**overrides):
    """configs/ring8.flags as flat config values, with ``overrides``."""
    from far_keras import config
    values = config.read_flagfile(os.path.join(ROOT, "configs", "ring8.flags"))
    values.update(overrides)
    return values


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


def interleaved_seconds_per_step(models, rounds):
    """{key: median seconds per step} of ``models`` ({key: (model, data, steps per call,
    steps)}, compiled and warm), timed in ``rounds`` rounds that alternate the paths, so
    that the machine's drift hits them alike."""
    import statistics
    import time
    times = {key: [] for key in models}
    for _ in range(rounds):
        for key, (model, data, per_call, steps) in models.items():
            start = time.perf_counter()
            model.fit(data, epochs=1, steps_per_epoch=steps // per_call, verbose=0,
                      shuffle=False)
            times[key].append((time.perf_counter() - start) / steps)
    return {key: statistics.median(t) for key, t in times.items()}
