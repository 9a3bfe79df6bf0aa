"""KID (Bińkowski et al. 2018) and PRDC (Naeem et al. 2020) against brute force and known answers."""

import numpy as np
import pytest

from far_keras.metrics import prdc as prdc_module
from far_keras.metrics.kid import (kernel_inception_distance, kid_subset_size, mmd2_unbiased,
                                   polynomial_kernel)
from far_keras.metrics.prdc import precision_recall_density_coverage


# --------------------------------------------------------------------------- KID

@pytest.mark.parametrize("kwargs,gamma", [({}, 1 / 3), (dict(degree=2, gamma=0.7, coef0=-0.3), 0.7)])
def test_polynomial_kernel_matches_double_loop(kwargs, gamma):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(5, 3)), rng.normal(size=(4, 3))
    degree, coef0 = kwargs.get("degree", 3), kwargs.get("coef0", 1.0)
    expected = np.empty((5, 4))
    for i in range(5):
        for j in range(4):
            expected[i, j] = (gamma * sum(x[i, t] * y[j, t] for t in range(3)) + coef0) ** degree
    np.testing.assert_allclose(polynomial_kernel(x, y, **kwargs), expected, rtol=1e-12)


def _mmd2_loops(x, y, kernel):
    m, n = len(x), len(y)
    xx = sum(kernel(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(kernel(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(kernel(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def test_mmd2_unbiased_matches_brute_force_loops():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(7, 3)), rng.normal(0.5, 1.0, size=(5, 3))  # m != n on purpose
    value = mmd2_unbiased(polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y))
    expected = _mmd2_loops(x, y, lambda a, b: (float(a @ b) / 3 + 1) ** 3)
    assert value == pytest.approx(expected, rel=1e-12)


def _kernels(x, y):
    return polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)


def test_mmd2_unbiased_has_mean_zero_under_the_null_where_the_v_statistic_does_not():
    rng = np.random.default_rng(2)
    unbiased, biased = [], []
    for _ in range(300):
        k_xx, k_yy, k_xy = _kernels(rng.normal(size=(10, 3)), rng.normal(size=(10, 3)))
        unbiased.append(mmd2_unbiased(k_xx, k_yy, k_xy))
        biased.append(k_xx.mean() + k_yy.mean() - 2 * k_xy.mean())  # diagonals included
    unbiased, biased = np.array(unbiased), np.array(biased)
    se_u = unbiased.std(ddof=1) / np.sqrt(len(unbiased))
    se_b = biased.std(ddof=1) / np.sqrt(len(biased))
    assert abs(unbiased.mean()) < 4 * se_u
    assert biased.mean() > 10 * se_b


def test_mmd2_unbiased_is_positive_for_gaussians_with_different_means():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(200, 3)), rng.normal(1.0, 1.0, size=(200, 3))
    null = mmd2_unbiased(*_kernels(x, rng.normal(size=(200, 3))))
    shifted = mmd2_unbiased(*_kernels(x, y))
    assert shifted > 0 and shifted > 10 * abs(null)


def test_kid_is_deterministic_given_the_seed_and_clips_the_subset_size():
    rng = np.random.default_rng(4)
    real, fake = rng.normal(size=(300, 8)), rng.normal(0.3, 1.0, size=(250, 8))
    a = kernel_inception_distance(real, fake, num_subsets=10, subset_size=100, seed=7)
    b = kernel_inception_distance(real, fake, num_subsets=10, subset_size=100, seed=7)
    c = kernel_inception_distance(real, fake, num_subsets=10, subset_size=100, seed=8)
    assert a == b
    assert a["kid_mean"] != c["kid_mean"]
    assert set(a) == {"kid_mean", "kid_std", "num_subsets", "subset_size"}
    assert (a["num_subsets"], a["subset_size"]) == (10, 100)
    # 1000 asked, 250 fake rows: half of them (kid_subset_size), not all 250
    assert kernel_inception_distance(real, fake, num_subsets=2)["subset_size"] == 125


def test_mmd2_on_whole_sets_is_symmetric_and_matches_the_clean_fid_formula():
    rng = np.random.default_rng(5)
    real, fake = rng.normal(size=(60, 6)), rng.normal(0.2, 1.2, size=(60, 6))
    ab = mmd2_unbiased(*_kernels(real, fake))
    ba = mmd2_unbiased(*_kernels(fake, real))
    # clean-fid's kernel_distance written out for one subset of size m = n.
    m, d = real.shape
    a = (real @ real.T / d + 1) ** 3 + (fake @ fake.T / d + 1) ** 3
    b = (real @ fake.T / d + 1) ** 3
    clean_fid = ((a.sum() - np.diag(a).sum()) / (m - 1) - b.sum() * 2 / m) / m
    assert ab == pytest.approx(clean_fid, rel=1e-10)
    assert ba == pytest.approx(clean_fid, rel=1e-10)


def test_kid_on_fewer_samples_than_the_subset_size_reports_a_real_spread():
    # Issue 20: 500 samples and the default subset size 1000. Clipping the subsets to
    # n made every round the whole set (kid_std 1.4e-16 by construction); subsets of
    # half the samples differ from round to round.
    rng = np.random.default_rng(11)
    real, fake = rng.normal(size=(500, 16)), rng.normal(0.3, 1.0, size=(500, 16))
    kid = kernel_inception_distance(real, fake)
    assert kid["subset_size"] == 250 and kid["num_subsets"] == 100
    # The spread is of the order of the spread of one-subset KIDs (m = 250) from
    # independent samples (measured: 0.033 against 0.049), not a rounding error.
    independent = []
    for seed in range(100, 140):
        pools = np.random.default_rng(seed)
        independent.append(kernel_inception_distance(
            pools.normal(size=(500, 16)), pools.normal(0.3, 1.0, size=(500, 16)),
            num_subsets=1)["kid_mean"])
    assert kid["kid_std"] > 0.3 * np.std(independent)
    assert kid["kid_mean"] == pytest.approx(np.mean(independent), abs=0.1)
    # the smaller set decides; subset sizes up to half of it are kept as asked
    assert kernel_inception_distance(real, fake[:301], num_subsets=3)["subset_size"] == 150
    assert kernel_inception_distance(real, fake, num_subsets=3, subset_size=250)[
        "subset_size"] == 250
    assert kernel_inception_distance(real, fake, num_subsets=3, subset_size=251)[
        "subset_size"] == 250


def test_kid_subset_size_rule_and_its_refusal():
    assert kid_subset_size(500, 500) == 250
    assert kid_subset_size(10_000, 10_000) == 1000
    assert kid_subset_size(2000, 2001) == 1000
    assert kid_subset_size(1999, 5000) == 999
    assert kid_subset_size(4, 4) == 2
    with pytest.raises(ValueError, match=r"at least 4 real and 4 generated samples.*"
                                         r"got 3 real and 10 generated"):
        kid_subset_size(3, 10)
    x = np.random.default_rng(9).normal(size=(10, 3))
    with pytest.raises(ValueError, match=r"got 10 real and 3 generated"):
        kernel_inception_distance(x, x[:3])


def test_kid_reports_no_spread_from_one_subset_or_identical_subsets():
    rng = np.random.default_rng(10)
    real, fake = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    assert kernel_inception_distance(real, fake, num_subsets=1)["kid_std"] is None
    # With 4 samples (subsets of 2) seed 79 draws the same real and the same fake pair
    # in both rounds: no spread to report. Seed 0's rounds differ.
    same = kernel_inception_distance(real, fake, num_subsets=2, seed=79)
    assert same["kid_std"] is None and np.isfinite(same["kid_mean"])
    differ = kernel_inception_distance(real, fake, num_subsets=2, seed=0)
    assert differ["kid_std"] > 0


def test_kid_with_swapped_arguments_stays_in_the_same_range():
    rng = np.random.default_rng(6)
    real, fake = rng.normal(size=(400, 16)), rng.normal(0.3, 1.0, size=(400, 16))
    ab = kernel_inception_distance(real, fake, num_subsets=30, subset_size=100, seed=0)
    ba = kernel_inception_distance(fake, real, num_subsets=30, subset_size=100, seed=0)
    assert ab["kid_mean"] > 0 and ba["kid_mean"] > 0
    assert abs(ab["kid_mean"] - ba["kid_mean"]) < max(ab["kid_std"], ba["kid_std"])


def test_kid_with_a_linear_kernel_estimates_the_squared_mean_difference():
    # k(x, y) = x·y gives MMD²(P, Q) = ‖μ_P − μ_Q‖² exactly in population.
    rng = np.random.default_rng(7)
    mu1, mu2 = np.array([0.0, 1.0, -0.5, 0.0]), np.array([0.5, 0.5, 0.0, 0.5])
    target = float(np.sum((mu1 - mu2) ** 2))  # 1.0
    real = rng.normal(size=(10000, 4)) + mu1
    fake = rng.normal(size=(10000, 4)) + mu2
    linear = dict(num_subsets=20, subset_size=1000, seed=0, degree=1, gamma=1.0, coef0=0.0)
    # Sampling error of the mean here is ~0.03 (pool and subset noise together).
    kid = kernel_inception_distance(real, fake, **linear)
    assert kid["kid_mean"] == pytest.approx(target, abs=0.1)
    null = kernel_inception_distance(real, rng.normal(size=(10000, 4)) + mu1, **linear)
    assert abs(null["kid_mean"]) < 0.05


@pytest.mark.parametrize("real_shape,fake_shape,message", [
    ((10, 4), (10, 5), r"same feature dimension, got 4 \(real\) and 5 \(fake\)"),
    ((1, 4), (10, 4), r"real_features needs at least 2 samples.*got 1"),
    ((10, 4), (1, 4), r"fake_features needs at least 2 samples.*got 1"),
    ((10,), (10, 4), r"real_features must be a 2-D array"),
])
def test_kid_rejects_bad_shapes(real_shape, fake_shape, message):
    with pytest.raises(ValueError, match=message):
        kernel_inception_distance(np.zeros(real_shape), np.zeros(fake_shape))


def test_kid_and_mmd2_reject_bad_arguments():
    x = np.random.default_rng(8).normal(size=(10, 3))
    with pytest.raises(ValueError, match="subset_size must be >= 2"):
        kernel_inception_distance(x, x, subset_size=1)
    with pytest.raises(ValueError, match="num_subsets must be >= 1"):
        kernel_inception_distance(x, x, num_subsets=0)
    with pytest.raises(ValueError, match="NaN or infinite"):
        kernel_inception_distance(np.full((10, 3), np.nan), x)
    with pytest.raises(ValueError, match=r"k_xy must have shape \(m, n\) = \(10, 4\)"):
        mmd2_unbiased(np.ones((10, 10)), np.ones((4, 4)), np.ones((4, 10)))
    with pytest.raises(ValueError, match="k_yy must be a square"):
        mmd2_unbiased(np.ones((10, 10)), np.ones((1, 1)), np.ones((10, 1)))


# -------------------------------------------------------------------------- PRDC

def _prdc_reference(real, fake, k):
    """The clovaai ``compute_prdc`` formulas on full distance matrices from differences."""
    def dist(a, b):
        return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=-1))
    real_radii = np.sort(dist(real, real), axis=1)[:, k]  # column 0 is the point itself
    fake_radii = np.sort(dist(fake, fake), axis=1)[:, k]
    d = dist(real, fake)  # [N, M]
    return dict(precision=(d < real_radii[:, None]).any(axis=0).mean(),
                recall=(d < fake_radii[None, :]).any(axis=1).mean(),
                density=(d < real_radii[:, None]).sum(axis=0).mean() / k,
                coverage=(d.min(axis=1) < real_radii).mean())


