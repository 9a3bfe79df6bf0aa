"""What a run prints: progress in training steps (not compiled calls), from the
resumed step, throttled when not on a terminal, only on the chief; the final table's
rounding. (train.py as a subprocess: test_quiet_entry_points.py.)"""

import io
import json

import pytest

from far_keras.training import callbacks as cb
from far_keras.training import progress
from helpers import small_config


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class FakeModel:
    """What StepProgress reads: the model's step."""

    def __init__(self, step=0):
        self.step = step

    def current_step(self):
        return self.step


def _drive(total, start, per_call, seconds_per_call=0.01, interactive=False,
           first_call_seconds=None, **kwargs):
    """A StepProgress through a fit from ``start`` to ``total``; (output, clock)."""
    out, clock, model = io.StringIO(), Clock(), FakeModel(start)
    shown = cb.StepProgress(total, stream=out, interactive=interactive, clock=clock,
                            extra=lambda: ["modes 3/8 at 100"], **kwargs)
    shown.set_model(model)
    shown.on_train_begin()
    while model.step < total:
        first = model.step == start and first_call_seconds is not None
        clock.now += first_call_seconds if first else seconds_per_call
        model.step += per_call
        shown.on_train_batch_end(0, {"d_loss": 0.76134, "g_loss": 1.3779, "reg": 0.5})
    shown.on_train_end({"d_loss": 0.76134, "g_loss": 1.3779})
    return out.getvalue(), clock


def test_counts_training_steps_not_compiled_calls():
    text, _ = _drive(200, 0, per_call=50, seconds_per_call=0.5)
    lines = text.splitlines()
    # Keras's bar said 1/4 .. 4/4 here (one per compiled call of 50 steps).
    assert [line.split(" steps")[0].strip() for line in lines] == \
        ["50/200", "100/200", "150/200", "200/200"]
    assert "4/4" not in text
    # Rates from the end of the first call (its compilation excluded): 50 steps / 0.5 s.
    assert "100 steps/s" in lines[1] and "ETA 0:01" in lines[1]
    # The last line: the session's rate (200 steps in 2 s) and time.
    assert lines[-1].startswith("200/200 steps  100%  100 steps/s  in 0:02")
    assert "d_loss 0.761  g_loss 1.38  modes 3/8 at 100" in lines[-2]
    assert lines[-1].endswith("d_loss 0.761  g_loss 1.38")  # the final table follows
    assert "reg" not in text  # only the LINE_METRICS


def test_speed_leaves_out_the_first_call_and_the_time_does_not():
    # The first call compiles for 10 s; then 50 steps per 0.5 s.
    text, _ = _drive(200, 0, per_call=50, seconds_per_call=0.5, first_call_seconds=10.0)
    lines = text.splitlines()
    assert "100 steps/s  ETA 0:01" in lines[1]
    assert lines[-1].startswith("200/200 steps  100%  100 steps/s  in 0:12")  # 11.5 s


def test_resumed_run_counts_from_its_step():
    text, _ = _drive(200, 100, per_call=50, seconds_per_call=1.0)
    lines = text.splitlines()
    assert [line.split(" steps")[0].strip() for line in lines] == ["150/200", "200/200"]
    # The session made 100 steps in 2 s, not 200.
    assert "50.0 steps/s  in 0:02" in lines[-1]


def test_log_lines_every_tenth_not_every_call():
    # 1,000 calls of 100 steps, 0.05 s each: a line per tenth (9) and the last one.
    text, _ = _drive(100_000, 0, per_call=100, seconds_per_call=0.05)
    lines = text.splitlines()
    assert len(lines) == 10
    assert [line.split("/")[0].strip() for line in lines[:3]] == ["10,000", "20,000", "30,000"]
    # The counters of the log's lines are aligned.
    assert len({line.index(" steps") for line in lines}) == 1
    # Resumed mid-run: the same steps.
    text, _ = _drive(100_000, 45_000, per_call=100, seconds_per_call=0.05)
    assert [line.split("/")[0].strip() for line in text.splitlines()][:2] == ["50,000", "60,000"]


def test_log_lines_also_every_log_seconds_when_a_tenth_is_slow():
    # 100 s per call of 10 steps: a tenth (100 steps) takes 1000 s; with a line every
    # 300 s besides, 3 lines and the tenth's in each tenth (the last tenth's is end's).
    text, _ = _drive(1000, 0, per_call=10, seconds_per_call=100.0, log_seconds=300.0)
    steps = [int(line.split("/")[0].replace(",", "")) for line in text.splitlines()]
    assert steps[:5] == [30, 60, 90, 100, 130] and steps[-1] == 1000
    assert len(steps) == 40


def test_terminal_line_is_redrawn_in_place():
    text, _ = _drive(200, 0, per_call=50, interactive=True, refresh_seconds=0.0)
    assert text.count("\n") == 1 and text.endswith("\n")  # one line, ended at the end
    frames = text.rstrip("\n").split("\r")
    assert frames[-1].startswith("200/200 steps  100%")
    assert any(f.startswith("100/200 steps") for f in frames)


