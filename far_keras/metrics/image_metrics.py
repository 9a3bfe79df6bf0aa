"""FID and Inception Score, computed batch by batch from any feature extractor.

An extractor (see :mod:`far_keras.metrics.inception`) maps [-1, 1] NHWC images to
(features, logits) and names its weights in ``weights_id``. Every statistic and
score here carries that ``weights_id``: numbers from different weights are not
comparable, and :func:`fid_from_statistics` refuses to mix them.

Protocols (``shared/protocols.md``): FID between generated and real pool features,
10k generated images in the paper and real statistics at the same scale; IS =
exp(E_x KL(p(y|x) || p(y))) over 10 splits of 50k samples (Salimans et al. 2016).

Memory: features and class probabilities of all samples are held as float32
(50k x 2048 features = 400 MB; 50k x 1000 probabilities = 200 MB).
"""

import dataclasses
import io
import os

import numpy as np
import tensorflow as tf
from scipy.special import log_softmax

from far_keras.metrics.frechet import frechet_distance, gaussian_statistics


@dataclasses.dataclass(frozen=True)
class FeatureStatistics:
    """Mean and covariance of extractor features (the Gaussian FID compares).

    Attributes:
      mu: [D] float64 mean.
      sigma: [D, D] float64 unbiased covariance.
      num_samples: number of images the statistics were computed from.
      weights_id: the extractor weights that produced the features.
      source: free text naming the images (e.g. 'cifar10/train'); '' if unknown.
      features: [N, D] float32 features themselves, kept when KID or P/R/D/C need
        them (they compare samples, not Gaussians); None otherwise.
    """

    mu: np.ndarray
    sigma: np.ndarray
    num_samples: int
    weights_id: str
    source: str = ""
    features: np.ndarray | None = None

    def save(self, path):
        """Write an ``.npz`` (mu, sigma, num_samples, weights_id, source) atomically."""
        buffer = io.BytesIO()
        extra = {} if self.features is None else {"features": self.features}
        np.savez(buffer, mu=self.mu, sigma=self.sigma, num_samples=np.int64(self.num_samples),
                 weights_id=np.str_(self.weights_id), source=np.str_(self.source), **extra)
        directory = os.path.dirname(str(path))
        if directory:
            tf.io.gfile.makedirs(directory)
        # Write then rename, so an interrupted run never leaves a truncated cache.
        partial = f"{path}.partial"
        with tf.io.gfile.GFile(partial, "wb") as f:
            f.write(buffer.getvalue())
        tf.io.gfile.rename(partial, str(path), overwrite=True)

    @classmethod
    def load(cls, path):
        """Read statistics written by :meth:`save`."""
        with tf.io.gfile.GFile(str(path), "rb") as f, np.load(f, allow_pickle=False) as data:
            return cls(mu=data["mu"], sigma=data["sigma"],
                       num_samples=int(data["num_samples"]),
                       weights_id=str(data["weights_id"]), source=str(data["source"]),
                       features=data["features"] if "features" in data.files else None)


@dataclasses.dataclass(frozen=True)
class ImageScores:
    """Scores of one set of generated images.

    ``fid`` is None when no real statistics were given. ``inception_score`` and
    ``inception_score_std`` are the mean and standard deviation over splits (None
    when the extractor has no softmax; ``extra['is_unavailable']`` says why).
    ``extra`` holds KID (``kid_mean``, ``kid_std``, and the ``kid_subset_size`` and
    ``kid_num_subsets`` they came from) and ``precision``, ``recall``, ``density``,
    ``coverage`` when asked for. ``protocol``: the extractor's protocol plus n
    generated, n real and the real split (and, with KID, its subset size and count) —
    the record every number carries.
    """

    fid: float | None
    inception_score: float | None
    inception_score_std: float | None
    num_samples: int
    weights_id: str
    real_source: str = ""
    extra: dict = dataclasses.field(default_factory=dict)
    protocol: dict = dataclasses.field(default_factory=dict)

    def as_metrics(self):
        """The flat dict metrics.json and the tables read."""
        out = dict(fid=self.fid, inception_score=self.inception_score,
                   inception_score_std=self.inception_score_std, num_samples=self.num_samples,
                   weights_id=self.weights_id, real_source=self.real_source)
        out.update(self.extra)
        out["protocol"] = dict(self.protocol)
        return out


from far_keras.metrics import IMAGE_METRICS as METRICS  # noqa: E402


def protocol_record(extractor, num_generated, real_stats):
    """Everything that decides whether two numbers are comparable."""
    record = dict(getattr(extractor, "protocol", {"network": extractor.weights_id}))
    record.update(n_generated=int(num_generated),
                  n_real=None if real_stats is None else int(real_stats.num_samples),
                  real_split=None if real_stats is None else real_stats.source)
    return record


def protocol_key(protocol):
    """A short string that differs whenever two protocols do (tables group by it)."""
    fields = ("network", "resize", "rounding", "n_generated", "n_real", "real_split")
    return " | ".join(f"{k}={protocol.get(k)}" for k in fields if k in protocol)


