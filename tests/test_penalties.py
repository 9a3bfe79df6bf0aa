import keras
import numpy as np
import pytest
import tensorflow as tf

from far_keras.nets import mlp
from far_keras.objectives import penalties


def real_gradient_penalty(discriminator, points, target="logit"):
    """0GP-sample's R (eq. 12 without λ) as FAR-GAN's step gets it: the second output
    of the registered 'real' regulariser."""
    return penalties.real_side_regularizer(discriminator, points, None, None, target)[1]


def _linear(w, b=0.3):
    w = tf.constant(w, tf.float32)
    return lambda x, training=False: tf.matmul(x, w[:, None]) + b


def test_real_penalty_of_linear_discriminator_is_norm_of_w():
    w = np.array([1.5, -2.0], np.float32)
    x = tf.random.normal([7, 2])
    got = real_gradient_penalty(_linear(w), x).numpy()
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
    np.testing.assert_allclose(real_gradient_penalty(fn, x).numpy(), expected.mean(),
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
        pen = real_gradient_penalty(fn, x)
    grad = tape.gradient(pen, w).numpy()
    eps, fd = 1e-3, np.zeros(2)
    for j in range(2):
        e = np.zeros(2, np.float32)
        e[j] = eps
        w.assign_add(e)
        plus = real_gradient_penalty(fn, x).numpy()
        w.assign_sub(2 * e)
        minus = real_gradient_penalty(fn, x).numpy()
        w.assign_add(e)
        fd[j] = (plus - minus) / (2 * eps)
    np.testing.assert_allclose(grad, fd, rtol=1e-2, atol=1e-4)


# ---- what the penalty differentiates: D0 (eq. 12 as printed) or σ(D0) (reference code)

def test_probability_target_of_linear_discriminator_matches_closed_form():
    # D0 = wᵀx + b: ∇σ(D0) = σ(D0)(1 − σ(D0)) w, so ‖∇σ(D0)‖² = (σ(1 − σ))² ‖w‖².
    w, b = np.array([1.5, -2.0], np.float32), 0.3
    x = np.random.RandomState(4).randn(9, 2).astype(np.float32)
    s = 1.0 / (1.0 + np.exp(-(x @ w + b)))
    expected = (s * (1 - s)) ** 2 * float(w @ w)
    got = penalties.squared_gradient_norm(_linear(w, b), x, target="probability").numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    logit = penalties.squared_gradient_norm(_linear(w, b), x, target="logit").numpy()
    np.testing.assert_allclose(logit, np.full(9, float(w @ w)), rtol=1e-6)


def test_probability_penalty_is_a_sixteenth_of_the_logit_one_at_one_half():
    w = np.array([0.4, 0.9], np.float32)
    x = np.zeros([3, 2], np.float32)  # D0 = b = 0 there, σ' = 1/4
    logit = real_gradient_penalty(_linear(w, 0.0), x, target="logit").numpy()
    prob = real_gradient_penalty(_linear(w, 0.0), x, target="probability").numpy()
    assert prob == pytest.approx(logit / 16, rel=1e-6)


def test_probability_target_matches_finite_differences_on_an_mlp():
    keras.utils.set_random_seed(5)
    d = mlp.mlp_discriminator(hidden_units=16)
    prob64 = lambda x: 1 / (1 + np.exp(-d(tf.cast(x, tf.float32)).numpy().astype(np.float64)))
    x = np.random.RandomState(6).randn(5, 2)
    eps, fd = 1e-3, np.zeros_like(x)
    for j in range(2):
        e = np.zeros(2)
        e[j] = eps
        fd[:, j] = (prob64(x + e) - prob64(x - e))[:, 0] / (2 * eps)
    got = penalties.squared_gradient_norm(d, x.astype(np.float32), target="probability").numpy()
    np.testing.assert_allclose(got, (fd ** 2).sum(1), rtol=2e-2, atol=1e-7)


def test_interpolation_penalty_takes_the_target():
    w = np.array([0.5, 3.0], np.float32)
    real, fake = tf.random.normal([6, 2]), tf.random.normal([6, 2])
    alpha = tf.random.uniform([6])
    x = penalties.interpolates(real, fake, alpha).numpy()
    s = 1 / (1 + np.exp(-(x @ w + 0.3)))
    got = penalties.interpolation_gradient_penalty(_linear(w), real, fake, alpha,
                                                   target="probability").numpy()
    assert got == pytest.approx(float(np.mean((s * (1 - s)) ** 2) * (w @ w)), rel=1e-5)


def test_unknown_penalty_target_is_an_error():
    with pytest.raises(ValueError, match="penalty target"):
        penalties.squared_gradient_norm(_linear(np.ones(2, np.float32)), np.zeros([1, 2]),
                                        target="prob")


def test_the_registered_regularisers_are_the_closed_forms():
    """What FAR-GAN's step looks up by --regularizer: 'real' returns D0 on the real
    side and R = mean ‖w‖² (D0 = wᵀx + b); 'interpolation' leaves D0 to the caller
    and returns R at x̃; 'none' is no regulariser at all."""
    w = np.array([0.5, -2.0], np.float32)
    rng = np.random.default_rng(4)
    real, fake, alpha = (rng.standard_normal((6, 2)).astype(np.float32),
                         rng.standard_normal((6, 2)).astype(np.float32),
                         rng.uniform(size=6).astype(np.float32))
    d = _linear(w, 0.3)
    logits, reg = penalties.REGULARIZER_FUNCTIONS["real"](d, real, fake, alpha)
    np.testing.assert_allclose(logits.numpy()[:, 0], real @ w + 0.3,
                               rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(reg.numpy(), np.sum(w ** 2), rtol=1e-6)
    logits, reg = penalties.REGULARIZER_FUNCTIONS["interpolation"](
        d, real, fake, alpha, target="probability")
    assert logits is None
    x_tilde = alpha[:, None] * real + (1 - alpha[:, None]) * fake
    s = 1 / (1 + np.exp(-(x_tilde @ w + 0.3)))
    np.testing.assert_allclose(reg.numpy(), np.mean((s * (1 - s)) ** 2) * np.sum(w ** 2),
                               rtol=1e-5)
    assert penalties.REGULARIZER_FUNCTIONS["none"] is None


@pytest.mark.parametrize("num_unpenalized", [0, 2, 4])
def test_real_rows_only_penalty_covers_exactly_the_leading_rows(num_unpenalized):
    """The FAR mechanism ablation (--nopenalize_far): on a quadratic D0, whose ∇D0
    differs per point, R = 1/N Σ_{i < N0} ‖∇D0(c_i)‖² with N0 = N − (unpenalised rows),
    in closed form; the logits still cover all N rows."""
    fn, a, c = _quadratic()
    x = np.random.RandomState(3).randn(7, 2).astype(np.float32)
    per_point = ((x @ (a + a.T).T + c) ** 2).sum(1)
    n0 = 7 - num_unpenalized
    logits, reg = penalties.real_side_regularizer(fn, x, None, None, "logit",
                                                  num_unpenalized=num_unpenalized)
    assert logits.shape == (7, 1)
    np.testing.assert_allclose(reg.numpy(), per_point[:n0].sum() / 7, rtol=1e-5)
    if num_unpenalized:  # and it is not the full penalty, nor the mean over N0
        assert not np.isclose(reg.numpy(), per_point.mean(), rtol=1e-3)
        assert not np.isclose(reg.numpy(), per_point[:n0].mean(), rtol=1e-3)
