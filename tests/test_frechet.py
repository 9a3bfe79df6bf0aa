"""metrics/frechet.py: the squared Fréchet distance (FID's formula) against closed
forms and an independent symmetric-square-root computation."""

import numpy as np
import pytest

from far_keras.metrics.frechet import frechet_distance, gaussian_statistics


def test_one_dimensional_closed_form():
    # d² between N(μ1, s1²) and N(μ2, s2²) is (μ1 − μ2)² + (s1 − s2)².
    assert frechet_distance(1.0, 4.0, -2.0, 9.0) == pytest.approx(9.0 + 1.0, rel=1e-12)


def test_commuting_covariances_closed_form():
    # Diagonal Σ: tr(Σ1 + Σ2 − 2(Σ1Σ2)^{1/2}) = Σ_i (√a_i − √b_i)².
    a, b = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-10)


def _psd_sqrt(s):
    w, v = np.linalg.eigh(s)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def test_general_covariances_match_the_symmetric_form():
    # tr((Σ1Σ2)^{1/2}) = tr((Σ1^{1/2} Σ2 Σ1^{1/2})^{1/2}), computed here by eigh only
    # (the module uses scipy's non-symmetric sqrtm of the product).
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((4, 4)), rng.standard_normal((4, 4))
    s1, s2 = a @ a.T + 0.1 * np.eye(4), b @ b.T + 0.1 * np.eye(4)
    mu1, mu2 = rng.standard_normal(4), rng.standard_normal(4)
    r = _psd_sqrt(s1)
    expected = (np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2)
                - 2 * np.trace(_psd_sqrt(r @ s2 @ r)))
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-8)
    assert frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0.0, abs=1e-8)
    # Symmetric in its two Gaussians.
    assert frechet_distance(mu2, s2, mu1, s1) == pytest.approx(expected, rel=1e-8)


def test_singular_covariance_stays_finite_and_close():
    # A dead feature (zero variance in one dimension) makes Σ1Σ2 singular.
    s1, s2 = np.diag([1.0, 0.0]), np.diag([4.0, 0.0])
    got = frechet_distance(np.zeros(2), s1, np.zeros(2), s2)
    assert np.isfinite(got) and got == pytest.approx(1.0, abs=1e-3)


def test_statistics_of_samples_and_their_errors():
    x = np.random.default_rng(1).standard_normal((50, 3))
    mu, sigma = gaussian_statistics(x)
    np.testing.assert_allclose(mu, x.mean(0))
    np.testing.assert_allclose(sigma, np.cov(x.T))
    with pytest.raises(ValueError, match="at least 2 samples"):
        gaussian_statistics(x[:1])
    with pytest.raises(ValueError, match="different shapes"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))


def test_sampled_gaussians_approach_the_closed_form():
    # Two known Gaussians sampled: d² from sample statistics ≈ the closed form
    # ‖μ1 − μ2‖² + Σ(√a − √b)² (here 4 + (1 − 2)² = 5).
    rng = np.random.default_rng(2)
    x = rng.standard_normal((20000, 2)) * [1.0, 1.0]
    y = rng.standard_normal((20000, 2)) * [1.0, 2.0] + [2.0, 0.0]
    d2 = frechet_distance(*gaussian_statistics(x), *gaussian_statistics(y))
    assert d2 == pytest.approx(5.0, abs=0.15)
