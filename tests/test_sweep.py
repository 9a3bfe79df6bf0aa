"""reproduce.py --sweep: the grid's parsing and run naming (far_keras/sweep.py), its
plan (one run per setting x variant x seed; a variant that ignores the swept flags
runs once), the decision rule, and end to end: a partly finished sweep resumes
without redoing finished runs, and the report builds."""

import json
import os
import subprocess
import sys

import pytest

from far_keras import sweep, sweep_report

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCREEN = ["penalty_target=logit;reg_weight=0.1,0.3,0.625,1,3,10",
          "penalty_target=probability;reg_weight=1,10,100"]


def test_a_spec_is_the_product_of_its_axes_in_order():
    got = sweep.parse_spec("penalty_target=logit,probability;reg_weight=1,3")
    assert [s.items for s in got] == [
        (("penalty_target", "logit"), ("reg_weight", "1.0")),
        (("penalty_target", "logit"), ("reg_weight", "3.0")),
        (("penalty_target", "probability"), ("reg_weight", "1.0")),
        (("penalty_target", "probability"), ("reg_weight", "3.0"))]
    assert {s.x_flag for s in got} == {"reg_weight"}
    assert got[0].flags == ["--penalty_target=logit", "--reg_weight=1.0"]


def test_specs_union_and_values_are_normalised_by_type():
    got = sweep.parse_sweep(["reg_weight=1,10", "reg_weight=1.0,100", "num_far=08"])
    assert [s.name for s in got] == ["reg_weight-1.0", "reg_weight-10.0", "reg_weight-100.0",
                                     "num_far-8"]
    assert sweep.parse_spec("penalize_far=False,1")[0].items == (("penalize_far", "false"),)


def test_a_settings_directory_does_not_depend_on_the_spelling_order():
    a, = sweep.parse_sweep(["reg_weight=10;penalty_target=probability"])
    b, = sweep.parse_sweep(["penalty_target=probability;reg_weight=10.0"])
    assert a.name == b.name == "penalty_target-probability__reg_weight-10.0"
    assert a.x_flag == "penalty_target" and b.x_flag == "reg_weight"  # (plots: spec order)


def test_the_screen_has_nine_distinct_setting_directories():
    got = sweep.parse_sweep(SCREEN)
    names = [s.name for s in got]
    assert len(names) == 9 == len(set(names))
    assert "penalty_target-logit__reg_weight-0.625" in names
    assert "penalty_target-probability__reg_weight-100.0" in names
    assert got[0].panel == "penalty_target=logit"


@pytest.mark.parametrize("spec, message", [
    ("reg_wieght=1", "unknown flag 'reg_wieght'.*did you mean reg_weight"),
    ("reg_weight=ten", "reg_weight='ten' is not a float"),
    ("num_far=1.5", "is not a int"),
    ("seed=1,2", "use --seeds"),
    ("reg_weight=1,1.0", "repeats a value"),
    ("reg_weight", "expected flag=value"),
    ("dataset=a/b", "without '/'"),
])
def test_bad_specs_are_clear_errors(spec, message):
    with pytest.raises(sweep.SweepError, match=message):
        sweep.parse_sweep([spec])


def test_a_value_a_run_would_refuse_is_refused_up_front():
    with pytest.raises(sweep.SweepError, match="num_far-300__reg_weight-1.0.*num_far"):
        sweep.check_settings(sweep.parse_sweep(["reg_weight=1;num_far=300"]), {})


def _dry_run(tmp_path, *args):
    cmd = [sys.executable, os.path.join(HERE, "reproduce.py"), "--figure=2",
           f"--runs={tmp_path / 'runs'}", f"--reports={tmp_path / 'reports'}", "--dry_run",
           *args]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=HERE, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout.splitlines()


