r"""The 2-D training step (ring8 MLPs): how fast is it, and where does its time go?

One question per run (``--question``); every answer is measured side by side in the
same run and printed as ratios, under the machine and the command:

  paths (default)  Is train.py's step the fast one? XLA with 100 steps per call in
                   the model's in-graph loop against one graph call per step without
                   XLA, against Keras's own steps_per_execution loop, and the FAR step
                   against plain 0GP-sample.
      python benchmarks/two_d_step.py [--steps=4000] [--rounds=3]
  batching         Would training several seeds as one batched model be faster?
      python benchmarks/two_d_step.py --question=batching [--steps=20000] [--scale=5] \
          [--repeats=2]
  data             What does the 2-D training data cost in CPU, and what does that do
                   to two runs side by side (``reproduce.py --jobs=2``)?
      python benchmarks/two_d_step.py --question=data [--steps=20000] [--rounds=3] \
          [--pair_steps=50000]
  profile          Where does one step's time go (XLA's own per-operation trace), and
                   what do its matrix products cost alone?
      python benchmarks/two_d_step.py --question=profile [--steps=2000] [--top=15] [--noalone]
  xla_options      Does one of XLA's CPU options make the step faster?
      python benchmarks/two_d_step.py --question=xla_options [--steps=20000] [--repeats=2] \
          --xla_option=--xla_cpu_use_onednn=true [--xla_option=...]

Quick checks that it runs (seconds to a minute each, figures meaningless):
  python benchmarks/two_d_step.py --steps=100 --rounds=1
  python benchmarks/two_d_step.py --question=batching --steps=1000 --scale=2 --repeats=1
  python benchmarks/two_d_step.py --question=data --steps=5000 --rounds=1 --pair_steps=500
  python benchmarks/two_d_step.py --question=profile --steps=500 --noalone
  python benchmarks/two_d_step.py --question=xla_options --steps=500 --repeats=1 \
      --xla_option=--xla_cpu_enable_fast_math=true

A paper-length run (500k steps, train.py end to end) is ``paper_length_run.py``.

paths
  Paths (train.py's default 2-D model: MLPs of 64 units, batch 64, M0 = 16 of
  M1 = 256, λ = 10; the per-step tf.data pipeline, batched per call):
    default     XLA, 100 steps per call in the model's in-graph loop, FAR (train.py's)
    graph       no XLA, one graph call per step, FAR
    keras_spe   XLA per step, Keras's own steps_per_execution=100 loop, FAR (reference)
    plain       as default, 0GP-sample without FAR
  Rounds interleave the paths so that load from other processes hits all alike; the
  median round is reported. Ratios: keras_spe/default, graph/default (target >= 3)
  and time(FAR)/time(plain) (target <= 1.5). --steps: a multiple of 100.

batching
  The idea: S seeds of the 2-D MLP in one model ([S, batch, 64] activations, the same
  number of ops as one seed, S times the arithmetic) would amortise TF/XLA's fixed
  cost per op over S seeds. This measures the most such a model could gain, without
  building it: configs/ring8.flags' step (raw fit, no callbacks, one thread) with
  every batch S times larger (N = 64·S, M0 = 16·S, M1 = 256·S), the same op count and
  arithmetic as S batched seeds. Equal work on both sides: --steps steps at S = 1
  against --steps / S steps at S = --scale. Each measurement in its own process,
  alternated --repeats times so that a busy machine affects both alike; the best of
  the repeats is reported. A ratio (batched / one seed, time for equal work) near 1
  or above means the step is arithmetic-bound already. For scale: one ring8 FAR step
  is about 24 MFLOP (G on N + M1 = 320 inputs, D on the M1 = 256 candidates, D's step
  on the fakes and, with the double-backward penalty, on the real side, then G's step
  through D). --steps: a multiple of 500 · --scale.

data
  1. The pipeline alone, configs/ring8.flags' data (batch 48 = N0 per step, 500 steps
     per element as train.py feeds them), two ways, interleaved rounds, median:
       per-step   one tf.data element per step, then ``.batch(500)`` (before)
       blocks     ``make_dataset(..., steps_per_element=500)``: one element per 500
                  steps, sampled by an in-graph loop (train.py now)
     Both give the same numbers bit for bit (tests/test_synthetic.py); printed is the
     process CPU time per step (all threads) and the wall time per step. --steps >=
     5000 (at least 10 elements: the pipelines prefetch a few elements ahead, and a
     shorter round would time the prefetched buffer, not the sampling).
  2. ``--pair_steps`` > 0: two raw training processes (configs/ring8.flags' fit, no
     callbacks, one TF thread) side by side, as ``reproduce.py --jobs=2`` runs them,
     once with each pipeline: steps/s of each process and the pair's ratio.

profile
  Runs configs/ring8.flags' compiled step (one TF thread, as train.py does for the
  2-D MLPs) under the TensorFlow profiler with XLA's per-thunk trace events turned on
  (``XLA_FLAGS=--xla_cpu_enable_xprof_traceme=true``), then sums the events of every
  compiled operation over the traced steps. Printed: the share of the step in matrix
  products (by operand layout: NN = x·W, NT = x·Wᵀ, TN = xᵀ·δ, the weight gradients;
  and whether a dimension is 1 or 2, the MLPs' input/output layers), in the fused
  elementwise kernels, and the per-step time and count of the largest kinds. The
  trace itself costs time at every event (a traced step took 1,301 us where the
  untraced one takes ~660 us): read the shares, not the absolute times. Then
  (``--alone``, the default) each distinct product of the step is timed on its own
  in a compiled loop: their sum is what the products alone cost on one thread of this
  machine, a floor under the step's time that no bookkeeping change can go below;
  the ratio products-in-the-step / products-alone is printed. --steps: a multiple of
  500.

xla_options
  configs/ring8.flags' raw step (fit, no callbacks, one thread) over --steps steps,
  once with the environment's XLA_FLAGS ("default") and once with each --xla_option
  appended to them (one or more XLA flags, space-separated, e.g.
  ``--xla_option="--xla_cpu_use_xnnpack=true --xla_cpu_prefer_vector_width=512"``),
  each in its own process (XLA reads its flags once per process), alternated
  --repeats times; printed: every repeat's steps/s, the best, and best / the default's
  best. --steps: a multiple of 500.
"""

