"""Assembles a run from a Config: data, model, callbacks, fit, evaluation, export.

``train.py`` parses flags into a Config and calls :func:`run`; tests call it directly.
"""

import contextlib
import dataclasses
import os
import time

import keras
import tensorflow as tf

from far_keras import config as config_lib
from far_keras.data import images, synthetic
from far_keras.models import sdkl
from far_keras.models.gan import FARGAN
from far_keras.nets import mlp, resnet
from far_keras.training import callbacks as cb
from far_keras.metrics import digits_classifier, inception
from far_keras.training import checkpointing, evaluation, export, optimizers, strategy
from far_keras.training.health import HealthCheck
from far_keras.training.image_evaluation import ImageEvaluator, WithReconstructions


def execution_settings(cfg, strategy_name=None):
    """(jit_compile, steps per call): --jit_compile and --steps_per_execution, under
    every strategy. The steps of one call run in the model's own loop
    (``AdversarialModel.compile(steps_per_call=...)``), fed [K, batch, ...] chunks;
    under a tf.distribute strategy XLA compiles each replica's losses and
    gradients (see ``AdversarialModel.compile``)."""
    del strategy_name  # every strategy runs the same settings
    return cfg.run.jit_compile, cfg.run.steps_per_execution


def resnet_architecture(cfg):
    """The ResNet preset of --architecture, with --base_width/--latent_dim applied."""
    arch = resnet.paper_architecture(cfg.architecture, cfg.gan.base_width or None)
    if cfg.gan.latent_dim:
        arch = dataclasses.replace(arch, latent_dim=cfg.gan.latent_dim)
    return arch


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


def build_networks(cfg):
    """(generator, discriminator) for a Config: the MLPs on 2-D data, else ResNets."""
    if cfg.architecture == "mlp":
        g = cfg.gan
        return (mlp.mlp_generator(cfg.latent_dim, 2, g.hidden_units, init=g.mlp_init),
                mlp.mlp_discriminator(2, g.hidden_units, init=g.mlp_init))
    return resnet.build_resnet_pair(resnet_architecture(cfg))


def image_shape(cfg):
    """(side, channels) of the images the networks take."""
    if cfg.is_sdkl:
        return cfg.image_size, 1 if cfg.data.dataset == "digits" else 3
    arch = resnet_architecture(cfg)
    return arch.resolution, arch.channels


def build_sdkl(cfg, strategy_name=None):
    """One of the SDKL paper's five models for a Config, compiled."""
    g = cfg.gan
    size, channels = image_shape(cfg)
    kwargs = {"reconstruction_weight": g.reconstruction_weight} if g.model == "vaegan" else {}
    with precision_policy(cfg.run.mixed_precision):
        model = sdkl.build_sdkl_model(
            g.model, resolution=size, channels=channels, latent_dim=cfg.latent_dim,
        base_width=g.base_width or (64 if size >= 32 else 16),
        fc_units=g.fc_units or (1024 if size >= 64 else 256), sigma=g.sigma,
        ortho_weight=g.ortho_weight, d_steps=g.d_steps, batch_size=cfg.data.batch_size,
        seed=cfg.run.seed, **kwargs)
    d_opt, g_opt = optimizers.gan_optimizers(
        cfg.optim, loss_scaling=cfg.run.mixed_precision == "mixed_float16")
    jit, per_call = execution_settings(cfg, strategy_name)
    model.compile(d_opt, g_opt, jit_compile=jit, steps_per_call=per_call)
    return model


def build_model(cfg, strategy_name=None):
    """FAR-GAN or an SDKL-family model, compiled (call inside the strategy's scope)."""
    return (build_sdkl if cfg.is_sdkl else build_gan)(cfg, strategy_name)


def build_gan(cfg, strategy_name=None):
    """The FAR-GAN model for a Config, compiled (call inside the strategy's scope)."""
    g, d = cfg.gan, cfg.data
    with precision_policy(cfg.run.mixed_precision):
        generator, discriminator = build_networks(cfg)
    model = FARGAN(
        generator, discriminator,
        latent_dim=cfg.latent_dim, batch_size=d.batch_size, regularizer=g.regularizer,
        reg_weight=g.reg_weight, num_far=g.num_far, num_candidates=g.num_candidates,
        d_steps=g.d_steps, seed=cfg.run.seed, penalty_target=cfg.penalty_target)
    d_opt, g_opt = optimizers.gan_optimizers(
        cfg.optim, loss_scaling=cfg.run.mixed_precision == "mixed_float16")
    jit, per_call = execution_settings(cfg, strategy_name)
    model.compile(d_opt, g_opt, jit_compile=jit, steps_per_call=per_call)
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


