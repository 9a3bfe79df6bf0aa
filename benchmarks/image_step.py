"""The image step: seconds per FAR-GAN training step of the paper's ResNets, FAR
against plain 0GP-sample and XLA against no XLA, side by side in one process.

  python benchmarks/image_step.py                       # CIFAR-10, all four variants
  python benchmarks/image_step.py --variants=far-xla,plain-xla
  python benchmarks/image_step.py --architecture=digits # configs/digits.flags' nets
  python benchmarks/image_step.py --steps=1 --warmup=1 --base_width=8   # quick check

Setup (paper, CIFAR-10): the ResNets of Tables 5-6 (``paper_architecture('cifar')``,
z = 128, base width 64), batch N = 64, RMSProp (lr 1e-4, rho 0.99) for both nets,
lambda = 10 on the 0GP-sample penalty ('real'), generator EMA 0.999 kept by the
optimizer, one discriminator step per generator step. ``--architecture`` picks
another preset of ``nets/resnet.py`` with the same training settings: ``digits``
(the 16x16x1 nets of ``configs/digits.flags``, base width 16, z = 64) or
``imagenet`` (Tables 7-8, 64x64); ``--base_width`` overrides the preset's width.
Variants, all in one process:

  far-xla      FAR (M0 = 32 of M1 = 256 candidates), jit_compile=True
  far-noxla    FAR, jit_compile=False
  plain-xla    plain GAN-0GP-sample (num_far = 0), jit_compile=True
  plain-noxla  plain GAN-0GP-sample, jit_compile=False

Printed ratios (same run): FAR/plain with and without XLA, XLA-off/XLA-on for FAR
and for plain (below 1: XLA is slower).

Real batches are synthetic uniform noise in [-1, 1] (the step's cost does not depend
on the pixels), fed through ``tf.data`` like training data. Each step is one call of
Keras' own train function (``model.make_train_function()``, what ``fit`` calls, one
step per call), and is timed until its losses are read back. The first ``--warmup``
steps (tracing, XLA compilation) are reported separately and excluded from the
seconds/step, which are the median and the mean of the ``--steps`` timed steps.

Memory: resident set size (RSS) sampled every 20 ms by a thread using psutil, as
the peak during a variant (build, compile, warm-up and timed steps) minus the RSS
just before it was built; plus the process's lifetime peak (``ru_maxrss``) at the end.
The variants share one process, so a later variant may reuse memory an earlier one
freed (``keras.backend.clear_session`` and ``gc`` run between variants): compare the
deltas as rough sizes, not to the megabyte.

XLA and non-XLA runs draw different random numbers from the same stateless seeds
(TF's XLA kernels of the stateless RNG differ), so their losses are not comparable
step by step; only the timings are.
"""

import gc
import os
import platform
import resource
import statistics
import sys
import threading
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402
from common import check_names, header  # noqa: E402  (benchmarks/common.py)

VARIANTS = {
    # name: (FAR on, XLA on)
    "far-xla": (True, True),
    "plain-xla": (False, True),
    "far-noxla": (True, False),
    "plain-noxla": (False, False),
}

FLAGS = flags.FLAGS
flags.DEFINE_integer("steps", 5, "Timed training steps per variant.", lower_bound=1)
flags.DEFINE_integer("warmup", 2, "Untimed steps per variant before timing (the first "
                     "traces and compiles).", lower_bound=1)
flags.DEFINE_integer("batch_size", 64, "N, the real-side batch (= fake batch).",
                     lower_bound=2)
flags.DEFINE_list("variants", list(VARIANTS), f"Variants to run, in order; any of "
                  f"{', '.join(VARIANTS)}.")
flags.DEFINE_integer("num_far", 32, "M0 of the FAR variants.", lower_bound=1)
flags.DEFINE_integer("num_candidates", 256, "M1 of the FAR variants.", lower_bound=1)
flags.DEFINE_enum("architecture", "cifar", ["cifar", "digits", "imagenet"],
                  "ResNet preset of nets/resnet.py (cifar: Tables 5-6; digits: "
                  "configs/digits.flags' 16x16 nets; imagenet: Tables 7-8).")
