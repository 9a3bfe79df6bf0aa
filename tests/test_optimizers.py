"""models/base.py: ``averaged_copy`` holds the EMA of the generator weights
(FAR-GAN paper: EMA 0.999 of G) as an independent NumPy EMA computes it, and leaves
the training network alone."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from far_keras.models.base import averaged_copy


def _net():
    keras.utils.set_random_seed(3)
    return keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="tanh"),
                             keras.layers.BatchNormalization(), keras.layers.Dense(2)])


def _train(net, opt, grads_per_step):
    for grads in grads_per_step:
        opt.apply_gradients(zip([tf.constant(g) for g in grads], net.trainable_variables))


@pytest.mark.parametrize("loss_scaling", [False, True])
def test_averaged_copy_is_the_numpy_ema_and_leaves_the_network(loss_scaling):
    net = _net()
    lr, momentum, steps = 0.1, 0.9, 4
    opt = keras.optimizers.SGD(lr, use_ema=True, ema_momentum=momentum)
    if loss_scaling:
        opt = keras.optimizers.LossScaleOptimizer(opt, dynamic_growth_steps=10**6)
    opt.build(net.trainable_variables)
    rng = np.random.default_rng(0)
    grads = [[rng.standard_normal(v.shape).astype("float32") for v in net.trainable_variables]
             for _ in range(steps)]
    # Independent EMA of plain SGD iterates: Keras starts the average at the first
    # updated weights (momentum 0 at iteration 0), then a ← m·a + (1 − m)·w.
    w = [np.array(v) for v in net.trainable_variables]
    avg = None
    for g in grads:
        w = [wi - lr * gi for wi, gi in zip(w, g)]
        avg = [wi.copy() for wi in w] if avg is None else [
            momentum * a + (1 - momentum) * wi for a, wi in zip(avg, w)]
    if loss_scaling:  # the wrapper divides by its scale: hand it scaled gradients
        scale = float(opt.scale_loss(tf.constant(1.0)))
        grads = [[g * scale for g in step] for step in grads]
    _train(net, opt, grads)
    live = [np.array(v) for v in net.weights]
    np.testing.assert_allclose([np.array(v) for v in net.trainable_variables][0], w[0], rtol=1e-5)

    copy = averaged_copy(net, opt)

    assert copy is not net
    for got, want in zip(copy.trainable_variables, avg):
        np.testing.assert_allclose(np.array(got), want, rtol=1e-5, atol=1e-6)
    # The averages differ from the live weights (else the check above proves nothing)...
    assert not np.allclose(np.array(copy.trainable_variables[0]), w[0])
    # ...and the live network is untouched, its non-trainable state copied as is.
    for before, after in zip(live, net.weights):
        np.testing.assert_array_equal(before, np.array(after))
    np.testing.assert_array_equal(np.array(copy.non_trainable_variables[0]),
                                  np.array(net.non_trainable_variables[0]))
    x = np.ones((2, 3), "float32")
    assert not np.allclose(copy(x), net(x))


def test_without_ema_the_network_itself():
    net = _net()
    opt = keras.optimizers.Adam(1e-3)
    opt.build(net.trainable_variables)
    assert averaged_copy(net, opt) is net