def activation_statistics(features, weights_id="", source=""):
    """:class:`FeatureStatistics` of a [N, D] feature array (N >= 2)."""
    mu, sigma = gaussian_statistics(features)
    return FeatureStatistics(mu=mu, sigma=sigma, num_samples=int(np.shape(features)[0]),
                             weights_id=weights_id, source=source)


def fid_from_statistics(generated, real):
    """Squared Fréchet distance between two :class:`FeatureStatistics`.

    Raises:
      ValueError: the statistics come from different extractor weights.
    """
    if generated.weights_id != real.weights_id:
        raise ValueError(
            f"statistics from different feature extractors are not comparable: "
            f"{generated.weights_id!r} vs {real.weights_id!r}")
    return frechet_distance(generated.mu, generated.sigma, real.mu, real.sigma)


def fid_from_features(features_a, features_b):
    """FID between two feature arrays [N, D] and [M, D] (same extractor assumed)."""
    mu_a, sigma_a = gaussian_statistics(features_a)
    mu_b, sigma_b = gaussian_statistics(features_b)
    return frechet_distance(mu_a, sigma_a, mu_b, sigma_b)


def _looks_like_probabilities(predictions):
    return bool(np.all(predictions >= 0) and np.all(predictions <= 1)
                and np.allclose(predictions.sum(axis=1), 1.0, atol=1e-3))


def inception_score(predictions, splits=10, from_logits=None):
    """Inception Score: exp(E_x KL(p(y|x) || p(y))) per split; (mean, std) over splits.

    As in Salimans et al. (2016): the N samples are cut, in order, into ``splits``
    contiguous parts ``[i*N//splits, (i+1)*N//splits)``; in each, p(y) is the mean
    of p(y|x) over the part.

    Args:
      predictions: [N, K] logits or class probabilities.
      splits: number of parts (<= N).
      from_logits: True for logits, False for probabilities; None decides: rows
        that are non-negative and sum to 1 are probabilities, anything else logits.

    Returns:
      (mean, std) of the per-split scores, as floats.
    """
    predictions = np.asarray(predictions, dtype=np.float64)
    if predictions.ndim != 2:
        raise ValueError(f"predictions must be [N, K], got shape {predictions.shape}")
    num = predictions.shape[0]
    if not 1 <= splits <= num:
        raise ValueError(f"splits must be in [1, N={num}], got {splits}")
    if from_logits is None:
        from_logits = not _looks_like_probabilities(predictions)
    if from_logits:
        log_p = log_softmax(predictions, axis=1)
    else:
        with np.errstate(divide="ignore"):
            log_p = np.log(predictions)  # -inf where p = 0; masked below
    p = np.exp(log_p)
    scores = []
    for i in range(splits):
        part, log_part = (a[i * num // splits:(i + 1) * num // splits] for a in (p, log_p))
        p_y = part.mean(axis=0)
        # 0 * log 0 = 0: only entries with p(y|x) > 0 contribute to the KL (and
        # p(y|x) > 0 implies p(y) > 0, so no infinity survives the mask).
        with np.errstate(divide="ignore", invalid="ignore"):
            log_p_y = np.log(p_y)
            kl = np.where(part > 0, part * (log_part - log_p_y), 0.0).sum(axis=1)
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))


def _progress(total, desc, enabled):
    from tqdm.auto import tqdm  # imported late: only needed when streaming

    return tqdm(total=total, desc=desc, unit="img", disable=not enabled)


def compute_activations(batches, extractor, num_samples, progress=True, desc="features"):
    """Run ``extractor`` over an iterable of image batches; keep ``num_samples``.

    Args:
      batches: iterable of [B, H, W, C] images in [-1, 1] (arrays or tensors, e.g.
        a ``tf.data.Dataset`` from :func:`far_keras.data.images.make_image_dataset`).
      extractor: see :mod:`far_keras.metrics.inception`.
      num_samples: images to use; the last batch is truncated.

    Returns:
      (features [num_samples, D], logits [num_samples, K]) float32 NumPy arrays.

    Raises:
      ValueError: ``batches`` ran out before ``num_samples`` images.
    """
    features, logits, seen = [], [], 0
    with _progress(num_samples, desc, progress) as bar:
        for batch in batches:
            batch = batch[:num_samples - seen]
            batch_features, batch_logits = extractor(batch)
            features.append(np.asarray(batch_features, np.float32))
            logits.append(np.asarray(batch_logits, np.float32))
            seen += len(features[-1])
            bar.update(len(features[-1]))
            if seen >= num_samples:
                break
    if seen < num_samples:
        raise ValueError(f"the batches ran out after {seen} of {num_samples} images")
    return np.concatenate(features), np.concatenate(logits)


def sample_batches(sample_fn, num_samples, batch_size):
    """Yield ``sample_fn(n)`` for n = batch_size, ..., the remainder: num_samples total."""
    for start in range(0, num_samples, batch_size):
        yield sample_fn(min(batch_size, num_samples - start))


