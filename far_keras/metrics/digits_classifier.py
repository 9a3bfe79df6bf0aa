"""A small CNN trained on scikit-learn's digits: an offline stand-in for Inception.

For the offline digits setting (``far_keras.data.images`` ``'digits'``) there is no
Inception network to score samples with, so this module provides a small CNN trained
on the same upscaled digits and exposes the extractor interface of
:mod:`far_keras.metrics.inception`: ``classifier(images) -> (features, logits)``
(128-d penultimate activations, 10 logits), ``weights_id`` and ``protocol``.
FID/IS-style numbers computed with it ("digits-FID", "digits-IS", at most 10) are
useful to compare runs scored by the *same* classifier weights, and are not
comparable with Inception numbers or with numbers from another classifier.

**One classifier for everyone.** The 16-pixel classifier's trained weights ship with
the package (``digits_cnn_16px.npz`` next to this module, 0.3 MB), checked by SHA-256
when loaded (:func:`load_shipped_classifier`), so every machine scores with the same
weights, ``SHIPPED_WEIGHTS_ID``. Training the CNN again stays possible
(:func:`train_digits_classifier`, :func:`train_in_own_process`): the result depends on
the TF build and the CPU and gets the ``weights_id`` of its own weights (the id is a
hash of the weight values, so another training shows as another id). Regenerate the
shipped file with ``python -m far_keras.metrics.digits_classifier --write_shipped
OUT.npz``.
"""

import hashlib
import inspect
import io
import json
import os
import subprocess
import sys
import tempfile
import warnings
import zipfile

import numpy as np
import tensorflow as tf

from far_keras.data.images import DEFAULT_DIGITS_SIZE, load_digits_arrays
from far_keras.metrics import fid_weights

NUM_CLASSES = 10
FEATURE_LAYER = "features"

# The shipped classifier: trained by train_in_own_process(**SHIPPED_TRAINING) (TF 2.21,
# Keras 3.15, AMD EPYC x86-64, one thread) and written by write_weights_file. Its id is the
# one the docs' digits tables (docs/image_gans.md, docs/sdkl.md) were measured with.
SHIPPED_WEIGHTS_FILE = "digits_cnn_16px.npz"
SHIPPED_WEIGHTS_SHA256 = "4eb9bfb662f3504cfb3c1f06179224b49e3c0f62c7f5c4407c706f8531bcf926"
SHIPPED_WEIGHTS_ID = "far-keras-digits-cnn-16px:sha256-662201dacfb5"
SHIPPED_TRAINING = dict(image_size=16, seed=0, epochs=15, batch_size=64,
                        validation_fraction=0.2, learning_rate=3e-3)


class DigitsWeightsError(ValueError):
    """A digits classifier weights file is missing, corrupted or not the expected one."""


def build_digits_cnn(image_size=DEFAULT_DIGITS_SIZE, seed=0):
    """Conv(32)-Conv(32, stride 2)-Conv(64)-Conv(64, stride 2)-GAP-Dense(128)-Dense(10).

    Input: grey images [B, image_size, image_size, 1] in [-1, 1]; output: logits.
    Initialisers are seeded so that training from the same seed starts the same.
    """
    import keras

    def init(offset):
        return keras.initializers.GlorotUniform(seed=seed * 100 + offset)

    inputs = keras.Input((image_size, image_size, 1), name="image")
    x = inputs
    for i, (filters, strides) in enumerate([(32, 1), (32, 2), (64, 1), (64, 2)]):
        x = keras.layers.Conv2D(filters, 3, strides=strides, padding="same", activation="relu",
                                kernel_initializer=init(i), name=f"conv_{i}")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    x = keras.layers.Dense(128, activation="relu", kernel_initializer=init(10),
                           name=FEATURE_LAYER)(x)
    logits = keras.layers.Dense(NUM_CLASSES, kernel_initializer=init(11), name="logits")(x)
    return keras.Model(inputs, logits, name="digits_cnn")


def weights_digest(model, length=12):
    """Short SHA-256 of a model's weight values (identical after save and load)."""
    import keras

    digest = hashlib.sha256()
    for weight in model.weights:
        values = keras.ops.convert_to_numpy(weight).astype("<f4")  # little-endian float32
        digest.update(np.ascontiguousarray(values).tobytes())
    return digest.hexdigest()[:length]


