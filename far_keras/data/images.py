"""Image pipelines (tf.data) for the image GANs: TFDS sets, image folders, npz, digits.

Every dataset made here is infinite, batched (every batch full), prefetched and
yields float32 images of shape [batch, height, width, channels] (channels last)
scaled to [-1, 1], the range of the generator's tanh output.

Sources (``make_image_dataset(name, ...)``):

- ``'cifar10'``, ``'cifar100'``: TFDS, 32x32 RGB, train split held in memory (150 MB
  as uint8).
- ``'imagenet_resized/64x64'`` (alias ``'imagenet64'``): TFDS, 64x64 RGB, streamed.
- ``'celeb_a'`` (alias ``'celeba'``): TFDS aligned CelebA (218x178), streamed; the
  central 140x140 square (rows 39-178, columns 19-158) is cropped, then resized to
  ``image_size`` (default 64) with an antialiased bilinear filter.
- ``'folder'``: every .png/.jpg/.jpeg/.bmp file below ``path`` (recursively, sorted),
  each cropped to its central square and resized to ``image_size``; held in memory.
- ``'npz'``: an array in ``path`` (key ``x``, or the file's only array), NHWC with 1
  or 3 channels, uint8 in [0, 255] or float in [-1, 1]; held in memory.
- ``'digits'``: scikit-learn's 8x8 digits (1,797 images, ships with scikit-learn,
  works offline), upscaled bilinearly to ``image_size`` (default 16), 1 channel.

Determinism and resume. For in-memory sources the batch at step ``t`` is a pure
function of (seed, t): example positions ``t*B .. t*B+B-1`` of the endless
concatenation of epochs are mapped to data indices by a stateless permutation keyed
by (seed, epoch) (``RandomIndexShuffle``), and horizontal flips are drawn statelessly
with a key folded from (seed, t). So ``make_image_dataset(..., start_step=t)`` yields
exactly the batches t, t+1, ... of an uninterrupted run, on any machine, with no
state to checkpoint. The streamed TFDS sets (ImageNet 64x64, CelebA) are too large to
hold in memory and TFDS offers no cheap random access to them, so they use TFDS's
seeded file shuffle plus a seeded shuffle buffer; both seeds are derived from
(seed, start_step). Such a stream is reproducible for a given (seed, start_step), but
a run resumed at step t sees a *different* (equally random) order than the
uninterrupted run would have; flips still depend on (seed, step) only.
"""

import os

import numpy as np
import tensorflow as tf

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp")
IN_MEMORY_TFDS = ("cifar10", "cifar100")
STREAMED_TFDS = ("imagenet_resized/64x64", "celeb_a")
KNOWN_DATASETS = IN_MEMORY_TFDS + STREAMED_TFDS + ("folder", "npz", "digits")
ALIASES = {"imagenet64": "imagenet_resized/64x64", "celeba": "celeb_a"}

# CelebA aligned images are 218 (high) x 178 (wide); the face sits in the centre.
CELEBA_CROP = 140
DEFAULT_DIGITS_SIZE = 16
DEFAULT_SHUFFLE_BUFFER = 10_000

# Distinct salts keep the permutation and flip random streams independent even
# though both are keyed by the same user seed.
_SHUFFLE_SALT = 0x5EED
_FLIP_SALT = 0xF11B
_STREAM_SALT = 0x57EA
_INDEX_SHUFFLE_ROUNDS = 4  # what tf.random.experimental.index_shuffle uses


class DatasetError(ValueError):
    """A dataset cannot be found, read or used; the message says which and why."""


# --- pure tensor helpers ---------------------------------------------------------

def to_unit_range(images):
    """uint8 [0, 255] -> float32 [-1, 1]; float inputs are assumed in [-1, 1] already."""
    if images.dtype == tf.uint8:
        return tf.cast(images, tf.float32) / 127.5 - 1.0
    return tf.cast(images, tf.float32)


