"""One run, from a Config: build, restore, fit with the callbacks, evaluate, export.

``train.py`` parses flags into a Config and calls :func:`run`; tests call it directly.
The parts (model, data, evaluator) come from ``builders.py``.
"""

import os
import time

import keras
import tensorflow as tf

from far_keras import builders
from far_keras import config as config_lib
from far_keras.evaluation.metrics_log import MetricsLog
from far_keras.training import callbacks as cb
from far_keras.training import checkpointing, progress, strategy
from far_keras.training.health import HealthCheck


def _check_divisible(cfg, replicas):
    if replicas == 1:
        return
    m = cfg.model
    for flag, value in (("batch_size", cfg.data.batch_size), ("num_far", m.num_far),
                        ("num_candidates", m.num_candidates)):
        if value % replicas:
            raise config_lib.ConfigError(
                f"--{flag}={value}: must be divisible by the {replicas} replicas of "
                "--strategy=mirrored (each replica takes an equal share)")


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
    builders.set_threads(cfg)
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
        # The penalty target as used (--penalty_target=auto resolved by architecture).
        checkpointing.check_compatible(
            model_dir, dict(cfg.to_dict(), penalty_target=cfg.penalty_target))

    keras.utils.set_random_seed(r.seed)  # weight initialisation
    with dist.scope():
        model = builders.build_model(cfg)
    ckpt = checkpointing.Checkpointer(
        model_dir if is_chief else os.path.join(model_dir, "workers", f"worker{task_id}"),
        r.keep_checkpoints, restore_from=model_dir, **model.checkpoint_objects())
    # The newest readable checkpoint (an unreadable one is reported and skipped); the
    # workers of a multi-worker run agree on one.
    restored = ckpt.restore_latest(log=log, agree=checkpointing.worker_agreement(dist),
                                   repair=True)
    start = model.current_step()
    if restored:
        log(f"Resuming from {restored} at step {start} of {r.train_steps}.")
    if start > r.train_steps:
        raise checkpointing.CheckpointError(
            f"{restored} is at step {start}, past --train_steps={r.train_steps}")

    # Data before the evaluator: a missing dataset is reported before any download
    # of Inception weights is tried.
    remaining = r.train_steps - start
    data = builders.training_data(cfg, model, start, remaining)
    per_call = model.steps_per_call
    data = strategy.distribute_batches(data, dist, batch_axis=1 if per_call > 1 else 0)
    if not is_chief:
        return _run_worker(model, data, ckpt, remaining, r, dist)
    writer = tf.summary.create_file_writer(os.path.join(model_dir, "logs"))
    metrics_log = MetricsLog(model_dir, cfg.to_dict(), start_step=start)
    evaluate = builders.make_evaluator(cfg, model, writer, metrics_log, r.verbose)

    elapsed, summaries = 0.0, None
    if start == 0 and not cfg.data.is_image and remaining > 0:
        evaluate(0)  # iteration 0 (the paper's Fig. 2a): cheap on 2-D data
    if remaining > 0:
        summaries = cb.ScalarSummaries(writer, r.log_every)
        metrics_log.context = lambda: {f"train_{k}": v for k, v in summaries.last.items()}
        callbacks = [
            cb.NanGuard(ckpt),
            summaries,
            # Evaluation before the checkpoint of the same step: a run killed between
            # them resumes from the previous checkpoint and redoes this evaluation
            # (metrics.json drops what follows the resumed step). The other order
            # lost it: resumed *at* this step, the evaluation was never made.
            cb.PeriodicEvaluation(evaluate, r.eval_every),
            cb.PeriodicCheckpoint(ckpt, r.checkpoint_every),
        ]
        if not cfg.data.is_image:
            # Before evaluation, so that a --stop_on_collapse run ends at the check.
            callbacks.insert(2, HealthCheck(
                r.log_every, builders.make_source(cfg), model.generator, model.discriminator,
                cfg.latent_dim, writer, metrics_log, seed=r.seed,
                patience=r.collapse_patience, stop=r.stop_on_collapse, log=log,
                stall_ratio=r.stall_ratio))
        # Progress in training steps (Keras's bar counts compiled calls): last, so that
        # it shows the step's evaluation, its eraser first (see StepProgress).
        modes = progress.num_modes(cfg)
        shown = cb.StepProgress(r.train_steps, enabled=r.verbose > 0, extra=lambda: (
            progress.evaluation_fields((metrics_log.data["history"] or [None])[-1], modes)))
        t0 = time.perf_counter()
        with strategy.worker_faults_reported(dist, ckpt), shown.closing():
            model.fit(data, epochs=1, steps_per_epoch=remaining // per_call,
                      callbacks=[shown.eraser, *callbacks, shown], shuffle=False, verbose=0)
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
    if export_model:
        result["export_dir"] = model.export(cfg.export_dir)
    metrics_log.data["export_dir"] = result.get("export_dir")
    metrics_log.write()
    writer.close()
    return result
