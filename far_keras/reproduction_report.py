"""reports/fig<k>/report.md for ``reproduce.py``: panels, tables, curves and health.

Reads only what the runs wrote (metrics.json, samples/step_<K>.npz, wall_time.json),
so a report can be rebuilt at any time, from finished and unfinished runs alike:
every table says how many seeds reached each iteration.
"""

import json
import os

import matplotlib

matplotlib.use("Agg")  # no display on training machines
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

# What each dataset's tables show: (metrics.json key, column title, scale).
METRICS = {
    "mixture": [("modes_covered", "modes covered", 1.0), ("high_quality", "% high quality", 100.0),
                ("kl_to_uniform", "KL to uniform", 1.0)],
    "gaussian": [("frechet_to_true", "Fréchet to the true Gaussian", 1.0),
                 ("memorization", "memorisation", 1.0),
                 ("spread", "spread (σ̂ / σ)", 1.0),
                 ("memorization_beyond_spread", "memorisation beyond spread", 1.0)],
    "swissroll": [("energy_distance", "energy distance", 1.0)],
}
HEALTH_KEYS = ("health_d_spread", "health_grad_scaled", "health_dead_relu",
               "health_grad_real", "health_grad_fake")


def metric_kind(dataset):
    return dataset if dataset in ("gaussian", "swissroll") else "mixture"


def load_run(model_dir):
    """What a run wrote, or None if it has not written metrics.json yet."""
    try:
        with open(os.path.join(model_dir, "metrics.json")) as f:
            metrics = json.load(f)
    except (OSError, json.JSONDecodeError):
        return None
    seconds = 0.0
    try:
        with open(os.path.join(model_dir, "wall_time.json")) as f:
            seconds = sum(json.loads(line)["seconds"] for line in f if line.strip())
    except (OSError, json.JSONDecodeError, KeyError):
        pass
    run = run_of_metrics(metrics, model_dir, seconds)
    rescore(model_dir, metrics["flags"], run["history"])
    return run


def run_of_metrics(metrics, name, seconds=0.0):
    """The run record the reports read, from a metrics.json's contents (a run
    directory's, or an archived one's); ``name`` identifies it."""
    return {"dir": name, "history": {h["step"]: h for h in metrics.get("history", [])},
            "final": metrics.get("final"), "train_steps": metrics["flags"]["train_steps"],
            "health": metrics.get("health") or {},
            "stall_ratio": metrics["flags"].get("stall_ratio"), "seconds": seconds}


def rescore(model_dir, flags, history):
    """Recomputes each evaluation's sample metrics from its saved samples with the
    current metric code, so that a report never mixes metric versions (a fixed
    metric applies to runs that finished before the fix)."""
    steps = [s for s in history if samples_at(model_dir, s) is not None]
    if not steps:
        return
    from far_keras import config
    from far_keras.builders import make_source
    from far_keras.metrics import two_d
    source = make_source(config.from_flat(flags))
    for step in steps:
        _, fake = samples_at(model_dir, step)
        try:
            history[step].update(two_d.evaluate_samples(source, fake, seed=flags["seed"]))
        except FloatingPointError:
            pass


def samples_at(model_dir, step):
    path = os.path.join(model_dir, "samples", f"step_{step}.npz")
    if not os.path.exists(path):
        return None
    with np.load(path) as d:
        return d["real"], d["fake"]


def mean_se(values):
    values = np.asarray(values, np.float64)
    if len(values) == 0:
        return float("nan"), float("nan")
    se = values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else float("nan")
    return float(values.mean()), float(se)


def fmt(mean, se, scale=1.0):
    if not np.isfinite(mean):
        return "—"
    if not np.isfinite(se):
        return f"{mean * scale:.3g}"
    return f"{mean * scale:.3g} ± {se * scale:.2g}"


def collapsed_by(run, step):
    at = run["health"].get("collapsed_at")
    return at is not None and at <= step


