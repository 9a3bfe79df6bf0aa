"""compare.py and reproduce.py load TensorFlow only for their reports; they do it
without the GPU-probing lines ("cudart_stub", "failed call to cuInit") a CPU-only
machine prints, unless --verbose=2. (train.py and evaluate.py: test_quiet_tf.py,
whose control shows that a bare ``import tensorflow`` here does print them.)"""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROBE = ("cuInit", "cudart_stub")


def _run(args):
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def test_compare_table_with_image_protocol_is_quiet():
    code = ("import compare; r = {'final': {'step': 1, 'fid': 3.0, 'protocol': {'network': 'n'}}}; "
            "print(compare.table({'far': [r, r]}, ['far']))")
    out = _run(["-c", code])
    assert out.returncode == 0, out.stderr
    assert "Image metrics protocol: network=n" in out.stdout
    assert not any(p in out.stderr for p in PROBE), out.stderr


def test_reproduce_report_is_quiet(tmp_path):
    args = ["reproduce.py", "--report_only", "--figure=1", f"--runs={tmp_path / 'runs'}",
            f"--reports={tmp_path / 'reports'}"]
    quiet = _run(args)
    assert quiet.returncode == 0, quiet.stderr
    assert os.path.exists(tmp_path / "reports" / "fig1" / "report.md")
    assert not any(p in quiet.stderr for p in PROBE), quiet.stderr
