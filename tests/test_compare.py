"""compare.py's table: mean ± s.e. against NumPy, and runs with a dead discriminator marked."""

import numpy as np

import compare


def _run(final, collapsed=None):
    return {"final": dict(step=100, **final), "health": {"collapsed_at": collapsed}}


def test_table_means_and_standard_errors_match_numpy():
    vals = [3.0, 5.0, 10.0]
    results = {"far": [_run({"modes_covered": v}) for v in vals]}
    md = compare.table(results, ["far"])
    se = np.std(vals, ddof=1) / np.sqrt(3)
    assert f"| FAR (0GP-sample + FAR) | 3 | 100 | {np.mean(vals):.3g} ± {se:.2g} |" in md
    assert "collapsed" not in md


def test_collapsed_runs_are_marked():
    results = {"far": [_run({"modes_covered": 8}), _run({"modes_covered": 8})],
               "0gp_sample": [_run({"modes_covered": 8}, collapsed=300),
                              _run({"modes_covered": 7})]}
    md = compare.table(results, ["far", "0gp_sample"])
    assert "| 0GP-sample † | 2 | 100 |" in md and "| 1 of 2 |" in md
    assert "| FAR (0GP-sample + FAR) | 2 | 100 |" in md and "| 0 of 2 |" in md
    assert "not evidence about the method" in md


def test_health_details_are_not_columns_but_the_spread_is():
    results = {"far": [_run({"modes_covered": 8, "health_d_spread": 0.3,
                             "health_grad_real": 1.0})] * 2}
    md = compare.table(results, ["far"])
    assert "health_d_spread" in md and "health_grad_real" not in md
