"""A sweep's grid: parsing ``--sweep`` specs, naming each setting, and planning runs.

A spec is ``flag=v1,v2,...`` axes joined by ``;``; its grid is their Cartesian
product, and several specs are the union of their grids::

    penalty_target=logit;reg_weight=0.1,0.3,0.625,1,3,10
    penalty_target=probability;reg_weight=1,10,100

Every flag is a ``train.py`` flag (a field of ``config.py``), checked and normalised by
its type before anything runs, so that ``reg_weight=1`` and ``reg_weight=1.0`` are one
setting and one run directory. A setting's directory name lists its flags in spec order
(``penalty_target-logit__reg_weight-0.1``, alphabetical): two settings never share a
directory, and one setting never has two.

A variant ignores the flags that do not act on it (no penalty has no λ nor target):
its runs are keyed by the flags it uses only, so the unpenalised GAN runs once per
seed however many λ the sweep has, and the report draws it as a flat line.

TF-free: ``reproduce.py`` plans and checks a sweep without loading TensorFlow.
"""

import dataclasses
import itertools

from far_keras import config as config_lib


class SweepError(ValueError):
    """A --sweep spec that cannot be run (named in the message)."""


# Flags a variant does not use (reproduce.py's variants): its runs drop them from their key.
PENALTY_FLAGS = ("reg_weight", "penalty_target", "penalize_far")


@dataclasses.dataclass(frozen=True)
class Setting:
    """One point of the grid: ((flag, normalised value), ...) in spec order, plus the
    spec it came from and which of its flags is the swept (x) axis."""
    items: tuple
    spec: int = 0
    x_flag: str = ""

    @property
    def name(self):
        """The run directory's name (``default`` for the empty setting): the flags in
        alphabetical order, so that a spec's spelling order never splits one setting
        into two directories."""
        if not self.items:
            return "default"
        return "__".join(f"{k}-{v}" for k, v in sorted(self.items))

    @property
    def flags(self):
        return [f"--{k}={v}" for k, v in self.items]

    def get(self, flag, default=None):
        return dict(self.items).get(flag, default)

    @property
    def panel(self):
        """The setting without its x flag: the plot panel it belongs to."""
        return ", ".join(f"{k}={v}" for k, v in self.items if k != self.x_flag)

    def without(self, ignored):
        return Setting(tuple((k, v) for k, v in self.items if k not in ignored),
                       self.spec, self.x_flag if self.x_flag not in ignored else "")


def _fields():
    return {f.name: f for f, _ in config_lib.all_fields()}


def _normalise(flag, raw, field):
    """The value as train.py would read it, in one canonical spelling."""
    default = field.default
    text = raw.strip()
    try:
        if isinstance(default, bool):
            low = text.lower()
            if low not in ("true", "false", "1", "0"):
                raise ValueError
            return "true" if low in ("true", "1") else "false"
        if isinstance(default, int):
            return str(int(text))
        if isinstance(default, float):
            return repr(float(text))
    except ValueError:
        kind = type(default).__name__
        raise SweepError(f"--sweep: {flag}={raw!r} is not a {kind}") from None
    if not text or any(c in text for c in "/\\ \t"):
        raise SweepError(f"--sweep: {flag}={raw!r}: values name run directories, so they "
                         "must be non-empty, without '/' or spaces")
    return text


def parse_spec(spec, index=0):
    """The settings of one spec, in grid order (the last flag varies fastest)."""
    fields = _fields()
    axes = []
    for part in [p for p in spec.split(";") if p.strip()]:
        if "=" not in part:
            raise SweepError(f"--sweep: {part!r} in {spec!r}: expected flag=value[,value...]")
        flag, values = (s.strip() for s in part.split("=", 1))
        flag = flag.lstrip("-")
        if flag not in fields:
            close = [n for n in fields if n.startswith(flag[:4])]
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise SweepError(f"--sweep: unknown flag {flag!r} in {spec!r}{hint}; it must be "
                             "a train.py flag")
        if flag in ("seed", "model_dir", "export_dir"):
            raise SweepError(f"--sweep: {flag} is set per run by reproduce.py (use --seeds)")
        if flag in [a[0] for a in axes]:
            raise SweepError(f"--sweep: {flag} appears twice in {spec!r}")
        vals = [_normalise(flag, v, fields[flag]) for v in values.split(",") if v.strip()]
        if not vals:
            raise SweepError(f"--sweep: {flag} has no values in {spec!r}")
        if len(set(vals)) != len(vals):
            raise SweepError(f"--sweep: {flag} repeats a value in {spec!r}")
        axes.append((flag, vals))
    if not axes:
        raise SweepError(f"--sweep: {spec!r} has no flag=values")
    # The x axis of the plots: the last flag with several values (else the last flag).
    x_flag = next((f for f, v in reversed(axes) if len(v) > 1), axes[-1][0])
    names = [a[0] for a in axes]
    return [Setting(tuple(zip(names, combo)), index, x_flag)
            for combo in itertools.product(*(a[1] for a in axes))]


