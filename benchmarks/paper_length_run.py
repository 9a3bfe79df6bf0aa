"""How long does a paper-length 2-D run take, and what does train.py add to the step?

  python benchmarks/paper_length_run.py [--steps=100000]
  python benchmarks/paper_length_run.py --steps=500        # quick check (figures meaningless)

Runs, one after the other (on an otherwise idle machine, for figures worth quoting),
each in its own process (thread pools are fixed per process):
  raw-1thread      configs/ring8.flags' model, fit() over --steps with no callbacks,
                   one TF thread (what train.py picks for the 2-D MLPs)
  raw-tfdefault    the same with TensorFlow's default thread pools
  train.py         `python train.py --flagfile=configs/ring8.flags --train_steps=N`:
                   start-up, health checks, evaluations every 5000 steps with saved
                   samples, checkpoints, export, all included (wall clock; "fit" is
                   the time train.py reports for its fit, callbacks included)
and prints steps/s, each path's time extrapolated to the paper's 500k steps (fixed
costs once), and the ratios one thread / default threads and train.py fit / raw step.

The step itself, side by side with other ways of running it, is two_d_step.py.
"""

import os
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)  # far_keras (benchmarks/ is the script's own folder)

from absl import app, flags  # noqa: E402

import common  # noqa: E402  (benchmarks/common.py; imports no TensorFlow)

flags.DEFINE_integer("steps", 100000, "Steps per path (a multiple of 500).", lower_bound=500)
flags.DEFINE_bool("child", False, "Internal: one raw measurement in its own process.")
flags.DEFINE_integer("threads", 0, "Internal: TF threads of the raw measurement (0 = default).")
FLAGS = flags.FLAGS
CONFIG = os.path.join(ROOT, "configs", "ring8.flags")
PAPER_STEPS = 500000


def raw():
    """One raw measurement: {"seconds": ...} of --steps steps."""
    if FLAGS.threads:
        import tensorflow as tf
        tf.config.threading.set_intra_op_parallelism_threads(FLAGS.threads)
        tf.config.threading.set_inter_op_parallelism_threads(FLAGS.threads)
    values = common.ring8_values(train_steps=FLAGS.steps, threads=FLAGS.threads or 0)
    return {"seconds": common.raw_fit_seconds(values, FLAGS.steps)}


def _raw_seconds(threads):
    return common.run_role(__file__, "--child", f"--steps={FLAGS.steps}",
                           f"--threads={threads}")["seconds"]


def _train_py_seconds():
    """(wall seconds, seconds inside fit) of one train.py run."""
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        out = subprocess.run([sys.executable, os.path.join(ROOT, "train.py"),
                              f"--flagfile={CONFIG}", f"--train_steps={FLAGS.steps}",
                              f"--model_dir={tmp}/run", f"--export_dir={tmp}/export",
                              "--verbose=0"], capture_output=True, text=True)
        wall = time.perf_counter() - start
    if out.returncode:
        raise SystemExit(f"train.py failed (exit {out.returncode}):\n{out.stderr[-3000:]}")
    line = next((l for l in out.stdout.splitlines() if l.startswith("Trained ")), None)
    if line is None:
        raise SystemExit("train.py printed no 'Trained N steps in S s' line:\n"
                         + out.stdout[-3000:])
    return wall, float(line.split(" in ")[1].split(" s ")[0])


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    if FLAGS.steps % 500:
        raise app.UsageError(f"--steps={FLAGS.steps}: must be a multiple of 500")
    if FLAGS.child:
        import json
        print(json.dumps(raw()))
        return
    common.header()
    n = FLAGS.steps
    raw1, raw_default = _raw_seconds(1), _raw_seconds(0)
    wall, fit = _train_py_seconds()
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