def batch_indices(step, batch_size, num_examples, seed):
    """Data indices of the examples in batch ``step`` (pure function of its inputs).

    Position ``p = step * batch_size + j`` of the endless stream is example
    ``perm_e(p mod N)`` where ``e = p div N`` is its epoch and ``perm_e`` the
    stateless permutation of [0, N) keyed by (seed, e). Every epoch visits every
    example once, and batches may straddle an epoch boundary.
    """
    step = tf.cast(step, tf.int64)
    positions = step * batch_size + tf.range(batch_size, dtype=tf.int64)
    epoch = positions // num_examples
    offset = positions % num_examples
    # The public index_shuffle wrapper pads a batched seed along the wrong axis, so
    # the raw op is called with its native [batch, 3] seed.
    seeds = tf.stack([tf.fill([batch_size], tf.constant(seed, tf.int64)), epoch,
                      tf.fill([batch_size], tf.constant(_SHUFFLE_SALT, tf.int64))], axis=1)
    return tf.raw_ops.RandomIndexShuffle(
        index=offset, seed=seeds, max_index=tf.constant(num_examples - 1, tf.int64),
        rounds=_INDEX_SHUFFLE_ROUNDS)


def random_flip(images, seed, step):
    """Flip each image of batch ``step`` left-right with probability 1/2.

    The coin flips are stateless, keyed by (seed, step), so a resumed run flips the
    same images as an uninterrupted one.
    """
    key = tf.random.experimental.stateless_fold_in(
        tf.constant([seed, _FLIP_SALT], tf.int64), tf.cast(step, tf.int64))
    flip = tf.random.stateless_uniform([tf.shape(images)[0]], seed=key) < 0.5
    return tf.where(flip[:, None, None, None], tf.reverse(images, axis=[2]), images)


def center_square_crop(image, size=None):
    """Central ``size`` x ``size`` crop of an HWC image (default: the shorter side)."""
    shape = tf.shape(image)
    height, width = shape[0], shape[1]
    side = tf.minimum(height, width) if size is None else tf.constant(size)
    top = (height - side) // 2
    left = (width - side) // 2
    return image[top:top + side, left:left + side, :]


def resize_images(images, size):
    """Bilinear resize of HWC or NHWC images to ``size`` x ``size`` keeping the dtype.

    Antialiasing matters only when shrinking; it keeps the filter a convex
    combination, so values stay in the input's range (uint8 results are rounded).
    """
    if images.shape[-3] == size and images.shape[-2] == size:
        return images
    resized = tf.image.resize(tf.cast(images, tf.float32), [size, size],
                              method="bilinear", antialias=True)
    if images.dtype == tf.uint8:
        return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)
    return tf.cast(resized, images.dtype)


def convert_channels(images, channels):
    """Repeat grey to 3 channels or average RGB to grey (NHWC or HWC)."""
    have = images.shape[-1]
    if channels is None or have == channels:
        return images
    if have == 1 and channels == 3:
        return tf.repeat(images, 3, axis=-1)
    if have == 3 and channels == 1:
        grey = tf.image.rgb_to_grayscale(tf.cast(images, tf.float32))
        if images.dtype == tf.uint8:
            return tf.cast(tf.round(grey), tf.uint8)
        return tf.cast(grey, images.dtype)
    raise DatasetError(f"cannot convert images with {have} channels to {channels}")


# --- in-memory pipeline -----------------------------------------------------------

def in_memory_image_dataset(images, batch_size, seed, flip=False, start_step=0):
    """Endless deterministic batches from an NHWC array held in memory.

    Args:
      images: uint8 in [0, 255] or float in [-1, 1], shape [N, H, W, C].
      batch_size: images per batch (may exceed N: batches span epochs).
      seed: non-negative integer; the stream is a pure function of (seed, step).
      flip: random left-right flips keyed by (seed, step).
      start_step: the first batch yielded is batch ``start_step`` of the stream.

    Returns:
      ``tf.data.Dataset`` of float32 [batch_size, H, W, C] in [-1, 1].
    """
    seed = _check_seed(seed)
    batch_size, start_step = _check_batch_and_step(batch_size, start_step)
    images = tf.convert_to_tensor(images)
    num_examples = int(images.shape[0])
    if num_examples < 1:
        raise DatasetError("cannot make a dataset from zero images")

    def make_batch(step):
        batch = to_unit_range(tf.gather(images, batch_indices(step, batch_size,
                                                              num_examples, seed)))
        return random_flip(batch, seed, step) if flip else batch

    dataset = tf.data.Dataset.counter(start=start_step, dtype=tf.int64)
    dataset = dataset.map(make_batch, num_parallel_calls=tf.data.AUTOTUNE,
                          deterministic=True)
    return dataset.prefetch(tf.data.AUTOTUNE)


# --- loaders to NumPy arrays ------------------------------------------------------

