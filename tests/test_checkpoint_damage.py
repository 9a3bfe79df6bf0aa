"""A damaged checkpoint (far_keras/training/checkpointing.py): the run names the file,
resumes from the newest readable checkpoint and says how many steps it redoes; the
damaged files leave the manager's list (later saves and clean-up work); with no
readable checkpoint it stops with a clear error and changes nothing; the workers of a
multi-worker run agree on one step.

Most cases use a Checkpointer over two plain variables (no model: milliseconds); one
runs train.py's runner (experiment.run) end to end, and one starts two worker
processes for the multi-worker agreement."""

import glob
import json
import os
import subprocess
import sys

import pytest
import tensorflow as tf

from far_keras import experiment
from far_keras.training import checkpointing
from helpers import free_ports, reaped, small_config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _checkpointer(model_dir, keep=3, restore_from=None, width=2):
    step = tf.Variable(0, dtype=tf.int64)
    weights = tf.Variable(tf.zeros([width]))
    ckpt = checkpointing.Checkpointer(str(model_dir), keep=keep, restore_from=restore_from,
                                      step=step, weights=weights)
    return ckpt, step, weights


def _saved_run(model_dir, steps=(100, 200, 300), keep=3):
    """Checkpoints at ``steps``; the weights of step s are [s, -s]."""
    ckpt, step, weights = _checkpointer(model_dir, keep)
    for s in steps:
        step.assign(s)
        weights.assign([s, -s])
        ckpt.save(s)
    return os.path.join(str(model_dir), "checkpoints")


def _truncate(path, fraction=0.5):
    os.truncate(path, int(os.path.getsize(path) * fraction))


def _data_file(directory, name):
    (path,) = glob.glob(os.path.join(directory, name + ".data-*"))
    return path


def _listed(directory):
    state = tf.train.get_checkpoint_state(directory)
    return [os.path.basename(p) for p in state.all_model_checkpoint_paths], \
        os.path.basename(state.model_checkpoint_path)


@pytest.mark.parametrize("damage", ["data", "index"])
def test_newest_unreadable_resumes_from_the_previous_one_and_says_so(tmp_path, damage):
    directory = _saved_run(tmp_path)
    bad = (_data_file(directory, "ckpt-300") if damage == "data"
           else os.path.join(directory, "ckpt-300.index"))
    _truncate(bad)
    ckpt, step, weights = _checkpointer(tmp_path)
    messages = []
    restored = ckpt.restore_latest(log=messages.append, repair=True)

    assert restored == os.path.join(directory, "ckpt-200")
    assert int(step.numpy()) == 200 and weights.numpy().tolist() == [200.0, -200.0]
    (message,) = messages
    assert bad in message  # names the file that failed
    assert "steps 201-300 (100 steps) are redone" in message
    assert "ckpt-200" in message.splitlines()[-1]
    # The damaged files are kept aside, out of the manager's list.
    assert sorted(os.listdir(os.path.join(directory, "damaged"))) == [
        "ckpt-300.data-00000-of-00001", "ckpt-300.index"]
    assert not glob.glob(os.path.join(directory, "ckpt-300.*"))
    assert _listed(directory) == (["ckpt-100", "ckpt-200"], "ckpt-200")

    # Later saves and the clean-up of old checkpoints (keep=3) go on as usual; the
    # next resume takes the newest one and meets no damage.
    for s in (250, 300, 350):
        step.assign(s)
        ckpt.save(s)
    assert _listed(directory) == (["ckpt-250", "ckpt-300", "ckpt-350"], "ckpt-350")
    assert not glob.glob(os.path.join(directory, "ckpt-100.*"))
    again, again_step, _ = _checkpointer(tmp_path)
    messages.clear()
    assert again.restore_latest(log=messages.append, repair=True).endswith("ckpt-350")
    assert int(again_step.numpy()) == 350 and messages == []


def test_several_unreadable_are_all_skipped(tmp_path):
    directory = _saved_run(tmp_path)
    _truncate(_data_file(directory, "ckpt-300"))
    _truncate(os.path.join(directory, "ckpt-200.index"), 0.1)
    ckpt, step, _ = _checkpointer(tmp_path)
    messages = []
    assert ckpt.restore_latest(log=messages.append, repair=True).endswith("ckpt-100")
    assert int(step.numpy()) == 100
    assert "steps 101-300 (200 steps) are redone" in messages[0]
    assert _listed(directory) == (["ckpt-100"], "ckpt-100")