def test_plan_runs_each_setting_variant_seed_once_and_unpenalised_once_per_seed(tmp_path):
    lines = _dry_run(tmp_path, "--seeds=3", "--name=screen", *[f"--sweep={s}" for s in SCREEN])
    # 3 penalised variants x 9 settings + the unpenalised GAN, per seed; nothing done yet
    assert lines[-1] == "84 runs, 84 to run"
    dirs = [os.path.relpath(line.split(None, 1)[1], tmp_path / "runs") for line in lines[:-1]]
    assert len(set(dirs)) == 84
    assert [d for d in dirs if "no_penalty" in d] == [
        os.path.join("screen", "ring8", "default", "no_penalty", f"seed{k}") for k in range(3)]
    assert os.path.join("screen", "ring8", "penalty_target-logit__reg_weight-0.625", "far",
                        "seed1") in dirs
    # seeds in order, each over the whole grid
    seeds = [int(d[-1]) for d in dirs]
    assert seeds == sorted(seeds)


def test_a_variant_keeps_its_own_flags_whatever_the_sweep(tmp_path):
    """Sweeping num_far must not turn 0GP-sample (--num_far=0) into FAR: its runs are
    keyed without the flags it sets, so it runs once per seed, not once per M0."""
    lines = _dry_run(tmp_path, "--seeds=1", "--name=s", "--sweep=num_far=8,32",
                     "--variants=far,0gp_sample")
    assert lines[-1] == "3 runs, 3 to run"
    dirs = {os.path.relpath(line.split(None, 1)[1], tmp_path / "runs") for line in lines[:-1]}
    assert dirs == {os.path.join("s", "ring8", d, "seed0") for d in
                    ("num_far-8/far", "num_far-32/far", "default/0gp_sample")}


def test_archived_runs_of_another_length_are_not_restored(tmp_path):
    key = "ring8/reg_weight-1.0/far/seed0"
    record = {"metrics": {"flags": {"train_steps": 100}, "final": {"step": 100}},
              "wall": []}
    os.makedirs(tmp_path / "reports" / "s")
    sweep.write_archive(str(tmp_path / "reports" / "s" / sweep.ARCHIVE), {key: record})
    args = ["--seeds=1", "--name=s", "--sweep=reg_weight=1", "--variants=far"]
    lines = _dry_run(tmp_path, *args, "--train_steps=200")
    assert lines[-1] == "1 runs, 1 to run" and not any("restored" in line for line in lines)
    assert not (tmp_path / "runs" / "s" / "ring8").exists()
    lines = _dry_run(tmp_path, *args, "--train_steps=100")
    assert "1 finished run(s) restored" in lines[0] and lines[-1] == "1 runs, 0 to run"


def _run(history, final_step=None, train_steps=200):
    return {"dir": "x/seed0", "history": history, "train_steps": train_steps,
            "final": {"step": final_step} if final_step else None, "health": {}, "seconds": 0}


def test_decision_rule_most_modes_then_lower_kl():
    def runs(*pairs):
        return [_run({200: {"modes_covered": m, "kl_to_uniform": kl}}) for m, kl in pairs]
    by_setting = {"a": runs((6, 0.5), (8, 0.1)),   # 7 modes, KL 0.3
                  "b": runs((7, 0.2), (7, 0.2)),   # 7 modes, KL 0.2: wins the tie
                  "c": runs((8, 0.0), (5, 0.9)),   # 6.5 modes
                  "d": [_run({100: {"modes_covered": 8, "kl_to_uniform": 0.0}})]}  # not at 200
    assert sweep_report.choose(by_setting, 200) == "b"
    by_setting["c"] = runs((8, 0.0), (8, 0.9))  # 8 modes beats any KL
    assert sweep_report.choose(by_setting, 200) == "c"
    assert sweep_report.choose({"d": by_setting["d"]}, 200) is None


TINY = ["--steps_per_execution=100", "--log_every=100", "--eval_every=100",
        "--checkpoint_every=100", "--hidden_units=16", "--eval_samples=500",
        "--plot_contour=false", "--jit_compile=false"]


