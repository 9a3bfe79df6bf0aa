"""metrics/two_d.py: which metrics each 2-D dataset reports (protocols.md)."""

import numpy as np
import pytest

from far_keras.data import synthetic
from far_keras.metrics import two_d


def test_mixtures_report_mode_coverage():
    src = synthetic.make_source("ring8", ring_radius=1.0, ring_sigma=0.01)
    # Samples on 3 of the 8 centres, plus some far from every mode.
    on = np.repeat(src.centers[:3], 10, axis=0)
    off = np.full((10, 2), 5.0)
    got = two_d.evaluate_samples(src, np.concatenate([on, off]))
    assert got["modes_covered"] == 3
    assert got["high_quality"] == pytest.approx(30 / 40)
    assert got["kl_to_uniform"] == pytest.approx(np.log(8) - np.log(3))  # uniform over 3


def test_swiss_roll_reports_energy_distance():
    src = synthetic.make_source("swissroll")
    rng = np.random.default_rng(0)
    near = two_d.evaluate_samples(src, src.sample_numpy(500, 123), seed=1)
    far_off = two_d.evaluate_samples(src, rng.standard_normal((500, 2)) + 30.0, seed=1)
    assert set(near) == {"energy_distance"}
    assert near["energy_distance"] < far_off["energy_distance"]


def test_non_finite_samples_are_an_error():
    src = synthetic.make_source("ring8")
    with pytest.raises(FloatingPointError, match="non-finite"):
        two_d.evaluate_samples(src, np.array([[0.0, np.nan], [1.0, 1.0]]))
