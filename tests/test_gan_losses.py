import numpy as np
import pytest
import tensorflow as tf

from far_keras.objectives import gan_losses


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def test_discriminator_loss_matches_eq2():
    real = np.array([2.0, -1.0, 0.5, 3.0], np.float32)
    fake = np.array([-2.0, 0.3, 1.0], np.float32)
    expected = -(np.mean(np.log(_sigmoid(real))) + np.mean(np.log(1 - _sigmoid(fake))))
    got = gan_losses.discriminator_loss(real[:, None], fake[:, None])
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-6)


def test_generator_loss_is_non_saturating_eq3():
    fake = np.array([-3.0, 0.0, 4.0], np.float32)
    expected = -np.mean(np.log(_sigmoid(fake)))
    np.testing.assert_allclose(gan_losses.generator_loss(fake).numpy(), expected, rtol=1e-6)
    np.testing.assert_allclose(gan_losses.generator_loss_per_sample(fake).numpy(),
                               -np.log(_sigmoid(fake.astype(np.float64))), rtol=1e-5)


def test_equilibrium_values():
    zeros = tf.zeros([5, 1])
    assert gan_losses.discriminator_loss(zeros, zeros).numpy() == pytest.approx(2 * np.log(2))
    assert gan_losses.generator_loss(zeros).numpy() == pytest.approx(np.log(2))


def test_losses_are_stable_at_extreme_logits():
    big = tf.constant([[80.0]])
    assert np.isfinite(gan_losses.discriminator_loss(-big, big).numpy())
    assert gan_losses.discriminator_loss(-big, big).numpy() == pytest.approx(160.0)