def real_statistics(batches, extractor, num_samples, source="", progress=True,
                    keep_features=False):
    """:class:`FeatureStatistics` of ``num_samples`` real images from ``batches``."""
    features, _ = compute_activations(batches, extractor, num_samples, progress,
                                      desc=f"real statistics {source}".strip())
    stats = activation_statistics(features, extractor.weights_id, source)
    return dataclasses.replace(stats, features=features) if keep_features else stats


def cache_matches(stats, weights_id, num_samples, source="", need_features=False):
    """True if cached ``stats`` are for these weights (and preprocessing: it is part
    of ``weights_id``), sample count and source, with features when needed."""
    return (stats.weights_id == weights_id and stats.num_samples == num_samples
            and (not source or stats.source == source)
            and (not need_features or stats.features is not None))


def load_or_compute_real_statistics(cache_path, extractor, make_batches, num_samples,
                                    source="", progress=True, keep_features=False):
    """Real-data statistics from the ``.npz`` cache, or computed and cached.

    The cache is used only if its ``weights_id``, ``num_samples`` and (when given)
    ``source`` match; otherwise the statistics are recomputed from
    ``make_batches()`` (called only then) and the cache is overwritten.

    Args:
      cache_path: ``.npz`` path (created with its parent directories).
      extractor: the feature extractor (its ``weights_id`` is checked).
      make_batches: zero-argument callable returning an iterable of real image
        batches in [-1, 1].
      num_samples: number of real images.
      source: name of the real data, stored and checked (e.g. 'cifar10/train').
    """
    if tf.io.gfile.exists(str(cache_path)):
        try:
            cached = FeatureStatistics.load(cache_path)
        except (OSError, KeyError, ValueError):
            cached = None  # unreadable or old format: recompute below
        if cached is not None and cache_matches(cached, extractor.weights_id, num_samples,
                                                source, keep_features):
            return cached
    stats = real_statistics(make_batches(), extractor, num_samples, source, progress,
                            keep_features)
    stats.save(cache_path)
    return stats


def evaluate_generator(sample_fn, num_samples, batch_size, extractor, real_stats=None,
                       splits=10, progress=True, metrics=("fid", "is")):
    """FID (if ``real_stats``) and Inception Score of ``num_samples`` generated images.

    Args:
      sample_fn: ``sample_fn(n)`` returns n images [n, H, W, C] in [-1, 1].
      num_samples: number of generated images (paper: 10k for FID, 50k for IS).
      batch_size: images per ``sample_fn`` call.
      extractor: see :mod:`far_keras.metrics.inception`.
      real_stats: :class:`FeatureStatistics` of real data from the same extractor.
      splits: IS splits.
      metrics: which of :data:`METRICS` to compute; 'kid' and 'prdc' need
        ``real_stats.features`` (KID: Bińkowski et al. 2018; P/R/D/C: Kynkäänniemi
        et al. 2019, Naeem et al. 2020, k = 5).

    Returns:
      :class:`ImageScores`.
    """
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ValueError(f"unknown image metrics {unknown}; choose from {METRICS}")
    if {"kid", "prdc"} & set(metrics) and (real_stats is None or real_stats.features is None):
        raise ValueError("KID and precision/recall/density/coverage need the real "
                         "features (real statistics computed with keep_features=True)")
    if real_stats is not None and real_stats.weights_id != extractor.weights_id:
        raise ValueError(
            f"real statistics were computed with {real_stats.weights_id!r}, the extractor "
            f"is {extractor.weights_id!r}; recompute them with this extractor")
    features, logits = compute_activations(
        sample_batches(sample_fn, num_samples, batch_size), extractor, num_samples,
        progress, desc="generated")
    extra = {}
    is_mean = is_std = None
    unavailable = getattr(extractor, "is_unavailable", None)
    if "is" in metrics and unavailable:
        extra["is_unavailable"] = unavailable  # said, never a silent fallback
    elif "is" in metrics:
        is_mean, is_std = inception_score(logits, splits=splits, from_logits=True)
    fid = None
    if real_stats is not None and "fid" in metrics:
        fid = fid_from_statistics(
            activation_statistics(features, extractor.weights_id), real_stats)
    if "kid" in metrics:
        from far_keras.metrics import kid
        result = kid.kernel_inception_distance(real_stats.features, features)
        # The subset size used (at most half the samples: kid.kid_subset_size) decides
        # what kid_std measures, so it goes with the numbers and into the protocol.
        extra.update(kid_mean=result["kid_mean"], kid_std=result["kid_std"],
                     kid_subset_size=result["subset_size"],
                     kid_num_subsets=result["num_subsets"])
    if "prdc" in metrics:
        from far_keras.metrics import prdc
        extra.update(prdc.precision_recall_density_coverage(real_stats.features, features))
    return ImageScores(fid=fid, inception_score=is_mean, inception_score_std=is_std,
                       num_samples=num_samples, weights_id=extractor.weights_id,
                       real_source="" if real_stats is None else real_stats.source,
                       extra={k: float(v) if isinstance(v, (np.floating, float)) else v
                              for k, v in extra.items()},
                       protocol=dict(protocol_record(extractor, num_samples, real_stats),
                                     **{k: extra[k] for k in ("kid_subset_size",
                                                              "kid_num_subsets")
                                        if k in extra}))