def test_a_reader_falls_back_without_touching_the_directory(tmp_path):
    # evaluate.py and the tests restore without ``repair``: they must not move files
    # under a run that may still be writing there.
    directory = _saved_run(tmp_path)
    _truncate(_data_file(directory, "ckpt-300"))
    before = sorted(os.listdir(directory))
    ckpt, step, _ = _checkpointer(tmp_path)
    messages = []
    assert ckpt.restore_latest(log=messages.append).endswith("ckpt-200")
    assert int(step.numpy()) == 200 and "moved" not in messages[0]
    assert sorted(os.listdir(directory)) == before


def test_no_readable_checkpoint_is_a_clear_error_and_changes_nothing(tmp_path):
    directory = _saved_run(tmp_path, steps=(100, 200), keep=2)
    _truncate(_data_file(directory, "ckpt-200"))
    _truncate(os.path.join(directory, "ckpt-100.index"))
    before = {name: open(os.path.join(directory, name), "rb").read()
              for name in os.listdir(directory)}
    ckpt, _, _ = _checkpointer(tmp_path)
    with pytest.raises(checkpointing.CheckpointError) as error:
        ckpt.restore_latest(log=lambda *_: None, repair=True)
    text = str(error.value)
    assert "no checkpoint of" in text and "can be read" in text
    assert _data_file(directory, "ckpt-200") in text
    assert os.path.join(directory, "ckpt-100.index") in text
    after = {name: open(os.path.join(directory, name), "rb").read()
             for name in os.listdir(directory)}
    assert after == before


@pytest.mark.parametrize("fraction", [0.0, 0.3])
def test_an_unreadable_checkpoint_list_is_rebuilt_from_the_files(tmp_path, fraction):
    # Emptied, the state file raises inside TF's CheckpointManager; cut short, TF
    # ignores it (as if there were no checkpoint: a silent fresh start before).
    directory = _saved_run(tmp_path)
    _truncate(os.path.join(directory, "checkpoint"), fraction)
    ckpt, step, _ = _checkpointer(tmp_path)
    messages = []
    assert ckpt.restore_latest(log=messages.append, repair=True).endswith("ckpt-300")
    assert int(step.numpy()) == 300
    assert "cannot be read" in messages[0] and "(3 found)" in messages[0]
    assert _listed(directory) == (["ckpt-100", "ckpt-200", "ckpt-300"], "ckpt-300")
    step.assign(400)
    ckpt.save(400)  # the manager reads the rebuilt list and sweeps the oldest
    assert _listed(directory) == (["ckpt-200", "ckpt-300", "ckpt-400"], "ckpt-400")


def test_a_missing_checkpoint_list_is_rebuilt_from_the_files(tmp_path):
    """A run killed while writing its first state file: the checkpoints beside it are
    found, not reported as a corrupted directory."""
    directory = _saved_run(tmp_path)
    os.remove(os.path.join(directory, "checkpoint"))
    ckpt, step, _ = _checkpointer(tmp_path)
    messages = []
    assert ckpt.restore_latest(log=messages.append, repair=True).endswith("ckpt-300")
    assert int(step.numpy()) == 300
    assert "is missing" in messages[0] and "(3 found)" in messages[0]
    step.assign(400)
    ckpt.save(400)
    assert _listed(directory)[1] == "ckpt-400"


def test_a_checkpoint_of_another_model_is_an_error_not_skipped(tmp_path):
    _saved_run(tmp_path)
    ckpt, _, _ = _checkpointer(tmp_path, width=3)  # other shapes: another model
    with pytest.raises(checkpointing.CheckpointError, match="different model"):
        ckpt.restore_latest(log=lambda *_: None, repair=True)


def _scripted_peer(values):
    """A stand-in for ``worker_agreement``: this worker and one peer whose restored
    steps, one per round, are ``values``."""
    rounds = iter(values)
    seen = []

    def agree(mine):
        seen.append(mine)
        return [mine, next(rounds)]

    return agree, seen


def test_workers_agree_on_the_oldest_step_any_of_them_restored(tmp_path):
    _saved_run(tmp_path)
    ckpt, step, _ = _checkpointer(tmp_path)
    agree, seen = _scripted_peer([200, 200])  # the peer could not read ckpt-300
    messages = []
    assert ckpt.restore_latest(log=messages.append, agree=agree).endswith("ckpt-200")
    assert int(step.numpy()) == 200 and seen == [300, 200]
    assert "all resume from step 200" in messages[0]


