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
    fresh = source.sample_numpy(len(samples), seed + 7919)
    if source.train_points is not None:
        return {
            "frechet_to_true": sample_metrics.frechet_to_gaussian(
                samples, source.mean, source.std ** 2 * np.eye(2)),
            "memorization": sample_metrics.memorization_score(
                samples, source.train_points, fresh),
        }
    return {"energy_distance": sample_metrics.energy_distance(samples, fresh)}