def _check_divisible(cfg, replicas):
    if replicas == 1:
        return
    g = cfg.gan
    for flag, value in (("batch_size", cfg.data.batch_size), ("num_far", g.num_far),
                        ("num_candidates", g.num_candidates)):
        if value % replicas:
            raise config_lib.ConfigError(
                f"--{flag}={value}: must be divisible by the {replicas} replicas of "
                "--strategy=mirrored (each replica takes an equal share)")


def make_source(cfg):
    d = cfg.data
    return synthetic.make_source(
        d.dataset, ring_radius=d.ring_radius, ring_sigma=d.ring_sigma,
        grid_spacing=d.grid_spacing, grid_sigma=d.grid_sigma, grid_points=d.grid_points,
        swissroll_noise=d.swissroll_noise, swissroll_scale=d.swissroll_scale,
        gaussian_points=d.gaussian_points, gaussian_std=d.gaussian_std, seed=cfg.run.seed)


def image_data(cfg, batch_size, seed, start_step=0, flip=None):
    """Endless image batches for a Config, sized and coloured for its networks."""
    size, channels = image_shape(cfg)
    d = cfg.data
    return images.make_image_dataset(
        d.dataset, batch_size, seed, image_size=size, data_dir=d.data_dir or None,
        flip=d.flip if flip is None else flip, start_step=start_step, download=d.download,
        path=d.data_path or None, channels=channels)


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
        size = image_shape(cfg)[0]
        return digits_classifier.load_or_train_digits_classifier(
            os.path.join(stats_dir, f"digits_classifier_{size}px.keras"), image_size=size)
    return inception.inception_extractor(weights, fid_weights=cfg.run.fid_weights)


