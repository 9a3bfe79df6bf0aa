"""far_keras.selection_check: the radius ratio of FAR's selected fakes."""

import json
import os

import numpy as np
import pytest

from far_keras import selection_check


def test_outer_ratio_closed_form():
    # Candidates at radii 1, 1, 1, 3; the radius-3 one selected: 3 / 1.5.
    candidates = np.array([[1.0, 0], [0, 1.0], [-1.0, 0], [0, -3.0]])
    assert selection_check.outer_ratio(candidates[3:], candidates) == pytest.approx(3 / 1.5)
    assert selection_check.outer_ratio(candidates[2:], candidates) == pytest.approx(2 / 1.5)
    # the radius is about the given centre
    assert selection_check.outer_ratio(candidates[3:] + 5.0, candidates + 5.0,
                                       center=(5.0, 5.0)) == pytest.approx(2.0)


def test_check_run_matches_numpy_on_a_saved_model(tmp_path):
    import tensorflow as tf
    from far_keras import builders, config
    flags = {**config.flags_of_args(["--flagfile=gaussian"]), "num_candidates": 32,
             "num_far": 4}
    model = builders.build_model(config.from_flat(flags))
    run = tmp_path / "run"
    os.makedirs(run / "checkpoints")
    with open(run / "metrics.json", "w") as f:
        json.dump({"flags": flags}, f)
    tf.train.Checkpoint(generator=model.generator, discriminator=model.discriminator).write(
        str(run / "checkpoints" / "ckpt-500"))
    got = selection_check.check_run(str(run), 500, batches=3, seed=1)
    z = np.random.default_rng(1).standard_normal((3 * 32, config.from_flat(flags).model.latent_dim))
    x = model.generator(z.astype(np.float32), training=False).numpy().reshape(3, 32, 2)
    d = model.discriminator(x.reshape(-1, 2), training=False).numpy().reshape(3, 32)
    radius = np.linalg.norm(x, axis=-1)
    want = np.mean([radius[b][np.argsort(d[b])[:4]].mean() for b in range(3)]) \
        / radius.mean()
    assert got["ratio"] == pytest.approx(want, rel=1e-5)
    with pytest.raises(FileNotFoundError, match="--step=100"):
        selection_check.check_run(str(run), 100)


def test_cli_names_a_run_without_the_checkpoint_and_goes_on(tmp_path, capsys):
    run = tmp_path / "empty"
    os.makedirs(run)
    with open(run / "metrics.json", "w") as f:
        json.dump({"flags": {"dataset": "gaussian"}}, f)
    assert selection_check.main([str(run), str(tmp_path / "absent"), "--step=500"]) == 1
    out = capsys.readouterr().out
    assert "ckpt-500: no checkpoint at --step=500" in out and str(tmp_path / "absent") in out
