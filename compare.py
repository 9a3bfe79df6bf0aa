"""Runs a config's variants over seeds and tabulates mean ± standard error.

  python compare.py --config=configs/ring8.flags --seeds=0,1,2 --jobs=2 \
      --out=runs/compare_ring8

Each (variant, seed) is one ``train.py`` process with its own --model_dir under
--out, so an interrupted comparison resumes where it stopped when rerun (finished
runs are only re-evaluated). Extra flags after ``--`` go to every run, e.g.
``-- --train_steps=50000``. The table (Markdown) is printed and written to
<out>/table.md, the per-run numbers to <out>/results.json.
"""

import concurrent.futures
import json
import os
import subprocess
import sys

import numpy as np
from absl import app, flags

from far_keras.models.families import SDKL_MODELS
from far_keras.training import progress  # (formatting only: no TensorFlow)

# Each variant is a set of train.py flags on top of the flagfile.
VARIANTS = {
    "far": [],  # FAR + 0GP-sample: the flagfile's own num_far / regularizer
    "0gp_sample": ["--regularizer=real", "--num_far=0"],
    "0gp_interpolation": ["--regularizer=interpolation", "--num_far=0"],
    "no_penalty": ["--regularizer=none", "--num_far=0"],
    # The SDKL paper's five models (use with an image config, e.g. celeba_sdkl.flags).
    **{m: [f"--model={m}"] for m in SDKL_MODELS},
}
LABELS = {"far": "FAR (0GP-sample + FAR)", "0gp_sample": "0GP-sample",
          "0gp_interpolation": "0GP-interpolation", "no_penalty": "no penalty",
          "sdkl_nosample": "SDKL without sampling", "vae": "VAE + adv. perceptual loss",
          "vaegan": "VAEGAN", "sdkl": "SDKL", "gan": "GAN"}

flags.DEFINE_string("config", None, "Flagfile (configs/*.flags) passed to every run.")
flags.DEFINE_list("variants", ["far", "0gp_sample", "0gp_interpolation", "no_penalty"],
                  f"Variants to run: {', '.join(VARIANTS)}.")
flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds (at least 2 for a standard error).")
flags.DEFINE_integer("jobs", 1, "Runs in parallel.", lower_bound=1)
flags.DEFINE_list("columns", [], "Final metrics to tabulate (default: every numeric one).")
flags.DEFINE_string("out", None, "Output directory for runs and the table.")
flags.DEFINE_integer("verbose", 1, "2 shows TensorFlow's start-up lines (oneDNN, GPU probing; "
                     "hidden otherwise; FAR_KERAS_TF_LOGS=1 shows them too), here and in each "
                     "run's train.log, which then also gets the run's progress lines.",
                     lower_bound=0, upper_bound=2)
FLAGS = flags.FLAGS
HERE = os.path.dirname(os.path.abspath(__file__))


def run_one(flagfile, variant, seed, out, extra, verbose=0):
    """One train.py run (its --verbose: ``verbose``), output in its train.log; its
    metrics.json."""
    model_dir = os.path.join(out, variant, f"seed{seed}")
    os.makedirs(model_dir, exist_ok=True)
    cmd = [sys.executable, os.path.join(HERE, "train.py"), f"--flagfile={flagfile}",
           *VARIANTS[variant], f"--seed={seed}", f"--model_dir={model_dir}",
           f"--export_dir={os.path.join(model_dir, 'export')}",
           f"--verbose={verbose}",
           # one FID/IS network and one set of real statistics for every run
           f"--stats_dir={os.path.join(out, 'stats')}", *extra]
    with open(os.path.join(model_dir, "train.log"), "w") as log:
        code = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT)
    if code:
        raise RuntimeError(f"{variant} seed {seed} failed (exit {code}); see {model_dir}/train.log")
    with open(os.path.join(model_dir, "metrics.json")) as f:
        return json.load(f)


def mean_se(values):
    values = np.asarray(values, np.float64)
    se = values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else float("nan")
    return values.mean(), se


SKIP = {"step", "num_samples", "inception_score_std"}


def collapsed_at(run):
    """The step at which the run's discriminator was flagged as collapsed, or None."""
    return (run.get("health") or {}).get("collapsed_at")


