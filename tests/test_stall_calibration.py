"""far_keras/stall_calibration.py: the reference ('stuck'), the check's verdict over
the last `patience` evaluations, and the scoring, on hand-made histories."""

import json
import os

import numpy as np
import pytest

from far_keras import stall_calibration as sc


def _run(modes, ratios, dataset="ring8", every=50000):
    """A run evaluated every ``every`` steps with these modes and grad ratios."""
    history = {}
    for i, (m, q) in enumerate(zip(modes, ratios)):
        history[i * every] = {"step": i * every, "modes_covered": m,
                              "health_grad_real": 2.0, "health_grad_fake": 2.0 * q}
    return {"dir": "x", "dataset": dataset, "history": history}


TRIANGLE = _run([0, 3, 3, 3, 3], [1.0, 0.05, 0.02, 0.02, 0.03])   # stuck at 3 modes
GROWING = _run([0, 3, 4, 6, 7], [1.0, 0.3, 0.2, 0.4, 0.3])        # still finding modes
DONE = _run([0, 8, 8, 8, 8], [1.0, 1.0, 0.9, 1.1, 1.0])           # all modes: not stuck


HOPPING = _run([0, 6, 3, 6, 6], [1.0, 0.3, 0.3, 0.3, 0.3])          # moving between modes


def test_stuck_means_one_mode_count_short_of_all_through_the_window():
    assert sc.stuck(TRIANGLE, 200000, 50000) is True
    assert sc.stuck(TRIANGLE, 200000, 150000) is True
    assert sc.stuck(GROWING, 200000, 50000) is False
    assert sc.stuck(DONE, 200000, 50000) is False
    assert sc.stuck(HOPPING, 200000, 50000) is True     # 6, 6 over the last 50k
    assert sc.stuck(HOPPING, 200000, 100000) is False   # 3, 6, 6: moving
    assert sc.stuck(TRIANGLE, 200000, 30000) is None  # no evaluation at 170k
    assert sc.stuck(_run([0, 20, 20], [1, 1, 1], "grid25"), 100000, 50000) is True


def test_flagged_needs_patience_evaluations_in_a_row_up_to_the_step():
    assert sc.flagged(TRIANGLE, 200000, 0.1, 3)          # 0.02, 0.02, 0.03
    assert not sc.flagged(TRIANGLE, 200000, 0.025, 3)    # 0.03 is not < 0.025
    assert sc.flagged(TRIANGLE, 150000, 0.025, 2)        # 0.02, 0.02
    assert not sc.flagged(TRIANGLE, 200000, 0.1, 5)      # only 4 evaluations after 0
    assert not sc.flagged(GROWING, 200000, 0.1, 1)


def test_score_and_best_rule():
    runs = [TRIANGLE, GROWING, DONE]
    # (hits, misses, false alarms, correct passes, scored)
    assert sc.score(runs, 200000, 50000, 0.05, 3) == (1, 0, 0, 2, 3)
    assert sc.score(runs, 200000, 50000, 0.01, 3) == (0, 1, 0, 2, 3)   # misses the triangle
    assert sc.score(runs, 200000, 50000, 0.5, 1) == (1, 0, 1, 1, 3)    # GROWING's 0.3
    (hits, misses, alarms, _, _), ratio, patience = sc.best_rule(
        runs, 200000, 50000, ratios=(0.01, 0.025, 0.04, 0.05, 0.5), patiences=(1, 3))
    # 0.04 and 0.05 both catch the triangle alone; the tie goes to the smaller ratio
    # and the longer patience
    assert (hits, misses, alarms, ratio, patience) == (1, 0, 0, 0.04, 3)


def test_cli_reads_runs_and_writes_the_table(tmp_path, capsys):
    for name, run in (("a", TRIANGLE), ("b", GROWING)):
        d = tmp_path / name
        os.makedirs(d)
        with open(d / "metrics.json", "w") as f:
            json.dump({"flags": {"dataset": "ring8"},
                       "history": list(run["history"].values())}, f)
    assert sc.main([f"--runs={tmp_path}", "--step=200000", f"--out={tmp_path / 'o'}"]) == 0
    text = (tmp_path / "o" / "stall.md").read_text()
    assert "against 2 runs" in text and "(1 of 2 runs)" in text
    with pytest.raises(SystemExit):
        sc.main([f"--runs={tmp_path / 'none'}"])


def test_short_names_keep_the_setting_values_variant_and_seed():
    d = os.path.join("runs", "screen", "ring8", "penalty_target-logit__reg_weight-0.3",
                     "far", "seed2")
    assert sc.short_name(d) == "logit 0.3 far s2"
    assert sc.short_name(os.path.join("x", "default", "no_penalty", "seed0")) == \
        "default no_penalty s0"


def test_flag_threshold_is_the_largest_of_the_last_patience_ratios():
    assert sc.flag_threshold(TRIANGLE, 200000, 3) == pytest.approx(0.03)
    assert sc.flag_threshold(TRIANGLE, 150000, 2) == pytest.approx(0.02)
    assert sc.flag_threshold(TRIANGLE, 200000, 5) == float("inf")   # too few evaluations
    # consistent with flagged(): flagged just above the threshold, not at it
    for run in (TRIANGLE, GROWING, DONE):
        t = sc.flag_threshold(run, 200000, 3)
        assert sc.flagged(run, 200000, t * 1.001, 3) and not sc.flagged(run, 200000, t, 3)


def test_best_interval_spans_the_gap_between_stuck_and_moving_runs():
    # stuck: 0.03 (TRIANGLE); moving: GROWING's 0.4, DONE's 1.1 -> best ratios (0.03, 0.4]
    lo, hi, hits, alarms = sc.best_interval([TRIANGLE, GROWING, DONE], 200000, 50000)
    assert (lo, hits, alarms) == (pytest.approx(0.03), 1, 0) and hi == pytest.approx(0.4)
    # brute force over a fine grid agrees: every best-scoring ratio lies in (lo, hi]
    grid = np.geomspace(1e-3, 2, 400)
    scores = [sc.score([TRIANGLE, GROWING, DONE], 200000, 50000, q, 3) for q in grid]
    best = max(h - fa for h, _, fa, _, _ in scores)
    inside = [q for q, (h, _, fa, _, _) in zip(grid, scores) if h - fa == best]
    assert min(inside) > lo and max(inside) <= hi