import collections
import glob
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # far_keras (benchmarks/ is the script's own)

from absl import app, flags  # noqa: E402

import common  # noqa: E402  (benchmarks/common.py; imports no TensorFlow)

QUESTIONS = ("paths", "batching", "data", "profile", "xla_options")
DEFAULT_STEPS = {"paths": 4000, "batching": 20000, "data": 20000, "profile": 2000,
                 "xla_options": 20000}

flags.DEFINE_enum("question", "paths", QUESTIONS, "What to measure (see the docstring).")
flags.DEFINE_integer("steps", None, "Timed steps per path and round (paths, data), steps "
                     "at S = 1 (batching) or traced steps (profile); default "
                     + ", ".join(f"{q} {n}" for q, n in DEFAULT_STEPS.items()) + ".",
                     lower_bound=1)
flags.DEFINE_integer("rounds", 3, "paths, data: interleaved rounds.", lower_bound=1)
flags.DEFINE_integer("scale", 5, "batching: S, seeds' worth of work per step in the "
                     "batched path.", lower_bound=2)
flags.DEFINE_integer("repeats", 2, "batching, xla_options: alternations of the "
                     "measurements.", lower_bound=1)
flags.DEFINE_multi_string("xla_option", [], "xla_options: XLA flags (space-separated) "
                          "measured against the default; repeat the flag for more.")
flags.DEFINE_integer("pair_steps", 0, "data: steps of each of two side-by-side training "
                     "processes per pipeline (0: skip).", lower_bound=0)
flags.DEFINE_integer("top", 15, "profile: kinds of operation listed.", lower_bound=1)
flags.DEFINE_bool("alone", True, "profile: also time each of the step's matrix products "
                  "alone.")
