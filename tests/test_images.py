"""Image pipelines: shapes, range, determinism/resume, flips and error messages."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds
from PIL import Image

from far_keras.data import images
from far_keras.data.images import DatasetError, make_image_dataset


def take(dataset, n):
    return [batch.numpy() for batch in dataset.take(n)]


def check_batch(batch, shape):
    assert batch.dtype == np.float32
    assert batch.shape == shape
    assert batch.min() >= -1.0 and batch.max() <= 1.0


# --- TFDS sources, mocked ----------------------------------------------------------

@pytest.mark.parametrize("name,image_size,shape", [
    ("cifar10", None, (4, 32, 32, 3)),
    ("cifar100", 16, (4, 16, 16, 3)),
    ("imagenet_resized/64x64", None, (4, 64, 64, 3)),
    ("imagenet64", 32, (4, 32, 32, 3)),
    ("celeb_a", None, (4, 64, 64, 3)),
])
def test_tfds_sources_mocked(name, image_size, shape, tmp_path):
    with tfds.testing.mock_data(num_examples=6):
        # A small shuffle buffer: filling the default one would mock 10k examples.
        dataset = make_image_dataset(name, 4, seed=1, image_size=image_size,
                                     data_dir=str(tmp_path), flip=True, shuffle_buffer=8)
        for batch in take(dataset, 3):
            check_batch(batch, shape)


def test_cifar_mocked_resume_is_exact(tmp_path):
    with tfds.testing.mock_data(num_examples=10):
        full = take(make_image_dataset("cifar10", 4, seed=2, data_dir=str(tmp_path)), 6)
        resumed = take(make_image_dataset("cifar10", 4, seed=2, data_dir=str(tmp_path),
                                          start_step=4), 2)
    np.testing.assert_array_equal(resumed[0], full[4])
    np.testing.assert_array_equal(resumed[1], full[5])


def test_streamed_tfds_is_reproducible_for_same_seed_and_step(tmp_path):
    with tfds.testing.mock_data(num_examples=8):
        a = take(make_image_dataset("celeb_a", 2, seed=5, data_dir=str(tmp_path),
                                    image_size=16, shuffle_buffer=4), 3)
        b = take(make_image_dataset("celeb_a", 2, seed=5, data_dir=str(tmp_path),
                                    image_size=16, shuffle_buffer=4), 3)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_tfds_missing_offline_names_dataset_and_data_dir(tmp_path):
    data_dir = str(tmp_path / "empty_tfds")
    with pytest.raises(DatasetError) as info:
        make_image_dataset("cifar10", 4, seed=0, data_dir=data_dir, download=False)
    message = str(info.value)
    assert "cifar10" in message and data_dir in message
    assert "download=True" in message


def test_imagenet_missing_offline_says_where_to_get_it(tmp_path):
    data_dir = str(tmp_path)
    with pytest.raises(DatasetError) as info:
        make_image_dataset("imagenet_resized/64x64", 4, seed=0, data_dir=data_dir)
    message = str(info.value)
    assert "imagenet_resized/64x64" in message and data_dir in message
    assert "image-net.org" in message


# --- in-memory determinism -----------------------------------------------------------

def test_resume_equals_uninterrupted_run_across_epochs():
    # 1797 digits, batch 500: batches straddle epoch boundaries.
    full = take(make_image_dataset("digits", 500, seed=7, flip=True), 9)
    resumed = take(make_image_dataset("digits", 500, seed=7, flip=True, start_step=5), 4)
    for i, batch in enumerate(resumed):
        np.testing.assert_array_equal(batch, full[5 + i])


def test_different_seeds_give_different_orders():
    a = take(make_image_dataset("digits", 16, seed=0), 1)[0]
    b = take(make_image_dataset("digits", 16, seed=1), 1)[0]
    assert not np.array_equal(a, b)


def test_every_epoch_is_a_permutation():
    n, batch = 37, 8
    steps = 5 * n // batch  # 4 full epochs plus a bit
    idx = np.concatenate([images.batch_indices(s, batch, n, 3).numpy() for s in range(steps)])
    first, second = idx[:n], idx[n:2 * n]
    assert sorted(first) == list(range(n)) and sorted(second) == list(range(n))
    assert not np.array_equal(first, second)  # reshuffled each epoch


def test_flip_determinism_and_effect():
    x = np.arange(2 * 3 * 4, dtype=np.float32).reshape(1, 3, 4, 2).repeat(64, axis=0)
    x = x / x.max()
    a = images.random_flip(tf.constant(x), seed=4, step=10).numpy()
    b = images.random_flip(tf.constant(x), seed=4, step=10).numpy()
    np.testing.assert_array_equal(a, b)
    flipped = np.array([np.array_equal(img, x[0, :, ::-1]) for img in a])
    kept = np.array([np.array_equal(img, x[0]) for img in a])
    assert np.all(flipped | kept) and 10 < flipped.sum() < 54
    c = images.random_flip(tf.constant(x), seed=4, step=11).numpy()
    assert not np.array_equal(a, c)  # a new coin per step


def test_flip_only_changes_orientation_of_the_same_examples():
    plain = take(make_image_dataset("digits", 32, seed=9), 2)
    flipped = take(make_image_dataset("digits", 32, seed=9, flip=True), 2)
    for p, f in zip(plain, flipped):
        for a, b in zip(p, f):
            assert np.array_equal(a, b) or np.array_equal(a[:, ::-1], b)


# --- digits ----------------------------------------------------------------------

def test_digits_arrays_and_channels():
    x, y = images.load_digits_arrays(image_size=32)
    assert x.shape == (1797, 32, 32, 1) and x.dtype == np.float32
    assert x.min() == -1.0 and x.max() == 1.0
    assert y.shape == (1797,) and set(np.unique(y)) == set(range(10))
    batch = take(make_image_dataset("digits", 4, seed=0, channels=3), 1)[0]
    check_batch(batch, (4, 16, 16, 3))
    np.testing.assert_array_equal(batch[..., 0], batch[..., 2])


# --- folders ---------------------------------------------------------------------

def write_png(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def test_folder_recursive_mixed_sizes(tmp_path):
    rng = np.random.default_rng(0)
    write_png(tmp_path / "a.png", rng.integers(0, 256, (20, 30, 3), dtype=np.uint8))
    write_png(tmp_path / "sub" / "b.png", rng.integers(0, 256, (12, 12), dtype=np.uint8))
    Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(
        tmp_path / "sub" / "c.JPG")
    (tmp_path / "notes.txt").write_text("not an image")
    assert len(images.list_image_files(str(tmp_path))) == 3
    batches = take(make_image_dataset("folder", 5, seed=0, image_size=16,
                                      path=str(tmp_path)), 2)
    for batch in batches:
        check_batch(batch, (5, 16, 16, 3))


def test_folder_values_are_scaled_exactly(tmp_path):
    write_png(tmp_path / "white.png", np.full((8, 8, 3), 255, np.uint8))
    write_png(tmp_path / "black.png", np.zeros((8, 8, 3), np.uint8))
    batch = take(make_image_dataset("folder", 2, seed=0, image_size=8,
                                    path=str(tmp_path)), 1)[0]
    assert sorted(batch.reshape(2, -1).mean(axis=1)) == [-1.0, 1.0]


def test_folder_errors(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        make_image_dataset("folder", 2, seed=0, image_size=8, path=str(tmp_path / "nope"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no image files"):
        make_image_dataset("folder", 2, seed=0, image_size=8, path=str(tmp_path / "empty"))
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "broken.png").write_bytes(b"this is not a png")
    with pytest.raises(DatasetError, match="broken.png"):
        make_image_dataset("folder", 2, seed=0, image_size=8, path=str(bad))
    with pytest.raises(DatasetError, match="needs a path"):
        make_image_dataset("folder", 2, seed=0, image_size=8)


# --- npz -------------------------------------------------------------------------

def test_npz_uint8_and_float(tmp_path):
    rng = np.random.default_rng(1)
    path = tmp_path / "u8.npz"
    np.savez(path, x=rng.integers(0, 256, (10, 8, 8, 3), dtype=np.uint8), y=np.arange(10))
    check_batch(take(make_image_dataset("npz", 4, seed=0, path=str(path)), 1)[0],
                (4, 8, 8, 3))
    path = tmp_path / "f.npz"
    np.savez(path, rng.uniform(-1, 1, (10, 8, 8, 1)).astype(np.float32))  # only array
    check_batch(take(make_image_dataset("npz", 4, seed=0, path=str(path), image_size=4),
                     1)[0], (4, 4, 4, 1))


def test_npz_resume_is_exact(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.arange(7 * 2 * 2 * 1, dtype=np.uint8).reshape(7, 2, 2, 1))
    full = take(make_image_dataset("npz", 3, seed=11, path=str(path), flip=True), 6)
    resumed = take(make_image_dataset("npz", 3, seed=11, path=str(path), flip=True,
                                      start_step=2), 4)
    np.testing.assert_array_equal(np.stack(resumed), np.stack(full[2:]))


@pytest.mark.parametrize("array,match", [
    (np.zeros((4, 3, 8, 8), np.uint8), "channels-first"),
    (np.zeros((4, 8, 8), np.uint8), "channel axis"),
    (np.zeros((4, 8, 8, 2), np.uint8), "NHWC"),
    (np.full((4, 8, 8, 3), 3.0, np.float32), r"\[-1, 1\]"),
    (np.zeros((4, 8, 8, 3), np.int32), "dtype"),
])
def test_npz_bad_arrays_are_named(tmp_path, array, match):
    path = tmp_path / "bad.npz"
    np.savez(path, x=array)
    with pytest.raises(DatasetError, match=match) as info:
        make_image_dataset("npz", 2, seed=0, path=str(path))
    assert "bad.npz" in str(info.value)


def test_npz_missing_or_ambiguous(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        make_image_dataset("npz", 2, seed=0, path=str(tmp_path / "none.npz"))
    path = tmp_path / "two.npz"
    np.savez(path, a=np.zeros((2, 4, 4, 1)), b=np.zeros((2, 4, 4, 1)))
    with pytest.raises(DatasetError, match="key 'x'"):
        make_image_dataset("npz", 2, seed=0, path=str(path))


def test_npz_that_is_not_an_archive_says_so(tmp_path):
    path = tmp_path / "notes.npz"
    path.write_text("these are not images\n")
    with pytest.raises(DatasetError, match="is not an .npz archive.*b'thes'"):
        make_image_dataset("npz", 2, seed=0, path=str(path))


# --- entry point -------------------------------------------------------------------

def test_unknown_dataset_lists_known_names():
    with pytest.raises(DatasetError) as info:
        make_image_dataset("mnist", 2, seed=0)
    for known in images.KNOWN_DATASETS:
        assert known in str(info.value)


def test_bad_seed_rejected():
    with pytest.raises(ValueError, match="seed"):
        make_image_dataset("digits", 2, seed=-1)
