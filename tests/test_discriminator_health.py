"""The discriminator health check: measurements against independent NumPy, the
collapse detector's rule, and a real run that collapses vs one that does not."""

import json
import os

import keras
import numpy as np
import pytest

from far_keras import experiment
from far_keras.metrics import discriminator_health as dh
from far_keras.nets import mlp
from far_keras.training.health import DiscriminatorCollapsed
from helpers import small_config


def _numpy_mlp(d, x):
    """Forward pass of a Dense-ReLU stack in NumPy float64: (logits, hidden activations)."""
    acts, h = [], x.astype(np.float64)
    layers = [l for l in d.layers if isinstance(l, keras.layers.Dense)]
    for i, layer in enumerate(layers):
        w, b = (v.astype(np.float64) for v in layer.get_weights())
        h = h @ w + b
        if i < len(layers) - 1:
            h = np.maximum(h, 0)
            acts.append(h)
    return h[:, 0], acts


def test_measurements_match_an_independent_numpy_computation():
    keras.utils.set_random_seed(0)
    d = mlp.mlp_discriminator(hidden_units=8)
    rng = np.random.RandomState(1)
    real, fake = rng.randn(40, 2) * 3 + 1, rng.randn(30, 2)
    got = dh.discriminator_health(d, real, fake)
    pts = np.concatenate([real, fake])
    logits, acts = _numpy_mlp(d, pts)
    prob = 1 / (1 + np.exp(-logits))
    eps, grads = 1e-4, np.zeros_like(pts)
    for j in range(2):
        e = np.zeros(2)
        e[j] = eps
        grads[:, j] = (_numpy_mlp(d, pts + e)[0] - _numpy_mlp(d, pts - e)[0]) / (2 * eps)
    norms = np.linalg.norm(grads, axis=1)
    scale = np.sqrt(np.mean(np.sum((real - real.mean(0)) ** 2, 1)))
    dead = 1 - np.mean(np.concatenate([(a > 0).any(0) for a in acts]))
    assert got["d_spread"] == pytest.approx(prob.std(), rel=1e-4)
    assert got["d_real_mean"] == pytest.approx(prob[:40].mean(), rel=1e-5)
    assert got["grad_real"] == pytest.approx(norms[:40].mean(), rel=1e-3)
    assert got["grad_fake"] == pytest.approx(norms[40:].mean(), rel=1e-3)
    assert got["grad_scaled"] == pytest.approx(norms.mean() * scale, rel=1e-3)
    assert got["dead_relu"] == pytest.approx(dead, abs=1e-6)


def _constant_discriminator():
    # Every weight zero: D0 ≡ bias, no gradient, every ReLU unit dead.
    d = mlp.mlp_discriminator(hidden_units=8)
    d.set_weights([np.zeros_like(w) for w in d.get_weights()])
    return d


def test_a_constant_discriminator_looks_collapsed_and_a_live_one_does_not():
    rng = np.random.RandomState(2)
    real, fake = rng.randn(64, 2), rng.randn(64, 2) + 3
    dead = dh.discriminator_health(_constant_discriminator(), real, fake)
    assert dead["d_spread"] == 0 and dead["grad_scaled"] == 0 and dead["dead_relu"] == 1
    assert dh.looks_collapsed(dead)
    keras.utils.set_random_seed(3)
    live = dh.discriminator_health(mlp.mlp_discriminator(hidden_units=16), real, fake)
    assert not dh.looks_collapsed(live)


def test_nearly_constant_but_steep_discriminator_is_not_collapsed():
    # D constant on the points only by coincidence but with a gradient: alive.
    h = {"d_spread": 0.0, "grad_scaled": 1.0}
    assert not dh.looks_collapsed(h)
    assert not dh.looks_collapsed({"d_spread": 0.2, "grad_scaled": 0.0})


def test_detector_needs_patience_consecutive_checks_and_keeps_its_verdict():
    dead = {"d_spread": 0.0, "grad_scaled": 0.0}
    live = {"d_spread": 0.3, "grad_scaled": 2.0}
    det = dh.CollapseDetector(patience=3)
    seq = [(100, dead), (200, dead), (300, live), (400, dead), (500, dead)]
    assert [det.update(s, h) for s, h in seq] == [False] * 5
    assert det.collapsed_at is None
    assert det.update(600, dead) is True  # third in a row: flagged at the streak's start
    assert det.collapsed_at == 400
    assert det.update(700, live) is False and det.collapsed_at == 400
    again = dh.CollapseDetector(patience=3)
    again.load(det.state())
    assert again.collapsed_at == 400 and again.checks == det.checks


