"""The project's random-number conventions, in one place.

- ``RNG_ALG``: every stateless draw uses Philox. Pinned: the default "auto_select"
  may pick another generator under XLA or on another device, and then a compiled run
  would not draw what an eager one does.
- :func:`fold_seed`: a stateless seed for (base, *stream): how the models key every
  draw of a training step by (seed, step, stream, ...) (``models/base.py``).
- :func:`fixed_latents`: the fixed z of the evaluators and the health check; each
  consumer has its own stream (below), so no two of them reuse one z.
- :func:`sample_latents`: the latents of ``sample(n, seed)`` — the exported
  generator's signature and ``evaluate.py``'s checkpoint path draw the same z for the
  same seed, so their images agree.
"""

import tensorflow as tf

RNG_ALG = "philox"

# Streams of the fixed latents (values kept from the first releases, so that
# evaluations of old and new runs see the same z).
EVAL_2D_STREAM = 12345      # TwoDEvaluator's samples
HEALTH_STREAM = 4242        # HealthCheck's fake points
IMAGE_GRID_STREAM = 0x6A1D  # ImageEvaluator's sample grid
IMAGE_SCORE_STREAM = 0x5C0E  # ImageEvaluator's FID/IS samples, folded with the batch index


def fold_seed(base, *stream):
    """The stateless seed [2] int64 for ``base`` (a seed pair) folded with each value
    of ``stream`` in turn (``stateless_fold_in``, Philox)."""
    seed = tf.cast(base, tf.int64)
    for s in stream:
        seed = tf.random.experimental.stateless_fold_in(seed, s, alg=RNG_ALG)
    return seed


def fixed_latents(n, latent_dim, seed, stream, *fold):
    """z ~ N(0, I) [n, latent_dim] for (run seed, consumer stream, *fold): a pure
    function of them, the same in every evaluation of every run with this seed."""
    key = fold_seed(tf.stack([tf.cast(seed, tf.int64), tf.cast(stream, tf.int64)]), *fold)
    return tf.random.stateless_normal([n, latent_dim], key, alg=RNG_ALG)


def sample_latents(n, latent_dim, seed):
    """z ~ N(0, I) [n, latent_dim], a pure function of the integer ``seed``."""
    return tf.random.stateless_normal([n, latent_dim], tf.stack([tf.cast(seed, tf.int64), 0]),
                                      alg=RNG_ALG)