def load_digits_arrays(image_size=DEFAULT_DIGITS_SIZE, channels=1):
    """scikit-learn's 8x8 digits as (images, labels).

    Pixel values 0..16 are mapped linearly to [-1, 1] and the images upscaled
    bilinearly to ``image_size`` (a convex interpolation, so still in [-1, 1]).

    Returns:
      images: float32 [1797, image_size, image_size, channels] in [-1, 1].
      labels: int64 [1797], the digit classes 0..9.
    """
    from sklearn.datasets import load_digits  # imported late: optional at import time

    digits = load_digits()
    images = digits.images.astype(np.float32)[..., None] / 8.0 - 1.0
    images = resize_images(tf.constant(images), int(image_size or DEFAULT_DIGITS_SIZE))
    images = convert_channels(images, channels)
    return np.clip(images.numpy(), -1.0, 1.0), digits.target.astype(np.int64)


def load_npz_images(path):
    """The image array of an ``.npz`` file, validated.

    The array is the one stored under key ``x``, or the file's only array. It must
    be NHWC with 1 or 3 channels, either uint8 in [0, 255] or floating point in
    [-1, 1]. Returns it unchanged (uint8) or as float32.
    """
    if not tf.io.gfile.exists(path):
        raise DatasetError(f"npz file {path!r} does not exist")
    with tf.io.gfile.GFile(path, "rb") as f:
        magic = f.read(4)
    if magic != b"PK\x03\x04":  # an .npz is a zip of .npy files
        # (np.load would call any other file "pickled (object) data")
        raise DatasetError(f"npz file {path!r} is not an .npz archive (a zip of .npy "
                           f"arrays, as np.savez writes); it starts with {magic!r}")
    try:
        with tf.io.gfile.GFile(path, "rb") as f, np.load(f, allow_pickle=False) as archive:
            keys = list(archive.keys())
            if "x" in keys:
                array = archive["x"]
            elif len(keys) == 1:
                array = archive[keys[0]]
            else:
                raise DatasetError(
                    f"npz file {path!r} has arrays {keys}; store the images under key 'x' "
                    "(or store only one array)")
    except DatasetError:
        raise
    except Exception as err:  # np.load raises several unrelated types for bad files
        raise DatasetError(f"cannot read npz file {path!r}: {err}") from err
    expected = "[num_images, height, width, channels] (NHWC) with channels 1 or 3"
    if array.ndim != 4 or array.shape[-1] not in (1, 3) or array.shape[0] < 1:
        hint = ""
        if array.ndim == 4 and array.shape[1] in (1, 3):
            hint = " (it looks channels-first: transpose it with x.transpose(0, 2, 3, 1))"
        elif array.ndim == 3:
            hint = " (for grey images add a channel axis: x[..., None])"
        raise DatasetError(
            f"npz file {path!r}: images have shape {array.shape}, expected {expected}{hint}")
    if array.dtype == np.uint8:
        return array
    if not np.issubdtype(array.dtype, np.floating):
        raise DatasetError(
            f"npz file {path!r}: dtype {array.dtype} not supported; use uint8 in "
            "[0, 255] or float in [-1, 1]")
    low, high = float(array.min()), float(array.max())
    if low < -1.0 - 1e-4 or high > 1.0 + 1e-4:
        raise DatasetError(
            f"npz file {path!r}: float images must lie in [-1, 1], found [{low:.3g}, "
            f"{high:.3g}] (store uint8 [0, 255] instead, or rescale)")
    return np.clip(array.astype(np.float32), -1.0, 1.0)


def list_image_files(folder):
    """Sorted paths of the image files below ``folder`` (recursively)."""
    if not tf.io.gfile.isdir(folder):
        raise DatasetError(f"image folder {folder!r} does not exist or is not a directory")
    paths = []
    for root, _, files in tf.io.gfile.walk(folder):
        paths.extend(os.path.join(root, name) for name in files
                     if name.lower().endswith(IMAGE_EXTENSIONS))
    if not paths:
        raise DatasetError(
            f"image folder {folder!r} contains no image files "
            f"({', '.join(IMAGE_EXTENSIONS)}), searched recursively")
    return sorted(paths)


def load_image_folder(folder, image_size, channels=3):
    """All images below ``folder``: central square crop, resized, uint8 NHWC.

    Memory is ``N * image_size**2 * channels`` bytes. Unreadable files raise a
    :class:`DatasetError` naming the file.
    """
    if not image_size:
        raise DatasetError(f"image folder {folder!r}: image_size is required")
    images = []
    for path in list_image_files(folder):
        try:
            image = tf.io.decode_image(tf.io.read_file(path), channels=channels,
                                       expand_animations=False)
        except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError) as err:
            raise DatasetError(f"cannot decode image file {path!r}: {err.message}") from err
        images.append(resize_images(center_square_crop(image), int(image_size)))
    return tf.stack(images).numpy()