flags.DEFINE_bool("child", False, "Internal: one measurement in its own process.")
flags.DEFINE_integer("at_scale", 1, "Internal (batching): the batch multiple.", lower_bound=1)
flags.DEFINE_enum("pipeline", "blocks", ["per-step", "blocks"], "Internal (data): the "
                  "pipeline of a training process.")
FLAGS = flags.FLAGS


def steps():
    return FLAGS.steps or DEFAULT_STEPS[FLAGS.question]


def check_steps():
    n, q = steps(), FLAGS.question
    multiple = {"paths": 100, "batching": 500 * FLAGS.scale, "data": 500,
                "profile": 500, "xla_options": 500}[q]
    least = {"data": 5000}.get(q, multiple)
    if n % multiple or n < least:
        raise app.UsageError(f"--question={q}: --steps={n} must be a multiple of "
                             f"{multiple} and at least {least}")


# ---------------------------------------------------------------- paths

PATHS = {
    "default": dict(jit_compile=True, steps_per_execution=100),
    "graph": dict(jit_compile=False, steps_per_execution=1),
    "keras_spe": dict(jit_compile=True, steps_per_execution=100),
    "plain": dict(jit_compile=True, steps_per_execution=100, num_far=0),
}


def _build_path(name, overrides, n):
    """(model, dataset, batches per fit step) for one path."""
    from far_keras import builders, config
    from far_keras.data import synthetic
    cfg = config.from_flat(dict(overrides, train_steps=n, log_every=100, eval_every=100,
                                checkpoint_every=100))
    model = builders.build_model(cfg)
    data = synthetic.make_dataset(builders.make_source(cfg), model.num_real, 0).repeat()
    if name == "keras_spe":  # recompile: one step per train_step, Keras loops 100
        model.compile(model.d_optimizer, model.g_optimizer, jit_compile=True,
                      steps_per_execution=100)
    per_call = model.steps_per_call
    return model, (data.batch(per_call) if per_call > 1 else data), per_call


