"""Export of a generator as a SavedModel that needs nothing but TensorFlow.

Signatures:
  ``generate(z)``: latents [n, latent_dim] → {"samples"} (also ``serving_default``);
  ``sample(n, seed)``: draws n samples from z ~ N(0, I) with a stateless seed
  → {"samples", "z"};
  ``encode(x)`` (models with an encoder): x → {"mean", "scale"} of q(z|x).
Samples are float32 whatever precision the generator computes in.
"""

import keras
import tensorflow as tf

from far_keras import rng


def export_generator(generator, latent_dim, export_dir, encoder=None):
    """Writes the SavedModel; ``encoder`` (x → [mean, log scale]) adds ``encode``."""
    archive = keras.export.ExportArchive()
    archive.track(generator)
    z_spec = tf.TensorSpec([None, latent_dim], tf.float32, name="z")

    def generate(z):
        return {"samples": tf.cast(generator(z, training=False), tf.float32)}

    def sample(n, seed):
        z = rng.sample_latents(n, latent_dim, seed)
        return {"samples": tf.cast(generator(z, training=False), tf.float32), "z": z}

    archive.add_endpoint("generate", generate, input_signature=[z_spec])
    archive.add_endpoint("serving_default", generate, input_signature=[z_spec])
    archive.add_endpoint("sample", sample, input_signature=[
        tf.TensorSpec([], tf.int32, name="n"), tf.TensorSpec([], tf.int64, name="seed")])
    if encoder is not None:
        archive.track(encoder)

        def encode(x):
            mean, log_scale = encoder(x, training=False)
            return {"mean": mean, "scale": tf.exp(log_scale)}

        archive.add_endpoint("encode", encode, input_signature=[
            tf.TensorSpec([None] + list(encoder.input_shape[1:]), tf.float32, name="x")])
    archive.write_out(export_dir, verbose=False)
    return export_dir
