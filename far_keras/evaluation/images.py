"""Periodic evaluation of an image GAN: sample grid, FID and IS, metrics.json.

The image counterpart of :class:`far_keras.evaluation.two_d.TwoDEvaluator`: same
call (``evaluator(step, final=False) -> metrics dict``) and the same
:class:`~far_keras.evaluation.metrics_log.MetricsLog`.

Protocol (``shared/protocols.md``, paper): FID from ``num_samples`` generated images
(10k in the paper) against real statistics of the same extractor; IS over ``splits``
contiguous parts (the paper's IS uses 50k samples and 10 splits: pass
``num_samples=50_000`` for a final IS-protocol evaluation). Every evaluation draws the
same latents (fixed by ``seed``), so numbers at different steps differ only through
the generator.
"""

import math

import numpy as np
import tensorflow as tf

from far_keras import rng
from far_keras.metrics import image_metrics

# Values of the two losses when D(x) = 1/2 everywhere (the GAN equilibrium):
# d_loss = softplus(-0) + softplus(0) = 2 log 2, non-saturating g_loss = log 2.
D_LOSS_EQUILIBRIUM = 2.0 * math.log(2.0)
G_LOSS_EQUILIBRIUM = math.log(2.0)


def image_grid(images, rows, fill=0.0):
    """Tile images into one image, row-major.

    Args:
      images: [N, H, W, C] array (any dtype).
      rows: number of grid rows (>= 1); columns = ceil(N / rows).
      fill: value of the cells left empty when N < rows * columns.

    Returns:
      [rows * H, columns * W, C] array of the input dtype; image ``i`` occupies rows
      ``(i // columns) * H ...`` and columns ``(i % columns) * W ...``.
    """
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"images must be [N, H, W, C], got shape {images.shape}")
    num, height, width, channels = images.shape
    rows = int(rows)
    if rows < 1 or num < 1:
        raise ValueError(f"need rows >= 1 and at least one image; got rows={rows}, N={num}")
    cols = -(-num // rows)
    grid = np.full((rows * cols, height, width, channels), fill, dtype=images.dtype)
    grid[:num] = images
    return (grid.reshape(rows, cols, height, width, channels)
            .transpose(0, 2, 1, 3, 4)
            .reshape(rows * height, cols * width, channels))


def to_uint8(images):
    """[-1, 1] floats -> uint8 [0, 255] (values outside are clipped)."""
    return np.round((np.clip(np.asarray(images, np.float32), -1.0, 1.0) + 1.0) * 127.5
                    ).astype(np.uint8)


class ImageEvaluator:
    """Draws fixed-latent samples, scores them and writes TensorBoard and metrics.json.

    Each call writes, at ``step``: the image ``eval/samples`` (a ``grid_rows`` x
    ``grid_cols`` grid of samples from fixed latents), the scalars ``eval/fid`` (when
    real statistics are given), ``eval/inception_score`` and
    ``eval/inception_score_std``; and appends the metrics dict (``fid``,
    ``inception_score``, ``inception_score_std``, ``num_samples``, ``weights_id``,
    ``real_source``) to the :class:`MetricsLog`. The first call also writes the
    reference scalars ``train/d_loss_equilibrium`` (2 log 2) and
    ``train/g_loss_equilibrium`` (log 2), at step 0 and at its step so that
    TensorBoard draws them as lines next to ``train/d_loss`` and ``train/g_loss``.

    Args:
      generator_fn: zero-argument callable returning the generator to evaluate (the
        EMA copy when EMA is on); called once per evaluation.
      latent_dim: dimension of z.
      writer: a ``tf.summary`` writer.
      log: the run's :class:`far_keras.evaluation.metrics_log.MetricsLog`.
      extractor: feature extractor (``weights_id``, ``__call__(images) ->
        (features, logits)``), e.g. :func:`far_keras.metrics.inception.inception_extractor`
        or :class:`far_keras.metrics.digits_classifier.DigitsClassifier`.
      real_stats: :class:`image_metrics.FeatureStatistics` of real data from the same
        extractor; or None to build them from ``stats_cache`` and
        ``real_batches_fn`` (see :meth:`real_statistics`); with neither, no FID.
      num_samples: generated images per evaluation (paper: 10k for FID).
      batch_size: images per generator call.
      splits: IS splits (paper: 10).
      grid_rows, grid_cols: layout of the sample grid.
      seed: fixes the grid latents and the FID/IS latents.
      stats_cache: ``.npz`` path of the real statistics cache.
      real_batches_fn: zero-argument callable returning an iterable of real batches
        in [-1, 1] (called only when the cache is missing or stale).
      real_samples: real images for the statistics (default ``num_samples``).
      real_source: name of the real data stored with the statistics, e.g.
        'cifar10/train'.
      progress: show progress bars while scoring.
    """

    def __init__(self, generator_fn, latent_dim, writer, log, extractor, real_stats=None,
                 num_samples=10_000, batch_size=250, splits=10, grid_rows=8, grid_cols=8,
                 seed=0, stats_cache=None, real_batches_fn=None, real_samples=None,
                 real_source="", progress=False, metrics=("fid", "is")):
        if num_samples < max(2, splits):
            raise ValueError(f"num_samples={num_samples}: need at least 2 and at least "
                             f"splits={splits} samples")
        self.generator_fn = generator_fn
        self.latent_dim = int(latent_dim)
        self.writer = writer
        self.log = log
        self.extractor = extractor
        self.num_samples = int(num_samples)
        self.batch_size = int(batch_size)
        self.splits = int(splits)
        self.grid_rows = int(grid_rows)
        self.seed = int(seed)
        self.progress = progress
        self.metrics = tuple(metrics)
        keep_features = bool({"kid", "prdc"} & set(self.metrics))
        if real_stats is None and stats_cache is not None and real_batches_fn is not None:
            real_stats = self.real_statistics(extractor, stats_cache, real_batches_fn,
                                              real_samples or num_samples, real_source,
                                              progress, keep_features)
        if real_stats is not None and real_stats.weights_id != extractor.weights_id:
            raise ValueError(
                f"real statistics were computed with {real_stats.weights_id!r}, the "
                f"extractor is {extractor.weights_id!r}")
        self.real_stats = real_stats
        # Fixed latents: every evaluation of every run with this seed sees the same z.
        self.grid_z = rng.fixed_latents(self.grid_rows * int(grid_cols), self.latent_dim,
                                        self.seed, rng.IMAGE_GRID_STREAM)
        self.last_grid = None  # uint8 [rows*H, cols*W, C] of the last evaluation
        self.last_png = None   # the same, PNG-encoded
        self._wrote_reference = False
        self._wrote_protocol = False
        self._said_is_unavailable = False

    @staticmethod
    def real_statistics(extractor, stats_cache, real_batches_fn, num_samples, source="",
                        progress=False, keep_features=False):
        """Real statistics from the cache, or computed from ``real_batches_fn()`` and
        cached (see :func:`image_metrics.load_or_compute_real_statistics`)."""
        return image_metrics.load_or_compute_real_statistics(
            stats_cache, extractor, real_batches_fn, num_samples, source=source,
            progress=progress, keep_features=keep_features)

    def _score_latents(self, index, n):
        return rng.fixed_latents(n, self.latent_dim, self.seed, rng.IMAGE_SCORE_STREAM, index)

    def score(self, generator):
        """:class:`image_metrics.ImageScores` of ``num_samples`` images of ``generator``."""
        batch_index = iter(range(1 << 62))

        def sample_fn(n):
            z = self._score_latents(next(batch_index), n)
            return tf.cast(generator(z, training=False), tf.float32)  # mixed precision

        return image_metrics.evaluate_generator(
            sample_fn, self.num_samples, self.batch_size, self.extractor, self.real_stats,
            splits=self.splits, progress=self.progress, metrics=self.metrics)

    def sample_grid(self, generator):
        """uint8 grid of the fixed-latent samples."""
        images = np.asarray(generator(self.grid_z, training=False), np.float32)
        return image_grid(to_uint8(images), self.grid_rows)

    def write_reference_scalars(self, step):
        """``train/{d,g}_loss_equilibrium`` at step 0 and ``step`` (once per evaluator)."""
        if self._wrote_reference:
            return
        with self.writer.as_default():
            for at in sorted({0, int(step)}):
                tf.summary.scalar("train/d_loss_equilibrium", D_LOSS_EQUILIBRIUM, step=at)
                tf.summary.scalar("train/g_loss_equilibrium", G_LOSS_EQUILIBRIUM, step=at)
        self._wrote_reference = True

    def __call__(self, step, final=False):
        generator = self.generator_fn()
        self.last_grid = self.sample_grid(generator)
        self.last_png = tf.io.encode_png(self.last_grid).numpy()
        try:
            scores = self.score(generator)
            metrics = scores.as_metrics()
            if "is_unavailable" in metrics and not self._said_is_unavailable:
                print(f"No Inception Score: {metrics['is_unavailable']}.")
                self._said_is_unavailable = True
        except (FloatingPointError, ValueError, np.linalg.LinAlgError) as e:
            # e.g. NaN samples from a collapsed generator; the run goes on and the
            # log says why this evaluation has no numbers.
            metrics = {"error": str(e), "num_samples": self.num_samples,
                       "weights_id": self.extractor.weights_id}
        self.write_reference_scalars(step)
        with self.writer.as_default(step=step):
            for name in ("fid", "inception_score", "inception_score_std", "kid_mean",
                         "kid_std", "precision", "recall", "density", "coverage"):
                value = metrics.get(name)
                if isinstance(value, (int, float)) and math.isfinite(value):
                    tf.summary.scalar(f"eval/{name}", value)
            if "protocol" in metrics and not self._wrote_protocol:
                tf.summary.text("eval/protocol", image_metrics.protocol_key(metrics["protocol"]))
                self._wrote_protocol = True
            tf.summary.image("eval/samples", self.last_grid[None])
        self.writer.flush()
        self.log.add(step, metrics, final=final)
        return metrics


class WithReconstructions:
    """Wraps an evaluator: also writes ``eval/reconstructions``, fixed real inputs
    (left) beside their reconstructions Dec(E[q(z|x)]) (right), for models with an
    encoder (the SDKL paper's VAE, VAEGAN, SDKL, SDKL without sampling)."""

    def __init__(self, evaluator, reconstruct, inputs, writer, rows=4):
        self.evaluator = evaluator
        self.reconstruct = reconstruct
        self.inputs = inputs
        self.writer = writer
        self.rows = rows

    @property
    def last_png(self):
        return self.evaluator.last_png

    def __call__(self, step, final=False):
        metrics = self.evaluator(step, final=final)
        x = np.asarray(self.inputs)
        rec = np.asarray(self.reconstruct(self.inputs))
        pairs = np.concatenate([image_grid(x, self.rows), image_grid(rec, self.rows)], axis=1)
        with self.writer.as_default(step=step):
            tf.summary.image("eval/reconstructions", to_uint8(pairs)[None])
        self.writer.flush()
        return metrics