@pytest.mark.parametrize("peer, message", [
    (checkpointing._FAILED, "another worker .* cannot restore"),
    (checkpointing._NONE, "some find checkpoints, some none"),
])
def test_workers_stop_together_when_one_cannot_resume(tmp_path, peer, message):
    _saved_run(tmp_path)
    ckpt, _, _ = _checkpointer(tmp_path)
    agree, seen = _scripted_peer([peer])
    with pytest.raises(checkpointing.CheckpointError, match=message):
        ckpt.restore_latest(log=lambda *_: None, agree=agree)
    assert seen == [300]


def test_a_worker_that_can_read_nothing_still_tells_the_others(tmp_path):
    # Raising before the collective would leave the other workers waiting in it.
    directory = _saved_run(tmp_path, steps=(100,))
    _truncate(_data_file(directory, "ckpt-100"))
    ckpt, _, _ = _checkpointer(tmp_path)
    agree, seen = _scripted_peer([100])
    with pytest.raises(checkpointing.CheckpointError, match="can be read"):
        ckpt.restore_latest(log=lambda *_: None, agree=agree)
    assert seen == [checkpointing._FAILED]


def test_the_runner_resumes_from_the_previous_checkpoint(tmp_path):
    """train.py's runner, end to end: its data file truncated, the newest checkpoint
    is skipped (it failed with 'IndexError: Read less bytes than requested'), the run
    finishes from the one before, and its checkpoints go on as usual."""
    experiment.run(small_config(tmp_path, train_steps=200, keep_checkpoints=2),
                   export_model=False, log=lambda *_: None)
    directory = os.path.join(str(tmp_path), "run", "checkpoints")
    bad = _data_file(directory, "ckpt-200")
    _truncate(bad)
    messages = []
    result = experiment.run(small_config(tmp_path, train_steps=300, keep_checkpoints=2),
                            export_model=False, log=messages.append)
    assert result["resumed_from"] == 100 and result["step"] == 300
    assert bad in messages[0] and "(100 steps) are redone" in messages[0]
    assert "Resuming from" in messages[1] and "at step 100" in messages[1]
    assert _listed(directory) == (["ckpt-200", "ckpt-300"], "ckpt-300")
    assert os.listdir(os.path.join(directory, "damaged"))


WORKER = r"""
import json, os, sys
sys.path.insert(0, ROOT)
import tensorflow as tf
from far_keras.training import checkpointing
strategy = tf.distribute.MultiWorkerMirroredStrategy()
task = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
step, weights = tf.Variable(0, dtype=tf.int64), tf.Variable(tf.zeros([2]))
ckpt = checkpointing.Checkpointer(OWN[task], restore_from=SOURCE[task], step=step,
                                  weights=weights)
messages = []
path = ckpt.restore_latest(log=messages.append, agree=checkpointing.worker_agreement(strategy))
print(json.dumps({"path": path, "step": int(step.numpy()), "messages": messages}))
"""


def test_two_worker_processes_agree_on_one_checkpoint(tmp_path):
    """The real collective (MultiWorkerMirroredStrategy, two processes): worker 1
    sees the newest checkpoint damaged (its own copy of the directory), worker 0
    reads it; both resume from the older one."""
    for name in ("chief", "copy"):
        _saved_run(tmp_path / name, steps=(100, 200))
    _truncate(_data_file(str(tmp_path / "copy" / "checkpoints"), "ckpt-200"))
    own = [str(tmp_path / "chief"), str(tmp_path / "worker1")]
    source = [str(tmp_path / "chief"), str(tmp_path / "copy")]
    cluster = {"worker": [f"localhost:{p}" for p in free_ports(2)]}
    script = f"ROOT = {ROOT!r}\nOWN = {own!r}\nSOURCE = {source!r}\n" + WORKER
    procs = []
    for task in range(2):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", TF_CONFIG=json.dumps(
            {"cluster": cluster, "task": {"type": "worker", "index": task}}))
        procs.append(subprocess.Popen([sys.executable, "-c", script], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True))
    with reaped(procs):
        outs = [p.communicate(timeout=300) for p in procs]
    results = []
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert [r["step"] for r in results] == [100, 100]
    assert [os.path.basename(r["path"]) for r in results] == ["ckpt-100", "ckpt-100"]
    for r in results:
        assert any("all resume from step 100" in m for m in r["messages"]), r
    assert any("ckpt-200.data" in m and "(100 steps) are redone" in m
               for m in results[1]["messages"]), results[1]
    # The chief's checkpoints were readable and stay where they were.
    assert sorted(os.listdir(tmp_path / "chief" / "checkpoints")) == [
        "checkpoint", "ckpt-100.data-00000-of-00001", "ckpt-100.index",
        "ckpt-200.data-00000-of-00001", "ckpt-200.index"]