def test_prdc_of_a_set_against_itself():
    # Each fake sits on a real centre (distance 0 < radius), so precision, recall and
    # coverage are 1. A ball of radius NND_k, open, holds exactly k points of its own
    # set (the centre and k−1 neighbours; the k-th neighbour is on the boundary), so
    # the copies give Σ_j #balls(Y_j) = kN and density = kN / (kN) = 1 exactly.
    real = np.random.default_rng(9).normal(size=(200, 8))
    for k in (1, 5):
        result = precision_recall_density_coverage(real, real.copy(), k=k)
        assert result == dict(precision=1.0, recall=1.0, density=1.0, coverage=1.0)


def test_prdc_of_a_distant_fake_set_is_zero():
    rng = np.random.default_rng(10)
    real = rng.normal(size=(100, 4))
    fake = rng.normal(size=(80, 4)) + 1000.0
    result = precision_recall_density_coverage(real, fake, k=5)
    assert result == dict(precision=0.0, recall=0.0, density=0.0, coverage=0.0)


def test_prdc_on_a_line_worked_by_hand():
    # k = 2; a radius is the distance to the 2nd nearest other point of the same set.
    #   reals  0: others at 1,3,7,8,40        -> r = 3   ball (-3, 3)
    #          1: others at 1,2,6,7,39        -> r = 2   ball (-1, 3)
    #          3: others at 3,2,4,5,37        -> r = 3   ball ( 0, 6)
    #          7: others at 7,6,4,1,33        -> r = 4   ball ( 3, 11)
    #          8: others at 8,7,5,1,32        -> r = 5   ball ( 3, 13)
    #         40: others at 40,39,37,33,32    -> r = 33  ball ( 7, 73)
    #   fakes -100: others at 103,105,112,122.5    -> r = 105
    #            3: others at 103,2,9,19.5         -> r = 9     ball (-6, 12)
    #            5: others at 105,2,7,17.5         -> r = 7     ball (-2, 12)
    #           12: others at 112,9,7,10.5         -> r = 9     ball ( 3, 21)
    #         22.5: others at 122.5,19.5,17.5,10.5 -> r = 17.5  ball ( 5, 40)
    # Balls are open, and several points sit exactly on a boundary (all values are
    # exact in binary floating point), which pins down the strict inequality.
    # Real balls holding each fake (fake 3 is on the boundary of the balls of 0, 1,
    # 7 and 8 and inside only the ball of 3):
    #   -100: none (0); 3: {3} (1); 5: {3, 7, 8} (3); 12: {8, 40} (2); 22.5: {40} (1)
    #   precision = 4/5, density = (0+1+3+2+1) / (2·5) = 0.7
    # Recall: every real but 40 lies in the ball of fake 3 or 5; 40 is on the boundary
    #   of the ball of 22.5 and 28 >= 9 from 12, so recall = 5/6.
    # Coverage: nearest fake of 0 is 3 at 3 (not < 3), of 1 is 3 at 2 (not < 2); 3, 7
    #   (5 at 2 < 4), 8 (5 at 3 < 5) and 40 (22.5 at 17.5 < 33) are covered: 4/6.
    real = np.array([0.0, 1.0, 3.0, 7.0, 8.0, 40.0])[:, None]
    fake = np.array([-100.0, 3.0, 5.0, 12.0, 22.5])[:, None]
    result = precision_recall_density_coverage(real, fake, k=2)
    assert result == pytest.approx(dict(precision=0.8, recall=5 / 6, density=0.7, coverage=4 / 6),
                                   abs=1e-12)


