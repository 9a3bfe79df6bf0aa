"""Precision, recall, density and coverage of generated samples in feature space.

Naeem, Oh, Uh, Choi and Yoo, "Reliable Fidelity and Diversity Metrics for
Generative Models", ICML 2020 (reference code: the ``prdc`` package,
github.com/clovaai/generative-evaluation-prdc). Precision and recall are the
k-NN manifold estimates of Kynkäänniemi et al., "Improved Precision and Recall
Metric for Assessing Generative Models", NeurIPS 2019.

Every sample x of a set gets the open ball B(x, NND_k(x)), NND_k(x) being the
Euclidean distance to its k-th nearest neighbour in its own set (itself
excluded). With reals X_1..X_N and fakes Y_1..Y_M:

    precision = (1/M) Σ_j 1[∃ i: Y_j ∈ B(X_i, NND_k(X_i))]
    recall    = (1/N) Σ_i 1[∃ j: X_i ∈ B(Y_j, NND_k(Y_j))]
    density   = (1/(kM)) Σ_j Σ_i 1[Y_j ∈ B(X_i, NND_k(X_i))]
    coverage  = (1/N) Σ_i 1[∃ j: Y_j ∈ B(X_i, NND_k(X_i))]

Membership is strict (distance < radius), as in the reference code; with it,
identical real and fake sets in general position give density exactly 1.
Density is unbounded above; the other three lie in [0, 1].
"""

import numpy as np

from far_keras.metrics.kid import feature_pair

# Float64 elements per distance block (32 MB). With a handful of temporaries per
# block the peak stays ~100-200 MB above the float64 feature copies for any n.
_BLOCK_ELEMENTS = 1 << 22


def _row_blocks(n_rows, n_cols):
    step = max(1, _BLOCK_ELEMENTS // max(1, n_cols))
    for start in range(0, n_rows, step):
        yield slice(start, min(start + step, n_rows))


def _squared_distances(a, a_sq, b, b_sq):
    # ‖a‖² + ‖b‖² − 2a·b uses one BLAS matmul instead of an [r, n, d] difference
    # tensor; cancellation can leave tiny negatives, hence the clip. Radii and
    # real-fake distances share this expression (reals always on the left), so a
    # fake set that is a copy of the real set reproduces the real-real distances
    # bit for bit and the strict boundary tests agree with the radii.
    return np.maximum(a_sq[:, None] + b_sq[None, :] - 2.0 * (a @ b.T), 0.0)


def _squared_radii(features, sq_norms, k):
    """Squared distance from each row to its k-th nearest other row."""
    n = features.shape[0]
    radii = np.empty(n)
    for rows in _row_blocks(n, n):
        d2 = _squared_distances(features[rows], sq_norms[rows], features, sq_norms)
        # Self-distance is 0 by definition; round-off could otherwise leave it
        # above a true duplicate's distance.
        d2[np.arange(rows.stop - rows.start), np.arange(rows.start, rows.stop)] = 0.0
        # Index k counts the point itself at index 0: the (k+1)-th smallest.
        radii[rows] = np.partition(d2, k, axis=1)[:, k]
    return radii


def precision_recall_density_coverage(real_features, fake_features, k=5):
    """Precision, recall, density and coverage (Naeem et al. 2020) with k-NN balls.

    Computes the same quantities as ``prdc.compute_prdc(real, fake, nearest_k=k)``
    (see the module docstring for the formulas), in float64. Distances are
    compared squared, and processed in row blocks so that memory stays at a few
    hundred MB for 10k × 10k samples of 2048-d features; nothing n × n is held.
    Naeem et al. recommend k = 5 with 10k real and 10k fake samples.

    Args:
        real_features: [N, d] features of real samples.
        fake_features: [M, d] features of generated samples.
        k: neighbourhood size, 1 <= k < min(N, M).

    Returns:
        dict(precision, recall, density, coverage) of Python floats.
    """
    real, fake = feature_pair(real_features, fake_features)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    for name, feats in (("real_features", real), ("fake_features", fake)):
        if k >= feats.shape[0]:
            raise ValueError(f"k={k} needs more than k samples in {name} (each radius is "
                             f"the k-th neighbour besides the point itself), "
                             f"got {feats.shape[0]}")
    real_sq = np.einsum("ij,ij->i", real, real)
    fake_sq = np.einsum("ij,ij->i", fake, fake)
    real_r2 = _squared_radii(real, real_sq, k)
    fake_r2 = _squared_radii(fake, fake_sq, k)

    n_real, n_fake = real.shape[0], fake.shape[0]
    balls_per_fake = np.zeros(n_fake, dtype=np.int64)  # real balls holding each fake
    recalled = np.empty(n_real, dtype=bool)
    covered = np.empty(n_real, dtype=bool)
    # Reals as rows: every per-real quantity is finished within its block, and
    # only the per-fake counts accumulate across blocks.
    for rows in _row_blocks(n_real, n_fake):
        d2 = _squared_distances(real[rows], real_sq[rows], fake, fake_sq)
        inside_real = d2 < real_r2[rows, None]
        balls_per_fake += inside_real.sum(axis=0)
        covered[rows] = inside_real.any(axis=1)
        recalled[rows] = (d2 < fake_r2[None, :]).any(axis=1)
    return dict(precision=float((balls_per_fake > 0).mean()),
                recall=float(recalled.mean()),
                density=float(balls_per_fake.sum() / (k * n_fake)),
                coverage=float(covered.mean()))
