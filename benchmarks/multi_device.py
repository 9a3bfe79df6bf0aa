"""Multi-device: how fast is a training step under --strategy=mirrored, with XLA and
many steps per call against the legacy path (Keras's own uncompiled step), side by side?

  python benchmarks/multi_device.py [--ring8_steps=1000] [--digits_steps=100] [--rounds=3]
  python benchmarks/multi_device.py --configs=ring8 --ring8_steps=100 --rounds=1  # quick check

Devices: all local GPUs when there are any; otherwise the CPU split into
``--cpu_replicas`` logical devices (default 2), as ``train.py --strategy=mirrored``
would see them. The same script runs as is on a machine with GPUs.

Configs:
  ring8   the paper's synthetic settings (train.py's defaults: MLPs of 64 units,
          batch 64, M0 = 16 of M1 = 256, λ = 10)
  digits  configs/digits.flags (FAR-GAN ResNets on 16x16 digits, batch 64,
          M0 = 32 of M1 = 256) at ``--digits_base_width`` (default 8)

Paths:
  legacy      Keras's own train function, one uncompiled step per call (what every
              mirrored run did before: Keras disables XLA under tf.distribute)
  graph_K     no XLA, K steps per call (the replicas' loop of strategy.run calls)
  xla_K       XLA-compiled replica gradients, K steps per call (train.py's default)
K = ``--ring8_per_call`` / ``--digits_per_call``. Rounds interleave every path of
both configs so that load from other processes hits all alike; the median round is
reported. Compilation happens in an untimed warm-up. Printed: steps/s of each
config and path and its ratio to the legacy path of the same config (same run).

The one-device step is two_d_step.py (ring8) and image_step.py (images).
"""

import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402

from common import check_names, header, interleaved_seconds_per_step  # noqa: E402  (benchmarks/common.py)

flags.DEFINE_integer("ring8_steps", 1000, "Timed ring8 steps per path and round.", lower_bound=1)
flags.DEFINE_integer("digits_steps", 100, "Timed digits steps per path and round.",
                     lower_bound=1)
flags.DEFINE_integer("ring8_per_call", 100, "K for ring8.", lower_bound=1)
flags.DEFINE_integer("digits_per_call", 10, "K for digits.", lower_bound=1)
flags.DEFINE_integer("digits_base_width", 8, "ResNet base width of the digits config.",
                     lower_bound=1)
flags.DEFINE_integer("rounds", 3, "Interleaved rounds.", lower_bound=1)
flags.DEFINE_integer("cpu_replicas", 2, "Logical CPU devices when there is no GPU.",
                     lower_bound=1)
flags.DEFINE_list("configs", ["ring8", "digits"], "Configs to measure: ring8, digits.")
FLAGS = flags.FLAGS


def settings(name):
    """(flags of the config, K, timed steps)."""
    if name == "ring8":
        return {}, FLAGS.ring8_per_call, FLAGS.ring8_steps
    from far_keras import config
    values = dict(config.read_flagfile(os.path.join(ROOT, "configs", "digits.flags")),
                  base_width=FLAGS.digits_base_width)
    return values, FLAGS.digits_per_call, FLAGS.digits_steps


def build(name, path, dist):
    """(model, per-replica dataset, steps per fit call) of one config and path."""
    from far_keras import builders, config
    from far_keras.data import synthetic
    from far_keras.training import strategy as strategy_lib

    values, per_call, steps = settings(name)
    if path == "legacy":
        per_call = 1
    steps = max(per_call, steps // per_call * per_call)
    cfg = config.from_flat(dict(values, strategy="mirrored", jit_compile=path.startswith("xla"),
                                steps_per_execution=per_call, train_steps=steps,
                                log_every=steps, eval_every=steps, checkpoint_every=steps))
    keras.utils.set_random_seed(0)
    with dist.scope():
        model = builders.build_model(cfg)
    # The path every distributed run took before: Keras's train function.
    model.keras_train_function = path == "legacy"
    batch = model.num_real * cfg.model.d_steps
    if cfg.data.is_image:
        data = builders.image_data(cfg, batch, 0)
    else:
        data = synthetic.make_dataset(builders.make_source(cfg), batch, 0).repeat()
    if per_call > 1:
        data = data.batch(per_call)
    data = strategy_lib.distribute_batches(data, dist, batch_axis=1 if per_call > 1 else 0)
    return model, data, per_call, steps


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    check_names("configs", FLAGS.configs, ("ring8", "digits"))
    tf.get_logger().setLevel("ERROR")  # one INFO line per traced all-reduce otherwise
    if not tf.config.list_physical_devices("GPU") and FLAGS.cpu_replicas > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * FLAGS.cpu_replicas)
    from far_keras.training import strategy as strategy_lib
    dist = strategy_lib.make_strategy("mirrored")
    devices = ", ".join(dist.extended.worker_devices)
    header()
    print(f"strategy: mirrored over {dist.num_replicas_in_sync} replicas ({devices})",
          flush=True)

    runs = {}
    for name in FLAGS.configs:
        _, per_call, _ = settings(name)
        for path in ("legacy", f"graph_{per_call}", f"xla_{per_call}"):
            runs[name, path] = build(name, path, dist)
    warmup = {}
    for key, (model, data, per_call, _) in runs.items():
        start = time.perf_counter()
        model.fit(data, epochs=1, steps_per_epoch=2, verbose=0,
                  shuffle=False)
        warmup[key] = time.perf_counter() - start
    per_step = interleaved_seconds_per_step(runs, FLAGS.rounds)
    print(f"{FLAGS.rounds} interleaved rounds (median); warm-up (tracing, XLA) untimed\n")
    print("| config | path | steps/s | ms/step | vs legacy | warm-up s |")
    print("|---|---|---|---|---|---|")
    for (name, path), t in per_step.items():
        legacy = per_step[name, "legacy"]
        print(f"| {name} | {path} | {1 / t:.1f} | {1e3 * t:.2f} | {legacy / t:.2f}x | "
              f"{warmup[name, path]:.1f} |")


if __name__ == "__main__":
    app.run(main)
