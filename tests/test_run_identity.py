"""A run's penalty is part of its identity: runs at two settings never share a
directory (the run name), never resume each other (train.py's compatibility check),
and reproduce.py never reuses a finished run made under other flags."""

import json
import os
import subprocess
import sys

import pytest

from far_keras import config

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_run_names_carry_the_penalty_target_and_lambda():
    name = lambda **kw: config.from_flat(kw).run_name  # noqa: E731
    assert name(penalty_target="logit", reg_weight=0.625) == "ring8_real_logit0.625_far16of256_seed0"
    assert name(penalty_target="probability", reg_weight=10) == "ring8_real_prob10_far16of256_seed0"
    assert name(regularizer="interpolation", num_far=0, penalty_target="logit",
                reg_weight=1) == "ring8_interpolation_logit1_nofar_seed0"
    # no penalty: λ and the target mean nothing, so they are not in the name
    assert name(regularizer="none", num_far=0, reg_weight=3) == "ring8_none_nofar_seed0"
    assert name(penalty_target="logit", reg_weight=0.625) != name(penalty_target="logit",
                                                                   reg_weight=3)


def _old_run(model_dir, **flags):
    """A trained run made before the penalty was checked on resuming: run_settings.json
    without the penalty keys, metrics.json's flags with them."""
    os.makedirs(os.path.join(model_dir, "checkpoints"))
    open(os.path.join(model_dir, "checkpoints", "checkpoint"), "w").close()
    with open(os.path.join(model_dir, "run_settings.json"), "w") as f:
        json.dump({"dataset": "ring8", "seed": 0}, f)
    with open(os.path.join(model_dir, "metrics.json"), "w") as f:
        json.dump({"flags": dict(dataset="ring8", seed=0, **flags)}, f)


def test_resuming_under_another_penalty_is_refused_naming_the_flags(tmp_path):
    from far_keras.training import checkpointing
    d = str(tmp_path / "run")
    _old_run(d, reg_weight=10.0, penalty_target="probability")
    now = dict(dataset="ring8", seed=0, reg_weight=0.625, penalty_target="logit")
    with pytest.raises(checkpointing.CheckpointError) as e:
        checkpointing.check_compatible(d, now)
    assert "--reg_weight: checkpoint has 10.0, now 0.625" in str(e.value)
    assert "--penalty_target: checkpoint has 'probability', now 'logit'" in str(e.value)
    # the same penalty resumes
    checkpointing.check_compatible(d, dict(now, reg_weight=10.0, penalty_target="probability"))
    # a recorded "auto" is not the resolved target: it is not compared
    d2 = str(tmp_path / "run2")
    _old_run(d2, reg_weight=10.0, penalty_target="auto")
    checkpointing.check_compatible(d2, dict(now, reg_weight=10.0))


def test_a_new_run_records_its_penalty_and_a_changed_one_is_refused(tmp_path):
    from far_keras.training import checkpointing
    d = str(tmp_path / "run")
    first = dict(dataset="ring8", seed=0, reg_weight=0.625, penalty_target="logit",
                 regularizer="real", num_far=16, num_candidates=256, penalize_far=True)
    checkpointing.check_compatible(d, first)
    with open(os.path.join(d, "run_settings.json")) as f:
        assert json.load(f)["reg_weight"] == 0.625
    open(os.path.join(d, "metrics.json"), "w").write("{}")  # something was trained
    with pytest.raises(checkpointing.CheckpointError, match="--num_far: checkpoint has 16, now 0"):
        checkpointing.check_compatible(d, dict(first, num_far=0))


