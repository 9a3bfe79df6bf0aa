"""The discriminator health check of a training run (see metrics/discriminator_health).

Every ``--log_every`` steps: measure D on fresh real points and on the generator's
samples, write ``health/*`` to TensorBoard, and feed the collapse detector. When
the run is flagged, it says so in its log, in TensorBoard (``health/collapse``
text) and in metrics.json (``health``); with ``--stop_on_collapse`` it ends. A
generator that a live D no longer moves (``looks_stalled``) gets a warning the same
way (``health/stall``, ``health.stall_message``), and the run goes on.
"""

import sys

import tensorflow as tf

from far_keras import rng
from far_keras.metrics import discriminator_health as dh
from far_keras.training.callbacks import _StepCallback


class DiscriminatorCollapsed(RuntimeError):
    """--stop_on_collapse: the discriminator was flagged as collapsed."""


class HealthCheck(_StepCallback):
    """Args:
      every: steps between checks (``--log_every``).
      source: the 2-D data source (``sample(n, seed)``).
      generator, discriminator: the networks being trained (not an EMA copy: the
        question is whether *training* still moves).
      latent_dim: z's dimension.
      writer: TensorBoard writer; metrics_log: the run's ``MetricsLog``.
      seed: the run's seed; patience: consecutive collapsed-looking checks.
      stop: raise :class:`DiscriminatorCollapsed` once flagged.
      log: where the warning goes (besides stderr).
    """

    def __init__(self, every, source, generator, discriminator, latent_dim, writer,
                 metrics_log, seed=0, patience=3, stop=False, log=print, num_points=512,
                 stall_ratio=dh.STALL_RATIO):
        super().__init__(every)
        self.source = source
        self.writer = writer
        self.metrics_log = metrics_log
        self.seed = seed
        self.stop = stop
        self.log = log
        self.num_points = num_points
        self.health = dh.compiled_health(discriminator)
        self.z = rng.fixed_latents(num_points, latent_dim, seed, rng.HEALTH_STREAM)
        # One traced call for both point sets: an eager generator call alone costs
        # more than the whole measurement, 500 times in a 500k-step run.
        self.points = tf.function(
            lambda s: (source.sample(num_points, s), generator(self.z, training=False)))
        self.detector = dh.CollapseDetector(patience)
        self.stall_ratio = stall_ratio
        self.stall = dh.CollapseDetector(
            patience, predicate=lambda h: dh.looks_stalled(h, stall_ratio))
        saved = metrics_log.data.get("health")
        if saved:
            self.detector.load(saved)
            self.stall.load(saved.get("stall", {}))
        self.last = None

    def on_step(self, step, logs):
        real, fake = self.points(tf.constant([self.seed + 101, step], tf.int64))
        self.last = self.health(real, fake)
        flagged = self.detector.update(step, self.last)
        stalled = self.stall.update(step, self.last)
        with self.writer.as_default(step=step):
            for name, value in self.last.items():
                tf.summary.scalar(f"health/{name}", value)
            tf.summary.scalar("health/looks_collapsed",
                              float(dh.looks_collapsed(self.last)))
            tf.summary.scalar("health/looks_stalled",
                              float(dh.looks_stalled(self.last, self.stall_ratio)))
        record = dict(self.detector.state(), last_step=int(step), last=self.last,
                      stall=self.stall.state())
        if self.detector.collapsed_at is not None:
            record["message"] = dh.collapse_message(self.detector.collapsed_at)
        if self.stall.collapsed_at is not None:
            record["stall_message"] = dh.stall_message(self.stall.collapsed_at,
                                                       self.stall_ratio)
        self.metrics_log.data["health"] = record
        if stalled:
            warning = f"WARNING: {record['stall_message']}."
            self.log(warning)
            if self.log is not print:
                print(warning, file=sys.stderr)
            with self.writer.as_default(step=step):
                tf.summary.text("health/stall", record["stall_message"])
        if flagged:
            message = record["message"]
            banner = f"WARNING: {message}."
            self.log(banner)
            if self.log is not print:
                print(banner, file=sys.stderr)
            with self.writer.as_default(step=step):
                tf.summary.text("health/collapse", message)
            self.writer.flush()
            self.metrics_log.write()
            if self.stop:
                self.model.stop_training = True
                raise DiscriminatorCollapsed(
                    f"{message}. Stopped by --stop_on_collapse at step {step}; the last "
                    "checkpoint is kept. Check --reg_weight, --penalty_target and the data "
                    "scale (see docs/two_d.md).")
