"""tf.distribute strategies by name."""

import tensorflow as tf

STRATEGIES = ("default", "mirrored")


def make_strategy(name):
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        # All local GPUs, or the CPU devices (logical ones too) when there are none.
        gpus = tf.config.list_logical_devices("GPU")
        devices = None if gpus else [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices=devices)
    raise ValueError(f"--strategy={name}: must be one of {', '.join(STRATEGIES)}")
