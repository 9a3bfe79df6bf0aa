"""Checkpoints: both networks, both optimizers (their EMA and step counters).

The step counter is the model's ``train_counter`` and all randomness is
counter-based (see models/gan.py), so restoring these objects restores the RNG state
too. ``tf.train.CheckpointManager`` writes atomically and keeps the last N.

A checkpoint that cannot be read (a truncated or overwritten data or index file, a
file gone) is skipped: the run resumes from the newest one that can be read, says
which file failed and how many steps it redoes, and moves the damaged files to
``checkpoints/damaged/`` so that neither a later resume nor the manager's clean-up
meets them again. Only when no checkpoint can be read does the run stop. A
checkpoint that reads but does not fit the model (other network sizes) is never
skipped: that is an error, as resuming an older one would not fit either.
"""

import json
import os
import re
import sys
import time

import tensorflow as tf


class CheckpointError(RuntimeError):
    """A checkpoint is missing, corrupted, or does not fit this model."""


# Settings that change the shapes or meaning of what is checkpointed: resuming
# with other values would silently train a different experiment.
COMPATIBILITY_KEYS = ("dataset", "architecture", "latent_dim", "hidden_units", "base_width",
                      "optimizer", "ema_decay", "seed", "model",
                      # The variant and its penalty: resuming a run under another λ or
                      # target would splice two experiments into one record.
                      "regularizer", "reg_weight", "penalty_target", "penalize_far",
                      "num_far", "num_candidates")

STATE_FILE = "checkpoint"  # tf.train.CheckpointManager's list of the checkpoints
DAMAGED_DIR = "damaged"    # where unreadable checkpoints are moved, under checkpoints/
# Steps encoded for the workers' agreement (``restore_latest(agree=...)``).
_NONE, _FAILED = -1, -2


def _first_line(error):
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def checkpoint_step(path):
    """The step in a checkpoint's name (``Checkpointer.save`` numbers them by step)."""
    match = re.search(r"-(\d+)$", path or "")
    return int(match.group(1)) if match else None


def unreadable(path):
    """None if every tensor of checkpoint ``path`` reads, else "<file>: <why>"."""
    index = path + ".index"
    if not tf.io.gfile.exists(index):
        return f"{index}: missing"
    try:
        reader = tf.train.load_checkpoint(path)
    except Exception as e:  # noqa: BLE001 (TF raises several kinds for a bad file)
        return f"{index}: {_first_line(e)}"
    try:
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    except Exception as e:  # noqa: BLE001 (IndexError for a short file, OpErrors, ...)
        data = sorted(tf.io.gfile.glob(path + ".data-*")) or [path + ".data-*"]
        return f"{', '.join(data)}: {_first_line(e)}"
    return None


def _stderr(message):
    print(message, file=sys.stderr, flush=True)


