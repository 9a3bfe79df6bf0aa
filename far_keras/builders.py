"""Config → the parts of a run: the compiled model, its data, its evaluator.

``experiment.run`` puts them together; tests and benchmarks call them directly. What
depends on the model family (networks, image size, the evaluated generator, export)
is asked of the family (``cfg.family``, ``models/families.py``) or of the model, so
nothing here branches on it.
"""

import contextlib
import os

import keras
import tensorflow as tf

from far_keras.data import images, synthetic
from far_keras.evaluation import two_d
from far_keras.evaluation.images import ImageEvaluator, WithReconstructions
from far_keras.metrics import digits_classifier, inception
from far_keras.training import optimizers


@contextlib.contextmanager
def precision_policy(name):
    """Builds layers under a Keras dtype policy without leaving it set globally
    (layers keep the policy they were built with)."""
    if name == "none":
        yield
        return
    previous = keras.mixed_precision.dtype_policy()
    keras.mixed_precision.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.mixed_precision.set_dtype_policy(previous)


def build_model(cfg):
    """The model of ``cfg``'s family, compiled with its optimizers, --jit_compile and
    --steps_per_execution (call inside the strategy's scope).

    Under every strategy the K steps of one call run in the model's own loop
    (``AdversarialModel.compile(steps_per_call=...)``), fed [K, batch, ...] chunks;
    under a tf.distribute strategy XLA compiles each replica's losses and gradients.
    """
    with precision_policy(cfg.run.mixed_precision):
        model = cfg.family.build(cfg)
    d_opt, g_opt = optimizers.gan_optimizers(
        cfg.optim, loss_scaling=cfg.run.mixed_precision == "mixed_float16")
    model.compile(d_opt, g_opt, jit_compile=cfg.run.jit_compile,
                  steps_per_call=cfg.run.steps_per_execution)
    return model


def set_threads(cfg):
    """--threads (0 = auto: one for the 2-D MLPs). Only possible before TensorFlow's
    runtime starts (a process that already ran TF keeps its pools; so do
    TF_NUM_INTRAOP_THREADS / TF_NUM_INTEROP_THREADS when set)."""
    if cfg.run.deterministic:
        # Process-wide and irreversible: on GPUs it selects deterministic kernels
        # (slower for some, e.g. scatter/segment sums and cuDNN convolutions' backprop)
        # and makes ops without one raise; on CPU the kernels already are.
        tf.config.experimental.enable_op_determinism()
    threads = cfg.run.threads or (1 if cfg.architecture == "mlp" else 0)
    if not threads or "TF_NUM_INTRAOP_THREADS" in os.environ:
        return
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:
        pass  # already initialised (e.g. several runs in one test process)


def make_source(cfg):
    """The 2-D source of a Config (``synthetic.make_source`` takes the data flags)."""
    return synthetic.source_from_config(cfg.data, seed=cfg.run.seed)


def image_data(cfg, batch_size, seed, start_step=0, flip=None):
    """Endless image batches for a Config, sized and coloured for its networks."""
    size, channels = cfg.family.image_shape(cfg)
    d = cfg.data
    return images.make_image_dataset(
        d.dataset, batch_size, seed, image_size=size, data_dir=d.data_dir or None,
        flip=d.flip if flip is None else flip, start_step=start_step, download=d.download,
        path=d.data_path or None, channels=channels)


def training_data(cfg, model, start, remaining):
    """The training batches from step ``start`` on: [batch] per step, or
    [K, batch] chunks when the model runs K steps per call."""
    batch = model.num_real * cfg.model.d_steps
    if not cfg.data.is_image:  # sampled in blocks of K steps (synthetic.make_dataset)
        return synthetic.make_dataset(make_source(cfg), batch, cfg.run.seed,
                                      start_step=start, num_steps=remaining,
                                      steps_per_element=model.steps_per_call)
    data = image_data(cfg, batch, cfg.run.seed, start_step=start).take(remaining)
    if model.steps_per_call > 1:
        data = data.batch(model.steps_per_call, drop_remainder=True)
    return data


@contextlib.contextmanager
def _file_lock(path):
    """An exclusive advisory lock between processes on one machine (POSIX)."""
    import fcntl  # POSIX only; imported here so the package imports anywhere
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def feature_extractor(cfg, stats_dir):
    """The FID/IS network of --inception_weights (errors clearly when unavailable)."""
    weights = cfg.run.inception_weights
    if weights == "digits":
        size = cfg.family.image_shape(cfg)[0]
        return digits_classifier.load_or_train_digits_classifier(
            os.path.join(stats_dir, f"digits_classifier_{size}px.keras"), image_size=size)
    return inception.inception_extractor(weights, fid_weights=cfg.run.fid_weights)


def make_evaluator(cfg, model, writer, metrics_log, verbose):
    """The 2-D or the image evaluator of a run (both: ``__call__(step, final)``)."""
    r = cfg.run
    generator_fn = model.evaluated_generator
    if not cfg.data.is_image:
        return two_d.TwoDEvaluator(
            make_source(cfg), generator_fn, model.discriminator, cfg.latent_dim, writer,
            metrics_log, num_samples=r.eval_samples, seed=r.seed, plot_contour=r.plot_contour,
            samples_dir=os.path.join(cfg.model_dir, "samples") if r.save_samples else None,
            plot_every=r.plot_every)
    stats_dir = r.stats_dir or os.path.join(os.path.dirname(os.path.abspath(cfg.model_dir)),
                                            "stats")
    # Runs started together (compare.py --jobs) share the classifier and the real
    # statistics: the first trains/computes them, the others wait and load them.
    with _file_lock(os.path.join(stats_dir, ".lock")):
        extractor = feature_extractor(cfg, stats_dir)
        size = cfg.family.image_shape(cfg)[0]
        tag = "".join(c if c.isalnum() else "_" for c in extractor.weights_id)[:60]
        cache = r.stats_cache or os.path.join(stats_dir,
                                              f"{cfg.data.dataset}_{size}px_{tag}.npz")
        evaluator = ImageEvaluator(
            generator_fn, cfg.latent_dim, writer, metrics_log, extractor,
            num_samples=r.fid_samples, splits=r.is_splits, seed=r.seed, stats_cache=cache,
            real_batches_fn=lambda: image_data(cfg, 250, r.seed + 1, flip=False),
            real_source=f"{cfg.data.dataset}/train", progress=verbose == 1,
            metrics=r.image_metric_list)
    if model.exported_encoder() is not None:
        inputs = next(iter(image_data(cfg, 32, r.seed + 2, flip=False)))
        evaluator = WithReconstructions(evaluator, model.reconstruct, inputs, writer)
    return evaluator
