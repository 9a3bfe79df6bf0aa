"""Mode-coverage metrics for 2-D mixtures (the published protocol, protocols.md).

A sample is *high quality* when its distance to the nearest mode centre is at most
3σ; a mode is *covered* when it is the nearest centre of at least one high-quality
sample; KL(q ‖ uniform) = log K − H(q) for q the histogram of high-quality samples
over the K modes.
"""

import numpy as np


def nearest_mode(samples, centers):
    """(index of the nearest centre, distance to it) for each sample."""
    d = np.linalg.norm(np.asarray(samples)[:, None, :] - np.asarray(centers)[None], axis=-1)
    idx = d.argmin(axis=1)
    return idx, d[np.arange(len(idx)), idx]


def mode_metrics(samples, centers, sigma, num_sigmas=3.0):
    """Returns {'modes_covered', 'high_quality', 'kl_to_uniform'} for ``samples``.

    ``high_quality`` is a fraction in [0, 1]. With no high-quality sample at all q is
    undefined; we report KL = log K then (the value of a point mass, the worst
    possible), so that a collapsed-off-data generator never looks *better* than one
    that covers a single mode.
    """
    centers = np.asarray(centers, dtype=np.float64)
    k = len(centers)
    idx, dist = nearest_mode(samples, centers)
    good = dist <= num_sigmas * sigma
    counts = np.bincount(idx[good], minlength=k)
    if counts.sum() == 0:
        kl = float(np.log(k))
    else:
        q = counts / counts.sum()
        nz = q > 0
        kl = float(np.log(k) + np.sum(q[nz] * np.log(q[nz])))
    return {
        "modes_covered": int((counts > 0).sum()),
        "high_quality": float(good.mean()),
        "kl_to_uniform": kl,
    }