def test_terminal_line_is_cleared_for_what_callbacks_print():
    out, model = io.StringIO(), FakeModel()
    shown = cb.StepProgress(200, stream=out, interactive=True, refresh_seconds=1e9)
    shown.set_model(model)
    shown.on_train_begin()
    model.step = 50
    shown.eraser.on_train_batch_end(0, {})
    out.write("WARNING: something\n")  # a callback between the eraser and the line
    shown.on_train_batch_end(0, {"d_loss": 1.0})
    before, after = out.getvalue().split("WARNING: something\n")
    assert before.endswith("\r") and before.split("\r")[-2].strip() == ""  # blanked
    assert after.startswith("\r50/200 steps")  # drawn again at once, despite the refresh


def test_terminal_line_fits_the_width():
    printer = progress.ProgressPrinter(100_000, interactive=True, clock=Clock())
    printer.begin(0)
    printer.update(36_500, {"d_loss": 0.758, "g_loss": 1.39}, ["modes 3/8 at 35k"])
    full = printer.line()
    assert full.startswith("36,500/100,000 steps  36%") and full.endswith("modes 3/8 at 35k")
    assert printer.line(width=len(full)) == full
    shorter = printer.line(width=len(full) - 1)
    assert "36%" not in shorter and shorter.endswith("modes 3/8 at 35k")
    assert printer.line(width=len(full) - 10).endswith("g_loss 1.39  modes 3/8")


def test_silent_with_verbose_0():
    text, _ = _drive(200, 0, per_call=50, enabled=False)
    assert text == ""


@pytest.mark.parametrize("value,text", [
    (0.76134, "0.761"), (1.3779, "1.38"), (2.0794415, "2.08"), (0.0384, "0.0384"),
    (30124.3, "30,124"), (999.6, "1,000"), (0.9996, "1.00"), (3.2e-5, "3.20e-05"), (0, "0"),
])
def test_number_rounding(value, text):
    assert progress.format_number(value) == text


TWO_D = {"step": 20000, "modes_covered": 3, "high_quality": 0.3604, "kl_to_uniform": 0.92101,
         "health_d_spread": 0.31234, "health_d_real_mean": 0.9, "health_grad_real": 1.0826,
         "health_grad_fake": 0.038406, "health_dead_relu": 0.09375, "train_d_loss": 0.76134,
         "train_g_loss": 1.3779935, "train_reg": 0.0054}


def test_final_table_2d():
    assert progress.final_table(TWO_D, 20000, num_modes=8, encoding="utf-8") == (
        "Done at step 20000. Final metrics:\n"
        "  modes covered   3 of 8\n"
        "  high quality   36.0 %\n"
        "  KL to uniform   0.921\n"
        "  D spread        0.312\n"
        "  ‖∇D0‖ real      1.08\n"
        "  ‖∇D0‖ fake      0.0384\n"
        "  d_loss          0.761\n"
        "  g_loss          1.38")


def test_final_table_images_and_sdkl():
    final = {"fid": 23.456, "inception_score": 6.1234, "inception_score_std": 0.0812,
             "kid_mean": 0.012345, "kid_std": 0.00112, "precision": 0.61234,
             "weights_id": "digits-cnn", "train_neg_elbo": 30124.3, "train_kl": 124.2,
             "train_d_loss": 1.2, "train_g_loss": 0.9, "protocol": {"network": "n"}}
    assert progress.final_table(final, 500, encoding="utf-8").splitlines() == [
        "Done at step 500. Final metrics:",
        "  FID                  23.46",
        "  Inception Score       6.12 ± 0.08",
        "  KID                   0.0123 ± 0.0011",
        "  precision             0.612",
        "  −ELBO            30,124",
        "  KL(q‖p)             124",
        "  d_loss                1.20",
        "  g_loss                0.900",
        "  (image metrics from digits-cnn)"]
    # A log that cannot take the symbols gets ASCII.
    ascii_table = progress.final_table(final, 500, encoding="ascii")
    assert "6.12 +- 0.08" in ascii_table and "-ELBO" in ascii_table
    ascii_table.encode("ascii")


def test_chief_alone_prints_progress_also_when_resumed(tmp_path, capsys, monkeypatch):
    from far_keras import experiment
    from far_keras.training import strategy

    settings = dict(steps_per_execution=50, log_every=50, eval_every=50, checkpoint_every=50,
                    verbose=1)
    experiment.run(small_config(tmp_path, train_steps=100, **settings), export_model=False,
                   log=lambda *_: None)
    first = capsys.readouterr().out
    assert first.splitlines()[-1].startswith("100/100 steps  100%")
    experiment.run(small_config(tmp_path, train_steps=200, **settings), export_model=False,
                   log=lambda *_: None)
    resumed = capsys.readouterr().out.splitlines()
    assert [line.split(" steps")[0].strip() for line in resumed] == ["150/200", "200/200"]
    assert "modes 0/8 at 150" in resumed[0] or "modes 1/8 at 150" in resumed[0]
    assert "d_loss" in resumed[-1]
    # A non-chief worker of a multi-worker run trains in silence.
    monkeypatch.setattr(strategy, "worker_role", lambda dist: (False, 1))
    result = experiment.run(small_config(tmp_path, train_steps=300, **settings),
                            export_model=False, log=lambda *_: None)
    assert result["chief"] is False and result["step"] == 300
    assert capsys.readouterr().out == ""
    with open(tmp_path / "run" / "metrics.json") as f:
        assert json.load(f)["final"]["step"] == 200  # (the worker wrote nothing)