def _collapsing(tmp_path, **overrides):
    # The settings this project once shipped: the published ring (r = 1) with λ = 10 on
    # the logit and RMSProp; D goes to a constant within a few hundred steps.
    return small_config(tmp_path, train_steps=2000, steps_per_execution=100, log_every=100,
                        eval_every=1000, checkpoint_every=1000, hidden_units=64,
                        ring_radius=1.0, ring_sigma=0.01, optimizer="rmsprop",
                        penalty_target="logit", reg_weight=10.0, collapse_patience=3,
                        jit_compile=True, **overrides)


def test_stop_on_collapse_ends_a_dead_run_with_a_clear_message(tmp_path):
    cfg = _collapsing(tmp_path, stop_on_collapse=True)
    messages = []
    with pytest.raises(DiscriminatorCollapsed, match="discriminator collapsed at step"):
        experiment.run(cfg, export_model=False, log=messages.append)
    assert any("not a trained GAN" in m for m in messages)
    with open(os.path.join(cfg.model_dir, "metrics.json")) as f:
        health = json.load(f)["health"]
    assert health["collapsed_at"] is not None and "not a trained GAN" in health["message"]
    assert health["last_step"] < 2000  # it stopped


def test_live_run_is_not_flagged(tmp_path):
    cfg = small_config(tmp_path, train_steps=1000, steps_per_execution=100, log_every=100,
                       eval_every=1000, checkpoint_every=1000, hidden_units=64,
                       jit_compile=True)  # (1000 steps: XLA's compilation pays off)
    experiment.run(cfg, export_model=False, log=lambda *_: None)
    with open(os.path.join(cfg.model_dir, "metrics.json")) as f:
        data = json.load(f)
    assert data["health"]["collapsed_at"] is None and data["health"]["checks"] == 10
    assert data["health"]["stall"]["collapsed_at"] is None
    assert data["final"]["health_d_spread"] > 0.01


def _half_plane_discriminator():
    # D0(x) = relu(x1): slope 1 where x1 > 0, flat (but not constant) elsewhere.
    d = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, activation="relu"),
                          keras.layers.Dense(1)])
    d.set_weights([np.array([[1.0], [0.0]], np.float32), np.zeros(1, np.float32),
                   np.ones([1, 1], np.float32), np.zeros(1, np.float32)])
    return d


def test_fakes_on_a_flat_part_of_a_live_discriminator_look_stalled_not_collapsed():
    rng = np.random.RandomState(4)
    real = np.abs(rng.randn(64, 2)) + [1.0, 0.0]
    fake = -np.abs(rng.randn(64, 2)) - [1.0, 0.0]
    h = dh.discriminator_health(_half_plane_discriminator(), real, fake)
    assert h["grad_real"] == pytest.approx(1.0) and h["grad_fake"] == 0.0
    assert dh.looks_stalled(h) and not dh.looks_collapsed(h)
    moving = dh.discriminator_health(_half_plane_discriminator(), real, real + 0.5)
    assert not dh.looks_stalled(moving)


def test_stall_detector_uses_the_same_patience_rule():
    det = dh.CollapseDetector(patience=2, predicate=dh.looks_stalled)
    starved, fed = {"grad_fake": 1e-4, "grad_real": 1.0}, {"grad_fake": 0.5, "grad_real": 1.0}
    assert [det.update(s, h) for s, h in [(1, starved), (2, fed), (3, starved)]] == [False] * 3
    assert det.update(4, starved) is True and det.collapsed_at == 3


def test_calibrated_stall_ratio_flags_the_triangle_and_spares_moving_runs():
    # The penalty study's screen (reports/penalty_study/stall): the runs stuck at 3
    # modes had ratios <= 0.015, the reference setting's default-run triangle 0.026;
    # the lowest moving run 0.14. The old 1 % threshold missed the triangle.
    assert dh.STALL_RATIO == 0.05
    triangle, moving = {"grad_fake": 0.026, "grad_real": 1.0}, {"grad_fake": 0.14, "grad_real": 1.0}
    assert dh.looks_stalled(triangle) and not dh.looks_stalled(moving)
    assert not dh.looks_stalled(triangle, ratio=0.01)     # what 1 % said
    assert "under 5%" in dh.stall_message(7) and "under 1%" in dh.stall_message(7, 0.01)


def test_reports_judge_old_runs_again_with_the_current_ratio():
    from far_keras import reproduction_report as rr
    history = {s: {"health_grad_fake": 0.02, "health_grad_real": 1.0} for s in (5, 10, 15, 20)}
    # made at 1 %: its own verdict (never stalled) is not the current check's
    old = {"history": history, "health": {"stall": {"collapsed_at": None}}, "stall_ratio": None}
    assert rr.stalled_at(old) == 5
    assert rr.stalled_at(old, ratio=0.01) is None
    # made at the current ratio: its own verdict (from its denser health checks) counts
    own = {"history": history, "health": {"stall": {"collapsed_at": 7}},
           "stall_ratio": dh.STALL_RATIO}
    assert rr.stalled_at(own) == 7
