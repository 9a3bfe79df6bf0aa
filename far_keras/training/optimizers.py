"""Optimizers from an OptimizerConfig; the generator's carries the EMA.

The generator EMA is Keras's built-in optimizer EMA (``use_ema``): the averages live
in the optimizer, so checkpoints carry them with no extra code.
"""

import keras


def make_optimizer(cfg, learning_rate, ema_decay=0.0):
    ema = dict(use_ema=ema_decay > 0, ema_momentum=ema_decay or 0.99)
    if cfg.optimizer == "adam":
        return keras.optimizers.Adam(learning_rate, beta_1=cfg.beta1, beta_2=cfg.beta2, **ema)
    if cfg.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate, rho=cfg.rmsprop_rho, **ema)
    if cfg.optimizer == "sgd":
        return keras.optimizers.SGD(learning_rate, **ema)
    raise ValueError(f"--optimizer={cfg.optimizer}: must be adam, rmsprop or sgd")


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


def averaged_copy(network, optimizer):
    """``network`` itself when ``optimizer`` keeps no EMA, else a clone holding the
    EMA weights (the live network keeps training on its own weights).

    Uses Keras's public ``optimizer.finalize_variable_values(var_list)``, which
    overwrites ``var_list`` with the optimizer's moving averages (matched by
    position with the variables the optimizer was built with, i.e.
    ``network.trainable_variables``), on the *clone's* variables, so the training
    network is untouched. Non-trainable weights (e.g. batch-norm statistics) keep
    the live network's values, as with Keras's own EMA swap.
    """
    optimizer = getattr(optimizer, "inner_optimizer", optimizer)  # under loss scaling
    if not optimizer.use_ema:
        return network
    clone = keras.models.clone_model(network)
    clone.set_weights(network.get_weights())
    optimizer.finalize_variable_values(clone.trainable_variables)
    return clone
