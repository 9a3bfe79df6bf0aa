"""Where the time of one ring8 training step goes: XLA's own per-operation trace.

  python benchmarks/ring8_profile.py [--steps=2000] [--top=15]

Runs configs/ring8.flags' compiled step (one TF thread, as train.py does for the 2-D
MLPs) under the TensorFlow profiler with XLA's per-thunk trace events turned on
(``XLA_FLAGS=--xla_cpu_enable_xprof_traceme=true``), then sums the events of every
compiled operation over the traced steps. Printed: the share of the step in matrix
products (split by operand layout: NN = x·W, NT = x·Wᵀ, TN = xᵀ·δ, the weight
gradients; and by whether a dimension is 1 or 2, the MLPs' input/output layers), in
the fused elementwise kernels, and the per-step time and count of the largest
kinds. The trace itself costs time at every event (a traced step took 1,301 us where
the untraced one takes ~700 us here): read the shares, not the absolute times, and
compare runs of this script with each other.

Then (``--alone``, the default) each distinct product of the step is timed on its own
in a compiled loop: their sum is what the products alone cost on one thread of this
machine, a floor under the step's time that no bookkeeping change can go below.
"""

import collections
import glob
import os
import re
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
TMP = tempfile.mkdtemp()
# (set before TensorFlow reads them: the per-operation trace, and the optimised HLO
# from which the products' shapes are read)
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_enable_xprof_traceme"
                           f"=true --xla_dump_to={TMP}/hlo --xla_dump_hlo_as_text").strip()
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402

from common import compiled_2d_model, machine  # noqa: E402  (benchmarks/common.py)

flags.DEFINE_integer("steps", 2000, "Traced steps (a multiple of 500).", lower_bound=500)
flags.DEFINE_integer("top", 15, "Kinds of operation listed.", lower_bound=1)
flags.DEFINE_bool("alone", True, "Also time each of the step's matrix products alone.")
FLAGS = flags.FLAGS
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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


def main(_):
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    from far_keras import config

    tmp = TMP
    values = config.read_flagfile(os.path.join(ROOT, "configs", "ring8.flags"))
    values.update(train_steps=FLAGS.steps)
    model, data, per_call = compiled_2d_model(values)
    tf.profiler.experimental.start(f"{tmp}/trace")
    model.fit(data, epochs=1, steps_per_epoch=FLAGS.steps // per_call, verbose=0,
              shuffle=False)
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
    steps = FLAGS.steps
    in_step = sum(dot_ps.values()) / 1e6 / steps
    print(f"machine: {machine()}")
    print(f"configs/ring8.flags, one thread, {steps} traced steps\n")
    print(f"traced step: {total / 1e6 / steps:.0f} us, of which matrix products "
          f"{in_step:.0f} us ({100 * in_step * steps * 1e6 / total:.0f} %)\n")
    print("| operation | us/step | share | per step |")
    print("|---|---|---|---|")
    for kind, ps in time_ps.most_common(FLAGS.top):
        print(f"| {kind} | {ps / 1e6 / steps:.1f} | {100 * ps / total:.1f} % | "
              f"{count[kind] / steps:g} |")
    if not FLAGS.alone:
        return
    # The same products, each alone: how fast this machine does them at best.
    shapes = collections.Counter(dots.values())
    print("\n| product (lhs, rhs, contracted) | kind | per step | MFLOP | in step us | "
          "alone us | alone GFLOP/s |")
    print("|---|---|---|---|---|---|---|")
    alone_total, flops = 0.0, 0
    for dot, n in sorted(shapes.items(), key=lambda item: -_flops(item[0]) * item[1]):
        alone = _alone_us(dot)
        alone_total += n * alone
        flops += n * _flops(dot)
        rate = f"{_flops(dot) / alone / 1e3:.0f}" if alone > 0 else "-"
        print(f"| {dot[0]} {dot[1]} ({dot[2]}, {dot[3]}) | {_kind(dot)} | {n} | "
              f"{n * _flops(dot) / 1e6:.2f} | {dot_ps[dot] / 1e6 / steps:.1f} | "
              f"{n * alone:.1f} | {rate} |")
    print(f"\nmatrix products per step: {flops / 1e6:.1f} MFLOP; in the step {in_step:.0f} us; "
          f"each alone, summed: {alone_total:.0f} us "
          f"(so no step of this model is faster than {1e6 / alone_total:.0f} steps/s "
          f"on one thread of this machine with XLA's products)")


if __name__ == "__main__":
    app.run(main)