def _sweep(tmp_path, spec, variants, *more):
    cmd = [sys.executable, os.path.join(HERE, "reproduce.py"), "--figure=2", "--seeds=1",
           f"--variants={variants}", "--jobs=2", f"--runs={tmp_path / 'runs'}",
           f"--reports={tmp_path / 'reports'}", "--train_steps=200", f"--sweep={spec}",
           "--name=tiny", *more, "--", *TINY]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=HERE, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def test_a_partly_finished_sweep_resumes_only_what_is_missing_and_reports(tmp_path):
    first = _sweep(tmp_path, "penalty_target=logit;reg_weight=0.625", "far,no_penalty")
    assert "0 of 2 runs already finished; running 2" in first
    out = _sweep(tmp_path, "penalty_target=logit;reg_weight=0.625,10", "far,no_penalty")
    # the new setting's FAR run only: the unpenalised GAN ignores λ and is done
    assert "2 of 3 runs already finished; running 1" in out
    assert "penalty_target-logit__reg_weight-10.0 far seed 0: ok" in out
    root = tmp_path / "runs" / "tiny" / "ring8"
    assert sorted(os.listdir(root)) == ["default", "penalty_target-logit__reg_weight-0.625",
                                        "penalty_target-logit__reg_weight-10.0"]
    wall = root / "penalty_target-logit__reg_weight-0.625" / "far" / "seed0" / "wall_time.json"
    assert len(wall.read_text().splitlines()) == 1  # not run again
    report_dir = tmp_path / "reports" / "tiny"
    report = (report_dir / "report.md").read_text()
    # one plot per reported step, named by the step (100 and 200 would both round to 0k)
    assert "ring8_100.png" in report and (report_dir / "ring8_100.png").exists()
    assert "ring8_200.png" in report and (report_dir / "ring8_200.png").exists()
    assert "### The decision rule on ring8 (at 200 steps)" in report
    assert "Interim" not in report  # every setting has its one declared seed
    assert "| no penalty | (any: it ignores penalty_target, reg_weight) | 1 |" in report
    assert "| penalty_target-logit__reg_weight-10.0 | FAR (0GP-sample + FAR) | 1 |" in report
    # the unpenalised GAN appears once in each table, not once per λ
    table = report.split("### ring8 at 200 steps")[1].split("###")[0]
    assert table.count("| no penalty |") == 1
    assert "Runs finished: 3 of 3" in report

    # The finished runs are in the report's archive (what a fresh clone restores).
    assert len(sweep.read_archive(str(report_dir / "runs.jsonl.gz"))) == 3
    # A fresh clone has the archive but no run directories: they are restored, and the
    # report rebuilds the same tables (--report_only: nothing would run anyway).
    import shutil
    shutil.rmtree(tmp_path / "runs")
    os.remove(report_dir / "report.md")
    out = _sweep(tmp_path, "penalty_target=logit;reg_weight=0.625,10", "far,no_penalty",
                 "--report_only")
    assert "3 finished run(s) restored" in out
    rebuilt = (report_dir / "report.md").read_text()
    assert rebuilt.split("### Health")[0] == report.split("### Health")[0]

    # A second study over the same runs (--report_name): the ablation's variant runs
    # beside the FAR run it is compared with, which is reused, and reports apart.
    out = _sweep(tmp_path, "penalty_target=logit;reg_weight=10", "far,far_gpreal",
                 "--report_name=ablation")
    assert "1 of 2 runs already finished; running 1" in out
    assert (root / "penalty_target-logit__reg_weight-10.0" / "far_gpreal" / "seed0"
            / "metrics.json").exists()
    ablation = (tmp_path / "reports" / "ablation" / "report.md").read_text()
    assert "| penalty_target-logit__reg_weight-10.0 | FAR, penalty on D_r only | 1 |" in ablation
    assert "decision rule" not in ablation  # one setting: nothing to choose
    assert len(sweep.read_archive(str(tmp_path / "reports" / "ablation" / "runs.jsonl.gz"))) == 2
    # one setting: its curves over training, and no plot against λ (it would be a point)
    curves = "ring8_penalty_target-logit__reg_weight-10.0_curves.png"
    assert curves in ablation and (tmp_path / "reports" / "ablation" / curves).exists()
    assert "ring8_200.png" not in ablation
    # the screen's report (2 settings) has both
    assert "ring8_penalty_target-logit__reg_weight-0.625_curves.png" in report