def parse_sweep(specs):
    """The union of the specs' grids, each setting once, in order."""
    seen, settings = set(), []
    for i, spec in enumerate(specs):
        for s in parse_spec(spec, i):
            key = tuple(sorted(s.items))
            if key not in seen:
                seen.add(key)
                settings.append(s)
    return settings


def check_settings(settings, base_flags):
    """Builds each setting's config (on top of ``base_flags``, a dict of flat values)
    so that a value a run would refuse is refused before any run starts."""
    for s in settings:
        values = dict(base_flags)
        fields = _fields()
        for k, v in s.items:
            d = fields[k].default
            values[k] = (v == "true" if isinstance(d, bool) else
                         int(v) if isinstance(d, int) else float(v) if isinstance(d, float)
                         else v)
        try:
            config_lib.from_flat(values)
        except (config_lib.ConfigError, ValueError) as e:
            raise SweepError(f"--sweep setting {s.name}: {e}") from None


def run_key(setting, ignored):
    """The setting a variant's runs are keyed by: without the flags it ignores."""
    return setting.without(ignored)


# ---------------------------------------------------------------- the archive
# A sweep's finished runs are kept in git as one compact record each (metrics.json's
# evaluations and health, the wall time; no checkpoints, samples or logs), in
# <report dir>/runs.jsonl.gz. A run directory that is missing (a fresh clone, another
# machine) is restored from its record, so the report rebuilds and the runner does not
# redo a finished run.

ARCHIVE = "runs.jsonl.gz"


def archive_key(dataset, variant, seed, setting_name):
    return f"{dataset}/{setting_name}/{variant}/seed{seed}"


def write_archive(path, records):
    """``records``: {key: {"metrics": metrics.json dict, "wall": [wall_time lines]}};
    merged with what the archive already holds (a record is replaced by a newer one)."""
    import gzip
    import json
    merged = read_archive(path)
    merged.update(records)
    import io
    tmp = path + ".tmp"
    # mtime=0: the same records give the same bytes (a committed file changes only
    # when a record does)
    with gzip.GzipFile(tmp, "wb", mtime=0) as raw, io.TextIOWrapper(raw, "utf-8") as f:
        for key in sorted(merged):
            f.write(json.dumps({"key": key, **merged[key]}, sort_keys=True) + "\n")
    import os
    os.replace(tmp, path)


def read_archive(path):
    import gzip
    import json
    try:
        with gzip.open(path, "rt") as f:
            out = {}
            for line in f:
                rec = json.loads(line)
                out[rec.pop("key")] = rec
            return out
    except FileNotFoundError:
        return {}


def _without_absolute_paths(value):
    """``value`` (JSON data) with every absolute path string replaced by ''."""
    import os
    if isinstance(value, dict):
        return {k: _without_absolute_paths(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_absolute_paths(v) for v in value]
    return "" if isinstance(value, str) and os.path.isabs(value) else value


def record_of(model_dir):
    """A finished run's record, or None (unfinished or absent)."""
    import json
    import os
    try:
        with open(os.path.join(model_dir, "metrics.json")) as f:
            metrics = json.load(f)
    except (OSError, ValueError):
        return None
    final = metrics.get("final")
    if not final or final.get("step") != metrics["flags"]["train_steps"]:
        return None
    # The archive keeps what the reports show: each evaluation's sample metrics
    # recomputed from its saved samples with the current metric code.
    from far_keras import reproduction_report
    reproduction_report.rescore(model_dir, metrics["flags"],
                                {h["step"]: h for h in metrics.get("history", [])})
    # Absolute paths (model_dir, export_dir, …) name the machine that ran it: the
    # record is for git, and the run's place is its archive key.
    metrics = _without_absolute_paths(metrics)
    wall = []
    try:
        with open(os.path.join(model_dir, "wall_time.json")) as f:
            wall = [json.loads(line) for line in f if line.strip()]
    except (OSError, ValueError):
        pass
    return {"metrics": metrics, "wall": wall}


def restore(model_dir, record):
    """Writes a record's metrics.json and wall_time.json into an absent run directory
    (a finished run needs nothing else: the runner and the report read those)."""
    import json
    import os
    if os.path.exists(os.path.join(model_dir, "metrics.json")):
        return False
    os.makedirs(model_dir, exist_ok=True)
    with open(os.path.join(model_dir, "metrics.json"), "w") as f:
        json.dump(record["metrics"], f)
    with open(os.path.join(model_dir, "wall_time.json"), "w") as f:
        for line in record["wall"]:
            f.write(json.dumps(line) + "\n")
    with open(os.path.join(model_dir, "RESTORED_FROM_ARCHIVE"), "w") as f:
        f.write("metrics.json and wall_time.json come from the sweep's archive\n")
    return True