class DigitsClassifier:
    """Extractor interface around a trained digits CNN (see module docstring)."""

    def __init__(self, model, weights_file=None):
        import keras

        self.model = model
        self.image_size = int(model.input.shape[1])
        self.weights_id = f"far-keras-digits-cnn-{self.image_size}px:sha256-{weights_digest(model)}"
        # Whether these are the shipped weights is decided by the weights themselves
        # (a .keras copy of them is the shipped classifier too), never by a file name.
        self.shipped = self.weights_id == SHIPPED_WEIGHTS_ID
        if self.shipped:
            self.protocol = dict(network=self.weights_id, shipped=True,
                                 weights_file=f"far_keras/metrics/{SHIPPED_WEIGHTS_FILE}",
                                 weights_sha256=SHIPPED_WEIGHTS_SHA256)
        else:
            self.protocol = dict(network=self.weights_id, shipped=False, weights_file=(
                os.path.basename(str(weights_file)) if weights_file else None))
        self._feature_model = keras.Model(
            model.input, [model.get_layer(FEATURE_LAYER).output, model.output])
        self._forward = tf.function(self._features_and_logits, reduce_retracing=True)

    def _features_and_logits(self, images):
        return self._feature_model(images, training=False)

    def prepare(self, images):
        """[-1, 1] NHWC images (1 or 3 channels, any size) -> grey at ``image_size``."""
        images = tf.convert_to_tensor(images, tf.float32)
        if images.shape.rank != 4 or images.shape[-1] not in (1, 3):
            raise ValueError(
                f"expected NHWC images with 1 or 3 channels, got shape {images.shape}")
        if images.shape[-1] == 3:
            images = tf.reduce_mean(images, axis=-1, keepdims=True)
        if images.shape[1] != self.image_size or images.shape[2] != self.image_size:
            images = tf.image.resize(images, [self.image_size, self.image_size],
                                     method="bilinear", antialias=True)
        return images

    def __call__(self, images):
        """(features [B, 128], logits [B, 10]) float32 tensors."""
        # Prepared eagerly: the traced function may see relaxed (unknown) shapes, and
        # the channel handling needs the static channel count.
        return self._forward(self.prepare(images))

    def accuracy(self, images, labels):
        """Fraction of ``images`` classified as ``labels``."""
        _, logits = self(images)
        return float(np.mean(np.argmax(np.asarray(logits), axis=1) == np.asarray(labels)))

    def save(self, path):
        """Save the CNN as a ``.keras`` file."""
        self.model.save(path)

    @classmethod
    def load(cls, path):
        """Load a CNN saved by :meth:`save`."""
        import keras

        return cls(keras.saving.load_model(path, compile=False), weights_file=path)


# --- the shipped weights file ------------------------------------------------------------