@pytest.mark.parametrize("n_real,n_fake,d,k,small_blocks", [
    (60, 50, 5, 3, False), (60, 50, 5, 3, True), (37, 80, 3, 1, True), (90, 40, 10, 5, False)])
def test_prdc_matches_brute_force(monkeypatch, n_real, n_fake, d, k, small_blocks):
    if small_blocks:  # blocks of 1-2 rows exercise the accumulation across blocks
        monkeypatch.setattr(prdc_module, "_BLOCK_ELEMENTS", 97)
    rng = np.random.default_rng(n_real + k)
    real = rng.normal(size=(n_real, d))
    fake = rng.normal(0.3, 1.3, size=(n_fake, d)).astype(np.float32)  # float32 input is fine
    expected = _prdc_reference(real, fake.astype(np.float64), k)
    result = precision_recall_density_coverage(real, fake, k=k)
    assert result == pytest.approx(expected, abs=1e-12)
    assert 0 < result["precision"] < 1 and 0 < result["coverage"] < 1  # non-trivial case


@pytest.mark.parametrize("real_shape,fake_shape,k,message", [
    ((10, 4), (10, 5), 3, r"same feature dimension, got 4 \(real\) and 5 \(fake\)"),
    ((5, 4), (10, 4), 5, r"k=5 needs more than k samples in real_features.*got 5"),
    ((10, 4), (3, 4), 3, r"k=3 needs more than k samples in fake_features.*got 3"),
    ((10, 4), (10, 4), 0, r"k must be a positive integer, got 0"),
    ((10, 4), (10, 4), 2.5, r"k must be a positive integer, got 2.5"),
    ((10, 4, 1), (10, 4), 3, r"real_features must be a 2-D array"),
])
def test_prdc_rejects_bad_arguments(real_shape, fake_shape, k, message):
    rng = np.random.default_rng(11)
    with pytest.raises(ValueError, match=message):
        precision_recall_density_coverage(rng.normal(size=real_shape), rng.normal(size=fake_shape),
                                          k=k)