class Checkpointer:
    """Saves under <directory>/checkpoints; restores from <restore_from>/checkpoints
    (default: the same). A multi-worker run's non-chief workers save to their own
    directory and restore from the chief's, as tf.distribute requires every worker
    to take part in saving."""

    def __init__(self, directory, keep=3, restore_from=None, **objects):
        self.directory = os.path.join(directory, "checkpoints")
        self.restore_directory = os.path.join(restore_from or directory, "checkpoints")
        self.keep = keep
        self.checkpoint = tf.train.Checkpoint(**objects)
        self._manager = None
        self.skipped = []  # (path, why) of the unreadable checkpoints restore_latest met

    @property
    def manager(self):
        """The ``tf.train.CheckpointManager`` of ``directory`` (made on first use: a
        damaged state file is repaired by ``restore_latest`` first)."""
        if self._manager is None:
            try:
                self._manager = tf.train.CheckpointManager(self.checkpoint, self.directory,
                                                           max_to_keep=self.keep)
            except ValueError as e:  # a 'checkpoint' file that names no checkpoint
                raise CheckpointError(
                    f"{os.path.join(self.directory, STATE_FILE)} is damaged ({_first_line(e)})"
                    "; rerun the command to recover from the checkpoint files, or move "
                    f"{self.directory} away to start afresh.") from None
        return self._manager

    @property
    def latest(self):
        if self.restore_directory != self.directory:
            return tf.train.latest_checkpoint(self.restore_directory)
        return self.manager.latest_checkpoint

    def save(self, step):
        return self.manager.save(checkpoint_number=int(step))

    # ------------------------------------------------------------- restoring
    def _on_disk(self):
        """ckpt-<step> paths of the .index files in the restore directory, oldest first."""
        directory = self.restore_directory
        if not tf.io.gfile.isdir(directory):
            return []
        found = [os.path.join(directory, name[:-len(".index")])
                 for name in tf.io.gfile.listdir(directory) if name.endswith(".index")]
        return sorted((p for p in found if checkpoint_step(p) is not None),
                      key=checkpoint_step)

    def _listed(self):
        """(checkpoint paths oldest first, note): from the state file, or, when it
        is missing or cannot be read, from the ckpt-<step>.index files beside it.
        ([], None) when there is neither."""
        directory = self.restore_directory
        state_path = os.path.join(directory, STATE_FILE)
        if not tf.io.gfile.exists(state_path):
            # (a run killed while writing its first state file leaves checkpoint files
            # without one: they are read like those of an unreadable state file)
            on_disk = self._on_disk()
            if not on_disk:
                return [], None
            return on_disk, (f"{state_path} is missing; looking for checkpoints among the "
                             f"files beside it instead ({len(on_disk)} found)")
        try:
            state = tf.train.get_checkpoint_state(directory)
        except ValueError:  # parses, but names no checkpoint
            state = None
        if state is not None:
            paths = [p for p in state.all_model_checkpoint_paths
                     if p != state.model_checkpoint_path]
            return paths + [state.model_checkpoint_path], None
        on_disk = self._on_disk()
        return on_disk, (f"{state_path} cannot be read; looking for checkpoints among the "
                         f"files beside it instead ({len(on_disk)} found)")

    def _try(self, path):
        """Restores ``path``: None if done, "<file>: <why>" if it cannot be read.
        Raises CheckpointError if it reads but does not fit the model."""
        try:
            status = self.checkpoint.restore(path)
            status.assert_existing_objects_matched()
            return None
        except Exception as e:  # noqa: BLE001 (classified by reading it alone)
            why = unreadable(path)
            if why is not None:
                return why
            raise CheckpointError(
                f"cannot restore checkpoint {path}: {_first_line(e)}\n"
                "It was written by a different model (other network sizes or optimizer). "
                "Use another --model_dir, or delete the checkpoint to start afresh."
            ) from None

    def _restore_newest(self, paths, limit=None):
        """Restores the newest readable of ``paths`` (oldest first) at step <=
        ``limit``: its path, or None if none reads; skipped ones go to ``skipped``."""
        for path in reversed(paths):
            step = checkpoint_step(path)
            if limit is not None and (step is None or step > limit):
                continue
            if any(path == p for p, _ in self.skipped):
                continue
            why = self._try(path)
            if why is None:
                return path
            self.skipped.append((path, why))
        return None

    def restore_latest(self, log=_stderr, agree=None, repair=False):
        """Restores the newest readable checkpoint; returns its path, or None if
        there is none (a fresh start).

        Unreadable checkpoints are skipped and reported through ``log`` (naming the
        file and the steps redone). With ``repair`` (the training run, the one
        writer of its directory; not a reader such as evaluate.py) their files are
        then moved to ``checkpoints/damaged/`` and the state file lists the others,
        the restored one newest (rebuilt from the files if it could not be read).
        CheckpointError if checkpoints exist but none can be read, or one does not
        fit the model.

        ``agree`` (multi-worker runs, ``worker_agreement``): a collective that
        takes this worker's restored step and returns every worker's. Every worker
        then resumes from the same step, the oldest that any worker restored,
        or all stop with an error.
        """
        self.skipped = []
        paths, note, path, error = [], None, None, None
        try:
            paths, note = self._listed()
            if note and log:
                log(note)
            if not paths and self._has_files():
                raise CheckpointError(
                    f"{self.restore_directory} has files but no readable '{STATE_FILE}' "
                    "index and no checkpoint beside it; it is corrupted. Move it away to "
                    "start afresh.")
            path = self._restore_newest(paths)
        except CheckpointError as e:
            if agree is None:
                raise
            error = e  # raised once the other workers know (they would wait for us)
        if agree is not None:
            path = self._agree(agree, paths, path, error, log)
        if paths and path is None:
            raise CheckpointError(self._none_readable(paths))
        repair = repair and self.restore_directory == self.directory  # (the owner only)
        if self.skipped and log:
            log(self._fallback_message(path, repair))
        if repair and (self.skipped or note):
            self._set_aside(paths, path)
        return path

    def _agree(self, agree, paths, path, error, log):
        """Every worker's restored step, until all are equal (see restore_latest).
        Each worker decides from the same gathered steps, so all take the same
        number of rounds (each round is one collective)."""
        while True:
            mine = (_FAILED if error is not None or (paths and path is None)
                    else _NONE if not paths else checkpoint_step(path))
            steps = agree(mine)
            if error is not None:
                raise error
            if len(set(steps)) == 1:
                return path
            if _FAILED in steps:
                if mine == _FAILED:
                    raise CheckpointError(self._none_readable(paths))
                raise CheckpointError(
                    "another worker of this multi-worker run cannot restore a checkpoint of "
                    f"{self.restore_directory} (its error says why); every worker stops.")
            if _NONE in steps:
                raise CheckpointError(
                    f"the workers of this multi-worker run disagree on {self.restore_directory}"
                    f": some find checkpoints, some none (steps: {steps}). Every worker must "
                    "see the chief's --model_dir (a shared file system).")
            # The oldest step that a worker restored: one that every worker can read.
            if log:
                log(f"The workers restored checkpoints of steps {sorted(set(steps))}; all "
                    f"resume from step {min(steps)}.")
            if checkpoint_step(path) != min(steps):
                try:
                    path = self._restore_newest(paths, limit=min(steps))
                except CheckpointError as e:
                    error = e

    def _has_files(self):
        return (tf.io.gfile.exists(self.restore_directory)
                and bool(tf.io.gfile.listdir(self.restore_directory)))

    def _none_readable(self, paths):
        skipped = dict(self.skipped)
        lines = [f"  {os.path.basename(p)}: {skipped.get(p, 'not tried')}"
                 for p in reversed(paths)]
        return (f"cannot restore checkpoint: no checkpoint of {self.restore_directory} can be "
                "read:\n" + "\n".join(lines) + "\nRestore the directory from a copy, or "
                "move it away to start afresh.")

    def _fallback_message(self, path, repair):
        lines = [f"Checkpoint {p} cannot be read ({why})." for p, why in self.skipped]
        newest = max((checkpoint_step(p) or 0 for p, _ in self.skipped), default=0)
        step = checkpoint_step(path)
        redo = ""
        if step is not None and newest > step:
            redo = (f": steps {step + 1}-{newest} ({newest - step} steps) are redone")
        if repair:
            lines.append(f"{'Its' if len(self.skipped) == 1 else 'Their'} files are moved to "
                         f"{os.path.join(self.directory, DAMAGED_DIR)}.")
        lines.append(f"Resuming from the newest readable checkpoint, {path}{redo}.")
        return "\n".join(lines)

    def _set_aside(self, paths, restored):
        """Moves the skipped checkpoints' files to damaged/ and lists the others in
        the state file, ``restored`` newest; then a fresh manager reads it."""
        damaged_dir = os.path.join(self.directory, DAMAGED_DIR)
        skipped = {p for p, _ in self.skipped}
        if skipped:
            tf.io.gfile.makedirs(damaged_dir)
        for path in skipped:
            prefix = os.path.basename(path) + "."
            for name in tf.io.gfile.listdir(self.directory):
                if name.startswith(prefix):
                    tf.io.gfile.rename(os.path.join(self.directory, name),
                                       os.path.join(damaged_dir, name), overwrite=True)
        kept = [p for p in paths if p not in skipped and p != restored] + [restored]
        state = None
        try:
            state = tf.train.get_checkpoint_state(self.directory)
        except ValueError:
            pass
        stamps = {}
        if state is not None:
            stamps = dict(zip(state.all_model_checkpoint_paths,
                              state.all_model_checkpoint_timestamps))
        now = time.time()
        lines = [f'model_checkpoint_path: "{os.path.basename(restored)}"']
        lines += [f'all_model_checkpoint_paths: "{os.path.basename(p)}"' for p in kept]
        lines += [f"all_model_checkpoint_timestamps: {stamps.get(p, now)!r}" for p in kept]
        lines.append(f"last_preserved_timestamp: "
                     f"{min([stamps.get(p, now) for p in kept]) - 1.0!r}")
        state_path = os.path.join(self.directory, STATE_FILE)
        temporary = state_path + f".tmp{os.getpid()}"
        with tf.io.gfile.GFile(temporary, "w") as f:
            f.write("\n".join(lines) + "\n")
        tf.io.gfile.rename(temporary, state_path, overwrite=True)
        self._manager = None  # the next use reads the state just written


