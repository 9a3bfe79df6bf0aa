"""Kernel Inception Distance (KID): unbiased MMD² with a cubic polynomial kernel.

Bińkowski, Sutherland, Arbel and Gretton, "Demystifying MMD GANs", ICLR 2018.
KID is the squared maximum mean discrepancy between real and generated feature
distributions (usually the 2048-d Inception pool features FID uses) under

    k(x, y) = (γ x·y + c₀)^p,   p = 3, γ = 1/d, c₀ = 1,

estimated with the unbiased U-statistic and averaged over random subsets, as in
the authors' code, torch-fidelity and clean-fid. Unlike FID it has an unbiased
estimator, so values from different sample sizes are comparable and a KID near
zero (it can be slightly negative) means "indistinguishable at this sample size".
Everything is NumPy in float64.
"""

import numpy as np


def as_features(features, name):
    """``features`` as a finite float64 [n, d] array (ValueError naming ``name`` if not)."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array [n_samples, n_features], "
                         f"got shape {features.shape}")
    if not np.isfinite(features).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return features


def feature_pair(real_features, fake_features):
    """Both feature sets checked (:func:`as_features`) and of the same dimension."""
    real = as_features(real_features, "real_features")
    fake = as_features(fake_features, "fake_features")
    if real.shape[1] != fake.shape[1]:
        raise ValueError(
            f"real_features and fake_features must have the same feature dimension, "
            f"got {real.shape[1]} (real) and {fake.shape[1]} (fake)")
    return real, fake


def polynomial_kernel(x, y, degree=3, gamma=None, coef0=1.0):
    """Gram matrix K[i, j] = (gamma · x_i·y_j + coef0) ** degree.

    Args:
        x: [m, d] array.
        y: [n, d] array.
        degree, gamma, coef0: kernel parameters; ``gamma=None`` means 1/d, the
            KID default of Bińkowski et al. (2018) (also sklearn's default).

    Returns:
        [m, n] float64 array.
    """
    x = as_features(x, "x")
    y = as_features(y, "y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must have the same number of features, got "
                         f"{x.shape[1]} (x) and {y.shape[1]} (y)")
    if gamma is None:
        gamma = 1.0 / x.shape[1]
    return (gamma * (x @ y.T) + coef0) ** degree


def mmd2_unbiased(k_xx, k_yy, k_xy):
    """Unbiased estimator of MMD²(P, Q) from kernel matrices.

    With x_1..x_m ~ P and y_1..y_n ~ Q (Gretton et al. 2012, eq. 3; the estimator
    KID uses, Bińkowski et al. 2018):

        MMD²_u = Σ_{i≠j} k(x_i, x_j) / (m(m−1)) + Σ_{i≠j} k(y_i, y_j) / (n(n−1))
                 − 2 Σ_{i,j} k(x_i, y_j) / (mn).

    Dropping the diagonals is what removes the bias: k(x_i, x_i) is not an
    estimate of E k(x, x') for independent x, x'. The estimate can be negative.

    Args:
        k_xx: [m, m] kernel matrix of x with itself.
        k_yy: [n, n] kernel matrix of y with itself.
        k_xy: [m, n] kernel matrix between x and y.

    Returns:
        Python float.
    """
    k_xx = np.asarray(k_xx, dtype=np.float64)
    k_yy = np.asarray(k_yy, dtype=np.float64)
    k_xy = np.asarray(k_xy, dtype=np.float64)
    for name, k in (("k_xx", k_xx), ("k_yy", k_yy)):
        if k.ndim != 2 or k.shape[0] != k.shape[1] or k.shape[0] < 2:
            raise ValueError(f"{name} must be a square [m, m] matrix with m >= 2, "
                             f"got shape {k.shape}")
    m, n = k_xx.shape[0], k_yy.shape[0]
    if k_xy.shape != (m, n):
        raise ValueError(f"k_xy must have shape (m, n) = ({m}, {n}) to match k_xx and "
                         f"k_yy, got {k_xy.shape}")
    xx = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
    yy = (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
    return float(xx + yy - 2.0 * k_xy.mean())


def kid_subset_size(n_real, n_fake, subset_size=1000):
    """The subset size KID uses for these sample counts: ``min(subset_size, n // 2)``.

    ``n = min(n_real, n_fake)``. Subsets of at most half the samples are what make
    the reported spread a spread: with ``subset_size >= n`` every "random subset" is
    the whole set (a permutation of it, and MMD² does not see the order), so all
    rounds agree and the standard deviation is zero by construction (it printed
    1.4e-16 on 500 samples with the default 1000). Up to ``n // 2``, the rounds draw
    different subsets. torch-fidelity refuses ``subset_size > n`` instead; clean-fid
    and far_keras before this rule clipped it to ``n``. The KID *mean* is the
    unbiased MMD² at any subset size, so it keeps its meaning; the spread grows as the
    subsets shrink, which is why the size used is recorded with every KID.

    Raises:
      ValueError: fewer than 4 samples in a set (subsets of 2, the estimator's minimum,
        need at least twice that), naming both numbers.
    """
    if int(subset_size) < 2:
        raise ValueError(f"subset_size must be >= 2, got {subset_size}")
    n = min(int(n_real), int(n_fake))
    m = min(int(subset_size), n // 2)
    if m < 2:
        raise ValueError(
            f"KID needs at least 4 real and 4 generated samples (subsets of at most half "
            f"the samples, and at least 2 per subset for the unbiased MMD²); got "
            f"{n_real} real and {n_fake} generated")
    return m


def kernel_inception_distance(real_features, fake_features, num_subsets=100,
                              subset_size=1000, seed=0, degree=3, gamma=None,
                              coef0=1.0):
    """KID: mean ± std of the unbiased polynomial-kernel MMD² over random subsets.

    Each of ``num_subsets`` rounds draws ``m`` real and ``m`` fake rows, each without
    replacement (as clean-fid's ``kernel_distance``; rows may recur across rounds),
    and evaluates :func:`mmd2_unbiased` with :func:`polynomial_kernel`, where
    ``m = min(subset_size, n_real // 2, n_fake // 2)`` (:func:`kid_subset_size`): at
    most half of the smaller set, so that the rounds see different subsets. Subsets
    keep the cost at O(num_subsets · m² · d) instead of O(n² d) and give a spread
    estimate.

    ``kid_std`` is the population standard deviation (ddof=0) of the per-subset
    values, as torch-fidelity reports it. It measures the subset-to-subset
    spread at subset size ``m``, not the standard error of ``kid_mean``. It is None
    when there is no spread to report: one subset, or (possible only for a handful of
    samples) every round drawing the same subsets. Papers often report KID×10³.

    Args:
        real_features: [n_real, d] features of real samples (n_real >= 4).
        fake_features: [n_fake, d] features of generated samples (n_fake >= 4).
        num_subsets: number of random subsets (>= 1).
        subset_size: maximum subset size (>= 2); at most half the smaller set is used.
        seed: seed of the ``numpy.random.Generator`` drawing the subsets; the
            result is a deterministic function of the inputs and the seed.
        degree, gamma, coef0: kernel parameters (defaults are KID's).

    Returns:
        dict(kid_mean, kid_std, num_subsets, subset_size) with the subset size
        actually used.
    """
    real, fake = feature_pair(real_features, fake_features)
    for name, feats in (("real_features", real), ("fake_features", fake)):
        if feats.shape[0] < 2:
            raise ValueError(f"{name} needs at least 2 samples for the unbiased "
                             f"MMD² estimator, got {feats.shape[0]}")
    if int(num_subsets) < 1:
        raise ValueError(f"num_subsets must be >= 1, got {num_subsets}")
    m = kid_subset_size(real.shape[0], fake.shape[0], subset_size)
    rng = np.random.default_rng(seed)
    mmds = np.empty(int(num_subsets))
    drawn = set()
    for i in range(int(num_subsets)):
        real_rows = rng.choice(real.shape[0], m, replace=False)
        fake_rows = rng.choice(fake.shape[0], m, replace=False)
        if len(drawn) < 2:  # only whether at least two rounds differ matters
            drawn.add((tuple(np.sort(real_rows)), tuple(np.sort(fake_rows))))
        x, y = real[real_rows], fake[fake_rows]
        mmds[i] = mmd2_unbiased(polynomial_kernel(x, x, degree, gamma, coef0),
                                polynomial_kernel(y, y, degree, gamma, coef0),
                                polynomial_kernel(x, y, degree, gamma, coef0))
    # A spread needs rounds that saw different subsets; never report one from
    # identical subsets (its zero would read as "no subset-to-subset variation").
    kid_std = float(mmds.std()) if len(drawn) > 1 else None
    return dict(kid_mean=float(mmds.mean()), kid_std=kid_std,
                num_subsets=int(num_subsets), subset_size=int(m))
