"""Orthogonal regulariser R = Σ_l ‖W_lᵀ W_l − I‖²_F (Brock et al. 2016)."""

import numpy as np
import pytest
import tensorflow as tf

from far_keras.nets import sdkl
from far_keras.objectives import orthogonal


def numpy_penalty(kernels, norm="frobenius"):
    """Independent reference: flatten to [fan_in, out], residual of the Gram."""
    total = 0.0
    for k in kernels:
        w = np.asarray(k, np.float64).reshape(-1, np.shape(k)[-1])
        residual = w.T @ w - np.eye(w.shape[1])
        total += np.sum(residual ** 2) if norm == "frobenius" else np.sum(np.abs(residual))
    return total


def orthonormal_columns(rng, rows, cols):
    q, _ = np.linalg.qr(rng.normal(size=(rows, cols)))  # rows >= cols: QᵀQ = I
    return q


def test_zero_for_orthogonal_kernels():
    rng = np.random.default_rng(0)
    dense = orthonormal_columns(rng, 20, 7)
    conv = orthonormal_columns(rng, 3 * 3 * 4, 10).reshape(3, 3, 4, 10)
    square = orthonormal_columns(rng, 6, 6)
    kernels = [tf.constant(k, tf.float64) for k in (dense, conv, square)]
    for norm in orthogonal.NORMS:
        value = float(orthogonal.orthogonal_regularizer(kernels, norm))
        assert value == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("norm", orthogonal.NORMS)
def test_positive_and_equal_to_numpy(norm):
    rng = np.random.default_rng(1)
    kernels = [rng.normal(size=(3, 3, 4, 10)), rng.normal(size=(20, 7)) * 0.3,
               rng.normal(size=(4, 4, 2, 5))]
    value = float(orthogonal.orthogonal_regularizer(
        [tf.constant(k, tf.float64) for k in kernels], norm))
    assert value > 0.0
    assert value == pytest.approx(numpy_penalty(kernels, norm), rel=1e-12)


def test_scaled_orthogonal_kernel_closed_form():
    """W = c·Q with orthonormal columns: WᵀW − I = (c² − 1) I, R = out·(c² − 1)²."""
    q = orthonormal_columns(np.random.default_rng(2), 12, 5)
    value = float(orthogonal.orthogonal_regularizer([tf.constant(2.0 * q)]))
    assert value == pytest.approx(5 * 3.0 ** 2, rel=1e-5)


def test_floor_when_out_exceeds_fan_in():
    """out > fan_in: WᵀW has rank ≤ fan_in; with orthonormal rows R = out − fan_in."""
    w = orthonormal_columns(np.random.default_rng(3), 8, 3).T  # [3, 8], W Wᵀ = I
    value = float(orthogonal.orthogonal_regularizer([tf.constant(w, tf.float64)]))
    assert value == pytest.approx(8 - 3, rel=1e-10)


def test_gradient_matches_finite_differences():
    rng = np.random.default_rng(4)
    shapes = [(2, 2, 3, 4), (6, 3)]
    kernels = [tf.Variable(rng.normal(size=s) * 0.5, dtype=tf.float64) for s in shapes]
    with tf.GradientTape() as tape:
        value = orthogonal.orthogonal_regularizer(kernels)
    grads = tape.gradient(value, kernels)

    base = [k.numpy() for k in kernels]
    h = 1e-6
    for i, k in enumerate(base):
        numeric = np.zeros_like(k)
        for idx in np.ndindex(k.shape):
            plus = [b.copy() for b in base]
            minus = [b.copy() for b in base]
            plus[i][idx] += h
            minus[i][idx] -= h
            numeric[idx] = (numpy_penalty(plus) - numpy_penalty(minus)) / (2 * h)
        np.testing.assert_allclose(grads[i].numpy(), numeric, rtol=1e-6, atol=1e-8)


def test_gradient_closed_form():
    """∇_W ‖WᵀW − I‖²_F = 4 W (WᵀW − I)."""
    w = np.random.default_rng(5).normal(size=(7, 4))
    var = tf.Variable(w)
    with tf.GradientTape() as tape:
        value = orthogonal.orthogonal_regularizer([var])
    np.testing.assert_allclose(tape.gradient(value, var).numpy(),
                               4 * w @ (w.T @ w - np.eye(4)), rtol=1e-10)


def test_model_kernels_of_sdkl_discriminator():
    """All 5 conv + 3 dense kernels of D, through its nested halves, no biases."""
    parts = sdkl.sdkl_discriminator(resolution=16, channels=3, base_width=8, fc_units=32)
    kernels = orthogonal.model_kernels(parts.discriminator)
    shapes = [tuple(k.shape) for k in kernels]
    assert shapes == [(4, 4, 3, 8), (4, 4, 8, 16),
                      (4, 4, 16, 32), (4, 4, 32, 64), (3, 3, 64, 64),
                      (64, 32), (32, 32), (32, 1)]
    # Every fan_in >= out here: orthogonal initialisation gives R = 0.
    assert float(orthogonal.orthogonal_regularizer(kernels)) == pytest.approx(0.0, abs=1e-4)


def test_orthogonal_init_starts_at_floor():
    """conv1 of a 1-channel D with w = 32: fan_in 4·4·1 = 16 < out 32, so the
    orthogonally initialised D starts at the floor 32 − 16 = 16."""
    parts = sdkl.sdkl_discriminator(resolution=16, channels=1, base_width=32, fc_units=32)
    value = float(orthogonal.orthogonal_regularizer(orthogonal.model_kernels(parts.discriminator)))
    assert value == pytest.approx(16.0, abs=1e-3)


def test_rejects_unknown_norm_and_empty_list():
    with pytest.raises(ValueError):
        orthogonal.orthogonal_regularizer([tf.eye(3)], norm="spectral")
    with pytest.raises(ValueError):
        orthogonal.orthogonal_regularizer([])
