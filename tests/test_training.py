"""Resume, NaN handling, checkpoint errors, metrics.json: in-process runs."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from far_keras import builders, experiment
from far_keras.data import synthetic
from far_keras.training import callbacks, checkpointing
from helpers import small_config


def _final_weights(cfg):
    # Rebuild and restore, as a user resuming would: compares what was *saved*.
    model = builders.build_model(cfg)
    checkpointing.Checkpointer(cfg.model_dir, **model.checkpoint_objects()).restore_latest()
    return model.current_step(), [v.numpy() for v in model.generator.weights + model.discriminator.weights
                             + model.g_optimizer.variables + model.d_optimizer.variables]


# The default settings (XLA-compiled, as train.py runs), and another regulariser with EMA.
@pytest.mark.parametrize("overrides", [{"jit_compile": True},
                                       {"regularizer": "interpolation", "ema_decay": 0.9}])
def test_resumed_run_equals_uninterrupted_run(tmp_path, overrides):
    whole = small_config(tmp_path, "whole", **overrides)
    experiment.run(whole, export_model=False, log=lambda *_: None)
    # "Killed" after its checkpoint at step 100, then the same run started again.
    first = small_config(tmp_path, "resumed", train_steps=100, **overrides)
    experiment.run(first, export_model=False, log=lambda *_: None)
    messages = []
    result = experiment.run(small_config(tmp_path, "resumed", **overrides),
                            export_model=False, log=messages.append)
    assert result["resumed_from"] == 100 and "step 100" in messages[0]
    step_a, a = _final_weights(whole)
    step_b, b = _final_weights(small_config(tmp_path, "resumed", **overrides))
    assert step_a == step_b == 200
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)


def test_metrics_json_has_flags_history_and_final(tmp_path):
    cfg = small_config(tmp_path)
    result = experiment.run(cfg, export_model=False, log=lambda *_: None)
    with open(os.path.join(cfg.model_dir, "metrics.json")) as f:
        data = json.load(f)
    assert data["flags"]["num_far"] == 16 and data["flags"]["train_steps"] == 200
    assert [h["step"] for h in data["history"]] == [0, 100, 200]  # 0: before training
    assert data["final"]["step"] == 200
    assert set(data["final"]) >= {"modes_covered", "high_quality", "kl_to_uniform"}
    assert data["final"]["modes_covered"] == result["metrics"]["modes_covered"]
    assert os.path.getsize(os.path.join(cfg.model_dir, "samples.png")) > 1000
    events = tf.io.gfile.glob(os.path.join(cfg.model_dir, "logs", "events.*"))
    tags = set()
    for e in tf.compat.v1.train.summary_iterator(events[0]):
        tags.update(v.tag for v in e.summary.value)
    assert {"train/d_loss", "train/g_loss", "train/reg", "train/d_real", "train/d_fake",
            "train/g_grad_norm", "train/d_far", "eval/modes_covered", "eval/samples"} <= tags


def test_each_evaluation_is_recorded_before_the_checkpoint_of_its_step(tmp_path, monkeypatch):
    # A run killed between the two then resumes from the previous checkpoint and redoes
    # the evaluation; in the other order it resumed *at* that step and the evaluation
    # was never made (found by tests/test_worker_faults.py killing the chief).
    cfg = small_config(tmp_path, train_steps=300, eval_every=100, checkpoint_every=100)
    recorded_at_save, save = {}, checkpointing.Checkpointer.save

    def save_and_look(self, step):
        with open(os.path.join(cfg.model_dir, "metrics.json")) as f:
            recorded_at_save[int(step)] = {h["step"] for h in json.load(f)["history"]}
        return save(self, step)

    monkeypatch.setattr(checkpointing.Checkpointer, "save", save_and_look)
    experiment.run(cfg, export_model=False, log=lambda *_: None)
    # (the last step's evaluation is the runner's, after fit: a run killed before it
    # resumes at the end and makes it then)
    assert sorted(recorded_at_save) == [100, 200, 300]
    for step in (100, 200):
        assert step in recorded_at_save[step], (step, recorded_at_save[step])


def test_nan_stops_training_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    real_make = synthetic.make_dataset

    def poisoned(source, batch_size, seed, start_step=0, num_steps=None, steps_per_element=1):
        ds = real_make(source, batch_size, seed, start_step, num_steps)
        steps = tf.data.Dataset.range(start_step, start_step + num_steps)
        ds = tf.data.Dataset.zip((ds, steps)).map(lambda x, t: tf.where(t >= 150, np.nan, x))
        return ds.batch(steps_per_element, drop_remainder=True) if steps_per_element > 1 else ds

    monkeypatch.setattr(builders.synthetic, "make_dataset", poisoned)
    cfg = small_config(tmp_path)
    with pytest.raises(callbacks.TrainingDiverged, match="steps 151-200.*ckpt-100"):
        experiment.run(cfg, export_model=False, log=lambda *_: None)
    step, values = _final_weights(cfg)
    assert step == 100 and all(np.isfinite(v).all() for v in values)


def test_corrupted_checkpoint_gives_clear_error(tmp_path):
    cfg = small_config(tmp_path, train_steps=100)
    experiment.run(cfg, export_model=False, log=lambda *_: None)
    (data_file,) = tf.io.gfile.glob(os.path.join(cfg.model_dir, "checkpoints", "*.data-*"))
    with open(data_file, "r+b") as f:
        f.write(b"garbage" * 100)
    with pytest.raises(checkpointing.CheckpointError, match="cannot restore checkpoint"):
        experiment.run(small_config(tmp_path, train_steps=200), export_model=False)


def test_changed_architecture_gives_clear_error(tmp_path):
    experiment.run(small_config(tmp_path, train_steps=100), export_model=False,
                   log=lambda *_: None)
    with pytest.raises(checkpointing.CheckpointError, match="--hidden_units"):
        experiment.run(small_config(tmp_path, hidden_units=32), export_model=False)
    os.remove(os.path.join(tmp_path, "run", "run_settings.json"))  # no record left
    with pytest.raises(checkpointing.CheckpointError, match="different model"):
        experiment.run(small_config(tmp_path, hidden_units=32), export_model=False)


def _tensorboard_steps(model_dir, tag):
    steps = []
    for path in sorted((model_dir / "logs").glob("events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            steps += [event.step for v in event.summary.value if v.tag == tag]
    return sorted(set(steps))


def test_plot_every_draws_only_at_its_steps_and_the_end(tmp_path):
    # eval every 100 over 500 steps; plot every 200: pictures at 0, 200, 400 and the final 500
    cfg = small_config(tmp_path, train_steps=500, plot_every=200)
    experiment.run(cfg, export_model=False, log=lambda *_: None)
    model_dir = tmp_path / "run"
    assert _tensorboard_steps(model_dir, "eval/samples") == [0, 200, 400, 500]
    assert [100, 200, 300, 400, 500] == [s for s in _tensorboard_steps(
        model_dir, "eval/modes_covered") if s > 0]
    assert (model_dir / "samples.png").stat().st_size > 0


def test_plot_every_must_be_a_multiple_of_eval_every(tmp_path):
    from far_keras import config
    with pytest.raises(config.ConfigError, match="--plot_every=150"):
        small_config(tmp_path, plot_every=150)


def test_a_run_that_failed_before_training_does_not_block_the_corrected_command(tmp_path):
    from far_keras.data.images import DatasetError
    bad = small_config(tmp_path, dataset="folder", data_path=str(tmp_path / "no_such_dir"))
    with pytest.raises(DatasetError):
        experiment.run(bad, export_model=False, log=lambda *_: None)
    assert os.path.exists(os.path.join(bad.model_dir, "run_settings.json"))
    good = small_config(tmp_path, train_steps=100)  # same --model_dir, ring8
    assert experiment.run(good, export_model=False, log=lambda *_: None)["step"] == 100
    # Once trained, the settings bind: another dataset is refused.
    with pytest.raises(checkpointing.CheckpointError, match="--dataset"):
        experiment.run(small_config(tmp_path, dataset="grid25"), export_model=False,
                       log=lambda *_: None)


def test_an_unwritable_model_dir_is_a_clear_error(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    cfg = small_config(tmp_path, model_dir=str(blocker / "run"))
    with pytest.raises(checkpointing.CheckpointError, match="cannot write there"):
        experiment.run(cfg, export_model=False, log=lambda *_: None)
