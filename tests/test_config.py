import os

import pytest

from far_keras import config


@pytest.mark.parametrize("values,message", [
    ({"train_steps": -5}, "--train_steps=-5: must be >= 1"),
    ({"dataset": "ring9"}, "--dataset=ring9: must be one of"),
    ({"regularizer": "r1"}, "--regularizer=r1"),
    ({"num_far": 64}, "--num_far=64: must be < --batch_size=64"),
    ({"num_far": 20, "num_candidates": 10}, "--num_far=20: must be <= --num_candidates=10"),
    ({"eval_every": 150}, "--eval_every=150: must be a multiple of --steps_per_execution"),
    ({"g_lr": 0.0}, "--g_lr=0.0: must be > 0"),
    ({"d_lr": float("nan")}, "--d_lr=nan: must be a finite number"),
    ({"ema_decay": 1.0}, "--ema_decay=1.0: must be < 1"),
    ({"bogus": 1}, "unknown setting"),
])
def test_bad_values_name_the_flag(values, message):
    with pytest.raises(config.ConfigError, match=message.replace("+", r"\+")
                       .replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        config.from_flat(values)


def test_defaults_are_the_papers_synthetic_settings_at_the_penalty_studys_choice():
    c = config.from_flat({})
    assert (c.data.dataset, c.data.batch_size, c.model.num_far, c.model.num_candidates,
            c.optim.g_lr, c.optim.d_lr, c.latent_dim) == ("ring8", 64, 16, 256, 0.003, 0.003, 2)
    # the penalty study's choice for FAR (docs/penalty_study.md): λ = 0.625 on ‖∇D0‖²
    assert (c.model.reg_weight, c.penalty_target) == (0.625, "logit")
    assert c.run_name == "ring8_real_logit0.625_far16of256_seed0"
    assert c.to_dict()["train_steps"] == 120000
    # the synthetic reference code's: SGD, data x 10 / 1.414
    assert (c.optim.optimizer, c.data.ring_radius, c.data.ring_sigma) == (
        "sgd", 7.0721, 0.014144)


def test_penalty_target_auto_is_probability_for_mlps_and_logit_for_resnets():
    assert config.from_flat({"dataset": "grid25", "penalty_target": "auto"}
                            ).penalty_target == "probability"
    assert config.from_flat({"dataset": "cifar10"}).penalty_target == "logit"
    assert config.from_flat({"dataset": "cifar10", "penalty_target": "probability"}
                            ).penalty_target == "probability"


def test_flag_reference_is_the_configs():
    page = open(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                             "docs", "flags.md")).read()
    assert config.flag_table() in page, \
        "regenerate docs/flags.md's table: python -m far_keras.config"


def test_read_flagfile_types_values_and_rejects_unknown_flags(tmp_path):
    path = tmp_path / "x.flags"
    path.write_text("# comment\n--dataset=grid25\n--train_steps=500\n--reg_weight=2.5\n"
                    "--save_samples\n--noplot_contour\n")
    assert config.read_flagfile(str(path)) == dict(
        dataset="grid25", train_steps=500, reg_weight=2.5, save_samples=True,
        plot_contour=False)
    path.write_text("--trian_steps=5\n")
    with pytest.raises(config.ConfigError, match="unknown flag --trian_steps"):
        config.read_flagfile(str(path))


def test_shipped_2d_configs_build_and_say_where_each_value_comes_from():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for name in ("ring8", "grid25", "swissroll", "gaussian"):
        path = os.path.join(root, "configs", f"{name}.flags")
        cfg = config.from_flat(config.read_flagfile(path))
        # the penalty study's choice, the reference code's one flag away
        assert (cfg.penalty_target, cfg.model.reg_weight, cfg.optim.optimizer) == (
            "logit", 0.625, "sgd")
        ref = config.from_flat(config.flags_of_args([f"--flagfile={path}",
                                                     "--flagfile=reference_penalty"]))
        assert (ref.penalty_target, ref.model.reg_weight) == ("probability", 10.0)
        lines = open(path).read().splitlines()
        for i, line in enumerate(lines):
            if line.startswith("--"):  # every value sits under a comment naming a source
                block = "\n".join(l for l in lines[:i] if l.startswith("#"))
                assert "[" in block, f"{path}: {line} has no source comment"


def test_a_bare_config_name_resolves_to_configs(tmp_path):
    shipped = os.path.join(config.CONFIG_DIR, "imagenet.flags")
    for name in ("imagenet.flags", "imagenet"):
        assert config.resolve_flagfiles(["train.py", f"--flagfile={name}", "--seed=1"]) == [
            "train.py", f"--flagfile={shipped}", "--seed=1"]
    assert config.resolve_flagfiles(["t", "--flagfile", "ring8"])[1] == \
        f"--flagfile={os.path.join(config.CONFIG_DIR, 'ring8.flags')}"
    own = tmp_path / "mine.flags"
    own.write_text("--seed=3\n")
    assert config.resolve_flagfiles(["t", f"--flagfile={own}"]) == ["t", f"--flagfile={own}"]
    with pytest.raises(config.ConfigError, match="--flagfile=imagenet64.flags: no such file.*imagenet"):
        config.resolve_flagfiles(["t", "--flagfile=imagenet64.flags"])