flags.DEFINE_integer("base_width", 0, "ResNet base width nf; 0 = the preset's (64 for cifar "
                     "and imagenet, the paper's; 16 for digits). Smaller only to try the "
                     "script quickly.", lower_bound=0)
flags.DEFINE_integer("seed", 0, "Seed of the weights and of the step RNG.")


class RssSampler:
    """Peak RSS of this process, sampled by a daemon thread every ``interval`` s."""

    def __init__(self, interval=0.02):
        import psutil

        self.process = psutil.Process()
        self.interval = interval
        self.peak = self.rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def rss(self):
        return self.process.memory_info().rss

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss())
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.rss())


def ru_maxrss_bytes():
    """The process's lifetime peak RSS (ru_maxrss is KiB on Linux, bytes on macOS)."""
    value = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return value if sys.platform == "darwin" else value * 1024


def build_model(use_far, jit_compile):
    import keras

    from far_keras.models.gan import FARGAN
    from far_keras.nets.resnet import build_resnet_pair, paper_architecture

    keras.utils.set_random_seed(FLAGS.seed)
    arch = paper_architecture(FLAGS.architecture, base_width=FLAGS.base_width or None)
    generator, discriminator = build_resnet_pair(arch)
    model = FARGAN(generator, discriminator, latent_dim=arch.latent_dim,
                   batch_size=FLAGS.batch_size, regularizer="real", reg_weight=10.0,
                   num_far=FLAGS.num_far if use_far else 0,
                   num_candidates=FLAGS.num_candidates, d_steps=1, seed=FLAGS.seed)
    d_opt = keras.optimizers.RMSprop(1e-4, rho=0.99)
    g_opt = keras.optimizers.RMSprop(1e-4, rho=0.99, use_ema=True, ema_momentum=0.999)
    model.compile(d_opt, g_opt, jit_compile=jit_compile, steps_per_execution=1)
    return model, arch


def real_batches(model, arch):
    """Endless synthetic real batches [N0, size, size, channels] in [-1, 1], via tf.data."""
    import tensorflow as tf

    shape = [model.num_real * model.d_steps, arch.resolution, arch.resolution, arch.channels]
    images = tf.random.stateless_uniform(shape, [FLAGS.seed, 1], minval=-1.0, maxval=1.0)
    return iter(tf.data.Dataset.from_tensors(images).repeat().prefetch(2))


def run_variant(name):
    import keras

    use_far, jit = VARIANTS[name]
    keras.backend.clear_session()
    gc.collect()
    with RssSampler() as memory:
        before = memory.rss()
        t0 = time.perf_counter()
        model, arch = build_model(use_far, jit)
        iterator = real_batches(model, arch)
        model.make_train_function()  # sets model.train_function (returns None)
        train_function = model.train_function
        build_seconds = time.perf_counter() - t0

        def step():
            start = time.perf_counter()
            logs = train_function(iterator)
            loss = float(logs["d_loss"])  # waits for the step to finish
            return time.perf_counter() - start, loss

        warmup = [step()[0] for _ in range(FLAGS.warmup)]
        timed, losses = zip(*(step() for _ in range(FLAGS.steps)))
    if model.current_step() != FLAGS.warmup + FLAGS.steps:
        raise RuntimeError(f"{name}: expected {FLAGS.warmup + FLAGS.steps} steps, the "
                           f"model counted {model.current_step()}")
    result = dict(
        name=name, far=use_far, xla=jit, build=build_seconds, first=warmup[0],
        warmup=sum(warmup), median=statistics.median(timed), mean=statistics.fmean(timed),
        min=min(timed), max=max(timed), peak_delta=memory.peak - before,
        peak=memory.peak, before=before, last_d_loss=losses[-1])
    del model, train_function, iterator
    return result


