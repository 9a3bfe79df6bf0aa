"""reproduce.py end to end on a tiny setting: runs, report, and resuming only what is
missing (a run that stopped early is continued from its checkpoint, finished runs are
left alone)."""

import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = ["--train_steps={}", "--steps_per_execution=100", "--log_every=100",
        "--eval_every=100", "--checkpoint_every=100", "--hidden_units=16",
        "--eval_samples=500", "--plot_contour=false",
        "--jit_compile=false"]  # the pipeline is under test, not XLA: no compile per run


def _reproduce(tmp_path, variants, steps, *more):
    cmd = [sys.executable, os.path.join(HERE, "reproduce.py"), "--figure=2", "--seeds=1",
           f"--variants={variants}", "--jobs=2", f"--runs={tmp_path / 'runs'}",
           f"--reports={tmp_path / 'reports'}", "--iterations=0,100,200", *more, "--",
           *[t.format(steps) for t in TINY]]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=HERE, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def _wall_lines(tmp_path, variant):
    path = tmp_path / "runs" / "ring8" / variant / "seed0" / "wall_time.json"
    return len(path.read_text().splitlines())


def test_reproduce_writes_report_and_resumes_only_what_is_missing(tmp_path):
    # A first invocation that stops FAR at step 100 (as if it had been killed there).
    _reproduce(tmp_path, "far", 100)
    out = _reproduce(tmp_path, "far,no_penalty", 200)
    assert "0 of 2 runs already finished; running 2" in out
    far_log = (tmp_path / "runs" / "ring8" / "far" / "seed0" / "train.log").read_text()
    assert "Resuming from" in far_log and "at step 100 of 200" in far_log
    report = (tmp_path / "reports" / "fig2" / "report.md").read_text()
    assert "| FAR (0GP-sample + FAR) | 200 | 1 |" in report
    assert "| no penalty | 200 | 1 |" in report
    assert "Discriminator health of every run" in report and "alive" in report
    assert (tmp_path / "reports" / "fig2" / "ring8_panels.png").stat().st_size > 1000
    with open(tmp_path / "runs" / "ring8" / "far" / "seed0" / "metrics.json") as f:
        assert json.load(f)["final"]["step"] == 200
    # Everything finished: a rerun trains nothing.
    before = {v: _wall_lines(tmp_path, v) for v in ("far", "no_penalty")}
    out = _reproduce(tmp_path, "far,no_penalty", 200)
    assert "running" not in out
    assert {v: _wall_lines(tmp_path, v) for v in ("far", "no_penalty")} == before


def test_reproduce_rejects_unknown_figure(tmp_path):
    out = subprocess.run([sys.executable, os.path.join(HERE, "reproduce.py"), "--figure=3",
                          f"--runs={tmp_path}"], capture_output=True, text=True, cwd=HERE)
    assert out.returncode != 0 and "--figure: unknown ['3']" in out.stderr