def metrics_table(runs_by_variant, iterations, kind, labels):
    """One Markdown table per dataset: rows variant × iteration, mean ± s.e. over seeds."""
    cols = METRICS[kind]
    header = ["variant", "iteration", "seeds"] + [c[1] for c in cols] + ["flagged (collapsed)"]
    rows = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for variant, runs in runs_by_variant.items():
        for it in iterations:
            reached = [r for r in runs if it in r["history"]]
            cells = [labels.get(variant, variant), f"{it:,}", str(len(reached))]
            for key, _, scale in cols:
                vals = [r["history"][it][key] for r in reached
                        if isinstance(r["history"][it].get(key), (int, float))]
                cells.append(fmt(*mean_se(vals), scale))
            cells.append(str(sum(collapsed_by(r, it) for r in reached)))
            rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def stalled_at(run, patience=3, ratio=None):
    """Start of the run's first streak of ``patience`` evaluations where D's gradient at
    the fakes is < ``ratio`` (default: the current, calibrated ``STALL_RATIO``) × that at
    the reals. The run's own verdict counts when the run used the same ratio; a run made
    before the calibration is judged again from its evaluations, so that one report
    never mixes two thresholds."""
    from far_keras.metrics import discriminator_health as dh
    ratio = dh.STALL_RATIO if ratio is None else ratio
    own = (run["health"].get("stall") or {}).get("collapsed_at")
    if own is not None and run.get("stall_ratio") == ratio:
        return own
    detector = dh.CollapseDetector(patience, predicate=lambda h: dh.looks_stalled(h, ratio))
    for step, h in sorted(run["history"].items()):
        if step > 0 and isinstance(h.get("health_grad_fake"), (int, float)):
            detector.update(step, {"grad_fake": h["health_grad_fake"],
                                   "grad_real": h["health_grad_real"]})
    return detector.collapsed_at


def health_table(runs_by_variant, labels):
    """Every run: alive or flagged, D's spread and gradient range, last losses."""
    header = ["variant", "seed", "steps", "verdict", "D spread (min–max)",
              "‖∇D0‖·scale (min–max)", "‖∇D0‖ at real / at fakes (last)",
              "dead ReLU (last)", "train d_loss (last)", "wall time"]
    rows = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for variant, runs in runs_by_variant.items():
        for r in runs:
            evals = [h for s, h in sorted(r["history"].items()) if s > 0 and
                     all(isinstance(h.get(k), (int, float)) for k in HEALTH_KEYS)]
            at = r["health"].get("collapsed_at")
            stalled = stalled_at(r)
            done = r["final"] is not None and r["final"]["step"] == r["train_steps"]
            steps = max(r["history"]) if r["history"] else 0
            verdict = f"**collapsed at {at:,}**" if at is not None else "alive"
            if stalled is not None:
                verdict += f"; generator stalled from {stalled:,}"
            if not done:
                verdict += " (running or stopped)"
            if evals:
                spread = [h["health_d_spread"] for h in evals]
                grad = [h["health_grad_scaled"] for h in evals]
                span = f"{min(spread):.3g}–{max(spread):.3g}"
                gspan = f"{min(grad):.3g}–{max(grad):.3g}"
                dead = f"{evals[-1]['health_dead_relu']:.2f}"
                at_points = (f"{evals[-1]['health_grad_real']:.3g} / "
                             f"{evals[-1]['health_grad_fake']:.3g}")
                d_loss = evals[-1].get("train_d_loss", (r["final"] or {}).get("train_d_loss"))
            else:
                span = gspan = dead = at_points = "—"
                d_loss = None
            rows.append("| " + " | ".join([
                labels.get(variant, variant), os.path.basename(r["dir"]).replace("seed", ""),
                f"{steps:,}", verdict, span, gspan, at_points, dead,
                f"{d_loss:.3f}" if isinstance(d_loss, (int, float)) else "—",
                f"{r['seconds'] / 60:.1f} min"]) + " |")
    return "\n".join(rows)


