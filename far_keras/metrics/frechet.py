"""Fréchet (2-Wasserstein) distance between Gaussians.

Used by FID (Heusel et al. 2017) on Inception features and by the finite-Gaussian
protocol on 2-D samples; one home for both.
"""

import warnings

import numpy as np
from scipy import linalg


def gaussian_statistics(samples):
    """Mean and (unbiased) covariance of ``samples`` with shape [n, d]."""
    samples = np.asarray(samples, dtype=np.float64)
    if samples.ndim != 2 or samples.shape[0] < 2:
        raise ValueError(
            f"need at least 2 samples of shape [n, d], got shape {samples.shape}")
    return samples.mean(axis=0), np.cov(samples, rowvar=False)


def frechet_distance(mu1, sigma1, mu2, sigma2, eps=1e-6):
    """d² = ‖μ1 − μ2‖² + tr(Σ1 + Σ2 − 2 (Σ1 Σ2)^{1/2}).

    This is the *squared* Fréchet distance, the quantity every FID table reports.
    A small ``eps`` is added to the diagonals when the product is singular, as in
    the reference FID implementation; the imaginary part that ``sqrtm`` leaves from
    round-off is dropped only when it is negligible.
    """
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    sigma1 = np.atleast_2d(sigma1).astype(np.float64)
    sigma2 = np.atleast_2d(sigma2).astype(np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError(
            f"statistics have different shapes: {mu1.shape}/{sigma1.shape} vs "
            f"{mu2.shape}/{sigma2.shape}")
    diff = mu1 - mu2
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", linalg.LinAlgWarning)
            covmean = linalg.sqrtm(sigma1.dot(sigma2))
        singular = not np.isfinite(covmean).all()
    except linalg.LinAlgWarning:
        singular = True
    if singular:  # e.g. dead feature units: a rank-deficient covariance
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(
                f"imaginary component {np.max(np.abs(covmean.imag))} in sqrtm")
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))
