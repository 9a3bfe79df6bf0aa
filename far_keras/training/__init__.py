"""Running a fit: strategies, optimizers, callbacks, checkpoints.

The strategy and optimizer names live here, free of TensorFlow, so that flag
checking can name the choices without loading TF.
"""

STRATEGIES = ("default", "mirrored", "multi_worker")
OPTIMIZERS = ("adam", "rmsprop", "sgd")
