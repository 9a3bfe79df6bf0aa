"""compare.py end to end on small fake metrics.json files: the table, the image-metric
protocol line and its warning when runs differ, and collapsed runs marked."""

import json
import os
import textwrap

import numpy as np
import pytest

import compare

PROTOCOL = dict(network="fid2015", resize="bilinear", rounding=True, n_generated=10000,
                n_real=50000, real_split="train")


def _write(path, final, collapsed=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump({"final": dict(step=500, **final), "health": {"collapsed_at": collapsed}}, f)


def _load(root, variants):
    out = {}
    for v in variants:
        runs = sorted(os.listdir(os.path.join(root, v)))
        out[v] = [json.load(open(os.path.join(root, v, r, "metrics.json"))) for r in runs]
    return out


def test_table_from_metrics_files(tmp_path):
    fids = {"far": [20.0, 22.0, 27.0], "0gp_sample": [30.0, 31.0, 35.0]}
    for v, values in fids.items():
        for seed, fid in enumerate(values):
            _write(str(tmp_path / v / f"seed{seed}" / "metrics.json"),
                   dict(fid=fid, inception_score=7.0 + seed, inception_score_std=0.1,
                        protocol=PROTOCOL))
    md = compare.table(_load(tmp_path, list(fids)), list(fids))
    header = md.splitlines()[0]
    # Bookkeeping keys are not columns; every numeric metric is.
    assert header == "| variant | seeds | steps | fid | inception_score |"
    for v, values in fids.items():
        se = np.std(values, ddof=1) / np.sqrt(len(values))
        assert f"| {compare.LABELS[v]} | 3 | 500 | {np.mean(values):.3g} ± {se:.2g} | 8 ± 0.58 |" in md
    assert "Image metrics protocol: network=fid2015 | resize=bilinear" in md
    assert "WARNING" not in md and "collapsed" not in md


def test_different_protocols_are_a_warning_naming_the_variants(tmp_path):
    _write(str(tmp_path / "far" / "seed0" / "metrics.json"), dict(fid=20.0, protocol=PROTOCOL))
    _write(str(tmp_path / "far" / "seed1" / "metrics.json"), dict(fid=21.0, protocol=PROTOCOL))
    other = dict(PROTOCOL, network="imagenet")
    _write(str(tmp_path / "no_penalty" / "seed0" / "metrics.json"), dict(fid=50.0, protocol=other))
    md = compare.table(_load(tmp_path, ["far", "no_penalty"]), ["far", "no_penalty"])
    assert "WARNING: these runs' image metrics were computed under different protocols" in md
    assert "- network=fid2015 | resize=bilinear | rounding=True | n_generated=10000 | " \
           "n_real=50000 | real_split=train: far" in md
    assert "- network=imagenet" in md and md.rstrip().endswith(": no_penalty")


def test_collapsed_runs_are_marked_from_their_health_record(tmp_path):
    _write(str(tmp_path / "far" / "seed0" / "metrics.json"), dict(modes_covered=8))
    _write(str(tmp_path / "far" / "seed1" / "metrics.json"), dict(modes_covered=2), collapsed=4000)
    _write(str(tmp_path / "far" / "seed2" / "metrics.json"), dict(modes_covered=1), collapsed=900)
    md = compare.table(_load(tmp_path, ["far"]), ["far"])
    assert "| FAR (0GP-sample + FAR) † | 3 | 500 |" in md and "| 2 of 3 |" in md
    assert md.splitlines()[0].endswith("| D collapsed |")


def test_run_one_builds_the_command_and_reads_metrics(tmp_path, monkeypatch):
    # A stand-in train.py records its arguments and writes a metrics.json, so the
    # command line compare.py passes is checked without training anything.
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "train.py").write_text(textwrap.dedent("""
        import json, os, sys
        args = dict(a[2:].split("=", 1) for a in sys.argv[1:] if "=" in a)
        with open(os.path.join(args["model_dir"], "metrics.json"), "w") as f:
            json.dump({"final": {"step": 7, "argv": sys.argv[1:]}}, f)
    """))
    monkeypatch.setattr(compare, "HERE", str(fake))
    got = compare.run_one("cfg.flags", "0gp_sample", 3, str(tmp_path / "out"), ["--train_steps=7"])
    argv = got["final"]["argv"]
    model_dir = str(tmp_path / "out" / "0gp_sample" / "seed3")
    assert argv[:3] == ["--flagfile=cfg.flags", "--regularizer=real", "--num_far=0"]
    assert "--seed=3" in argv and f"--model_dir={model_dir}" in argv
    assert argv[-1] == "--train_steps=7" and "--verbose=0" in argv
    (fake / "train.py").write_text("import sys; sys.exit(3)")
    with pytest.raises(RuntimeError, match="far seed 1 failed \\(exit 3\\)"):
        compare.run_one("cfg.flags", "far", 1, str(tmp_path / "out"), [])