def _write_run(path, step, train_steps):
    os.makedirs(path)
    metrics = {"flags": {"train_steps": train_steps, "seed": 0, "model_dir": "runs/x"},
               "history": [{"step": step, "modes_covered": 5}],
               "final": {"step": step, "modes_covered": 5}}
    with open(os.path.join(path, "metrics.json"), "w") as f:
        json.dump(metrics, f)
    with open(os.path.join(path, "wall_time.json"), "w") as f:
        f.write(json.dumps({"seconds": 12.5, "exit": 0}) + "\n")
    return metrics


def test_archive_keeps_finished_runs_and_restores_them(tmp_path):
    done = _write_run(str(tmp_path / "a"), 200, 200)
    # an absolute path names the machine: not kept (a relative one is)
    with open(tmp_path / "a" / "metrics.json") as f:
        absolute = json.load(f)
    absolute["flags"]["export_dir"] = str(tmp_path / "a" / "export")
    absolute["export_dir"] = str(tmp_path / "a" / "export")
    with open(tmp_path / "a" / "metrics.json", "w") as f:
        json.dump(absolute, f)
    done["flags"]["export_dir"] = done["export_dir"] = ""
    _write_run(str(tmp_path / "b"), 100, 200)  # stopped at 100 of 200: not archived
    assert sweep.record_of(str(tmp_path / "b")) is None
    archive = str(tmp_path / "runs.jsonl.gz")
    sweep.write_archive(archive, {"ring8/s/far/seed0": sweep.record_of(str(tmp_path / "a"))})
    sweep.write_archive(archive, {})  # merging keeps what is there
    records = sweep.read_archive(archive)
    assert list(records) == ["ring8/s/far/seed0"]
    fresh = str(tmp_path / "clone" / "far" / "seed0")
    assert sweep.restore(fresh, records["ring8/s/far/seed0"])
    assert sweep.record_of(fresh) == {"metrics": done, "wall": [{"seconds": 12.5, "exit": 0}]}
    assert not sweep.restore(fresh, records["ring8/s/far/seed0"])  # never over a run
    # the same records give the same bytes (a committed archive changes with its records)
    before = open(archive, "rb").read()
    sweep.write_archive(archive, {})
    assert open(archive, "rb").read() == before


def test_archive_records_the_sample_metrics_recomputed_from_saved_samples(tmp_path):
    # A run that logged an old metric version: its archive record carries what the
    # current metric code computes from its saved samples (what the reports show).
    import numpy as np
    from far_keras import config
    from far_keras.builders import make_source
    from far_keras.metrics import two_d
    run = str(tmp_path / "g")
    flags = {**config.flags_of_args(["--flagfile=gaussian"]), "train_steps": 500, "seed": 3}
    metrics = {"flags": flags, "history": [{"step": 500, "memorization": 123.0}],
               "final": {"step": 500}}
    os.makedirs(os.path.join(run, "samples"))
    with open(os.path.join(run, "metrics.json"), "w") as f:
        json.dump(metrics, f)
    fake = 7.0 * np.random.RandomState(0).randn(500, 2)
    np.savez(os.path.join(run, "samples", "step_500.npz"), real=fake, fake=fake)
    got = sweep.record_of(run)["metrics"]["history"][0]
    want = two_d.evaluate_samples(make_source(config.from_flat(flags)), fake, seed=3)
    assert got["memorization"] == pytest.approx(want["memorization"]) != 123.0
    assert got["spread"] == pytest.approx(want["spread"])