def make_evaluator(cfg, model, writer, metrics_log, verbose):
    """The 2-D or the image evaluator of a run (both: ``__call__(step, final)``)."""
    r = cfg.run
    if cfg.is_sdkl:
        generator_fn = lambda: model.decoder  # noqa: E731
    else:
        generator_fn = lambda: optimizers.averaged_copy(model.generator, model.g_optimizer)  # noqa: E731
    if not cfg.data.is_image:
        return evaluation.TwoDEvaluator(
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
        size = image_shape(cfg)[0]
        tag = "".join(c if c.isalnum() else "_" for c in extractor.weights_id)[:60]
        cache = r.stats_cache or os.path.join(stats_dir,
                                              f"{cfg.data.dataset}_{size}px_{tag}.npz")
        evaluator = ImageEvaluator(
            generator_fn, cfg.latent_dim, writer, metrics_log, extractor,
            num_samples=r.fid_samples, splits=r.is_splits, seed=r.seed, stats_cache=cache,
            real_batches_fn=lambda: image_data(cfg, 250, r.seed + 1, flip=False),
            real_source=f"{cfg.data.dataset}/train", progress=verbose == 1,
            metrics=r.image_metric_list)
    if getattr(model, "encoder", None) is not None:
        inputs = next(iter(image_data(cfg, 32, r.seed + 2, flip=False)))
        evaluator = WithReconstructions(evaluator, model.reconstruct, inputs, writer)
    return evaluator


def _run_worker(model, data, ckpt, remaining, r, dist):
    """A non-chief worker: trains in step with the chief and saves its checkpoints."""
    if remaining > 0:
        # Reading the metrics' sync-on-read variables is a collective: the workers
        # must do it whenever the chief does, so they summarise into a no-op writer.
        callbacks = [cb.NanGuard(ckpt),
                     cb.ScalarSummaries(tf.summary.create_noop_writer(), r.log_every),
                     cb.PeriodicCheckpoint(ckpt, r.checkpoint_every)]
        with strategy.worker_faults_reported(dist, ckpt):
            model.fit(data, epochs=1, steps_per_epoch=remaining // model.steps_per_call,
                      callbacks=callbacks, shuffle=False, verbose=0)
    return {"step": model.current_step(), "metrics": {}, "chief": False,
            "checkpoint": ckpt.manager.latest_checkpoint}


def run(cfg, export_model=True, log=print):
    """Trains (or resumes) the run described by ``cfg``; returns a summary dict.

    Raises:
      checkpointing.CheckpointError: unusable checkpoint in the model directory.
      callbacks.TrainingDiverged: a loss became NaN/Inf (last good checkpoint kept).
      config.ConfigError: settings that do not fit the devices.
      images.DatasetError: image data missing or malformed.
      inception.InceptionWeightsError: FID/IS weights unavailable.
      health.DiscriminatorCollapsed: --stop_on_collapse and D collapsed.
      strategy.WorkerLost: a peer of a multi-worker run died (restart them all).
    """
    r = cfg.run
    model_dir = cfg.model_dir
    set_threads(cfg)
    try:
        dist = strategy.make_strategy(r.strategy)
    except ValueError as e:
        raise config_lib.ConfigError(str(e)) from None
    _check_divisible(cfg, dist.num_replicas_in_sync)
    # Only the chief writes logs, metrics and exports; other workers of a
    # multi-worker run keep their checkpoints apart (tf.distribute needs every
    # worker to save) and restore from the chief's.
    is_chief, task_id = strategy.worker_role(dist)
    if is_chief:
        checkpointing.check_compatible(model_dir, cfg.to_dict())

    keras.utils.set_random_seed(r.seed)  # weight initialisation
    with dist.scope():
        model = build_model(cfg)
    ckpt = checkpointing.Checkpointer(
        model_dir if is_chief else os.path.join(model_dir, "workers", f"worker{task_id}"),
        r.keep_checkpoints, restore_from=model_dir, **model.checkpoint_objects())
    restored = ckpt.restore_latest()
    start = model.current_step()
    if restored:
        log(f"Resuming from {restored} at step {start} of {r.train_steps}.")
    if start > r.train_steps:
        raise checkpointing.CheckpointError(
            f"{restored} is at step {start}, past --train_steps={r.train_steps}")

    # Data before the evaluator: a missing dataset is reported before any download
    # of Inception weights is tried.
    remaining = r.train_steps - start
    batch = model.num_real * cfg.gan.d_steps
    if cfg.data.is_image:
        data = image_data(cfg, batch, r.seed, start_step=start).take(remaining)
    else:
        data = synthetic.make_dataset(make_source(cfg), batch, r.seed,
                                      start_step=start, num_steps=remaining)
    per_call = model.steps_per_call
    if per_call > 1:
        data = data.batch(per_call, drop_remainder=True)
    data = strategy.distribute_batches(data, dist, batch_axis=1 if per_call > 1 else 0)
    if not is_chief:
        return _run_worker(model, data, ckpt, remaining, r, dist)
    writer = tf.summary.create_file_writer(os.path.join(model_dir, "logs"))
    metrics_log = evaluation.MetricsLog(model_dir, cfg.to_dict(), start_step=start)
    evaluate = make_evaluator(cfg, model, writer, metrics_log, r.verbose)

    elapsed, summaries = 0.0, None
    if start == 0 and not cfg.data.is_image and remaining > 0:
        evaluate(0)  # iteration 0 (the paper's Fig. 2a): cheap on 2-D data
    if remaining > 0:
        summaries = cb.ScalarSummaries(writer, r.log_every)
        metrics_log.context = lambda: {f"train_{k}": v for k, v in summaries.last.items()}
        callbacks = [
            cb.NanGuard(ckpt),
            summaries,
            cb.PeriodicCheckpoint(ckpt, r.checkpoint_every),
            cb.PeriodicEvaluation(evaluate, r.eval_every),
        ]
        if not cfg.data.is_image:
            # Before evaluation, so that a --stop_on_collapse run ends at the check.
            callbacks.insert(2, HealthCheck(
                r.log_every, make_source(cfg), model.generator, model.discriminator,
                cfg.latent_dim, writer, metrics_log, seed=r.seed,
                patience=r.collapse_patience, stop=r.stop_on_collapse, log=log))
        t0 = time.perf_counter()
        with strategy.worker_faults_reported(dist, ckpt):
            model.fit(data, epochs=1, steps_per_epoch=remaining // per_call,
                      callbacks=callbacks, shuffle=False, verbose=r.verbose)
        elapsed = time.perf_counter() - t0

    step = model.current_step()
    final = evaluate(step, final=True)
    if summaries is not None and summaries.last:
        # (metrics_log added the last interval's training losses to the entry)
        final = dict(final, **metrics_log.context())
    with open(os.path.join(model_dir, "samples.png"), "wb") as f:
        f.write(evaluate.last_png)
    result = {"step": step, "metrics": final, "model_dir": model_dir,
              "seconds": elapsed, "resumed_from": start,
              "health": metrics_log.data.get("health")}
    if export_model and cfg.is_sdkl:
        result["export_dir"] = sdkl.export_sdkl(model, cfg.export_dir)
    elif export_model:
        gen = optimizers.averaged_copy(model.generator, model.g_optimizer)
        result["export_dir"] = export.export_generator(gen, cfg.latent_dim, cfg.export_dir)
    metrics_log.data["export_dir"] = result.get("export_dir")
    metrics_log.write()
    writer.close()
    return result
