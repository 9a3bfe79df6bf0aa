import keras
import numpy as np
import pytest
import tensorflow as tf

from far_keras.nets import mlp
from far_keras.objectives import penalties


def _linear(w, b=0.3):
    w = tf.constant(w, tf.float32)
    return lambda x, training=False: tf.matmul(x, w[:, None]) + b


def test_real_penalty_of_linear_discriminator_is_norm_of_w():
    w = np.array([1.5, -2.0], np.float32)
    x = tf.random.normal([7, 2])
    got = penalties.real_gradient_penalty(_linear(w), x).numpy()
    assert got == pytest.approx(float(w @ w), rel=1e-6)


def test_interpolation_penalty_of_linear_discriminator_is_norm_of_w():
    w = np.array([0.5, 3.0], np.float32)
    real, fake = tf.random.normal([6, 2]), tf.random.normal([6, 2])
    alpha = tf.random.uniform([6])
    got = penalties.interpolation_gradient_penalty(_linear(w), real, fake, alpha).numpy()
    assert got == pytest.approx(float(w @ w), rel=1e-6)


def test_interpolates_are_per_sample_convex_combinations():
    real, fake = np.random.randn(4, 2).astype(np.float32), np.random.randn(4, 2).astype(np.float32)
    alpha = np.array([0.0, 1.0, 0.25, 0.5], np.float32)
    got = penalties.interpolates(tf.constant(real), tf.constant(fake), alpha).numpy()
    np.testing.assert_allclose(got, alpha[:, None] * real + (1 - alpha[:, None]) * fake, rtol=1e-6)


def _quadratic():
    # D0(x) = x^T A x + c^T x: ∇D0 = (A + A^T) x + c, known in closed form.
    a = np.array([[1.0, 0.5], [-0.3, 2.0]], np.float32)
    c = np.array([0.2, -1.0], np.float32)
    fn = lambda x, training=False: (tf.reduce_sum(tf.matmul(x, a) * x, axis=1, keepdims=True)
                                    + tf.matmul(x, c[:, None]))
    return fn, a, c


def test_penalty_on_quadratic_matches_closed_form_per_point():
    fn, a, c = _quadratic()
    x = np.random.RandomState(0).randn(5, 2).astype(np.float32)
    grads = x @ (a + a.T).T + c
    expected = (grads ** 2).sum(1)
    np.testing.assert_allclose(penalties.squared_gradient_norm(fn, x).numpy(), expected, rtol=1e-5)
    np.testing.assert_allclose(penalties.real_gradient_penalty(fn, x).numpy(), expected.mean(),
                               rtol=1e-5)


def test_penalty_matches_finite_differences_on_an_mlp():
    keras.utils.set_random_seed(1)
    d = mlp.mlp_discriminator(hidden_units=16)
    d64 = lambda x: d(tf.cast(x, tf.float32)).numpy().astype(np.float64)
    x = np.random.RandomState(2).randn(4, 2)
    eps = 1e-3
    fd = np.zeros_like(x)
    for j in range(2):
        e = np.zeros(2)
        e[j] = eps
        fd[:, j] = (d64(x + e) - d64(x - e))[:, 0] / (2 * eps)
    got = penalties.squared_gradient_norm(d, x.astype(np.float32)).numpy()
    np.testing.assert_allclose(got, (fd ** 2).sum(1), rtol=2e-2, atol=1e-5)


def test_penalty_gradient_wrt_weights_matches_finite_differences():
    # The outer tape must see through the inner one (double backprop), or the
    # penalty would not train the discriminator at all.
    w = tf.Variable([0.7, -1.2])
    fn = lambda x, training=False: tf.tanh(tf.matmul(x, w[:, None]))
    x = tf.constant(np.random.RandomState(3).randn(6, 2), tf.float32)
    with tf.GradientTape() as tape:
        pen = penalties.real_gradient_penalty(fn, x)
    grad = tape.gradient(pen, w).numpy()
    eps, fd = 1e-3, np.zeros(2)
    for j in range(2):
        e = np.zeros(2, np.float32)
        e[j] = eps
        w.assign_add(e)
        plus = penalties.real_gradient_penalty(fn, x).numpy()
        w.assign_sub(2 * e)
        minus = penalties.real_gradient_penalty(fn, x).numpy()
        w.assign_add(e)
        fd[j] = (plus - minus) / (2 * eps)
    np.testing.assert_allclose(grad, fd, rtol=1e-2, atol=1e-4)
