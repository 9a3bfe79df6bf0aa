"""far_keras/study_tables.py: rows read from sweeps' archives, the numbers checked
against NumPy, the stall column, and the errors that name the --row or archive."""

import numpy as np
import pytest

from far_keras import study_tables as st
from far_keras import sweep


def _record(modes, hq, ratio=1.0, steps=(100, 200)):
    history = [{"step": s, "modes_covered": m, "high_quality": q, "kl_to_uniform": 0.1 * m,
                "health_grad_real": 1.0, "health_grad_fake": ratio}
               for s, m, q in zip(steps, modes, hq)]
    return {"metrics": {"flags": {"train_steps": steps[-1], "stall_ratio": 0.05},
                        "history": history, "final": history[-1], "health": {}}, "wall": []}


@pytest.fixture
def reports(tmp_path):
    a = tmp_path / "confirm_far"
    a.mkdir()
    sweep.write_archive(str(a / sweep.ARCHIVE), {
        "ring8/s1/far/seed0": _record([7, 8], [0.2, 0.5]),
        "ring8/s1/far/seed1": _record([6, 8], [0.1, 0.6]),
        "ring8/s1/far/seed10": _record([8, 8], [0.3, 0.4]),
        # D's gradient at its samples 1 % of that at the reals for 3 evaluations
        "ring8/s1/0gp_sample/seed0": _record([3, 3, 3], [0.1, 0.1, 0.1], ratio=0.01,
                                             steps=(100, 200, 300)),
        "ring8/s2/far/seed0": _record([1, 1], [0, 0])})
    return str(tmp_path)


def test_rows_are_mean_and_se_over_seeds_per_iteration(reports):
    text = st.table([("FAR", "confirm_far", "s1", "far"),
                     ("0GP-sample", "confirm_far", "s1", "0gp_sample")], "ring8", [100, 200],
                    reports)
    lines = text.splitlines()
    assert lines[0].startswith("| variant | setting | iteration | seeds | modes covered")
    hq = np.array([0.2, 0.1, 0.3]) * 100
    expected = f"{hq.mean():.3g} ± {hq.std(ddof=1) / np.sqrt(3):.2g}"
    assert lines[2].split(" | ")[:6] == ["| FAR", "s1", "100", "3", "7 ± 0.58", expected]
    assert lines[3].split(" | ")[3:5] == ["3", "8 ± 0"]
    # seed 10 sorts after seed 1 (numeric order), and s2's run is not mixed in
    assert st.runs_of(reports, "confirm_far", "ring8", "s1", "far")[-1]["dir"].endswith("seed10")
    # the baseline whose D starves its samples is stalled from its streak's start (1
    # seed, no s.e.); FAR's runs are not
    assert lines[4].endswith("| 1 | 3 | 10 | 0.3 | 1 |") and lines[2].endswith("| 0 |")


def test_bad_rows_and_missing_runs_are_clear_errors(reports, capsys):
    with pytest.raises(st.RowError, match="expected label=report:setting:variant"):
        st.parse_row("FAR=confirm_far:s1")
    with pytest.raises(st.RowError, match="no such archive"):
        st.runs_of(reports, "nope", "ring8", "s1", "far")
    with pytest.raises(st.RowError, match="holds no run of ring8/s3/far"):
        st.runs_of(reports, "confirm_far", "ring8", "s3", "far")
    with pytest.raises(SystemExit):
        st.main([f"--reports={reports}", "--row=FAR=confirm_far:s3:far"])
    assert "holds no run of ring8/s3/far" in capsys.readouterr().err
    assert st.main([f"--reports={reports}", "--iterations=200", "--title=T",
                    "--row=FAR=confirm_far:s1:far"]) == 0
    assert capsys.readouterr().out.startswith("### T\n\n| variant |")
