"""Callbacks that run between compiled training calls.

They read the step from the model (``model.step``, restored with checkpoints) rather
than counting batches, so a resumed run logs, evaluates and checkpoints at the same
steps as an uninterrupted one. With ``steps_per_execution`` = k they run every k
steps; the config requires every interval to be a multiple of k.
"""

import contextlib
import math

import keras
import numpy as np
import tensorflow as tf

from far_keras.training.progress import LINE_METRICS, ProgressPrinter


class TrainingDiverged(RuntimeError):
    """A loss became NaN or Inf."""


def _value(variable):
    """A Keras variable as a float; sums replicas of sync-on-read (metric) variables."""
    return float(tf.convert_to_tensor(variable.value))


class _StepCallback(keras.callbacks.Callback):
    def __init__(self, every):
        super().__init__()
        self.every = every

    @property
    def step(self):
        return self.model.current_step()

    def on_train_batch_end(self, batch, logs=None):
        step = self.step
        if step % self.every == 0:
            self.on_step(step, logs or {})

    def on_step(self, step, logs):
        raise NotImplementedError


class NanGuard(keras.callbacks.Callback):
    """Stops training at the first non-finite logged value, before anything saves it.

    Keras's TerminateOnNaN only sets ``stop_training``; we raise so that the run
    ends with an error that names the step and the last good checkpoint.
    """

    def __init__(self, checkpointer=None):
        super().__init__()
        self.checkpointer = checkpointer
        self.last_step = None

    def on_train_begin(self, logs=None):
        self.last_step = self.model.current_step()

    def on_train_batch_end(self, batch, logs=None):
        values = {k: float(np.mean(v)) for k, v in (logs or {}).items()}
        bad = {k: v for k, v in values.items() if not math.isfinite(v)}
        if bad:
            self.model.stop_training = True
            last = self.checkpointer.latest if self.checkpointer else None
            step = self.model.current_step()
            raise TrainingDiverged(
                f"non-finite training values in steps {self.last_step + 1}-{step}: {bad}. "
                f"Nothing was saved after it; the last good checkpoint is {last or 'none'}. "
                "Lower the learning rates or raise --reg_weight, then rerun (a rerun with "
                "the same flags resumes from that checkpoint and will diverge again).")
        self.last_step = self.model.current_step()


class ScalarSummaries(_StepCallback):
    """Writes each training metric's mean over the last interval to TensorBoard.

    The means must stay accurate over runs of 10⁶ steps, and the model's Mean
    trackers accumulate in float32: differencing totals that run over the whole
    fit rounds every step's value to the totals' float32 spacing (1/32 for totals
    near 3e5, 1/8 past 2^20), which quantised the means. So the trackers are
    reset after every write and hold one interval only: ``result()`` is then the
    interval mean, with the float32 error of summing one interval whatever the
    step. Hence Keras's progress bar, which shows the values ``train_step``
    returns (the trackers' ``result()``), shows the running mean of the current
    interval.

    The reset is done before the next compiled call rather than right after the
    write, so that when ``fit`` ends the trackers still hold the last interval:
    Keras reads its end-of-epoch logs (the progress bar's last line, ``History``)
    from them. ``on_train_begin`` resets too, so that a resumed run or a second
    ``fit`` starts clean. A metric with no updates in the interval is not written
    and keeps its previous entry in ``last``. Every worker of a multi-worker run
    must run this callback: reading the sync-on-read metric variables is a
    collective.
    """

    def __init__(self, writer, every):
        super().__init__(every)
        self.writer = writer
        self.last = {}  # the last interval's means, for metrics.json
        self._reset_pending = False

    def _reset(self):
        for metric in self.model.metrics:
            metric.reset_state()
        self._reset_pending = False

    def on_train_begin(self, logs=None):
        self._reset()

    def on_train_batch_begin(self, batch, logs=None):
        if self._reset_pending:
            self._reset()

    def on_step(self, step, logs):
        with self.writer.as_default(step=step):
            for metric in self.model.metrics:
                if _value(metric.count) > 0:
                    self.last[metric.name] = float(tf.convert_to_tensor(metric.result()))
                    tf.summary.scalar(f"train/{metric.name}", self.last[metric.name])
        self._reset_pending = True


class PeriodicCheckpoint(_StepCallback):
    def __init__(self, checkpointer, every):
        super().__init__(every)
        self.checkpointer = checkpointer

    def on_step(self, step, logs):
        self.checkpointer.save(step)

    def on_train_end(self, logs=None):
        # Reached only when fit ends normally: a diverged run raised before this.
        step = self.step
        if step % self.every:
            self.checkpointer.save(step)


class PeriodicEvaluation(_StepCallback):
    """Calls ``evaluate(step)`` every ``every`` steps (the final one is the runner's)."""

    def __init__(self, evaluate, every):
        super().__init__(every)
        self.evaluate = evaluate

    def on_step(self, step, logs):
        self.evaluate(step)


class StepProgress(keras.callbacks.Callback):
    """The run's progress in training steps (``progress.ProgressPrinter``), in place of
    Keras's progress bar (``fit(verbose=0)``), which counts compiled calls.

    Reads the step from the model, so a resumed run starts at its step. Shows the
    ``LINE_METRICS`` the model logs (during an interval of ``ScalarSummaries``: the
    interval's running means) and the fields ``extra()`` returns (e.g. the modes of
    the last evaluation). Only the chief of a multi-worker run adds it.

    Give ``fit`` its ``eraser`` first and this callback last: on a terminal the eraser
    clears the line before the other callbacks run, so that what they print
    (evaluations, warnings) starts on a line of its own, and the line is drawn again
    below it at the end, with what they just measured.

    Args:
      total_steps: the step the run ends at.
      extra: a function returning a list of strings (default none).
      enabled: False shows nothing (``--verbose=0``).
      **printer: ``ProgressPrinter``'s other arguments (stream, interactive, ...).
    """

    def __init__(self, total_steps, extra=None, enabled=True, **printer):
        super().__init__()
        self.printer = ProgressPrinter(total_steps, enabled=enabled, **printer)
        self.extra = extra or (lambda: [])
        self.eraser = keras.callbacks.LambdaCallback(
            on_train_batch_end=lambda batch, logs: self.printer.clear())

    def _values(self, logs):
        return {k: float(np.mean(logs[k])) for k in LINE_METRICS if k in (logs or {})}

    def on_train_begin(self, logs=None):
        self.printer.begin(self.model.current_step())

    def on_train_batch_end(self, batch, logs=None):
        if self.printer.enabled:
            self.printer.update(self.model.current_step(), self._values(logs), self.extra())

    def on_train_end(self, logs=None):
        self.printer.end(self.model.current_step(), self._values(logs), self.extra())

    @contextlib.contextmanager
    def closing(self):
        """Around ``fit``: a run that raises leaves no unfinished progress line."""
        try:
            yield self
        finally:
            self.printer.close()