def shipped_weights_path():
    """Where the shipped weights file is installed (next to this module)."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), SHIPPED_WEIGHTS_FILE)


file_sha256 = fid_weights.sha256  # hex SHA-256 of a file's bytes (one home for it)


def _array_name(weight):
    return weight.path.replace("/", ".")  # e.g. 'conv_0.kernel'


def weights_file_bytes(classifier):
    """The ``.npz`` bytes of a classifier's weights, a function of the weights alone.

    One little-endian float32 ``.npy`` per weight, named by its layer path, stored
    uncompressed in a zip with fixed timestamps: the same weights always give the
    same bytes (and SHA-256) on any machine. ``numpy.load`` reads it.
    """
    import keras

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for weight in classifier.model.weights:
            array = io.BytesIO()
            np.lib.format.write_array(
                array, np.ascontiguousarray(keras.ops.convert_to_numpy(weight), "<f4"),
                allow_pickle=False)
            info = zipfile.ZipInfo(f"{_array_name(weight)}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            archive.writestr(info, array.getvalue())
    return buffer.getvalue()


def write_weights_file(classifier, path):
    """Write :func:`weights_file_bytes` to ``path``; returns its hex SHA-256."""
    data = weights_file_bytes(classifier)
    with open(path, "wb") as handle:
        handle.write(data)
    return hashlib.sha256(data).hexdigest()


def read_weights_file(path, image_size=None, expected_sha256=None):
    """A :class:`DigitsClassifier` from a file written by :func:`write_weights_file`.

    Args:
      path: the ``.npz`` file.
      image_size: the CNN's input size (default 16); the file cannot say it, since
        the weights' shapes do not depend on it.
      expected_sha256: when given, the file's SHA-256 must be this (checked before
        anything is read from it).

    Raises:
      DigitsWeightsError: the file is missing, its SHA-256 differs, or its arrays are
        not the CNN's; the message names the file.
    """
    path = str(path)
    if not os.path.isfile(path):
        raise DigitsWeightsError(f"digits classifier weights file {path} is missing")
    if expected_sha256 is not None:
        digest = file_sha256(path)
        if digest != expected_sha256:
            raise DigitsWeightsError(
                f"digits classifier weights file {path} is corrupted or was replaced: its "
                f"SHA-256 is {digest}, expected {expected_sha256}")
    model = build_digits_cnn(int(image_size or DEFAULT_DIGITS_SIZE))
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name[:-4] if name.endswith(".npy") else name: data[name]
                      for name in data.files}
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        raise DigitsWeightsError(
            f"digits classifier weights file {path} is not readable as .npz: {err}") from err
    expected = {_array_name(w): tuple(w.shape) for w in model.weights}
    found = {name: tuple(a.shape) for name, a in arrays.items()}
    if found != expected:
        raise DigitsWeightsError(
            f"digits classifier weights file {path} does not hold the digits CNN's weights: "
            f"expected arrays {expected}, found {found}")
    for weight in model.weights:
        weight.assign(arrays[_array_name(weight)].astype(np.float32))
    return DigitsClassifier(model, weights_file=path)


def load_shipped_classifier(path=None):
    """The classifier whose weights ship with far_keras (``SHIPPED_WEIGHTS_ID``).

    The file's SHA-256 is checked before it is read, and the loaded weights' id
    after: a missing, truncated or replaced file is an error naming the file, never
    a silently different classifier.

    Args:
      path: the weights file; default :func:`shipped_weights_path` (tests pass copies).

    Raises:
      DigitsWeightsError: see above.
    """
    path = str(path or shipped_weights_path())
    if not os.path.isfile(path):
        raise DigitsWeightsError(
            f"the shipped digits classifier weights file {path} is missing: it is package "
            f"data of far_keras.metrics; reinstall far_keras (pip install -e . in a "
            f"checkout, whose git has the file) or restore the file from the repository")
    try:
        classifier = read_weights_file(path, SHIPPED_TRAINING["image_size"],
                                       expected_sha256=SHIPPED_WEIGHTS_SHA256)
    except DigitsWeightsError as err:
        raise DigitsWeightsError(
            f"{err}; restore the shipped file from the repository or reinstall "
            f"far_keras") from None
    if classifier.weights_id != SHIPPED_WEIGHTS_ID:  # the file checked out: the code moved
        raise DigitsWeightsError(
            f"digits classifier weights file {path} loads as {classifier.weights_id}, not "
            f"the shipped {SHIPPED_WEIGHTS_ID}: build_digits_cnn or the weight order "
            f"changed since the file was written")
    return classifier


def split_digits(num_examples, validation_fraction, seed):
    """(train indices, validation indices): a seeded random split."""
    order = np.random.default_rng(seed).permutation(num_examples)
    num_val = int(round(num_examples * validation_fraction))
    return np.sort(order[num_val:]), np.sort(order[:num_val])


def train_digits_classifier(image_size=DEFAULT_DIGITS_SIZE, epochs=15, batch_size=64, seed=0,
                            validation_fraction=0.2, learning_rate=3e-3, verbose=0):
    """Train the CNN on sklearn digits upscaled like the data pipeline.

    Returns:
      (classifier, validation_accuracy): the :class:`DigitsClassifier` and its
      accuracy on the held-out ``validation_fraction`` of the digits.
    """
    import keras

    images, labels = load_digits_arrays(image_size, channels=1)
    train, val = split_digits(len(images), validation_fraction, seed)
    model = build_digits_cnn(image_size, seed)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    # Each epoch's order from NumPy, not tf.data's shuffle: that one mixes in TF's
    # global seed, which a run's --seed sets, so the same classifier came out
    # different depending on which run trained it (and so did its weights_id).
    rng = np.random.default_rng(seed)
    dataset = None
    for _ in range(epochs):
        order = train[rng.permutation(len(train))]
        epoch = tf.data.Dataset.from_tensor_slices((images[order], labels[order]))
        epoch = epoch.batch(batch_size)  # (a last partial batch per epoch, as before)
        dataset = epoch if dataset is None else dataset.concatenate(epoch)
    model.fit(dataset.prefetch(tf.data.AUTOTUNE), epochs=1, verbose=verbose, shuffle=False)
    classifier = DigitsClassifier(model)
    val_accuracy = classifier.accuracy(images[val], labels[val]) if len(val) else float("nan")
    return classifier, val_accuracy


_MODULE = "far_keras.metrics.digits_classifier"  # (not __name__: '__main__' under -m)

# train_digits_classifier's defaults (captured before anything can wrap the function).
_TRAINING_DEFAULTS = {
    name: p.default for name, p in inspect.signature(train_digits_classifier).parameters.items()
    if name != "verbose"}


def is_shipped_training(image_size=DEFAULT_DIGITS_SIZE, seed=0, **train_kwargs):
    """True if these training settings are the ones the shipped classifier was trained
    with (``SHIPPED_TRAINING``): then the shipped weights are used instead of training."""
    unknown = set(train_kwargs) - set(_TRAINING_DEFAULTS) - {"verbose"}
    if unknown:
        raise TypeError(f"unknown training settings {sorted(unknown)}")
    settings = dict(_TRAINING_DEFAULTS, image_size=int(image_size), seed=int(seed),
                    **{k: v for k, v in train_kwargs.items() if k != "verbose"})
    return settings == SHIPPED_TRAINING


def train_in_own_process(image_size=DEFAULT_DIGITS_SIZE, seed=0, **train_kwargs):
    """``train_digits_classifier`` in a fresh single-threaded Python process; the
    classifier.

    The trained weights depend on TensorFlow's thread count (measured: on the
    development machine one thread and two gave different classifiers, presumably
    through the order of the kernels' parallel reductions). A process's thread pools
    are fixed when its TensorFlow starts, so the training gets a process of its own with one thread:
    the classifier (and its ``weights_id``) no longer depends on which run, with which
    --threads, trained it first. It still depends on the TF build and the CPU.
    """
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, TF_NUM_INTRAOP_THREADS="1", TF_NUM_INTEROP_THREADS="1",
               TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"),
               PYTHONPATH=os.pathsep.join(
                   [root] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "digits_classifier.keras")
        args = dict(train_kwargs, image_size=int(image_size), seed=int(seed))
        done = subprocess.run([sys.executable, "-m", _MODULE, out, json.dumps(args)],
                              env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError("training the digits classifier failed:\n"
                               + done.stderr[-3000:])
        return DigitsClassifier.load(out)


def load_or_train_digits_classifier(path, image_size=DEFAULT_DIGITS_SIZE, seed=0, **train_kwargs):
    """The classifier at ``path``; else the shipped one or a new training, saved there.

    With the shipped classifier's settings (:func:`is_shipped_training`: 16 px, seed
    0, the default training), nothing is trained: the shipped weights are saved to
    ``path`` (a ``.keras`` file, so ``evaluate.py --weights=digits:<path>`` reads it).
    Other settings train a CNN in a process of its own (:func:`train_in_own_process`),
    under the id of its own weights.

    A file already at ``path`` is used as it is (its ``weights_id`` is what earlier
    numbers of that stats directory were computed with), with a warning when it is not
    the shipped classifier although the shipped settings were asked for. A saved
    classifier of another ``image_size`` is an error rather than silently retrained.
    """
    if tf.io.gfile.exists(str(path)):
        classifier = DigitsClassifier.load(path)
        if classifier.image_size != int(image_size):
            raise ValueError(
                f"digits classifier {path!r} works on {classifier.image_size}px images, "
                f"{image_size}px requested; use another path")
        if not classifier.shipped and is_shipped_training(image_size, seed, **train_kwargs):
            warnings.warn(
                f"digits classifier {path} is {classifier.weights_id}, a classifier trained "
                f"on some machine, not the shipped {SHIPPED_WEIGHTS_ID}: its FID/IS are not "
                f"comparable with the docs' digits tables or other machines'. Delete the file to score "
                f"with the shipped classifier.", stacklevel=2)
        return classifier
    if is_shipped_training(image_size, seed, **train_kwargs):
        classifier = load_shipped_classifier()
    else:
        classifier = train_in_own_process(image_size, seed=seed, **train_kwargs)
    directory = os.path.dirname(str(path))
    if directory:
        tf.io.gfile.makedirs(directory)
    classifier.save(path)
    return classifier


if __name__ == "__main__":
    if sys.argv[1] == "--write_shipped":
        # python -m far_keras.metrics.digits_classifier --write_shipped OUT.npz
        # trains with the shipped settings in a single-threaded process and writes the
        # weights file; SHIPPED_WEIGHTS_SHA256 and SHIPPED_WEIGHTS_ID must then be set
        # to what it prints (and the docs' digits tables rerun if the id changed).
        trained = train_in_own_process(**SHIPPED_TRAINING)
        print(f"weights_id {trained.weights_id}\n"
              f"sha256 {write_weights_file(trained, sys.argv[2])}")
    else:
        # python -m far_keras.metrics.digits_classifier OUT.keras '{"image_size": 16, ...}'
        # (what train_in_own_process runs)
        trained, _ = train_digits_classifier(**json.loads(sys.argv[2]))
        trained.save(sys.argv[1])
