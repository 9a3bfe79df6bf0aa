"""Checkpoints: both networks, both optimizers (their EMA and step counters).

The step counter is the model's ``train_counter`` and all randomness is
counter-based (see models/gan.py), so restoring these objects restores the RNG state
too. ``tf.train.CheckpointManager`` writes atomically and keeps the last N.
"""

import json
import os

import tensorflow as tf


class CheckpointError(RuntimeError):
    """A checkpoint is missing, corrupted, or does not fit this model."""


# Settings that change the shapes or meaning of what is checkpointed: resuming
# with other values would silently train a different experiment.
COMPATIBILITY_KEYS = ("dataset", "architecture", "latent_dim", "hidden_units", "base_width",
                      "optimizer", "ema_decay", "seed", "model")


class Checkpointer:
    """Saves under <directory>/checkpoints; restores from <restore_from>/checkpoints
    (default: the same). A multi-worker run's non-chief workers save to their own
    directory and restore from the chief's, as tf.distribute requires every worker
    to take part in saving."""

    def __init__(self, directory, keep=3, restore_from=None, **objects):
        self.directory = os.path.join(directory, "checkpoints")
        self.restore_directory = os.path.join(restore_from or directory, "checkpoints")
        self.checkpoint = tf.train.Checkpoint(**objects)
        self.manager = tf.train.CheckpointManager(self.checkpoint, self.directory, max_to_keep=keep)

    @property
    def latest(self):
        if self.restore_directory != self.directory:
            return tf.train.latest_checkpoint(self.restore_directory)
        return self.manager.latest_checkpoint

    def save(self, step):
        return self.manager.save(checkpoint_number=int(step))

    def restore_latest(self):
        """Restores the newest checkpoint; returns its path, or None if there is none."""
        path = self.latest
        if path is None:
            if (tf.io.gfile.exists(self.restore_directory)
                    and tf.io.gfile.listdir(self.restore_directory)):
                raise CheckpointError(
                    f"{self.restore_directory} has files but no readable 'checkpoint' index; "
                    "it is corrupted. Move it away to start afresh.")
            return None
        try:
            status = self.checkpoint.restore(path)
            status.assert_existing_objects_matched()
        except (tf.errors.OpError, AssertionError, ValueError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise CheckpointError(
                f"cannot restore checkpoint {path}: {first}\n"
                "It is corrupted or was written by a different model (other network sizes "
                "or optimizer). Use another --model_dir, or delete the checkpoint to start "
                "afresh.") from None
        return path


def check_compatible(model_dir, settings):
    """Records ``settings`` in <model_dir>/run_settings.json on the first run and,
    when resuming, fails clearly if a compatibility-relevant flag changed."""
    path = os.path.join(model_dir, "run_settings.json")
    current = {k: settings[k] for k in COMPATIBILITY_KEYS if k in settings}
    # Settings bind only once something was trained: a run that failed before its
    # first checkpoint or evaluation (a wrong --dataset, say) must not block the
    # corrected command.
    trained = (tf.io.gfile.exists(os.path.join(model_dir, "checkpoints", "checkpoint"))
               or tf.io.gfile.exists(os.path.join(model_dir, "metrics.json")))
    if tf.io.gfile.exists(path) and trained:
        try:
            with tf.io.gfile.GFile(path) as f:
                saved = json.load(f)
        except (json.JSONDecodeError, tf.errors.OpError) as e:
            raise CheckpointError(f"{path} is unreadable ({e}); it is corrupted.") from None
        changed = [f"--{k}: checkpoint has {saved[k]!r}, now {current[k]!r}"
                   for k in current if k in saved and saved[k] != current[k]]
        if changed:
            raise CheckpointError(
                f"--model_dir={model_dir} holds a run with other settings:\n  "
                + "\n  ".join(changed) + "\nUse another --model_dir or the original flags.")
    else:
        try:
            tf.io.gfile.makedirs(model_dir)
            with tf.io.gfile.GFile(path, "w") as f:
                json.dump(current, f, indent=2)
        except (tf.errors.OpError, OSError) as e:
            raise CheckpointError(f"--model_dir={model_dir}: cannot write there "
                                  f"({getattr(e, 'message', e)}); choose a writable "
                                  "directory") from None
