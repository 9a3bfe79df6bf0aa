"""``training/optimizers.averaged_copy``: the generator EMA (decay 0.999 in the FAR-GAN
paper's image runs) read through Keras's public API, checked against a NumPy EMA."""

import keras
import numpy as np

from far_keras.training.optimizers import averaged_copy


def _net():
    keras.utils.set_random_seed(3)
    return keras.Sequential([keras.Input((3,)), keras.layers.Dense(2),
                             keras.layers.BatchNormalization()])


def test_averaged_copy_holds_the_ema_and_leaves_the_live_network_alone():
    net = _net()
    lr, momentum = 0.1, 0.9
    opt = keras.optimizers.SGD(lr, use_ema=True, ema_momentum=momentum)
    opt.build(net.trainable_variables)
    rng = np.random.default_rng(0)
    w = [v.numpy().astype(np.float64) for v in net.trainable_variables]
    ema = None
    for _ in range(4):
        grads = [rng.standard_normal(v.shape).astype(np.float32) for v in net.trainable_variables]
        opt.apply_gradients(zip(grads, net.trainable_variables))
        # Independent NumPy: plain SGD, then Keras's EMA rule (the first step copies
        # the updated weights; later ones: ema <- m·ema + (1 − m)·w).
        w = [wi - lr * g for wi, g in zip(w, grads)]
        ema = [wi.copy() for wi in w] if ema is None else [
            momentum * e + (1 - momentum) * wi for e, wi in zip(ema, w)]
    # Non-trainable state (batch-norm moving statistics) that the clone must copy.
    net.layers[-1].moving_mean.assign([0.5, -0.5])
    live_before = [v.numpy().copy() for v in net.weights]

    copy = averaged_copy(net, opt)

    assert copy is not net
    for v, e in zip(copy.trainable_variables, ema):
        np.testing.assert_allclose(v.numpy(), e, rtol=1e-5, atol=1e-6)
    # The EMA differs from the live weights here, so the comparison above has teeth.
    assert not np.allclose(copy.trainable_variables[0].numpy(), w[0], atol=1e-3)
    np.testing.assert_allclose(copy.layers[-1].moving_mean.numpy(), [0.5, -0.5])
    # The training network keeps its own (non-averaged) weights.
    for v, before in zip(net.weights, live_before):
        np.testing.assert_array_equal(v.numpy(), before)
    for v, wi in zip(net.trainable_variables, w):
        np.testing.assert_allclose(v.numpy(), wi, rtol=1e-5, atol=1e-6)
    # Same input, the copy computes with the averaged weights.
    x = rng.standard_normal((4, 3)).astype(np.float32)
    assert not np.allclose(copy(x, training=False), net(x, training=False))


def test_without_ema_the_network_itself_is_returned():
    net = _net()
    opt = keras.optimizers.SGD(0.1)
    opt.build(net.trainable_variables)
    assert averaged_copy(net, opt) is net


def test_under_loss_scaling_the_inner_optimizers_ema_is_used():
    net = _net()
    inner = keras.optimizers.SGD(0.1, use_ema=True, ema_momentum=0.5)
    opt = keras.optimizers.LossScaleOptimizer(inner)
    opt.build(net.trainable_variables)
    grads = [np.ones(v.shape, np.float32) for v in net.trainable_variables]
    opt.apply_gradients(zip(grads, net.trainable_variables))
    copy = averaged_copy(net, opt)
    # One step: the EMA is the updated weights themselves.
    for v, c in zip(net.trainable_variables, copy.trainable_variables):
        np.testing.assert_allclose(c.numpy(), v.numpy(), rtol=1e-6)
    assert copy is not net
