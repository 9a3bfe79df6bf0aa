"""Assembles a run from a Config: data, model, callbacks, fit, evaluation, export.

``train.py`` parses flags into a Config and calls :func:`run`; tests call it directly.
"""

import os
import time

import keras
import tensorflow as tf

from far_keras import config as config_lib
from far_keras.data import synthetic
from far_keras.models.gan import FARGAN
from far_keras.nets import mlp
from far_keras.training import callbacks as cb
from far_keras.training import checkpointing, evaluation, export, optimizers, strategy


def execution_settings(cfg, strategy_name=None):
    """(jit_compile, steps_per_execution) actually used.

    Under MirroredStrategy, Keras 3.15 / TF 2.21 fail with several steps per call
    ("You must feed a value for placeholder ... while/cond", even for a plain
    Sequential model) and with XLA; there we run one uncompiled step per call.
    """
    if (strategy_name or cfg.run.strategy) == "mirrored":
        return False, 1
    return cfg.run.jit_compile, cfg.run.steps_per_execution


def build_gan(cfg, strategy_name=None):
    """The FAR-GAN model for a Config, compiled (call inside the strategy's scope)."""
    g, d = cfg.gan, cfg.data
    model = FARGAN(
        mlp.mlp_generator(g.latent_dim, 2, g.hidden_units),
        mlp.mlp_discriminator(2, g.hidden_units),
        latent_dim=g.latent_dim, batch_size=d.batch_size, regularizer=g.regularizer,
        reg_weight=g.reg_weight, num_far=g.num_far, num_candidates=g.num_candidates,
        d_steps=g.d_steps, seed=cfg.run.seed)
    d_opt, g_opt = optimizers.gan_optimizers(cfg.optim)
    jit, per_call = execution_settings(cfg, strategy_name)
    model.compile(d_opt, g_opt, jit_compile=jit, steps_per_execution=per_call)
    return model


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
        grid_spacing=d.grid_spacing, grid_sigma=d.grid_sigma,
        swissroll_noise=d.swissroll_noise, swissroll_scale=d.swissroll_scale,
        gaussian_points=d.gaussian_points, gaussian_std=d.gaussian_std, seed=cfg.run.seed)


def run(cfg, export_model=True, log=print):
    """Trains (or resumes) the run described by ``cfg``; returns a summary dict.

    Raises:
      checkpointing.CheckpointError: unusable checkpoint in the model directory.
      callbacks.TrainingDiverged: a loss became NaN/Inf (last good checkpoint kept).
      config.ConfigError: settings that do not fit the devices.
    """
    r = cfg.run
    model_dir = cfg.model_dir
    dist = strategy.make_strategy(r.strategy)
    _check_divisible(cfg, dist.num_replicas_in_sync)
    checkpointing.check_compatible(model_dir, cfg.to_dict())

    keras.utils.set_random_seed(r.seed)  # weight initialisation
    source = make_source(cfg)
    if execution_settings(cfg) != (r.jit_compile, r.steps_per_execution):
        log(f"--strategy={r.strategy}: running one step per call without XLA "
            "(Keras cannot run multi-step or XLA calls under MirroredStrategy).")
    with dist.scope():
        model = build_gan(cfg)
    ckpt = checkpointing.Checkpointer(
        model_dir, r.keep_checkpoints, generator=model.generator,
        discriminator=model.discriminator, g_optimizer=model.g_optimizer,
        d_optimizer=model.d_optimizer)
    restored = ckpt.restore_latest()
    start = model.current_step()
    if restored:
        log(f"Resuming from {restored} at step {start} of {r.train_steps}.")
    if start > r.train_steps:
        raise checkpointing.CheckpointError(
            f"{restored} is at step {start}, past --train_steps={r.train_steps}")

    writer = tf.summary.create_file_writer(os.path.join(model_dir, "logs"))
    metrics_log = evaluation.MetricsLog(model_dir, cfg.to_dict(), start_step=start)
    evaluate = evaluation.TwoDEvaluator(
        source, lambda: optimizers.averaged_copy(model.generator, model.g_optimizer),
        model.discriminator, cfg.gan.latent_dim, writer, metrics_log,
        num_samples=r.eval_samples, seed=r.seed, plot_contour=r.plot_contour)

    elapsed = 0.0
    if start < r.train_steps:
        remaining = r.train_steps - start
        data = synthetic.make_dataset(source, model.num_real * cfg.gan.d_steps, r.seed,
                                      start_step=start, num_steps=remaining)
        callbacks = [
            cb.NanGuard(ckpt),
            cb.ScalarSummaries(writer, r.log_every),
            cb.PeriodicCheckpoint(ckpt, r.checkpoint_every),
            cb.PeriodicEvaluation(evaluate, r.eval_every),
        ]
        t0 = time.perf_counter()
        model.fit(data, epochs=1, steps_per_epoch=remaining, callbacks=callbacks, shuffle=False,
                  verbose=r.verbose)
        elapsed = time.perf_counter() - t0

    step = model.current_step()
    final = evaluate(step, final=True)
    with open(os.path.join(model_dir, "samples.png"), "wb") as f:
        f.write(evaluate.last_png)
    result = {"step": step, "metrics": final, "model_dir": model_dir,
              "seconds": elapsed, "resumed_from": start}
    if export_model:
        gen = optimizers.averaged_copy(model.generator, model.g_optimizer)
        result["export_dir"] = export.export_generator(gen, cfg.gan.latent_dim, cfg.export_dir)
    metrics_log.data["export_dir"] = result.get("export_dir")
    metrics_log.write()
    writer.close()
    return result
