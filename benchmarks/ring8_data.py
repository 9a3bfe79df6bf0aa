"""CPU cost of the 2-D training data, and what it does to two runs side by side.

  python benchmarks/ring8_data.py [--steps=20000] [--rounds=3] [--pair_steps=50000]

1. The pipeline alone, configs/ring8.flags' data (batch 48 = N0 per step, 500 steps
   per element as train.py feeds them), two ways, interleaved rounds, median:
     per-step   one tf.data element per step, then ``.batch(500)`` (before)
     blocks     ``make_dataset(..., steps_per_element=500)``: one element per 500
                steps, sampled by an in-graph loop (train.py now)
   Both give the same numbers bit for bit (tests/test_synthetic.py); printed is the
   process CPU time per step (all threads) and the wall time per step.
2. ``--pair_steps`` > 0: two raw training processes (benchmarks/common.py's fit of
   configs/ring8.flags, one TF thread) side by side, as ``reproduce.py --jobs=2``
   runs them, once with each pipeline: steps/s of each process.
"""

import json
import os
import resource
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # (benchmarks/ itself is on the path as the script's folder)

from absl import app, flags  # noqa: E402

# (at least 10 elements of 500 steps: the pipelines prefetch a few elements ahead,
# and a round shorter than that would time the prefetched buffer, not the sampling)
flags.DEFINE_integer("steps", 20000, "Steps per pipeline and round.", lower_bound=5000)
flags.DEFINE_integer("rounds", 3, "Interleaved rounds.", lower_bound=1)
flags.DEFINE_integer("pair_steps", 0, "Steps of each of two side-by-side training "
                     "processes per pipeline (0: skip).", lower_bound=0)
flags.DEFINE_enum("role", "main", ["main", "fit"], "Internal: one training process.")
flags.DEFINE_enum("pipeline", "blocks", ["per-step", "blocks"], "Internal: its pipeline.")
FLAGS = flags.FLAGS
PER_CALL = 500


def _dataset(pipeline, source, batch, per_call=PER_CALL):
    from far_keras.data import synthetic
    if pipeline == "per-step":
        return synthetic.make_dataset(source, batch, 0).batch(per_call, drop_remainder=True)
    return synthetic.make_dataset(source, batch, 0, steps_per_element=per_call)


def _cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _values(steps):
    from far_keras import config
    values = config.read_flagfile(os.path.join(ROOT, "configs", "ring8.flags"))
    values.update(train_steps=steps, steps_per_execution=PER_CALL)
    return values


def fit():
    """One training process: prints its steps/s."""
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from common import raw_fit_seconds  # benchmarks/common.py
    seconds = raw_fit_seconds(_values(FLAGS.pair_steps), FLAGS.pair_steps,
                              data=lambda *args: _dataset(FLAGS.pipeline, *args))
    print(json.dumps({"steps_per_s": FLAGS.pair_steps / seconds}))


def _pair(pipeline):
    cmd = [sys.executable, __file__, "--role=fit", f"--pipeline={pipeline}",
           f"--pair_steps={FLAGS.pair_steps}"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    rates = []
    for p in procs:
        out, _ = p.communicate()
        if p.returncode:
            raise SystemExit(f"a training process failed (exit {p.returncode})")
        rates.append(json.loads(out.strip().splitlines()[-1])["steps_per_s"])
    return rates


def main(_):
    if FLAGS.role == "fit":
        return fit()
    from common import machine  # benchmarks/common.py
    from far_keras import builders, config
    cfg = config.from_flat(_values(FLAGS.steps))
    batch = cfg.data.batch_size - cfg.model.num_far
    source = builders.make_source(cfg)
    iterators = {name: iter(_dataset(name, source, batch)) for name in ("per-step", "blocks")}
    for it in iterators.values():
        next(it)  # build and warm up
    cpu = {name: [] for name in iterators}
    wall = {name: [] for name in iterators}
    for _ in range(FLAGS.rounds):
        for name, it in iterators.items():
            c0, t0 = _cpu_seconds(), time.perf_counter()
            for _ in range(FLAGS.steps // PER_CALL):
                next(it)
            cpu[name].append((_cpu_seconds() - c0) / FLAGS.steps * 1e6)
            wall[name].append((time.perf_counter() - t0) / FLAGS.steps * 1e6)
    print(f"machine: {machine()}")
    print(f"configs/ring8.flags data (batch {batch}), {PER_CALL} steps per element, "
          f"{FLAGS.steps} steps x {FLAGS.rounds} rounds (median)\n")
    print("| pipeline | CPU us/step | wall us/step |")
    print("|---|---|---|")
    for name in iterators:
        print(f"| {name} | {statistics.median(cpu[name]):.1f} | "
              f"{statistics.median(wall[name]):.1f} |")
    print(f"\nCPU per step, per-step / blocks: "
          f"{statistics.median(cpu['per-step']) / statistics.median(cpu['blocks']):.2f}x")
    if FLAGS.pair_steps:
        print(f"\ntwo training processes side by side, {FLAGS.pair_steps} steps each:\n")
        print("| pipeline | steps/s of each | sum |")
        print("|---|---|---|")
        sums = {}
        for name in ("per-step", "blocks"):
            rates = _pair(name)
            sums[name] = sum(rates)
            print(f"| {name} | {rates[0]:.0f}, {rates[1]:.0f} | {sums[name]:.0f} |")
        print(f"\nthroughput of the pair, blocks / per-step: "
              f"{sums['blocks'] / sums['per-step']:.2f}x")


if __name__ == "__main__":
    app.run(main)
