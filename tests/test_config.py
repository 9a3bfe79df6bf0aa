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


def test_defaults_are_the_papers_synthetic_settings():
    c = config.from_flat({})
    assert (c.data.dataset, c.data.batch_size, c.gan.num_far, c.gan.num_candidates,
            c.gan.reg_weight, c.optim.g_lr, c.optim.d_lr, c.latent_dim) == (
        "ring8", 64, 16, 256, 10.0, 0.003, 0.003, 2)
    assert c.run_name == "ring8_real_far16of256_seed0"
    assert c.to_dict()["train_steps"] == 20000
