"""Sigmoid GAN losses on logits (FAR-GAN paper, eqs. 2-3).

D(x) = σ(D0(x)); every function takes the logits D0 so that the log-sigmoids are
computed stably as softplus terms (log σ(a) = −softplus(−a)).

The functions return batch means. Under a ``tf.distribute`` strategy the model
divides them by the number of replicas, so that the all-reduced *sum* of replica
gradients equals the gradient of the global-batch mean.
"""

import tensorflow as tf


def discriminator_loss(real_logits, fake_logits):
    """Negative of eq. (2): −E_real[log σ(D0(x))] − E_fake[log(1 − σ(D0(y)))].

    Args:
      real_logits: D0 on the discriminator's real batch, shape [N] or [N, 1]. Under
        FAR this batch holds the N0 real samples and the M0 FAR samples (eq. 12).
      fake_logits: D0 on the M generated samples, shape [M] or [M, 1].

    Returns:
      Scalar. At the theoretical equilibrium D ≡ 1/2 it equals 2 log 2.
    """
    real_logits = tf.reshape(real_logits, [-1])
    fake_logits = tf.reshape(fake_logits, [-1])
    return tf.reduce_mean(tf.nn.softplus(-real_logits)) + tf.reduce_mean(
        tf.nn.softplus(fake_logits))


def generator_loss(fake_logits):
    """Non-saturating generator loss, the negative of eq. (3): −E[log σ(D0(G(z)))].

    Equals log 2 at the theoretical equilibrium.
    """
    return tf.reduce_mean(tf.nn.softplus(-tf.reshape(fake_logits, [-1])))


def generator_loss_per_sample(fake_logits):
    """ℓ(y) = −log σ(D0(y)) for each generated sample y, shape [M].

    Its gradient w.r.t. y is the quantity of eqs. (5)-(6) whose norm FAR reduces.
    """
    return tf.nn.softplus(-tf.reshape(fake_logits, [-1]))
