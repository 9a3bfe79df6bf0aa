r"""The SDKL step: seconds per training step of the SDKL paper's five CelebA models,
side by side in one process, each as a ratio to the GAN's.

  python benchmarks/sdkl_step.py                          # all five, defaults
  python benchmarks/sdkl_step.py --steps=1 --rounds=1     # all five, shorter
  python benchmarks/sdkl_step.py --models=gan,sdkl --jit=false
  python benchmarks/sdkl_step.py --models=gan,sdkl --steps=1 --rounds=1 --warmup=1 \
      --image_size=16 --batch_size=8                      # quick check (< 1 min a model)

Models: gan, vae, vaegan, sdkl, sdkl_nosample, each with the settings of its
``configs/celeba_<model>.flags`` (read by ``config.read_flagfile``), i.e. the
paper's 64x64x3 networks of ``nets/sdkl.py`` (base width 64, 1024-unit FC layers,
z = 128), Adam, one D minibatch per generator update. Overridden for timing:
``steps_per_execution = log_every = eval_every = checkpoint_every = 1`` (one step
per ``fit`` step), ``jit_compile`` from ``--jit``, and ``--batch_size`` /
``--image_size`` if given.

All models live in ONE process. Real batches are random uniform images in [-1, 1]
of shape [batch, size, size, 3] (a step's cost does not depend on the pixels), fed
through ``tf.data`` (``.repeat()``). Each model first runs ``--warmup`` untimed
``fit`` steps (tracing and, with ``--jit``, XLA compilation; reported as "warm-up").
Then, in each of ``--rounds`` rounds, every model in turn runs
``fit(steps_per_epoch=--steps)``; rounds interleave the models so that load from
other processes hits all alike. Reported: the median over rounds of seconds per
step, and its ratio to the GAN's (the cheapest model: no encoder).

Runtime: the networks are the paper's full-size ones, and a step of each takes
seconds on a small shared CPU, so the defaults are deliberately small (3 steps x 2
rounds x 5 models plus the warm-up) to stay within about ten minutes on 2 cores.
Raise ``--steps``/``--rounds`` on a faster machine for steadier numbers.
"""

import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402

from common import check_names, header  # noqa: E402  (benchmarks/common.py)
from far_keras import builders, config  # noqa: E402
from far_keras.models.families import SDKL_MODELS as MODELS  # noqa: E402

flags.DEFINE_integer("steps", 3, "Timed steps per model and round.", lower_bound=1)
flags.DEFINE_integer("rounds", 2, "Interleaved rounds.", lower_bound=1)
flags.DEFINE_integer("warmup", 2, "Untimed fit steps per model before timing (the first "
                     "traces and compiles).", lower_bound=1)
flags.DEFINE_integer("batch_size", 64, "B, images per minibatch.", lower_bound=2)
flags.DEFINE_integer("image_size", 64, "Image side (a multiple of 16; paper: 64).",
                     lower_bound=16)
flags.DEFINE_list("models", list(MODELS), f"Models, in order; any of {', '.join(MODELS)}.")
flags.DEFINE_bool("jit", True, "XLA-compile the training step (jit_compile).")
flags.DEFINE_integer("seed", 0, "Seed of the weights, images and training draws.")
FLAGS = flags.FLAGS


def model_config(name):
    """The Config of ``configs/celeba_<name>.flags`` with the timing overrides."""
    values = config.read_flagfile(os.path.join(ROOT, "configs", f"celeba_{name}.flags"))
    if values.get("model") != name:
        raise app.UsageError(f"configs/celeba_{name}.flags: --model={values.get('model')}")
    values.update(steps_per_execution=1, log_every=1, eval_every=1, checkpoint_every=1,
                  jit_compile=FLAGS.jit, batch_size=FLAGS.batch_size,
                  image_size=FLAGS.image_size, seed=FLAGS.seed)
    return config.from_flat(values)


def build(name):
    """(model, dataset, config) of one model."""
    cfg = model_config(name)
    keras.utils.set_random_seed(FLAGS.seed)
    model = builders.build_model(cfg)
    if model.steps_per_call != 1:
        raise RuntimeError(f"{name}: expected one step per call, got {model.steps_per_call}")
    size, channels = cfg.family.image_shape(cfg)
    shape = [model.num_real * cfg.model.d_steps, size, size, channels]
    images = tf.random.stateless_uniform(shape, [FLAGS.seed, 1], minval=-1.0, maxval=1.0)
    data = tf.data.Dataset.from_tensors(images).repeat().prefetch(2)
    return model, data, cfg


def fit_seconds(model, data, steps):
    """Wall time of ``steps`` fit steps (fit returns after the last step finished)."""
    before = model.current_step()
    start = time.perf_counter()
    model.fit(data, epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False)
    seconds = time.perf_counter() - start
    if model.current_step() != before + steps:
        raise RuntimeError(f"{model.name}: expected {steps} steps, counted "
                           f"{model.current_step() - before}")
    return seconds


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    check_names("models", FLAGS.models, MODELS)
    if FLAGS.image_size % 16:
        raise app.UsageError(f"--image_size={FLAGS.image_size}: must be a multiple of 16")
    names = list(dict.fromkeys(FLAGS.models))
    total = time.perf_counter()
    header()
    print(f"celeba configs, {FLAGS.image_size}x{FLAGS.image_size}x3, batch "
          f"{FLAGS.batch_size}, jit_compile={FLAGS.jit}, one step per fit step; "
          f"{FLAGS.steps} steps x {FLAGS.rounds} rounds (median), {FLAGS.warmup} warm-up "
          f"steps\n", flush=True)

    built, warmup, params = {}, {}, {}
    for name in names:  # build and compile outside the timing
        print(f"building and compiling {name} ...", file=sys.stderr, flush=True)
        model, data, _ = build(name)
        built[name] = (model, data)
        params[name] = sum(int(tf.size(v)) for v in
                           model.discriminator.trainable_variables + model.generator_variables)
        warmup[name] = fit_seconds(model, data, FLAGS.warmup)
        print(f"  {name}: warm-up {warmup[name]:.1f} s", file=sys.stderr, flush=True)

    times = {name: [] for name in names}
    for r in range(FLAGS.rounds):
        for name, (model, data) in built.items():
            times[name].append(fit_seconds(model, data, FLAGS.steps) / FLAGS.steps)
            print(f"  round {r + 1}: {name} {times[name][-1]:.3f} s/step",
                  file=sys.stderr, flush=True)
    per_step = {name: statistics.median(t) for name, t in times.items()}
    gan = per_step.get("gan")

    print("| model | s/step | steps/s | / gan | min-max s/step | warm-up s | params |")
    print("|---|---|---|---|---|---|---|")
    for name in names:
        s = per_step[name]
        ratio = f"{s / gan:.2f}" if gan else "-"
        print(f"| {name} | {s:.3f} | {1 / s:.2f} | {ratio} | {min(times[name]):.3f}-"
              f"{max(times[name]):.3f} | {warmup[name]:.1f} | {params[name] / 1e6:.1f}M |")
    print(f"\n/ gan = s/step of the model / s/step of gan"
          f"{'' if gan else ' (gan not run)'}; params = trainable weights of D and of "
          f"the generator side (encoder + decoder); total time "
          f"{time.perf_counter() - total:.0f} s")


if __name__ == "__main__":
    app.run(main)
