"""ScalarSummaries' interval means stay exact over runs of 10⁶ steps.

The model's Mean trackers accumulate in float32. Differencing their running totals
over a whole fit (the callback's former method) rounds every step's value to the
totals' float32 spacing (1/8 for a ~1.3 loss at 10⁶ steps); trackers reset at
each write only ever sum one interval.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from far_keras.training import callbacks as cb

STEPS = 1_000_000
EVERY = 1_000  # the logging interval
PER_CALL = 500  # steps per compiled call; EVERY is a multiple, as the config requires
# Float32 precision of a mean over one interval: summing EVERY float32 values of
# ~1 in float32 errs by ~1e-6 (this data: at most 1.2e-6 relative).
RTOL = 4e-6


def _step_values():
    """Known per-step values of two metrics, as the float32 the trackers see."""
    t = np.arange(STEPS, dtype=np.float64)
    return {"d_loss": (1.3 + 1e-3 * np.sin(t)).astype(np.float32),
            "d_real": (0.53 + 1e-2 * np.cos(0.37 * t)).astype(np.float32)}


def _interval_means(values):
    """The exact mean of each logging interval (float64 over the float32 values)."""
    return values.astype(np.float64).reshape(-1, EVERY).mean(axis=1)


def _fresh_float32_means(values):
    """Each interval's mean from a float32 accumulator that starts at the interval."""
    sums = np.add.accumulate(values.reshape(-1, EVERY), axis=1, dtype=np.float32)[:, -1]
    return (sums / np.float32(EVERY)).astype(np.float64)


def _differenced_means(values):
    """What the former method gave: differences of float32 running totals."""
    totals = np.add.accumulate(values, dtype=np.float32)  # sequential float32 sums
    at_writes = totals[EVERY - 1::EVERY].astype(np.float64)
    return np.diff(at_writes, prepend=0.0) / EVERY


class _Model:
    """What the callback uses of a model: Mean trackers and the step."""

    def __init__(self, names):
        self.trackers = {n: keras.metrics.Mean(name=n) for n in names}
        self.step = 0

    @property
    def metrics(self):
        return list(self.trackers.values())

    def current_step(self):
        return self.step


def _compiled_call(model):
    """One compiled call: a per-step update_state loop, like the models' train_step."""

    @tf.function(jit_compile=True)
    def call(chunks):
        def body(i):
            for name, values in chunks.items():
                model.trackers[name].update_state(values[i])
            return i + 1

        tf.while_loop(lambda i: i < PER_CALL, body, [tf.constant(0)])

    return call


