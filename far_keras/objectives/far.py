"""FAR: "fake as real" selection (FAR-GAN paper, eq. 11).

From M1 generated candidates D_f = {f_1..f_M1}, D_FAR is the M0 candidates with the
*lowest* discriminator output, i.e. the top M0 of {−D0(f_j)}. They join the N0 = N − M0
real samples on the real side of the discriminator loss (eq. 12).
"""

import tensorflow as tf


def far_select(candidates, candidate_logits, num_far):
    """Returns (D_FAR, indices): the ``num_far`` (M0) candidates with the lowest D0.

    No gradient flows back through the selection: FAR samples are data for the
    discriminator, not a path by which the generator is trained (eq. 12 treats them
    as constants on the real side).

    Args:
      candidates: [M1, ...] generated samples.
      candidate_logits: [M1] or [M1, 1] discriminator logits D0 on them.
      num_far: M0, a Python int with 0 ≤ M0 ≤ M1.
    """
    logits = tf.reshape(candidate_logits, [-1])
    m1 = logits.shape[0]
    if m1 is not None and not 0 <= num_far <= m1:
        raise ValueError(f"num_far (M0) must be in [0, M1={m1}], got {num_far}")
    _, indices = tf.math.top_k(-logits, k=num_far, sorted=True)
    selected = tf.gather(tf.stop_gradient(candidates), indices)
    return selected, indices


def far_real_batch(real_points, far_points):
    """The discriminator's real side under FAR: N0 real rows, then the M0 FAR rows."""
    return tf.concat([real_points, tf.cast(far_points, real_points.dtype)], axis=0)
