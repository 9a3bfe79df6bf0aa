"""A paper-length ring8 run: the raw training step vs train.py end to end.

  python benchmarks/ring8_long.py [--steps=100000]

Runs, one after the other on an otherwise idle machine, each in its own process
(thread pools are fixed per process):
  raw-1thread      configs/ring8.flags' model, fit() over --steps with no callbacks,
                   one TF thread (what train.py picks for the 2-D MLPs)
  raw-tfdefault    the same with TensorFlow's default thread pools
  train.py         `python train.py --flagfile=configs/ring8.flags --train_steps=N`:
                   start-up, health checks, evaluations every 5000 steps with saved
                   samples, checkpoints, export, all included (wall clock)
and prints steps/s, each path's time extrapolated to the paper's 500k steps, and the
ratio train.py / raw.
"""

import json
import os
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

from absl import app, flags  # noqa: E402

flags.DEFINE_integer("steps", 100000, "Steps per path (a multiple of 500).", lower_bound=500)
flags.DEFINE_enum("role", "main", ["main", "raw"], "Internal: one raw measurement.")
flags.DEFINE_integer("threads", 0, "Internal: TF threads of the raw measurement (0 = default).")
FLAGS = flags.FLAGS
CONFIG = os.path.join(ROOT, "configs", "ring8.flags")
PAPER_STEPS = 500000


def raw():
    import tensorflow as tf
    if FLAGS.threads:
        tf.config.threading.set_intra_op_parallelism_threads(FLAGS.threads)
        tf.config.threading.set_inter_op_parallelism_threads(FLAGS.threads)
    from common import raw_fit_seconds
    from far_keras import config
    values = config.read_flagfile(CONFIG)
    values.update(train_steps=FLAGS.steps, threads=FLAGS.threads or 0)
    print(json.dumps({"seconds": raw_fit_seconds(values, FLAGS.steps)}))


def _raw_seconds(threads):
    out = subprocess.run([sys.executable, __file__, "--role=raw", f"--steps={FLAGS.steps}",
                          f"--threads={threads}"], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["seconds"]


def _train_py_seconds():
    """(wall seconds, seconds inside fit) of one train.py run."""
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        out = subprocess.run([sys.executable, os.path.join(ROOT, "train.py"),
                              f"--flagfile={CONFIG}", f"--train_steps={FLAGS.steps}",
                              f"--model_dir={tmp}/run", f"--export_dir={tmp}/export",
                              "--verbose=0"], capture_output=True, text=True, check=True)
        wall = time.perf_counter() - start
    line = next(l for l in out.stdout.splitlines() if l.startswith("Trained "))
    return wall, float(line.split(" in ")[1].split(" s ")[0])


def main(_):
    if FLAGS.role == "raw":
        return raw()
    from common import machine
    n = FLAGS.steps
    raw1, raw_default = _raw_seconds(1), _raw_seconds(0)
    wall, fit = _train_py_seconds()
    print(f"machine: {machine()}")
    print(f"configs/ring8.flags (FAR, batch 64, M1 = 256, SGD), {n} steps per path\n")
    print("| path | seconds | steps/s | 500k steps would take |")
    print("|---|---|---|---|")
    for name, s in (("raw-1thread", raw1), ("raw-tfdefault", raw_default)):
        print(f"| {name} | {s:.1f} | {n / s:.0f} | {PAPER_STEPS / n * s / 60:.1f} min |")
    # train.py: fixed costs (start-up, compilation, export) once, fit time per step.
    at_paper = wall - fit + fit * PAPER_STEPS / n
    print(f"| train.py (fit, callbacks included) | {fit:.1f} | {n / fit:.0f} | — |")
    print(f"| train.py end to end (wall) | {wall:.1f} | {n / wall:.0f} | "
          f"{at_paper / 60:.1f} min |")
    print(f"\none thread / TF default threads (raw step time): {raw1 / raw_default:.2f}")
    print(f"train.py fit / raw step (one thread): {fit / raw1:.2f}")
    print(f"train.py fixed costs (start-up, XLA compilation, export): {wall - fit:.1f} s")


if __name__ == "__main__":
    app.run(main)