def paths():
    n = steps()
    built = {name: _build_path(name, overrides, n) for name, overrides in PATHS.items()}
    for model, data, per_call in built.values():  # compile outside the timing
        model.fit(data, epochs=1, steps_per_epoch=max(1, 200 // per_call), verbose=0,
                  shuffle=False)
    per_step = common.interleaved_seconds_per_step(
        {name: (model, data, per_call, n) for name, (model, data, per_call) in built.items()},
        FLAGS.rounds)
    print(f"train.py's default 2-D model; {n} steps x {FLAGS.rounds} rounds (median)\n")
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


# ---------------------------------------------------------------- batching

MFLOP_PER_STEP = 24.0


def raw_child():
    """One measurement (batching, xla_options): {"seconds": ...} of --steps / --at_scale
    raw steps of configs/ring8.flags' model with every batch --at_scale times larger."""
    common.one_thread()
    s = FLAGS.at_scale
    values = common.ring8_values(batch_size=64 * s, num_far=16 * s,
                                 num_candidates=256 * s, threads=1)
    return {"seconds": common.raw_fit_seconds(values, steps() // s)}


def batching():
    s, n = FLAGS.scale, steps()
    times = {1: [], s: []}
    for _ in range(FLAGS.repeats):
        for scale in (1, s):
            times[scale].append(common.run_role(
                __file__, "--child", "--question=batching", f"--steps={n}",
                f"--scale={s}", f"--at_scale={scale}")["seconds"])
    one, batched = min(times[1]), min(times[s])
    print(f"configs/ring8.flags' raw step, one thread; equal work: {n} seed-steps per path, "
          f"best of {FLAGS.repeats}\n")
    print("| path | seconds | seed-steps/s | GFLOP/s (at ~24 MFLOP per seed-step) |")
    print("|---|---|---|---|")
    for name, sec in (("one seed per step (S = 1)", one),
                      (f"S = {s} seeds' work per step", batched)):
        print(f"| {name} | {sec:.1f} | {n / sec:.0f} | {n * MFLOP_PER_STEP / sec / 1e3:.1f} |")
    print(f"\nbatched / one seed (time for equal work): {batched / one:.2f} "
          "(below 1 would be the gain a batched-seeds model could give)")


# ---------------------------------------------------------------- xla_options

def xla_options():
    n = steps()
    base = os.environ.get("XLA_FLAGS", "")
    options = {"default": base}
    for option in FLAGS.xla_option:
        options[option] = f"{base} {option}".strip()
    rates = {name: [] for name in options}
    for _ in range(FLAGS.repeats):
        for name, xla_flags in options.items():
            seconds = common.run_role(__file__, "--child", "--question=xla_options",
                                      f"--steps={n}", "--at_scale=1",
                                      env={"XLA_FLAGS": xla_flags})["seconds"]
            rates[name].append(n / seconds)
    default = max(rates["default"])
    print(f"configs/ring8.flags' raw step, one thread, {n} steps per measurement, "
          f"{FLAGS.repeats} alternated repeats; XLA_FLAGS of the environment: "
          f"{base or '(none)'}\n")
    print("| XLA options added | steps/s (each repeat) | best | best / default's best |")
    print("|---|---|---|---|")
    for name, r in rates.items():
        print(f"| {name} | {', '.join(f'{x:.0f}' for x in r)} | {max(r):.0f} | "
              f"{max(r) / default:.2f}x |")


# ---------------------------------------------------------------- data

PER_CALL = 500


def _dataset(pipeline, source, batch, per_call=PER_CALL):
    from far_keras.data import synthetic
    if pipeline == "per-step":
        return synthetic.make_dataset(source, batch, 0).batch(per_call, drop_remainder=True)
    return synthetic.make_dataset(source, batch, 0, steps_per_element=per_call)


def _cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def data_child():
    """One training process of the pair: prints its steps/s."""
    common.one_thread()
    n = FLAGS.pair_steps
    seconds = common.raw_fit_seconds(
        common.ring8_values(train_steps=n, steps_per_execution=PER_CALL), n,
        data=lambda *args: _dataset(FLAGS.pipeline, *args))
    return {"steps_per_s": n / seconds}


def _pair(pipeline):
    cmd = common.role_command(__file__, "--child", "--question=data", f"--pipeline={pipeline}",
                              f"--pair_steps={FLAGS.pair_steps}")
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    rates = []
    for p in procs:
        out, _ = p.communicate()
        if p.returncode:
            raise SystemExit(f"a training process failed (exit {p.returncode})")
        rates.append(common.last_json(out)["steps_per_s"])
    return rates


def data():
    from far_keras import builders, config
    n = steps()
    cfg = config.from_flat(common.ring8_values(train_steps=n, steps_per_execution=PER_CALL))
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
            for _ in range(n // PER_CALL):
                next(it)
            cpu[name].append((_cpu_seconds() - c0) / n * 1e6)
            wall[name].append((time.perf_counter() - t0) / n * 1e6)
    print(f"configs/ring8.flags data (batch {batch}), {PER_CALL} steps per element, "
          f"{n} steps x {FLAGS.rounds} rounds (median)\n")
    print("| pipeline | CPU us/step | wall us/step |")
    print("|---|---|---|")
    for name in iterators:
        print(f"| {name} | {statistics.median(cpu[name]):.1f} | "
              f"{statistics.median(wall[name]):.1f} |")
    print(f"\nCPU per step, per-step / blocks: "
          f"{statistics.median(cpu['per-step']) / statistics.median(cpu['blocks']):.2f}x",
          flush=True)
    if FLAGS.pair_steps:
        print(f"\ntwo training processes side by side, {FLAGS.pair_steps} steps each:\n")
        print("| pipeline | steps/s of each | sum |")
        print("|---|---|---|")
        sums = {}
        for name in ("per-step", "blocks"):
            rates = _pair(name)
            sums[name] = sum(rates)
            print(f"| {name} | {rates[0]:.0f}, {rates[1]:.0f} | {sums[name]:.0f} |", flush=True)
        print(f"\nthroughput of the pair, blocks / per-step: "
              f"{sums['blocks'] / sums['per-step']:.2f}x")


# ---------------------------------------------------------------- profile

def _dots(hlo_text):
    """{instruction name: (lhs shape, rhs shape, lhs contracted dim, rhs contracted
    dim)} of every f32 matrix product in the optimised HLO."""
    shapes = dict(re.findall(r"%(\S+) = f32\[([\d,]*)\]", hlo_text))
    for params in re.findall(r"\((.*?)\) ->", hlo_text):
        for name, shape in re.findall(r"(\S+): f32\[([\d,]*)\]", params):
            shapes.setdefault(name, shape)
    dots = {}
    for m in re.finditer(r"%(\S+) = f32\[[\d,]*\]\S* dot\(%(\S+), %(\S+)\), "
                         r"lhs_contracting_dims=\{(\d)\}, rhs_contracting_dims=\{(\d)\}",
                         hlo_text):
        name, a, b, lc, rc = m.groups()
        dims = [tuple(int(d) for d in shapes[x].split(",") if d) for x in (a, b)]
        dots[name] = (dims[0], dims[1], int(lc), int(rc))
    return dots


def _kind(dot):
    """'NN'/'NT'/'TN' (+ ' 1-2 wide' when a dimension is an MLP's 1- or 2-wide end)."""
    lhs, rhs, lc, rc = dot
    layout = ("T" if lc == 0 and len(lhs) == 2 else "N") + ("T" if rc == 1 else "N")
    return f"dot {layout}" + (" 1-2 wide" if min(lhs + rhs) <= 2 else "")


def _flops(dot):
    lhs, rhs, lc, rc = dot
    m = lhs[1 - lc] if len(lhs) == 2 else 1
    n = rhs[1 - rc] if len(rhs) == 2 else 1
    return 2 * m * n * lhs[lc]


def _alone_us(dot, iterations=5000, repeats=5):
    """Microseconds of one product of this shape and layout on its own, in a compiled
    loop on constant operands (minimum over repeats, minus the same loop without the
    product): what the product costs with nothing else around it."""
    import numpy as np
    import tensorflow as tf
    lhs, rhs, lc, rc = dot
    rng = np.random.default_rng(0)
    a = tf.constant(rng.random(lhs, np.float32))
    b = tf.constant(rng.random(rhs, np.float32))

    def timed(product):
        @tf.function(jit_compile=True)
        def loop(a, b):
            # The carried operand keeps the product inside the loop (no hoisting).
            def body(i, x):
                return i + 1, x + 1e-7 * tf.reduce_sum(product(x, b))
            return tf.while_loop(lambda i, x: i < iterations, body, (0, a))[1]
        loop(a, b).numpy()
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            loop(a, b).numpy()
            best = min(best, time.perf_counter() - start)
        return best / iterations * 1e6

    with_product = timed(lambda x, y: tf.tensordot(x, y, axes=[[lc], [rc]]))
    return max(with_product - timed(lambda x, y: x), 0.0)


def profile(tmp):
    """The trace and (--alone) the products alone; ``tmp`` holds XLA's HLO dump
    (XLA_FLAGS were set before TensorFlow was imported)."""
    import tensorflow as tf
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    n = steps()
    model, dataset, per_call = common.compiled_2d_model(common.ring8_values(train_steps=n))
    tf.profiler.experimental.start(f"{tmp}/trace")
    model.fit(dataset, epochs=1, steps_per_epoch=n // per_call, verbose=0, shuffle=False)
    tf.profiler.experimental.stop()

    hlo = "".join(open(f).read() for f in glob.glob(f"{tmp}/hlo/*after_optimizations.txt"))
    dots = _dots(hlo)
    space = xplane_pb2.XSpace()
    with open(glob.glob(f"{tmp}/trace/**/*.xplane.pb", recursive=True)[0], "rb") as f:
        space.ParseFromString(f.read())
    total, time_ps, count = 0, collections.Counter(), collections.Counter()
    dot_ps = collections.Counter()
    for plane in space.planes:
        names = {k: v.name for k, v in plane.event_metadata.items()}
        for line in plane.lines:
            if "Eigen" not in line.name:  # the XLA executable's own thread
                continue
            for event in line.events:
                name = names.get(event.metadata_id, "?")
                if name == "ThunkExecutor::Execute":
                    total += event.duration_ps
                    continue
                if name.startswith("end: "):
                    continue
                if name in dots:
                    kind = _kind(dots[name])
                    dot_ps[dots[name]] += event.duration_ps
                else:
                    kind = re.sub(r"(\.\d+)+$", "", name)
                time_ps[kind] += event.duration_ps
                count[kind] += 1
    if not total:
        raise SystemExit("the trace holds no XLA thunk events (is XLA_FLAGS overridden?)")
    in_step = sum(dot_ps.values()) / 1e6 / n
    print(f"configs/ring8.flags, one thread, {n} traced steps\n")
    print(f"traced step: {total / 1e6 / n:.0f} us, of which matrix products "
          f"{in_step:.0f} us ({100 * in_step * n * 1e6 / total:.0f} %)\n")
    print("| operation | us/step | share | per step |")
    print("|---|---|---|---|")
    for kind, ps in time_ps.most_common(FLAGS.top):
        print(f"| {kind} | {ps / 1e6 / n:.1f} | {100 * ps / total:.1f} % | "
              f"{count[kind] / n:g} |")
    if not FLAGS.alone:
        return
    # The same products, each alone: how fast this machine does them at best.
    shapes = collections.Counter(dots.values())
    print("\n| product (lhs, rhs, contracted) | kind | per step | MFLOP | in step us | "
          "alone us | alone GFLOP/s |")
    print("|---|---|---|---|---|---|---|")
    alone_total, flops = 0.0, 0
    for dot, k in sorted(shapes.items(), key=lambda item: -_flops(item[0]) * item[1]):
        alone = _alone_us(dot)
        alone_total += k * alone
        flops += k * _flops(dot)
        rate = f"{_flops(dot) / alone / 1e3:.0f}" if alone > 0 else "-"
        print(f"| {dot[0]} {dot[1]} ({dot[2]}, {dot[3]}) | {_kind(dot)} | {k} | "
              f"{k * _flops(dot) / 1e6:.2f} | {dot_ps[dot] / 1e6 / n:.1f} | "
              f"{k * alone:.1f} | {rate} |")
    print(f"\nmatrix products per step: {flops / 1e6:.1f} MFLOP; in the step {in_step:.0f} us; "
          f"each alone, summed: {alone_total:.0f} us "
          f"(so no step of this model is faster than {1e6 / max(alone_total, 1e-9):.0f} "
          f"steps/s on one thread of this machine with XLA's products)")
    if alone_total > 0:
        print(f"products in the traced step / the same products alone: "
              f"{in_step / alone_total:.2f}x")


# ---------------------------------------------------------------- main

def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    check_steps()
    if FLAGS.question == "xla_options" and not FLAGS.xla_option and not FLAGS.child:
        raise app.UsageError("--question=xla_options needs at least one --xla_option")
    if FLAGS.child:
        import json
        child = {"batching": raw_child, "xla_options": raw_child,
                 "data": data_child}[FLAGS.question]
        print(json.dumps(child()))
        return
    if FLAGS.question == "data" and FLAGS.pair_steps % PER_CALL:
        raise app.UsageError(f"--pair_steps must be a multiple of {PER_CALL}")
    tmp = None
    if FLAGS.question == "profile":
        # Before TensorFlow is imported: the per-operation trace, and the optimised
        # HLO from which the products' shapes are read.
        tmp = tempfile.mkdtemp(prefix="two_d_profile_")
        os.environ["XLA_FLAGS"] = (
            os.environ.get("XLA_FLAGS", "") + " --xla_cpu_enable_xprof_traceme=true"
            f" --xla_dump_to={tmp}/hlo --xla_dump_hlo_as_text").strip()
        common.one_thread()
    common.header()
    try:
        if tmp:
            profile(tmp)
        else:
            {"paths": paths, "batching": batching, "data": data,
             "xla_options": xla_options}[FLAGS.question]()
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    app.run(main)