def worker_agreement(strategy):
    """For ``restore_latest(agree=...)``: under a MultiWorkerMirroredStrategy, a
    collective that gathers one integer from every worker (each must call it);
    None for one process, where there is nobody to agree with."""
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return None

    @tf.function
    def gather(value):
        def everyone(v):
            return tf.distribute.get_replica_context().all_gather(tf.reshape(v, [1]), axis=0)
        return strategy.experimental_local_results(strategy.run(everyone, args=(value,)))[0]

    return lambda step: [int(v) for v in gather(tf.constant(step, tf.int64)).numpy()]


def _recorded_flags(model_dir):
    try:
        with tf.io.gfile.GFile(os.path.join(model_dir, "metrics.json")) as f:
            return json.load(f).get("flags") or {}
    except (json.JSONDecodeError, tf.errors.OpError, AttributeError):
        return {}


def check_compatible(model_dir, settings):
    """Records ``settings`` in <model_dir>/run_settings.json on the first run and,
    when resuming, fails clearly if a compatibility-relevant flag changed."""
    path = os.path.join(model_dir, "run_settings.json")
    current = {k: settings[k] for k in COMPATIBILITY_KEYS if k in settings}
    # Flags the variant does not use are not part of its identity (an unpenalised run
    # is the same run whatever λ says).
    from far_keras.config import unused_flags  # (config is TF-free)
    for k in unused_flags(settings):
        current.pop(k, None)
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
        # A run made before a key was checked has it only in metrics.json's flags
        # ("auto" there is not the resolved value, so it cannot be compared).
        recorded = _recorded_flags(model_dir)
        for k in current:
            if k not in saved and k in recorded and recorded[k] != "auto":
                saved[k] = recorded[k]
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
