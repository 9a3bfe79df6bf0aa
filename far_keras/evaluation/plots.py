"""Scatter plots of real vs generated 2-D points (the paper's Figures 1, 2, 9)."""

import io

import matplotlib

matplotlib.use("Agg")  # no display on training machines
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def scatter_png(real, fake, title="", contour_fn=None, limits=None):
    """PNG bytes: real points (blue) and generated points (red), optionally over the
    discriminator's output D = σ(D0) evaluated on a grid by ``contour_fn``."""
    real, fake = np.asarray(real), np.asarray(fake)
    if limits is None:
        pts = np.concatenate([real, fake[np.isfinite(fake).all(1)]])
        lo, hi = np.percentile(pts, 0.5, axis=0), np.percentile(pts, 99.5, axis=0)
        pad = 0.15 * (hi - lo).max() + 1e-3
        limits = (min(lo) - pad, max(hi) + pad)
    fig, ax = plt.subplots(figsize=(5, 5), dpi=80)
    if contour_fn is not None:
        xs = np.linspace(limits[0], limits[1], 100)
        xx, yy = np.meshgrid(xs, xs)
        grid = np.stack([xx.ravel(), yy.ravel()], 1).astype(np.float32)
        zz = np.asarray(contour_fn(grid)).reshape(xx.shape)
        cs = ax.contourf(xx, yy, zz, levels=20, cmap="Greys", alpha=0.6)
        fig.colorbar(cs, ax=ax, fraction=0.046, label="D(x)")
    ax.scatter(real[:, 0], real[:, 1], s=3, c="tab:blue", label="real")
    ax.scatter(fake[:, 0], fake[:, 1], s=3, c="tab:red", label="generated")
    ax.set_xlim(*limits)
    ax.set_ylim(*limits)
    ax.set_aspect("equal")
    ax.legend(loc="upper right", markerscale=3)
    ax.set_title(title)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()