def describe_setup():
    """Prints the machine, the command and the setup (before the measurements)."""
    import tensorflow as tf

    from far_keras.nets.resnet import paper_architecture

    threads = (tf.config.threading.get_intra_op_parallelism_threads(),
               tf.config.threading.get_inter_op_parallelism_threads())
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    arch = paper_architecture(FLAGS.architecture, base_width=FLAGS.base_width or None)
    header()
    print("\n".join([
        f"platform: {platform.platform()}",
        f"os.cpu_count(): {os.cpu_count()}  usable (affinity): {affinity}  "
        f"TF intra/inter-op threads: {threads[0]}/{threads[1]} (0 = TF's default)",
        f"setup: paper_architecture('{FLAGS.architecture}', base_width={arch.d_stem_width}) "
        f"({arch.resolution}x{arch.resolution}x{arch.channels}, z = {arch.latent_dim}), "
        f"batch {FLAGS.batch_size}, RMSProp lr 1e-4 rho 0.99, lambda 10 ('real'), "
        f"G EMA 0.999; FAR M0={FLAGS.num_far} M1={FLAGS.num_candidates}; "
        f"{FLAGS.warmup} warm-up + {FLAGS.steps} timed steps per variant",
    ]), flush=True)


def mib(n):
    return n / 2 ** 20


def ratio(a, b):
    return f"{a / b:.2f}" if a and b else "-"


def report(results, total_seconds):
    by_name = {r["name"]: r for r in results}
    lines = [
        "",
        f"{'variant':<12} {'s/step':>8} {'mean':>8} {'min':>8} {'max':>8} "
        f"{'1st step':>9} {'build':>7} {'RSS before':>11} {'peak RSS':>10} {'delta':>10}",
    ]
    for r in results:
        lines.append(
            f"{r['name']:<12} {r['median']:8.3f} {r['mean']:8.3f} {r['min']:8.3f} "
            f"{r['max']:8.3f} {r['first']:9.2f} {r['build']:7.2f} "
            f"{mib(r['before']):7.0f} MiB {mib(r['peak']):6.0f} MiB {mib(r['peak_delta']):6.0f} MiB")
    lines += ["", "s/step = median over the timed steps; '1st step' includes tracing and "
              "(XLA) compilation;", "peak RSS = psutil RSS sampled every 20 ms during the "
              "variant; delta = peak minus RSS before building it.", ""]
    ratios = []
    for xla in ("xla", "noxla"):
        far, plain = by_name.get(f"far-{xla}"), by_name.get(f"plain-{xla}")
        if far and plain:
            ratios.append(f"FAR/plain ({xla}): {ratio(far['median'], plain['median'])}")
    for kind in ("far", "plain"):
        on, off = by_name.get(f"{kind}-xla"), by_name.get(f"{kind}-noxla")
        if on and off:
            ratios.append(f"XLA-off/XLA-on ({kind}): {ratio(off['median'], on['median'])}")
    lines += ratios or ["(ratios need both variants of a pair)"]
    lines += [f"process peak RSS (ru_maxrss): {mib(ru_maxrss_bytes()):.0f} MiB; "
              f"total benchmark time {total_seconds:.0f} s"]
    print("\n".join(lines), flush=True)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    check_names("variants", FLAGS.variants, VARIANTS)
    if not FLAGS.num_far < FLAGS.batch_size or FLAGS.num_far > FLAGS.num_candidates:
        raise app.UsageError(f"need --num_far < --batch_size and --num_far <= "
                             f"--num_candidates; got {FLAGS.num_far}, {FLAGS.batch_size}, "
                             f"{FLAGS.num_candidates}")
    describe_setup()
    start = time.perf_counter()
    results = []
    for name in FLAGS.variants:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        results.append(run_variant(name))
        r = results[-1]
        print(f"  {name}: {r['median']:.3f} s/step (first step {r['first']:.1f} s)",
              file=sys.stderr, flush=True)
    report(results, time.perf_counter() - start)


if __name__ == "__main__":
    app.run(main)
