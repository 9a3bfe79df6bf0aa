"""Periodic evaluation of a 2-D GAN: protocol metrics, TensorBoard, metrics.json."""

import os

import numpy as np
import tensorflow as tf

from far_keras import rng
from far_keras.metrics import discriminator_health, two_d
from far_keras.evaluation import plots


class TwoDEvaluator:
    """Draws ``num_samples`` points from fixed latents, scores them (protocols.md),
    and writes scalars, a scatter image and metrics.json.

    ``generator_fn()`` returns the network to evaluate (the EMA copy when EMA is on).
    """

    def __init__(self, source, generator_fn, discriminator, latent_dim, writer, log,
                 num_samples=2500, seed=0, plot_contour=True, samples_dir=None, plot_every=0):
        self.source = source
        self.generator_fn = generator_fn
        self.discriminator = discriminator
        self.writer = writer
        self.log = log
        self.seed = seed
        self.plot_contour = plot_contour
        # Fixed latents: every evaluation of every run with this seed sees the same z.
        self.z = rng.fixed_latents(num_samples, latent_dim, seed, rng.EVAL_2D_STREAM)
        self.real = source.sample_numpy(num_samples, seed + 1)
        self.samples_dir = samples_dir
        self.plot_every = plot_every
        self.last_png = None

    def samples(self):
        return np.asarray(self.generator_fn()(self.z, training=False), np.float32)

    def _discriminator_output(self, grid):
        """D(x) = σ(D0(x)) on a grid of points, for the contour plot."""
        return tf.sigmoid(tf.cast(self.discriminator(grid, training=False), tf.float32)).numpy()

    def __call__(self, step, final=False):
        fake = self.samples()
        try:
            metrics = two_d.evaluate_samples(self.source, fake, seed=self.seed)
            health = discriminator_health.discriminator_health(self.discriminator, self.real,
                                                               fake)
            metrics.update({f"health_{k}": v for k, v in health.items()})
        except FloatingPointError as e:
            metrics = {"error": str(e)}
        if self.samples_dir:
            os.makedirs(self.samples_dir, exist_ok=True)
            np.savez_compressed(os.path.join(self.samples_dir, f"step_{int(step)}.npz"),
                                fake=fake, real=self.real)
        # The picture costs ten times the rest of an evaluation: at the paper's lengths
        # (100 evaluations) --plot_every keeps it to the iterations worth looking at.
        draw = final or not self.plot_every or int(step) % self.plot_every == 0
        if draw:
            contour = self._discriminator_output if self.plot_contour else None
            title = f"{self.source.name}, step {step}"
            self.last_png = plots.scatter_png(self.real, fake, title=title, contour_fn=contour)
        with self.writer.as_default(step=step):
            for name, value in metrics.items():
                if isinstance(value, (int, float)):
                    tf.summary.scalar(f"eval/{name}", value)
            if draw:
                tf.summary.image("eval/samples", tf.image.decode_png(self.last_png)[None])
        self.writer.flush()
        self.log.add(step, metrics, final=final)
        return metrics
