"""Sample-based distances for the non-mixture 2-D sets (protocols.md)."""

import numpy as np
from scipy.spatial import cKDTree
from scipy.spatial.distance import cdist

from far_keras.metrics import frechet


def frechet_to_gaussian(samples, mean, cov):
    """Squared 2-Wasserstein distance between N(fit of samples) and N(mean, cov)."""
    mu, sigma = frechet.gaussian_statistics(samples)
    return frechet.frechet_distance(mu, sigma, mean, cov)


def memorization_score(generated, train_points, fresh):
    """1 − E‖g − NN_train(g)‖ / E‖f − NN_train(f)‖.

    Fresh samples f of the true distribution set the scale: a generator that
    generalises scores ≈ 0; one that reproduces training points scores → 1.
    """
    tree = cKDTree(np.asarray(train_points))
    d_gen = tree.query(np.asarray(generated))[0].mean()
    d_fresh = tree.query(np.asarray(fresh))[0].mean()
    return float(1.0 - d_gen / d_fresh)


def energy_distance(x, y):
    """Energy distance 2E‖X − Y‖ − E‖X − X'‖ − E‖Y − Y'‖ (V-statistic, ≥ 0)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    return float(2 * cdist(x, y).mean() - cdist(x, x).mean() - cdist(y, y).mean())