def _event_scalars(logdir):
    """{tag: {step: value}} of the scalar summaries written under ``logdir``."""
    out = {}
    for path in tf.io.gfile.glob(f"{logdir}/events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(path):
            for v in event.summary.value:
                out.setdefault(v.tag, {})[event.step] = float(tf.make_ndarray(v.tensor))
    return out


def test_interval_means_exact_at_a_million_steps():
    values = _step_values()
    model = _Model(values)
    call = _compiled_call(model)
    summaries = cb.ScalarSummaries(tf.summary.create_noop_writer(), EVERY)
    summaries.set_model(model)

    logged = {name: [] for name in values}
    summaries.on_train_begin()
    for batch in range(STEPS // PER_CALL):
        summaries.on_train_batch_begin(batch)
        begin = batch * PER_CALL
        call({n: v[begin:begin + PER_CALL] for n, v in values.items()})
        model.step += PER_CALL
        summaries.on_train_batch_end(batch)
        if model.step % EVERY == 0:
            for name in values:
                logged[name].append(summaries.last[name])

    for name, v in values.items():
        exact = _interval_means(v)
        got = np.array(logged[name])
        assert got.shape == exact.shape == (STEPS // EVERY,)
        # Every interval, up to the one ending at step 10⁶, is as accurate as a
        # float32 sum of that interval alone can be, however many steps came before.
        np.testing.assert_allclose(got, _fresh_float32_means(v), rtol=1e-7, err_msg=name)
        np.testing.assert_allclose(got, exact, rtol=RTOL, err_msg=name)
        assert summaries.last[name] == got[-1]
        # The former method is far off there (1.25 for d_loss, 0.528875 for
        # d_real): the test tells the two apart.
        old = _differenced_means(v)
        assert abs(old[-1] - exact[-1]) > 100 * RTOL * abs(exact[-1]), name


def test_unupdated_metric_is_skipped_and_train_begin_resets(tmp_path):
    model = _Model(["a", "b"])
    writer = tf.summary.create_file_writer(str(tmp_path))
    summaries = cb.ScalarSummaries(writer, 10)
    summaries.set_model(model)
    a, b = model.trackers["a"], model.trackers["b"]

    a.update_state(100.0)  # left over from an earlier fit (or a restored run)
    summaries.on_train_begin()
    a.update_state(1.0)
    a.update_state(2.0)
    b.update_state(5.0)
    model.step = 10
    summaries.on_train_batch_end(0)
    assert summaries.last == {"a": 1.5, "b": 5.0}

    summaries.on_train_batch_begin(1)
    a.update_state(4.0)  # b has no updates in this interval
    model.step = 15
    summaries.on_train_batch_end(1)  # not a write step
    summaries.on_train_batch_begin(2)
    a.update_state(6.0)
    model.step = 20
    summaries.on_train_batch_end(2)
    assert summaries.last == {"a": 5.0, "b": 5.0}

    writer.flush()
    assert _event_scalars(tmp_path) == {"train/a": {10: 1.5, 20: 5.0}, "train/b": {10: 5.0}}


class _TinyModel(keras.Model):
    """Runs PER_CALL steps per compiled call, like the project's models."""

    def __init__(self):
        super().__init__()
        self.trackers = {"x": keras.metrics.Mean(name="x")}
        self.train_counter = keras.Variable(0, dtype="int64", trainable=False)
        self.built = True

    @property
    def metrics(self):
        return list(self.trackers.values())

    def current_step(self):
        return int(tf.convert_to_tensor(self.train_counter.value))

    def train_step(self, data):
        def body(i):
            self.trackers["x"].update_state(data[i])
            self.train_counter.assign_add(1)
            return i + 1

        tf.while_loop(lambda i: i < PER_CALL, body, [tf.constant(0)])
        return {name: m.result() for name, m in self.trackers.items()}


class _Logs(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.batch_logs = []

    def on_train_batch_end(self, batch, logs=None):
        self.batch_logs.append(float(logs["x"]))


def test_in_fit_progress_bar_shows_interval_means_and_final_logs_survive():
    steps = 4 * EVERY
    values = np.arange(steps, dtype=np.float32) % 7  # exact in float32
    data = tf.data.Dataset.from_tensor_slices(values.reshape(-1, PER_CALL))
    model = _TinyModel()
    model.compile(jit_compile=True)
    summaries = cb.ScalarSummaries(tf.summary.create_noop_writer(), EVERY)
    logs = _Logs()
    history = model.fit(data, epochs=1, steps_per_epoch=steps // PER_CALL,
                        callbacks=[summaries, logs], shuffle=False, verbose=0)

    # Each call's logs (what the progress bar shows): the running mean of the
    # current interval.
    ends = np.arange(PER_CALL, steps + 1, PER_CALL)
    starts = (ends - 1) // EVERY * EVERY
    expected = [values[s:e].astype(np.float64).mean() for s, e in zip(starts, ends)]
    np.testing.assert_allclose(logs.batch_logs, expected, rtol=RTOL)
    last = values[-EVERY:].astype(np.float64).mean()
    assert summaries.last["x"] == pytest.approx(last, rel=RTOL)
    # The trackers still hold the last interval when fit ends: its end-of-epoch
    # logs (History, the progress bar's last line) are not zeros.
    assert history.history["x"][-1] == pytest.approx(last, rel=RTOL)
