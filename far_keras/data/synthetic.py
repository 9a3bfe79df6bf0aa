"""2-D toy data of the FAR-GAN paper, as resumable tf.data pipelines.

Every dataset is a *source*: ``sample(n, seed)`` draws n points with stateless
random ops, so batch t of a run is a pure function of (seed, t). A run resumed at
step t therefore sees exactly the batches an uninterrupted run would, with no
iterator state to checkpoint. Parameters follow ``protocols.md``:

- ``ring8``: 8 modes at r(cos 2πk/8, sin 2πk/8), k = 0..7, r = 1, σ = 0.01.
- ``grid25``: 25 modes at {−2s, −s, 0, s, 2s}², s = 2, σ = 0.05.
- ``swissroll``: sklearn's make_swiss_roll(n, noise)[0][:, [0, 2]] / scale,
  noise = 0.25, scale = 7.5, re-implemented in TF (same distribution).
- ``gaussian``: a fixed set of n points drawn once (by the seed) from N(0, std² I);
  training batches are drawn uniformly from that set (the paper's Figure 1).
"""

import dataclasses
import inspect
import math

import numpy as np
import tensorflow as tf

from far_keras.data import TWO_D_DATASETS as DATASETS  # the names' home (TF-free)
from far_keras.rng import RNG_ALG  # the module's draws; see far_keras/rng.py


def _seed_pair(seed):
    return tf.constant([0, seed], dtype=tf.int64) if isinstance(seed, int) else seed


def ring_centers(num_modes=8, radius=1.0):
    """Centres r(cos 2πk/K, sin 2πk/K), k = 0..K−1 (K distinct points, not linspace)."""
    angles = 2.0 * np.pi * np.arange(num_modes) / num_modes
    return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def grid_centers(per_side=5, spacing=2.0):
    """Centres {−2s, −s, 0, s, 2s}² for per_side = 5 (row-major)."""
    coords = (np.arange(per_side) - (per_side - 1) / 2.0) * spacing
    xx, yy = np.meshgrid(coords, coords, indexing="ij")
    return np.stack([xx.ravel(), yy.ravel()], axis=1)


@dataclasses.dataclass(frozen=True)
class Source:
    """A 2-D distribution: how to sample it and what the metrics need to know.

    ``centers``/``sigma`` are set for mixtures; ``train_points`` for a fixed finite
    set: the finite Gaussian's (with the true Gaussian in ``mean``/``std``), or a
    mixture's (grid25 with ``grid_points``, as the reference code's fixed 100,000).
    """
    name: str
    centers: np.ndarray = None
    sigma: float = None
    train_points: np.ndarray = None
    mean: np.ndarray = None
    std: float = None
    swissroll_noise: float = None
    swissroll_scale: float = None

    def sample(self, n, seed):
        """n points [n, 2] float32 drawn with stateless ops from ``seed`` (shape [2])."""
        seed = _seed_pair(seed)
        s1, s2, s3 = tf.unstack(tf.random.experimental.stateless_split(seed, 3, alg=RNG_ALG))
        if self.train_points is not None:  # a fixed finite set (gaussian; grid25 option)
            idx = tf.random.stateless_uniform([n], s1, 0, len(self.train_points), tf.int32,
                                            alg=RNG_ALG)
            return tf.gather(tf.constant(self.train_points, tf.float32), idx)
        if self.centers is not None:
            idx = tf.random.stateless_uniform([n], s1, 0, len(self.centers), tf.int32, alg=RNG_ALG)
            loc = tf.gather(tf.constant(self.centers, tf.float32), idx)
            return loc + self.sigma * tf.random.stateless_normal([n, 2], s2, alg=RNG_ALG)
        # Swiss roll, as sklearn.datasets.make_swiss_roll: t = 1.5π(1 + 2u), points
        # (t cos t, t sin t) plus N(0, noise²) on each kept coordinate.
        t = 1.5 * math.pi * (1.0 + 2.0 * tf.random.stateless_uniform([n], s1, alg=RNG_ALG))
        roll = tf.stack([t * tf.cos(t), t * tf.sin(t)], axis=1)
        roll += self.swissroll_noise * tf.random.stateless_normal([n, 2], s3, alg=RNG_ALG)
        return roll / self.swissroll_scale

    def sample_numpy(self, n, seed):
        """Fresh points as a NumPy array (for metrics and plots)."""
        return self.sample(n, tf.constant([1, seed], tf.int64)).numpy()


