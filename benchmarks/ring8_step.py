"""Steps/s of the ring8 training step, side by side in one process.

  python benchmarks/ring8_step.py [--steps=4000] [--rounds=3]

Paths measured (paper's synthetic settings, batch 64, M0 = 16, M1 = 256, λ = 10):
  default     XLA, 100 steps per call in the model's in-graph loop, FAR (train.py's)
  graph       no XLA, one graph call per step, FAR
  keras_spe   XLA per step, Keras's own steps_per_execution=100 loop, FAR (reference)
  plain       as default, 0GP-sample without FAR
Rounds interleave the paths so that load from other processes hits all alike; the
median round is reported. Ratios: graph/default (target >= 3) and
time(FAR)/time(plain) (target <= 1.5).
"""

import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402

from common import machine  # noqa: E402  (benchmarks/common.py)
from far_keras import builders, config  # noqa: E402
from far_keras.data import synthetic  # noqa: E402

flags.DEFINE_integer("steps", 4000, "Timed steps per path and round.", lower_bound=100)
flags.DEFINE_integer("rounds", 3, "Interleaved rounds.", lower_bound=1)
FLAGS = flags.FLAGS

PATHS = {
    "default": dict(jit_compile=True, steps_per_execution=100),
    "graph": dict(jit_compile=False, steps_per_execution=1),
    "keras_spe": dict(jit_compile=True, steps_per_execution=100),
    "plain": dict(jit_compile=True, steps_per_execution=100, num_far=0),
}


def build(name, overrides):
    """(model, dataset, batches per fit step) for one path."""
    cfg = config.from_flat(dict(overrides, train_steps=FLAGS.steps // 100 * 100,
                                log_every=100, eval_every=100, checkpoint_every=100))
    model = builders.build_model(cfg)
    data = synthetic.make_dataset(builders.make_source(cfg), model.num_real, 0).repeat()
    if name == "keras_spe":  # recompile: one step per train_step, Keras loops 100
        model.compile(model.d_optimizer, model.g_optimizer, jit_compile=True,
                      steps_per_execution=100)
    per_call = model.steps_per_call
    return model, (data.batch(per_call) if per_call > 1 else data), per_call


def main(_):
    built = {name: build(name, overrides) for name, overrides in PATHS.items()}
    for model, data, per_call in built.values():  # compile outside the timing
        model.fit(data, epochs=1, steps_per_epoch=max(1, 200 // per_call), verbose=0,
                  shuffle=False)
    times = {name: [] for name in PATHS}
    for _ in range(FLAGS.rounds):
        for name, (model, data, per_call) in built.items():
            start = time.perf_counter()
            model.fit(data, epochs=1, steps_per_epoch=FLAGS.steps // per_call, verbose=0,
                      shuffle=False)
            times[name].append((time.perf_counter() - start) / FLAGS.steps)
    per_step = {name: statistics.median(t) for name, t in times.items()}
    print(f"machine: {machine()}")
    print(f"{FLAGS.steps} steps x {FLAGS.rounds} rounds (median)\n")
    print("| path | steps/s | ms/step |")
    print("|---|---|---|")
    for name in PATHS:
        print(f"| {name} | {1 / per_step[name]:.0f} | {1e3 * per_step[name]:.3f} |")
    print(f"\nKeras steps_per_execution loop / default: "
          f"{per_step['keras_spe'] / per_step['default']:.2f}x")
    print(f"speed-up of the default path over one graph call per step without XLA: "
          f"{per_step['graph'] / per_step['default']:.2f}x (target >= 3)")
    print(f"time of FAR / time of plain 0GP-sample (both XLA): "
          f"{per_step['default'] / per_step['plain']:.2f}x (target <= 1.5)")


if __name__ == "__main__":
    app.run(main)