def table(results, variants, columns=()):
    """Markdown table: one row per variant, mean ± s.e. of each numeric final metric
    (the union over variants; '—' where a variant has no such metric)."""
    metric_names = []
    for v in variants:
        for r in results[v]:
            for k, value in r["final"].items():
                if (k not in SKIP and not (k.startswith("health_") and k != "health_d_spread")
                        and isinstance(value, (int, float)) and k not in metric_names):
                    metric_names.append(k)
    if columns:
        metric_names = [m for m in columns if m in metric_names]
    steps = results[variants[0]][0]["final"]["step"]
    flagged = {v: sum(collapsed_at(r) is not None for r in results[v]) for v in variants}
    header = ["variant", "seeds", "steps"] + metric_names
    if any(flagged.values()):
        header.append("D collapsed")
    rows = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for v in variants:
        finals = [r["final"] for r in results[v]]
        cells = [LABELS.get(v, v) + (" †" if flagged[v] else ""), str(len(finals)), str(steps)]
        for m in metric_names:
            values = [f[m] for f in finals if isinstance(f.get(m), (int, float))]
            if not values:
                cells.append("—")
                continue
            mean, se = mean_se(values)
            scale = 100.0 if m == "high_quality" else 1.0
            cells.append(f"{mean * scale:.3g} ± {se * scale:.2g}")
        if any(flagged.values()):
            cells.append(f"{flagged[v]} of {len(finals)}")
        rows.append("| " + " | ".join(cells) + " |")
    note = "mean ± standard error over seeds"
    if any(flagged.values()):
        note += ("; † some runs' discriminator collapsed (constant D, no gradient: see their "
                 "metrics.json 'health'), so those rows are not evidence about the method")
    if "high_quality" in metric_names:
        note += "; high_quality in %"
    if any(m.startswith("train_") for m in metric_names):
        note += "; train_* are the training losses' means over the last logging interval"
    return "\n".join(rows) + "\n\n" + note + ".\n" + protocol_note(results, variants)


def protocol_note(results, variants):
    """The image metrics' protocol under the table; a warning when runs differ."""
    keys = {}
    for v in variants:
        for r in results[v]:
            protocol = r["final"].get("protocol")
            if protocol:
                keys.setdefault(_protocol_key(protocol), []).append(v)
    if not keys:
        return ""
    if len(keys) == 1:
        return f"\nImage metrics protocol: {next(iter(keys))}.\n"
    lines = "\n".join(f"- {k}: {', '.join(sorted(set(vs)))}" for k, vs in keys.items())
    return ("\n**WARNING: these runs' image metrics were computed under different "
            "protocols and are not comparable across them:**\n" + lines + "\n")


def _protocol_key(protocol):
    from far_keras import quiet_tf
    # TF only when needed, and without its start-up lines (--verbose=2 shows them)
    quiet_tf.import_tensorflow(FLAGS.verbose if FLAGS.is_parsed() else 1)
    from far_keras.metrics.image_metrics import protocol_key
    return protocol_key(protocol)


def main(argv):
    extra = argv[1:]
    if not FLAGS.config or not FLAGS.out:
        raise app.UsageError("--config and --out are required")
    if not os.path.exists(FLAGS.config):
        raise app.UsageError(f"--config={FLAGS.config}: no such file")
    unknown = [v for v in FLAGS.variants if v not in VARIANTS]
    if unknown:
        raise app.UsageError(f"--variants: unknown {unknown}; expected some of {list(VARIANTS)}")
    try:
        seeds = [int(s) for s in FLAGS.seeds]
    except ValueError:
        raise app.UsageError(f"--seeds={','.join(FLAGS.seeds)}: expected integers")
    jobs = [(v, s) for v in FLAGS.variants for s in seeds]
    results = {v: [] for v in FLAGS.variants}
    with concurrent.futures.ThreadPoolExecutor(FLAGS.jobs) as pool:
        # The runs' progress lines and TF start-up lines only with --verbose=2 (with 1,
        # the image evaluations' progress bars would fill the train.log files).
        futures = {pool.submit(run_one, os.path.abspath(FLAGS.config), v, s, FLAGS.out, extra,
                               verbose=2 if FLAGS.verbose == 2 else 0): (v, s)
                   for v, s in jobs}
        for i, fut in enumerate(concurrent.futures.as_completed(futures), 1):
            v, s = futures[fut]
            results[v].append(fut.result())
            final = results[v][-1]["final"]
            print(f"[{i}/{len(jobs)}] {v} seed {s}, step {final.get('step')}: "
                  f"{progress.summary_line(final)}", flush=True)
    md = table(results, FLAGS.variants, FLAGS.columns)
    with open(os.path.join(FLAGS.out, "table.md"), "w") as f:
        f.write(md)
    with open(os.path.join(FLAGS.out, "results.json"), "w") as f:
        json.dump({v: [dict(r["final"], collapsed_at=collapsed_at(r)) for r in rs]
                   for v, rs in results.items()}, f, indent=2)
    print(md)


if __name__ == "__main__":
    app.run(main)