def _tfds_data_dir(data_dir):
    """Where TFDS looks: ``data_dir``, else $TFDS_DATA_DIR, else its default."""
    if data_dir:
        return str(data_dir)
    import tensorflow_datasets as tfds

    return os.environ.get("TFDS_DATA_DIR", tfds.core.constants.DATA_DIR)


def _tfds_help(name, data_dir):
    """How to obtain TFDS dataset ``name`` (for error messages)."""
    builder = name.split("/")[0]
    common = (
        f"Pass download=True (train.py: --download) on a machine with internet access, or build it there with "
        f"`tfds build {name} --data_dir=DIR` and copy DIR/{builder} into {data_dir}.")
    if builder == "imagenet_resized":
        return common + (
            " TFDS fetches ImageNet 64x64 from www.image-net.org/data/downsample/ "
            "(Imagenet64_train_part1_npz.zip, Imagenet64_train_part2_npz.zip, "
            "Imagenet64_val_npz.zip); that site may require an ImageNet account "
            "(register and accept the terms at image-net.org) before the download works.")
    if builder == "celeb_a":
        return common + (
            " TFDS fetches CelebA from Google Drive, which sometimes refuses with a "
            "quota error; retrying later usually works.")
    return common


def load_tfds(name, split="train", data_dir=None, download=False, **kwargs):
    """``tfds.load`` with errors that say which dataset, where, and how to get it."""
    import tensorflow_datasets as tfds  # imported late: slow, unneeded for other sources

    try:
        return tfds.load(name, split=split, data_dir=data_dir, download=download, **kwargs)
    except Exception as err:  # TFDS raises AssertionError, download and IO errors
        where = _tfds_data_dir(data_dir)
        raise DatasetError(
            f"TFDS dataset {name!r} (split {split!r}) could not be loaded from data_dir "
            f"{where!r} with download={download}: {err}\n{_tfds_help(name, where)}"
        ) from err


def load_tfds_images(name, split="train", data_dir=None, download=False):
    """A small TFDS image set's split as one uint8 NHWC array (e.g. CIFAR: 150 MB)."""
    dataset = load_tfds(name, split, data_dir, download)
    batches = dataset.map(lambda example: example["image"]).batch(4096)
    return np.concatenate(list(batches.as_numpy_iterator()), axis=0)


# --- streamed TFDS pipeline -------------------------------------------------------

def _stream_seed(seed, start_step):
    """A 31-bit seed for the shuffles of a stream started at ``start_step``."""
    return int(np.random.SeedSequence([seed, start_step, _STREAM_SALT]).generate_state(1)[0]
               & 0x7FFFFFFF)


def _celeba_preprocess(image, image_size):
    return resize_images(center_square_crop(image, CELEBA_CROP), image_size)


