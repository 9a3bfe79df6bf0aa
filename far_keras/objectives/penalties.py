"""Zero-centred gradient penalties on the discriminator, at the logit D0 or at σ(D0).

- ``real``: GAN-0GP-sample (Mescheder et al. 2018, "R1"), the last term of the FAR
  objective eq. (12): λ/N Σ_i ‖∇D0(c_i)‖², c_i in the discriminator's *real* batch,
  which under FAR is D_r ∪ D_FAR.
- ``interpolation``: GAN-0GP-interpolation (Thanh-Tung et al. 2019): the same
  zero-centred norm at x̃ = α x + (1 − α) y, α ~ U(0, 1) per sample.

What is differentiated (``target``):

- ``logit``: ∇D0, eq. (12) as printed and GAN_stability's R1 on images.
- ``probability``: ∇D with D = σ(D0) = σ'(D0) ∇D0 = σ(D0)(1 − σ(D0)) ∇D0, what the
  synthetic reference code (Thanh-Tung et al. 2019, ``GradientPenaltiesGAN.py``,
  ``cal_gradpen`` on a discriminator ending in ``nn.Sigmoid``) penalises. Near
  D = 1/2 it is 1/16 of the logit penalty; where D saturates it vanishes.

Both are pure functions of a discriminator callable and tensors: randomness (α) is
passed in, so a test can compare them with closed forms.
"""

import tensorflow as tf

from far_keras.objectives import PENALTY_TARGETS


def logits_and_squared_gradient_norm(discriminator, points, target="logit"):
    """(D0(c), ‖∇_c T(c)‖²) for each row c of ``points``: shapes [N, 1] and [N],
    with T = D0 (``target='logit'``) or T = σ(D0) (``target='probability'``).

    Returning the logits lets a model take its loss and its penalty from one
    forward pass. The inner tape reduces D0 to a scalar *inside* its block (a tape
    only records what runs within it) and the result stays connected to the
    discriminator's weights, so an outer tape can differentiate the penalty (double
    backprop). Summing over the batch is exact because D0(c_i) depends on c_i only.
    """
    if target not in PENALTY_TARGETS:
        raise ValueError(f"penalty target must be one of {PENALTY_TARGETS}, got {target!r}")
    points = tf.convert_to_tensor(points)
    with tf.GradientTape() as tape:
        tape.watch(points)
        # float32 even when D computes in float16/bfloat16 (mixed precision)
        logits = tf.cast(discriminator(points, training=True), tf.float32)
        total = tf.reduce_sum(logits if target == "logit" else tf.sigmoid(logits))
    grads = tape.gradient(total, points)
    grads = tf.reshape(tf.cast(grads, tf.float32), [tf.shape(grads)[0], -1])
    return logits, tf.reduce_sum(tf.square(grads), axis=1)


def squared_gradient_norm(discriminator, points, target="logit"):
    """‖∇_c T(c)‖² for each row c of ``points``, shape [N] (T as above)."""
    return logits_and_squared_gradient_norm(discriminator, points, target)[1]


def interpolates(real_points, fake_points, alpha):
    """x̃_i = α_i x_i + (1 − α_i) y_i; ``alpha`` has shape [N] (one α per pair)."""
    shape = [-1] + [1] * (len(real_points.shape) - 1)
    alpha = tf.reshape(tf.cast(alpha, real_points.dtype), shape)
    return alpha * real_points + (1.0 - alpha) * fake_points


def interpolation_gradient_penalty(discriminator, real_points, fake_points, alpha,
                                   target="logit"):
    """0GP-interpolation: mean of ‖∇T(x̃)‖² at x̃ = α x + (1 − α) y (no λ)."""
    return tf.reduce_mean(squared_gradient_norm(
        discriminator, interpolates(real_points, fake_points, alpha), target))


# --------------------------------------------------- the regularisers, by name
# Each takes (discriminator, real side, fakes, α [N], target) and returns
# (D0 on the real side if it computed it, else None; the unweighted R). FAR-GAN's
# step looks its --regularizer up here (a new one: its name in
# ``objectives/__init__.py`` and its function here).

def real_side_regularizer(discriminator, real_side, fake, alpha, target="logit",
                          num_unpenalized=0):
    """0GP-sample (eq. 12): R = 1/N Σ_i ‖∇T(c_i)‖² over the real side c ∈ D_r ∪ D_FAR,
    with D0 there from the same pass (only the penalised rows need the double-backprop
    pass).

    ``num_unpenalized`` (the FAR mechanism ablation, ``--nopenalize_far``): the last
    that many rows (D_FAR, M0 of them) are dropped from the sum but not from the 1/N,
    so that each true real row keeps the weight λ/N it has in eq. (12) and the only
    change is that the penalty no longer acts where the FAR samples are.
    """
    del fake, alpha
    logits, sq_norm = logits_and_squared_gradient_norm(discriminator, real_side, target)
    if num_unpenalized:
        n = tf.shape(sq_norm)[0]
        penalised = sq_norm[:n - num_unpenalized]
        return logits, tf.reduce_sum(penalised) / tf.cast(n, sq_norm.dtype)
    return logits, tf.reduce_mean(sq_norm)


def interpolation_regularizer(discriminator, real_side, fake, alpha, target="logit"):
    """0GP-interpolation: R at x̃ = α x + (1 − α) y; D0 on the real side is left to
    the caller (one pass over real and fake together)."""
    return None, interpolation_gradient_penalty(discriminator, real_side, fake, alpha, target)


REGULARIZER_FUNCTIONS = {"none": None, "real": real_side_regularizer,
                         "interpolation": interpolation_regularizer}
