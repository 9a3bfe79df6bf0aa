import numpy as np
import pytest

from far_keras.data import synthetic
from far_keras.metrics import mode_coverage, sample_metrics

CENTERS = synthetic.ring_centers(8, 1.0)
SIGMA = 0.01


def test_all_modes_evenly():
    samples = np.repeat(CENTERS, 10, axis=0)
    m = mode_coverage.mode_metrics(samples, CENTERS, SIGMA)
    assert m == {"modes_covered": 8, "high_quality": 1.0, "kl_to_uniform": pytest.approx(0.0)}


def test_one_mode():
    samples = np.tile(CENTERS[3], (50, 1)) + 0.5 * SIGMA
    m = mode_coverage.mode_metrics(samples, CENTERS, SIGMA)
    assert m["modes_covered"] == 1
    assert m["high_quality"] == 1.0
    assert m["kl_to_uniform"] == pytest.approx(np.log(8))


def test_points_off_every_mode():
    samples = np.zeros((20, 2))  # the ring's centre: distance 1 = 100σ from every mode
    m = mode_coverage.mode_metrics(samples, CENTERS, SIGMA)
    assert m["modes_covered"] == 0 and m["high_quality"] == 0.0
    assert m["kl_to_uniform"] == pytest.approx(np.log(8))  # the documented empty case


def test_mixed_and_threshold_is_3_sigma():
    inside = CENTERS[:2] + np.array([2.99 * SIGMA, 0])
    outside = CENTERS[2:4] + np.array([3.01 * SIGMA, 0])
    m = mode_coverage.mode_metrics(np.concatenate([inside, outside]), CENTERS, SIGMA)
    assert m["modes_covered"] == 2 and m["high_quality"] == 0.5
    assert m["kl_to_uniform"] == pytest.approx(np.log(8) - np.log(2))


def test_kl_matches_histogram_formula():
    counts = np.array([5, 1, 0, 3, 0, 0, 2, 9])
    samples = np.repeat(CENTERS, counts, axis=0)
    q = counts / counts.sum()
    expected = sum(p * np.log(p * 8) for p in q if p > 0)
    assert mode_coverage.mode_metrics(samples, CENTERS, SIGMA)["kl_to_uniform"] == pytest.approx(expected)


def test_perfect_generator_scores_about_98_9_percent():
    source = synthetic.make_source("ring8")
    m = mode_coverage.mode_metrics(source.sample_numpy(20000, 0), source.centers, source.sigma)
    assert m["modes_covered"] == 8
    assert m["high_quality"] == pytest.approx(0.989, abs=0.003)  # P(χ²₂ ≤ 9) = 1 − e^{−4.5}


def test_energy_distance_zero_for_same_and_positive_for_shifted():
    x = np.random.RandomState(0).randn(300, 2)
    assert sample_metrics.energy_distance(x, x) == pytest.approx(0.0, abs=1e-12)
    assert sample_metrics.energy_distance(x, x + 1.0) > 0.5


def test_memorization_score():
    rng = np.random.RandomState(0)
    train = rng.randn(200, 2)
    fresh = rng.randn(2000, 2)
    assert sample_metrics.memorization_score(train[rng.randint(0, 200, 500)], train, fresh) == 1.0
    assert abs(sample_metrics.memorization_score(rng.randn(2000, 2), train, fresh)) < 0.1


def test_frechet_to_gaussian():
    rng = np.random.RandomState(0)
    x = rng.randn(20000, 2) + np.array([3.0, 0.0])
    # W2² between N((3,0), I) and N(0, I) is 9.
    assert sample_metrics.frechet_to_gaussian(x, np.zeros(2), np.eye(2)) == pytest.approx(9.0, abs=0.1)


def test_gaussian_evaluation_compares_with_fresh_draws_of_the_true_gaussian():
    # The finite training set is not the reference: fresh true-Gaussian draws score ≈ 0,
    # copies of training points 1 (it once sampled "fresh" points from the set: −∞).
    from far_keras.data import synthetic
    from far_keras.metrics import two_d
    src = synthetic.make_source("gaussian", gaussian_points=300, gaussian_std=7.0, seed=1)
    rng = np.random.RandomState(0)
    fresh = two_d.evaluate_samples(src, 7.0 * rng.randn(2500, 2), seed=5)
    assert np.isfinite(fresh["memorization"]) and abs(fresh["memorization"]) < 0.1
    assert fresh["frechet_to_true"] < 0.5
    copies = two_d.evaluate_samples(src, src.train_points[rng.randint(0, 300, 2500)], seed=5)
    assert copies["memorization"] == pytest.approx(1.0)


def test_spread_ratio_is_the_scale_of_the_samples():
    rng = np.random.RandomState(0)
    x = rng.randn(5000, 2)
    x = (x - x.mean(0)) / x.std(0, ddof=1)  # exactly unit variance per axis
    assert sample_metrics.spread_ratio(3.0 * x + 5.0, 3.0) == pytest.approx(1.0)
    assert sample_metrics.spread_ratio(3.3 * x, 3.0) == pytest.approx(1.1)


def test_memorization_beyond_spread_separates_width_from_memorising():
    # An i.i.d. Gaussian 10 % too wide memorises nothing, but its raw score is well
    # below 0; a Gaussian fit of its own spread scores the same, so the difference is ≈ 0.
    # Copies of training points score 1, and their Gaussian fit does not.
    rng = np.random.RandomState(0)
    std = 7.0
    train = std * rng.randn(1000, 2)
    fresh = std * rng.randn(2500, 2)
    wide = 1.1 * std * rng.randn(2500, 2)
    raw = sample_metrics.memorization_score(wide, train, fresh)
    fit = sample_metrics.gaussian_fit_memorization(wide, train, fresh, seed=0)
    assert raw < -0.1
    assert abs(raw - fit) < 0.06
    copies = train[rng.randint(0, 1000, 2500)]
    assert sample_metrics.memorization_score(copies, train, fresh) == 1.0
    assert 1.0 - sample_metrics.gaussian_fit_memorization(copies, train, fresh) > 0.8


def test_gaussian_evaluation_reports_spread_and_memorisation_beyond_it():
    from far_keras.data import synthetic
    from far_keras.metrics import two_d
    src = synthetic.make_source("gaussian", gaussian_points=1000, gaussian_std=7.0, seed=1)
    rng = np.random.RandomState(0)
    wide = two_d.evaluate_samples(src, 1.1 * 7.0 * rng.randn(2500, 2), seed=5)
    assert wide["spread"] == pytest.approx(1.1, abs=0.03)
    assert wide["memorization"] < -0.1 and abs(wide["memorization_beyond_spread"]) < 0.06
    copies = two_d.evaluate_samples(src, src.train_points[rng.randint(0, 1000, 2500)], seed=5)
    assert copies["memorization_beyond_spread"] > 0.8