def panels_png(path, runs_by_variant, iterations, labels, title, kind):
    """Rows: variants; columns: iterations; the first seed that has each panel."""
    variants = list(runs_by_variant)
    fig, axes = plt.subplots(len(variants), len(iterations), squeeze=False,
                             figsize=(2.6 * len(iterations), 2.6 * len(variants)), dpi=90)
    limits = None
    for i, v in enumerate(variants):
        for j, it in enumerate(iterations):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            found = None
            for r in runs_by_variant[v]:
                found = samples_at(r["dir"], it)
                if found is not None:
                    run = r
                    break
            if found is None:
                ax.text(0.5, 0.5, "not reached", ha="center", va="center",
                        transform=ax.transAxes, color="grey")
            else:
                real, fake = found
                if limits is None:
                    lo, hi = real.min(0), real.max(0)
                    pad = 0.25 * (hi - lo).max()
                    limits = (min(lo) - pad, max(hi) + pad)
                ax.scatter(real[:, 0], real[:, 1], s=1, c="tab:blue", alpha=0.5, lw=0)
                ax.scatter(fake[:, 0], fake[:, 1], s=1, c="tab:red", alpha=0.5, lw=0)
                h = run["history"].get(it, {})
                if kind == "mixture" and "modes_covered" in h:
                    note = f"{h['modes_covered']} modes, {100 * h['high_quality']:.0f}% HQ"
                elif kind == "gaussian" and "frechet_to_true" in h:
                    note = f"FD {h['frechet_to_true']:.2g}, mem {h['memorization']:.2f}"
                elif "energy_distance" in h:
                    note = f"ED {h['energy_distance']:.2g}"
                else:
                    note = ""
                if collapsed_by(run, it):
                    note += " [D collapsed]"
                ax.text(0.02, 0.02, f"{os.path.basename(run['dir'])}: {note}", fontsize=6,
                        transform=ax.transAxes)
                ax.set_xlim(*limits)
                ax.set_ylim(*limits)
                ax.set_aspect("equal")
            if i == 0:
                ax.set_title(f"iter. {it:,}", fontsize=9)
            if j == 0:
                ax.set_ylabel(labels.get(v, v), fontsize=8)
    fig.suptitle(title + "\n(real blue, generated red)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def curves_png(path, runs_by_variant, labels, kind, title):
    """Each metric (and D's spread) over training: mean over seeds ± s.e."""
    cols = METRICS[kind] + [("health_d_spread", "D spread (std of σ(D0))", 1.0)]
    fig, axes = plt.subplots(1, len(cols), figsize=(4 * len(cols), 3.2), dpi=90)
    for ax, (key, name, scale) in zip(np.atleast_1d(axes), cols):
        for v, runs in runs_by_variant.items():
            steps = sorted({s for r in runs for s in r["history"]})
            means, ses = [], []
            for s in steps:
                vals = [r["history"][s][key] for r in runs if s in r["history"]
                        and isinstance(r["history"][s].get(key), (int, float))]
                m, e = mean_se(vals)
                means.append(m * scale)
                ses.append((e if np.isfinite(e) else 0.0) * scale)
            if not steps:
                continue
            means, ses = np.array(means), np.array(ses)
            ax.plot(steps, means, label=labels.get(v, v), lw=1)
            ax.fill_between(steps, means - ses, means + ses, alpha=0.2)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("iteration")
    np.atleast_1d(axes)[0].legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_report(fig, spec, seeds, variants, run_dir, reports_dir, table_iterations, labels,
                 wall_seconds=None):
    """Writes reports/fig<fig>/report.md (+ PNGs); returns its path."""
    out = os.path.join(reports_dir, f"fig{fig}")
    os.makedirs(out, exist_ok=True)
    lines = [f"# {spec['title']}", "",
             "Written by `python reproduce.py`; settings and their sources are in the "
             "configs named below. Mean ± standard error over the seeds that reached each "
             "iteration; a run whose discriminator was flagged as collapsed is counted in the "
             "last column (its numbers are not evidence about the method).", ""]
    total_seconds, total_runs, done_runs = 0.0, 0, 0
    for dataset, (config, iterations) in spec["datasets"].items():
        runs = {}
        for v in variants:
            loaded = [load_run(run_dir(dataset, v, s)) for s in seeds]
            runs[v] = [r for r in loaded if r is not None]
        found = [r for rs in runs.values() for r in rs]
        total_runs += len(seeds) * len(variants)
        done_runs += sum(r["final"] is not None and r["final"]["step"] == r["train_steps"]
                         for r in found)
        total_seconds += sum(r["seconds"] for r in found)
        kind = metric_kind(dataset)
        lines += [f"## {dataset} (`{config}`)", ""]
        if not found:
            lines += ["No run has started yet.", ""]
            continue
        panels = f"{dataset}_panels.png"
        panels_png(os.path.join(out, panels), runs, iterations, labels,
                   f"{spec['title']}: {dataset}", kind)
        curves = f"{dataset}_curves.png"
        curves_png(os.path.join(out, curves), runs, labels, kind, dataset)
        lines += [f"![{dataset} panels]({panels})", "",
                  metrics_table(runs, table_iterations.get(dataset, iterations), kind, labels),
                  "", f"![{dataset} curves]({curves})", "",
                  "Discriminator health of every run (evaluations after step 0; *scale* is the "
                  "data's RMS radius, so ‖∇D0‖·scale is the logit's change across the data):",
                  "", health_table(runs, labels), ""]
    return finish_report(out, lines, done_runs, total_runs, total_seconds, wall_seconds)


def finish_report(out, lines, done_runs, total_runs, total_seconds, wall_seconds):
    """Adds the runs' count and time to ``lines``, writes <out>/report.md; its path."""
    lines = lines + [f"Runs finished: {done_runs} of {total_runs}; summed run wall time "
                     f"{total_seconds / 60:.0f} min."]
    if wall_seconds is not None:
        lines += [f"This reproduce.py invocation: {wall_seconds / 60:.1f} min wall."]
    path = os.path.join(out, "report.md")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path
