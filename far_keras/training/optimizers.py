"""Optimizers from an OptimizerConfig; the generator's carries the EMA.

The generator EMA is Keras's built-in optimizer EMA (``use_ema``): the averages live
in the optimizer, so checkpoints carry them with no extra code.
"""

import keras

from far_keras.training import OPTIMIZERS


def make_optimizer(cfg, learning_rate, ema_decay=0.0):
    ema = dict(use_ema=ema_decay > 0, ema_momentum=ema_decay or 0.99)
    if cfg.optimizer == "adam":
        return keras.optimizers.Adam(learning_rate, beta_1=cfg.beta1, beta_2=cfg.beta2, **ema)
    if cfg.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate, rho=cfg.rmsprop_rho, **ema)
    if cfg.optimizer == "sgd":
        return keras.optimizers.SGD(learning_rate, **ema)
    raise ValueError(f"--optimizer={cfg.optimizer}: must be one of {', '.join(OPTIMIZERS)}")


def gan_optimizers(cfg, loss_scaling=False):
    """(d_optimizer, g_optimizer); EMA of the generator weights when ema_decay > 0.

    ``loss_scaling`` (float16 compute) wraps both in Keras's dynamic
    LossScaleOptimizer; the models scale their losses with ``scale_loss``.
    """
    d_opt = make_optimizer(cfg, cfg.d_lr)
    g_opt = make_optimizer(cfg, cfg.g_lr, ema_decay=cfg.ema_decay)
    if loss_scaling:
        return keras.optimizers.LossScaleOptimizer(d_opt), keras.optimizers.LossScaleOptimizer(g_opt)
    return d_opt, g_opt