def streamed_tfds_dataset(name, batch_size, seed, image_size=None, data_dir=None,
                          flip=False, start_step=0, download=False, split="train",
                          channels=None, shuffle_buffer=DEFAULT_SHUFFLE_BUFFER):
    """Endless batches of a large TFDS image set read from disk (not held in memory).

    Order: TFDS file shuffle and a ``shuffle_buffer``-element shuffle, both seeded
    by (seed, start_step); reproducible for a given (seed, start_step), but a resumed
    run does not see the batches the uninterrupted run would have (see module
    docstring). Flips are keyed by (seed, step) as for in-memory sources.
    """
    import tensorflow_datasets as tfds

    seed = _check_seed(seed)
    batch_size, start_step = _check_batch_and_step(batch_size, start_step)
    stream_seed = _stream_seed(seed, start_step)
    dataset = load_tfds(name, split, data_dir, download, shuffle_files=True,
                        read_config=tfds.ReadConfig(shuffle_seed=stream_seed,
                                                    shuffle_reshuffle_each_iteration=True))
    if name == "celeb_a":
        size = int(image_size or 64)
        preprocess = lambda image: _celeba_preprocess(image, size)  # noqa: E731
    else:
        preprocess = (lambda image: image) if not image_size else (  # noqa: E731
            lambda image: resize_images(image, int(image_size)))
    dataset = dataset.map(lambda example: convert_channels(preprocess(example["image"]),
                                                           channels),
                          num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    dataset = dataset.repeat().shuffle(shuffle_buffer, seed=stream_seed,
                                       reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size, drop_remainder=True)
    steps = tf.data.Dataset.counter(start=start_step, dtype=tf.int64)

    def finish(step, batch):
        batch = to_unit_range(batch)
        return random_flip(batch, seed, step) if flip else batch

    dataset = tf.data.Dataset.zip((steps, dataset)).map(
        finish, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    options = tf.data.Options()
    options.deterministic = True
    return dataset.with_options(options).prefetch(tf.data.AUTOTUNE)


# --- entry point ------------------------------------------------------------------

def resolve_dataset_name(name):
    """Canonical dataset name; raises :class:`DatasetError` listing the known names."""
    canonical = ALIASES.get(name, name)
    if canonical not in KNOWN_DATASETS:
        raise DatasetError(
            f"unknown image dataset {name!r}; known: {', '.join(KNOWN_DATASETS)} "
            f"(aliases: {', '.join(f'{a}={b}' for a, b in ALIASES.items())})")
    return canonical


def load_in_memory_images(name, image_size=None, data_dir=None, download=False,
                          path=None, channels=None, split="train"):
    """The images of an in-memory source as one NHWC array (uint8 or float [-1, 1]).

    Resizing and channel conversion are done once here, not per batch.
    """
    name = resolve_dataset_name(name)
    if name in STREAMED_TFDS:
        raise DatasetError(f"{name!r} is streamed from disk and is not loaded into memory")
    if name in ("folder", "npz") and not path:
        raise DatasetError(f"dataset {name!r} needs a path")
    if name == "digits":
        return load_digits_arrays(image_size or DEFAULT_DIGITS_SIZE, channels or 1)[0]
    if name == "folder":
        return load_image_folder(path, image_size, channels or 3)
    if name == "npz":
        images = load_npz_images(path)
    else:
        images = load_tfds_images(name, split, data_dir, download)
    images = convert_channels(tf.constant(images), channels)
    if image_size:
        images = resize_images(images, int(image_size))
    return images.numpy()


def make_image_dataset(name, batch_size, seed, image_size=None, data_dir=None, flip=False,
                       start_step=0, download=False, path=None, channels=None,
                       split="train", shuffle_buffer=DEFAULT_SHUFFLE_BUFFER):
    """Endless, batched, prefetched float32 NHWC images in [-1, 1].

    Args:
      name: one of ``KNOWN_DATASETS`` (or an alias in ``ALIASES``).
      batch_size: images per batch; every batch is full.
      seed: non-negative integer seed of the order and the flips.
      image_size: output side length; ``None`` keeps the native size (CelebA: 64,
        digits: 16). Required for ``'folder'``.
      data_dir: TFDS data directory (``None``: $TFDS_DATA_DIR or ~/tensorflow_datasets).
      flip: random horizontal flips keyed by (seed, step).
      start_step: index of the first batch, to resume a run (exact for in-memory
        sources; reseeded for streamed ones, see module docstring).
      download: let TFDS download and prepare missing data (needs internet).
      path: the folder (``'folder'``) or file (``'npz'``).
      channels: 1 or 3 to convert (grey repeated to RGB, RGB averaged to grey);
        ``None`` keeps the source's channels.
      split: TFDS split.
      shuffle_buffer: shuffle buffer of the streamed TFDS sets.

    Raises:
      DatasetError: unknown name, missing or unreadable data (the message names the
        dataset, where it looked and how to get it).
    """
    name = resolve_dataset_name(name)
    if name in STREAMED_TFDS:
        return streamed_tfds_dataset(name, batch_size, seed, image_size, data_dir, flip,
                                     start_step, download, split, channels, shuffle_buffer)
    images = load_in_memory_images(name, image_size, data_dir, download, path, channels,
                                   split)
    return in_memory_image_dataset(images, batch_size, seed, flip, start_step)


# --- argument checks --------------------------------------------------------------

def _check_seed(seed):
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not (
            0 <= int(seed) < 2 ** 63):
        raise ValueError(f"seed must be an integer in [0, 2**63), got {seed!r}")
    return int(seed)


def _check_batch_and_step(batch_size, start_step):
    if int(batch_size) < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if int(start_step) < 0:
        raise ValueError(f"start_step must be non-negative, got {start_step}")
    return int(batch_size), int(start_step)