def fixed_mixture_points(centers, sigma, num_points, seed):
    """num_points from the mixture, num_points / K per mode exactly, shuffled.

    The synthetic reference code (``Datasets.py``, 25Gaussians) trains on one such set
    of 100,000 points (4,000 per mode) drawn once, not on fresh draws.
    """
    k = len(centers)
    if num_points < k:
        raise ValueError(f"a fixed mixture set needs at least one point per mode ({k}), "
                         f"got {num_points}")
    rng = np.random.default_rng([seed, 2525])
    loc = np.repeat(np.asarray(centers), num_points // k, axis=0)
    points = loc + sigma * rng.standard_normal(loc.shape)
    return rng.permutation(points).astype(np.float32)


def make_source(name, *, ring_radius=1.0, ring_sigma=0.01, grid_spacing=2.0,
                grid_sigma=0.05, grid_points=0, swissroll_noise=0.25, swissroll_scale=7.5,
                gaussian_points=1000, gaussian_std=1.0, seed=0):
    """Builds the named 2-D source; ``seed`` fixes the finite sets (gaussian, and
    grid25 with ``grid_points`` > 0)."""
    if name == "ring8":
        return Source(name, centers=ring_centers(8, ring_radius), sigma=ring_sigma)
    if name == "grid25":
        centers = grid_centers(5, grid_spacing)
        points = (fixed_mixture_points(centers, grid_sigma, grid_points, seed)
                  if grid_points else None)
        return Source(name, centers=centers, sigma=grid_sigma, train_points=points)
    if name == "swissroll":
        return Source(name, swissroll_noise=swissroll_noise, swissroll_scale=swissroll_scale)
    if name == "gaussian":
        rng = np.random.default_rng([seed, 2024])
        points = (gaussian_std * rng.standard_normal((gaussian_points, 2))).astype(np.float32)
        return Source(name, train_points=points, mean=np.zeros(2), std=gaussian_std)
    raise ValueError(f"unknown 2-D dataset {name!r}; expected one of {', '.join(DATASETS)}")


def source_from_config(data_cfg, seed=0):
    """``make_source`` with the matching fields of a ``config.DataConfig``: a new
    source's shape flags need only their Config field and a keyword here."""
    params = inspect.signature(make_source).parameters
    kwargs = {k: getattr(data_cfg, k) for k in params if hasattr(data_cfg, k) and k != "name"}
    return make_source(data_cfg.dataset, seed=seed, **kwargs)


def make_dataset(source, batch_size, seed, start_step=0, num_steps=None, steps_per_element=1):
    """Batches [batch_size, 2] for steps start_step, start_step + 1, ...

    Batch t is ``source.sample(batch_size, fold_in((seed, 0), t))``: resuming is
    ``start_step=t``. Infinite when ``num_steps`` is None.

    ``steps_per_element`` = K > 1 gives blocks [K, batch_size, 2] of K consecutive
    steps (a final partial block is dropped), bit for bit what ``.batch(K,
    drop_remainder=True)`` of the K = 1 dataset gives, but each block is one tf.data
    call that loops over its steps in-graph, without tf.data's per-element machinery:
    1.4-1.8x less CPU per step (193 vs 140 and 216 vs 123 µs in two runs of
    ``benchmarks/two_d_step.py --question=data``), CPU that runs sharing the cores take from each
    other. (Compiling the sampler with XLA would cost almost nothing, but XLA's
    stateless kernels draw other numbers, so every run's data would change.)
    """
    if steps_per_element < 1:
        raise ValueError(f"steps_per_element must be >= 1, got {steps_per_element}")
    k = steps_per_element
    stop = np.iinfo(np.int64).max if num_steps is None else start_step + num_steps // k * k
    base = tf.constant([seed, 0], tf.int64)

    def batch(step):
        seed = tf.random.experimental.stateless_fold_in(base, step, alg=RNG_ALG)
        return source.sample(batch_size, seed)

    def block(first):
        return tf.map_fn(batch, first + tf.range(k, dtype=tf.int64),
                         fn_output_signature=tf.float32)

    return (tf.data.Dataset.range(start_step, stop, k)
            .map(batch if k == 1 else block, num_parallel_calls=tf.data.AUTOTUNE,
                 deterministic=True)
            .prefetch(tf.data.AUTOTUNE))