def test_flags_of_args_reads_flagfiles_then_overrides_the_last_value_winning(tmp_path):
    got = config.flags_of_args(["--flagfile=ring8", "--reg_weight=3", "--num_far=0",
                                "--nopenalize_far", "--jit_compile", "--unknown=1"])
    ring8 = config.read_flagfile(os.path.join(config.CONFIG_DIR, "ring8.flags"))
    assert got == dict(ring8, reg_weight=3.0, num_far=0, penalize_far=False, jit_compile=True)
    assert config.flags_of_args(["--reg_weight=3", "--reg_weight=0.5"])["reg_weight"] == 0.5
    with pytest.raises(config.ConfigError, match="--flagfile=nope: no such file"):
        config.flags_of_args(["--flagfile=nope"])
    with pytest.raises(config.ConfigError, match="--reg_weight=abc: not a float"):
        config.flags_of_args(["--reg_weight=abc"])
    # what an unpenalised run or one without FAR does not use
    assert config.unused_flags({"regularizer": "none", "num_far": 0}) == {
        "reg_weight", "penalty_target", "penalize_far", "num_candidates"}
    assert config.unused_flags({"regularizer": "real", "num_far": 16}) == set()


def _dry_run(tmp_path, variant):
    """The last line of reproduce.py --dry_run for ring8, one seed of ``variant``."""
    out = subprocess.run(
        [sys.executable, os.path.join(HERE, "reproduce.py"), "--figure=2", "--seeds=1",
         f"--variants={variant}", f"--runs={tmp_path / 'runs'}",
         f"--reports={tmp_path / 'rep'}", "--train_steps=500", "--dry_run"],
        capture_output=True, text=True, cwd=HERE)
    assert out.returncode == 0, out.stderr
    return out.stdout.splitlines()[-1]


def test_reproduce_does_not_reuse_a_finished_run_of_other_flags(tmp_path):
    runs = tmp_path / "runs"
    d = runs / "ring8" / "far" / "seed0"   # reproduce.py's directory for this run
    os.makedirs(d)
    ring8 = config.flags_of_args(["--flagfile=ring8"])

    def finished(**changes):
        flags = dict(ring8, train_steps=500, **changes)
        (d / "metrics.json").write_text(json.dumps({"flags": flags, "final": {"step": 500}}))
        return _dry_run(tmp_path, "far")

    assert finished() == "1 runs, 0 to run"
    # the same directory holding a run at another penalty is not this run
    assert finished(reg_weight=ring8["reg_weight"] * 16) == "1 runs, 1 to run"
    other = {"logit": "probability", "probability": "logit"}[ring8["penalty_target"]]
    assert finished(penalty_target=other) == "1 runs, 1 to run"


def test_flags_a_variant_does_not_use_are_not_its_identity(tmp_path):
    from far_keras.training import checkpointing
    # an unpenalised run made when the configs said λ = 10 on σ(D0) resumes under the
    # new defaults: λ and the target mean nothing to it
    d = str(tmp_path / "none")
    _old_run(d, regularizer="none", num_far=0, reg_weight=10.0, penalty_target="probability")
    now = dict(dataset="ring8", seed=0, regularizer="none", num_far=0, num_candidates=256,
               reg_weight=0.625, penalty_target="logit", penalize_far=True)
    checkpointing.check_compatible(d, now)
    # ... but a penalised one with those flags does not
    p = str(tmp_path / "real")
    _old_run(p, regularizer="real", num_far=0, reg_weight=10.0, penalty_target="probability")
    with pytest.raises(checkpointing.CheckpointError, match="--reg_weight"):
        checkpointing.check_compatible(p, dict(now, regularizer="real"))


def test_reproduce_reuses_an_unpenalised_run_made_under_another_lambda(tmp_path):
    runs = tmp_path / "runs"
    d = runs / "ring8" / "no_penalty" / "seed0"
    os.makedirs(d)
    flags = dict(config.flags_of_args(["--flagfile=ring8", "--regularizer=none", "--num_far=0"]),
                 train_steps=500, reg_weight=10.0, penalty_target="probability")
    (d / "metrics.json").write_text(json.dumps({"flags": flags, "final": {"step": 500}}))
    assert _dry_run(tmp_path, "no_penalty") == "1 runs, 0 to run"
