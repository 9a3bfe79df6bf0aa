"""Would training several seeds as one batched model make the ring8 runs faster?

  python benchmarks/ring8_batching.py [--steps=20000] [--scale=5] [--repeats=2]

The idea: S seeds of the 2-D MLP in one model ([S, batch, 64] activations, the same
number of ops as one seed, S times the arithmetic) would amortise TF/XLA's fixed cost
per op over S seeds. This measures the most such a model could gain, without building
it: configs/ring8.flags' step (raw fit, no callbacks, one thread) with every batch S
times larger (N = 64·S, M0 = 16·S, M1 = 256·S), which is the same op count and the
same arithmetic as S batched seeds. Equal work on both sides: --steps steps at S = 1
against --steps / S steps at S = S. Each measurement in its own process, alternated
--repeats times so that a busy machine affects both alike.

A ratio near 1 (or above) means the step is arithmetic-bound already: batching seeds
cannot make a run faster, and the reproduction's wall time is the arithmetic divided
by the cores. For scale: one ring8 FAR step is about 24 MFLOP (G on N + M1 = 320
inputs, D on the M1 = 256 candidates, D's step on the fakes and, with the
double-backward penalty, on the real side, then G's step through D; 2 → 64 → 64 →
64 → out MLPs, ~8.4k multiply-adds per sample per pass).
"""

import json
import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

from absl import app, flags  # noqa: E402

flags.DEFINE_integer("steps", 20000, "Steps at S = 1 (a multiple of 500 * scale).",
                     lower_bound=500)
flags.DEFINE_integer("scale", 5, "S: seeds' worth of work per step in the batched path.",
                     lower_bound=2)
flags.DEFINE_integer("repeats", 2, "Alternations of the two measurements.", lower_bound=1)
flags.DEFINE_enum("role", "main", ["main", "raw"], "Internal: one measurement.")
flags.DEFINE_integer("at_scale", 1, "Internal: the batch multiple of one measurement.")
FLAGS = flags.FLAGS
CONFIG = os.path.join(ROOT, "configs", "ring8.flags")
MFLOP_PER_STEP = 24.0


def raw():
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from common import raw_fit_seconds
    from far_keras import config
    s = FLAGS.at_scale
    values = config.read_flagfile(CONFIG)
    values.update(batch_size=64 * s, num_far=16 * s, num_candidates=256 * s, threads=1)
    print(json.dumps({"seconds": raw_fit_seconds(values, FLAGS.steps // s)}))


def _measure(scale):
    out = subprocess.run([sys.executable, __file__, "--role=raw", f"--steps={FLAGS.steps}",
                          f"--at_scale={scale}"], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["seconds"]


def main(_):
    if FLAGS.role == "raw":
        return raw()
    if FLAGS.steps % (500 * FLAGS.scale):
        raise app.UsageError(f"--steps must be a multiple of 500 * --scale = {500 * FLAGS.scale}")
    from common import machine
    s, n = FLAGS.scale, FLAGS.steps
    times = {1: [], s: []}
    for _ in range(FLAGS.repeats):
        for scale in (1, s):
            times[scale].append(_measure(scale))
    one, batched = min(times[1]), min(times[s])
    print(f"machine: {machine()}")
    print(f"configs/ring8.flags' raw step, one thread; equal work: {n} seed-steps per path, "
          f"best of {FLAGS.repeats}\n")
    print("| path | seconds | seed-steps/s | GFLOP/s (at ~24 MFLOP per seed-step) |")
    print("|---|---|---|---|")
    for name, sec in (("one seed per step (S = 1)", one), (f"S = {s} seeds' work per step", batched)):
        print(f"| {name} | {sec:.1f} | {n / sec:.0f} | {n * MFLOP_PER_STEP / sec / 1e3:.1f} |")
    print(f"\nbatched / one seed (time for equal work): {batched / one:.2f} "
          "(below 1 would be the gain a batched-seeds model could give)")


if __name__ == "__main__":
    app.run(main)
