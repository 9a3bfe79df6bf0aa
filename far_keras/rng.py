"""The project's random-number conventions, in one place.

- ``RNG_ALG``: every stateless draw uses Philox. Pinned: the default "auto_select"
  may pick another generator under XLA or on another device, and then a compiled run
  would not draw what an eager one does.
- :func:`sample_latents`: the latents of ``sample(n, seed)`` — the exported
  generator's signature and ``evaluate.py``'s checkpoint path draw the same z for the
  same seed, so their images agree.
"""

import tensorflow as tf

RNG_ALG = "philox"


def sample_latents(n, latent_dim, seed):
    """z ~ N(0, I) [n, latent_dim], a pure function of the integer ``seed``."""
    return tf.random.stateless_normal([n, latent_dim], tf.stack([tf.cast(seed, tf.int64), 0]),
                                      alg=RNG_ALG)
