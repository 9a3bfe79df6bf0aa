"""A small CNN trained on scikit-learn's digits: an offline stand-in for Inception.

For the offline digits setting (``far_keras.data.images`` ``'digits'``) there is no
Inception network to score samples with, so this module trains a small CNN on the
same upscaled digits (about 30 s on one CPU thread, once per stats directory) and
exposes the extractor interface of :mod:`far_keras.metrics.inception`:
``classifier(images) -> (features, logits)`` (128-d penultimate activations, 10
logits) and ``weights_id``. FID/IS-style numbers computed with it ("digits-FID",
"digits-IS", at most 10) are useful to compare runs scored by the *same* classifier
weights, and are not comparable with Inception numbers or with numbers from another
training of the classifier.
"""

import hashlib
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import tensorflow as tf

from far_keras.data.images import DEFAULT_DIGITS_SIZE, load_digits_arrays

NUM_CLASSES = 10
FEATURE_LAYER = "features"


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
        values = keras.ops.convert_to_numpy(weight).astype(np.float32)
        digest.update(np.ascontiguousarray(values).tobytes())
    return digest.hexdigest()[:length]


class DigitsClassifier:
    """Extractor interface around a trained digits CNN (see module docstring)."""

    def __init__(self, model):
        import keras

        self.model = model
        self.image_size = int(model.input.shape[1])
        self.weights_id = f"far-keras-digits-cnn-{self.image_size}px:sha256-{weights_digest(model)}"
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

        return cls(keras.saving.load_model(path, compile=False))


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
        done = subprocess.run([sys.executable, "-m", __name__, out, json.dumps(args)],
                              env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError("training the digits classifier failed:\n"
                               + done.stderr[-3000:])
        return DigitsClassifier.load(out)


def load_or_train_digits_classifier(path, image_size=DEFAULT_DIGITS_SIZE, seed=0, **train_kwargs):
    """Load the classifier at ``path`` or train one and save it there.

    A saved classifier of another ``image_size`` is an error rather than silently
    retrained, since its ``weights_id`` is what earlier numbers were computed with.
    """
    if tf.io.gfile.exists(str(path)):
        classifier = DigitsClassifier.load(path)
        if classifier.image_size != int(image_size):
            raise ValueError(
                f"digits classifier {path!r} works on {classifier.image_size}px images, "
                f"{image_size}px requested; use another path")
        return classifier
    classifier = train_in_own_process(image_size, seed=seed, **train_kwargs)
    directory = os.path.dirname(str(path))
    if directory:
        tf.io.gfile.makedirs(directory)
    classifier.save(path)
    return classifier


if __name__ == "__main__":
    # python -m far_keras.metrics.digits_classifier OUT.keras '{"image_size": 16, ...}'
    # (what train_in_own_process runs)
    trained, _ = train_digits_classifier(**json.loads(sys.argv[2]))
    trained.save(sys.argv[1])
