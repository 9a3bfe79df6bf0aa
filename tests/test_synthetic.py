import numpy as np
import pytest
import tensorflow as tf
from sklearn.datasets import make_swiss_roll

from far_keras.data import synthetic
from far_keras.metrics import mode_coverage, sample_metrics


def test_ring8_centres_are_eight_distinct_points_on_the_circle():
    c = synthetic.ring_centers(8, 1.0)
    assert len(np.unique(np.round(c, 6), axis=0)) == 8
    np.testing.assert_allclose(np.linalg.norm(c, axis=1), 1.0)
    np.testing.assert_allclose(c[2], [0.0, 1.0], atol=1e-12)  # k = 2: angle π/2


def test_grid25_centres():
    c = synthetic.grid_centers(5, 2.0)
    assert sorted(set(c[:, 0])) == [-4, -2, 0, 2, 4] and len(c) == 25
    assert len(np.unique(c, axis=0)) == 25


@pytest.mark.parametrize("name,sigma", [("ring8", 0.01), ("grid25", 0.05)])
def test_mixture_sample_statistics(name, sigma):
    src = synthetic.make_source(name)
    x = src.sample_numpy(40000, 0)
    idx, _ = mode_coverage.nearest_mode(x, src.centers)
    resid = x - src.centers[idx]
    assert resid.std() == pytest.approx(sigma, rel=0.03)
    counts = np.bincount(idx, minlength=len(src.centers))
    assert counts.min() > 0.8 * len(x) / len(src.centers)  # modes equally likely


def test_flags_change_the_parameters():
    src = synthetic.make_source("ring8", ring_radius=2.0, ring_sigma=0.1)
    np.testing.assert_allclose(np.linalg.norm(src.centers, axis=1), 2.0)
    assert src.sigma == 0.1


def test_swissroll_matches_sklearn():
    ours = synthetic.make_source("swissroll").sample_numpy(3000, 0)
    ref = make_swiss_roll(3000, noise=0.25, random_state=0)[0][:, [0, 2]] / 7.5
    other = make_swiss_roll(3000, noise=0.25, random_state=1)[0][:, [0, 2]] / 7.5
    baseline = sample_metrics.energy_distance(ref, other)
    assert sample_metrics.energy_distance(ours, ref) < 3 * baseline + 1e-3
    shifted = sample_metrics.energy_distance(ours * 1.2, ref)
    assert shifted > 5 * sample_metrics.energy_distance(ours, ref)


def test_gaussian_is_a_fixed_finite_set_chosen_by_the_seed():
    a = synthetic.make_source("gaussian", gaussian_points=50, seed=3)
    b = synthetic.make_source("gaussian", gaussian_points=50, seed=3)
    c = synthetic.make_source("gaussian", gaussian_points=50, seed=4)
    np.testing.assert_array_equal(a.train_points, b.train_points)
    assert not np.allclose(a.train_points, c.train_points)
    batch = a.sample_numpy(500, 0)
    train = {tuple(p) for p in a.train_points}
    assert all(tuple(p) in train for p in batch)


def test_dataset_is_a_pure_function_of_seed_and_step():
    src = synthetic.make_source("ring8")
    full = [b.numpy() for b in synthetic.make_dataset(src, 8, seed=5, num_steps=6)]
    tail = [b.numpy() for b in synthetic.make_dataset(src, 8, seed=5, start_step=3, num_steps=3)]
    for x, y in zip(full[3:], tail):
        np.testing.assert_array_equal(x, y)
    other = next(iter(synthetic.make_dataset(src, 8, seed=6, num_steps=1))).numpy()
    assert not np.allclose(other, full[0])


@pytest.mark.parametrize("name,kwargs", [("ring8", {}), ("grid25", {"grid_points": 100}),
                                         ("swissroll", {})])
def test_blocks_of_steps_are_bit_for_bit_the_batched_steps(name, kwargs):
    # steps_per_element=K samples K steps per tf.data call; it must give exactly the
    # per-step batches, grouped (a resumed or a K=1 run sees the same data).
    src = synthetic.make_source(name, **kwargs)
    steps = [b.numpy() for b in synthetic.make_dataset(src, 8, seed=5, start_step=3,
                                                        num_steps=11)]
    blocks = [b.numpy() for b in synthetic.make_dataset(src, 8, seed=5, start_step=3,
                                                         num_steps=11, steps_per_element=4)]
    assert [b.shape for b in blocks] == [(4, 8, 2), (4, 8, 2)]  # the partial block is dropped
    np.testing.assert_array_equal(np.concatenate(blocks), np.stack(steps[:8]))
    endless = synthetic.make_dataset(src, 8, seed=5, start_step=3, steps_per_element=4)
    np.testing.assert_array_equal(next(iter(endless)).numpy(), blocks[0])
    with pytest.raises(ValueError, match="steps_per_element must be >= 1"):
        synthetic.make_dataset(src, 8, seed=5, steps_per_element=0)


def test_unknown_dataset():
    with pytest.raises(ValueError, match="ring8, grid25"):
        synthetic.make_source("ring9")


def test_fixed_grid_set_has_equal_points_per_mode_and_batches_come_from_it():
    src = synthetic.make_source("grid25", grid_spacing=7.0721, grid_sigma=0.1768,
                                grid_points=1000, seed=3)
    pts = src.train_points
    assert pts.shape == (1000, 2)
    d = np.linalg.norm(pts[:, None] - src.centers[None], axis=-1)
    counts = np.bincount(d.argmin(1), minlength=25)
    assert (counts == 40).all()  # 1000 / 25 per mode, as the reference's 4000 of 100,000
    assert np.std(pts - src.centers[d.argmin(1)]) == pytest.approx(0.1768, rel=0.1)
    batch = src.sample(256, tf.constant([0, 9], tf.int64)).numpy()
    set_rows = {tuple(r) for r in pts}
    assert all(tuple(r) in set_rows for r in batch)
    again = synthetic.make_source("grid25", grid_spacing=7.0721, grid_sigma=0.1768,
                                  grid_points=1000, seed=3)
    np.testing.assert_array_equal(again.train_points, pts)  # fixed by the seed
    fresh = synthetic.make_source("grid25", grid_points=0)
    assert fresh.train_points is None


def test_reference_scale_defaults():
    # Datasets.py: ring = unit circle x 10 / 1.414 (σ 0.02 / 1.414); grid = 2·{-2..2}² / 2.828 x 10.
    ring = synthetic.make_source("ring8", ring_radius=10 / 1.414, ring_sigma=0.02 / 1.414)
    np.testing.assert_allclose(np.linalg.norm(ring.centers, axis=1), 7.0721, rtol=1e-4)
    grid = synthetic.make_source("grid25", grid_spacing=20 / 2.828, grid_points=0)
    assert np.unique(grid.centers[:, 0]).tolist() == pytest.approx(
        [-40 / 2.828, -20 / 2.828, 0, 20 / 2.828, 40 / 2.828])
