"""<model_dir>/metrics.json, written by the evaluators of a run."""

import json
import os

import tensorflow as tf


class MetricsLog:
    """<model_dir>/metrics.json: the run's flags, every evaluation and the final one.

    Evaluations after ``start_step`` are dropped on resume: the resumed run redoes
    them at the same steps.
    """

    def __init__(self, model_dir, flags, start_step=0):
        self.path = os.path.join(model_dir, "metrics.json")
        self.data = {"flags": flags, "history": [], "final": None}
        self.context = None
        if tf.io.gfile.exists(self.path):
            try:
                with tf.io.gfile.GFile(self.path) as f:
                    old = json.load(f)
                self.data["history"] = [h for h in old.get("history", [])
                                        if h["step"] <= start_step]
                health = old.get("health")
                if health and health.get("last_step", 0) <= start_step:
                    self.data["health"] = health  # the collapse verdict survives resumes
            except (json.JSONDecodeError, KeyError, TypeError):
                pass  # a torn metrics file is rebuilt; checkpoints hold the state
        self.data["flags"] = flags

    def add(self, step, metrics, final=False):
        # ``context()`` (if set) adds what the run knows besides the evaluation, e.g.
        # the training losses of the last logging interval.
        entry = {"step": int(step), **metrics, **(self.context() if self.context else {})}
        self.data["history"] = [h for h in self.data["history"] if h["step"] != step] + [entry]
        if final:
            self.data["final"] = entry
        self.write()

    def write(self):
        tmp = self.path + ".tmp"
        with tf.io.gfile.GFile(tmp, "w") as f:
            json.dump(self.data, f, indent=2)
        tf.io.gfile.rename(tmp, self.path, overwrite=True)
