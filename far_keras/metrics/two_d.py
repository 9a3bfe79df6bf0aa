"""Which metrics each 2-D dataset reports (protocols.md), in one dispatcher."""

import numpy as np

from far_keras.metrics import mode_coverage, sample_metrics

NUM_EVAL_SAMPLES = 2500


def evaluate_samples(source, samples, seed=0):
    """Metrics of generator ``samples`` [n, 2] against the 2-D ``source``."""
    samples = np.asarray(samples, np.float64)
    if not np.isfinite(samples).all():
        raise FloatingPointError("generator produced non-finite samples")
    if source.centers is not None:
        return mode_coverage.mode_metrics(samples, source.centers, source.sigma)
    if source.train_points is not None:
        # Fresh draws of the *true* Gaussian: source.sample() would draw from the
        # finite training set itself (distance 0 to it, memorisation −∞).
        rng = np.random.default_rng([seed, 7919])
        fresh = source.mean + source.std * rng.standard_normal((len(samples), 2))
        memorization = sample_metrics.memorization_score(samples, source.train_points, fresh)
        return {
            "frechet_to_true": sample_metrics.frechet_to_gaussian(
                samples, source.mean, source.std ** 2 * np.eye(2)),
            "memorization": memorization,
            # The raw score confounds memorising with spread (a too-wide generator
            # scores < 0 without generalising better): report both, and the part of
            # the score that a Gaussian of the samples' own spread does not give.
            "spread": sample_metrics.spread_ratio(samples, source.std),
            "memorization_beyond_spread": memorization - sample_metrics.gaussian_fit_memorization(
                samples, source.train_points, fresh, seed=seed),
        }
    fresh = source.sample_numpy(len(samples), seed + 7919)
    return {"energy_distance": sample_metrics.energy_distance(samples, fresh)}
