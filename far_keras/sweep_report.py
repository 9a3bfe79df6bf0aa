"""<reports>/<name>/report.md for a ``reproduce.py --sweep``: each metric against the
swept value (one line per variant, standard-error bars), the tables, the decision
rule's choice of each variant's setting, and every run's health.

Like ``reproduction_report`` it reads only what the runs wrote, so it can be rebuilt
at any time: every table says how many seeds reached each iteration.

The decision rule (the study's declaration): a variant's best setting is the one
with the most modes covered at the decision iteration (mean over seeds), ties broken
by the lower KL to uniform. It applies to the mixtures (ring8, grid25); on the other
datasets the report gives each setting's metrics beside it.
"""

import os

import matplotlib

matplotlib.use("Agg")  # no display on training machines
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from far_keras import reproduction_report as rr  # noqa: E402
from far_keras import sweep  # noqa: E402


# Sweeps of at most this many settings also get each setting's curves over training.
CURVES_UP_TO = 2

X_LABELS = {"reg_weight": "λ (--reg_weight)", "num_far": "M0 (--num_far)",
            "num_candidates": "M1 (--num_candidates)"}


def _value(run, step, key):
    h = run["history"].get(step, {})
    v = h.get(key)
    return v if isinstance(v, (int, float)) else None


def cell(runs, step, key):
    """(mean, s.e., seeds) of ``key`` at ``step`` over the runs that reached it."""
    vals = [v for v in (_value(r, step, key) for r in runs) if v is not None]
    mean, se = rr.mean_se(vals)
    return mean, se, len(vals)


def choose(runs_by_setting, step):
    """The decision rule: the setting (key of ``runs_by_setting``) with the most modes
    covered at ``step`` (mean over seeds), ties broken by the lower KL to uniform.
    Settings no seed reached are skipped; None if none was reached."""
    best, best_key = None, None
    for setting, runs in runs_by_setting.items():
        modes, _, n = cell(runs, step, "modes_covered")
        kl, _, _ = cell(runs, step, "kl_to_uniform")
        if not n:
            continue
        key = (-modes, kl if np.isfinite(kl) else np.inf)
        if best_key is None or key < best_key:
            best, best_key = setting, key
    return best


def _x_value(setting):
    raw = setting.get(setting.x_flag)
    try:
        return float(raw)
    except (TypeError, ValueError):
        return raw


def _panels(settings):
    """{panel label: [settings in x order]} over the sweep's settings."""
    panels = {}
    for s in settings:
        panels.setdefault(s.panel, []).append(s)
    for p in panels.values():
        p.sort(key=lambda s: (isinstance(_x_value(s), str), _x_value(s)))
    return panels


def sweep_png(path, title, runs, settings, variants, labels, step, cols, ignored,
              chosen=None):
    """Rows: metrics; columns: panels (the non-swept flags); x: the swept flag.
    ``chosen``: {variant: setting name}, circled (the decision rule's choice)."""
    panels = _panels(settings)
    # (one y scale per metric, so that the panels compare at a glance)
    fig, axes = plt.subplots(len(cols), len(panels), squeeze=False, dpi=90, sharey="row",
                             figsize=(4.2 * len(panels), 2.8 * len(cols)))
    colours = dict(zip(variants, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    for j, (panel, ordered) in enumerate(panels.items()):
        xs = [_x_value(s) for s in ordered]
        numeric = all(isinstance(x, float) for x in xs)
        positions = xs if numeric else list(range(len(xs)))
        for i, (key, name, scale) in enumerate(cols):
            ax = axes[i, j]
            for v in variants:
                stats = [cell(runs[v].get(s.name, []), step, key) for s in ordered]
                means = np.array([m for m, _, _ in stats]) * scale
                ses = np.array([e if np.isfinite(e) else 0.0 for _, e, _ in stats]) * scale
                if not np.isfinite(means).any():
                    continue
                flat = ordered[0].x_flag in ignored.get(v, ())
                if flat:  # one set of runs drawn across: a band reads better than bars
                    ax.plot(positions, means, label=labels.get(v, v), lw=1.2, ls="--",
                            color=colours.get(v))
                    ax.fill_between(positions, means - ses, means + ses, alpha=0.12,
                                    color=colours.get(v), lw=0)
                    continue
                ax.errorbar(positions, means, yerr=ses, label=labels.get(v, v), lw=1.2,
                            marker="o", ms=3, capsize=2, color=colours.get(v))
                if chosen and chosen.get(v) in [o.name for o in ordered]:
                    k = [o.name for o in ordered].index(chosen[v])
                    ax.plot([positions[k]], [means[k]], marker="o", ms=10, mfc="none",
                            mec=colours.get(v), mew=1.6, ls="none")
            if numeric and max(xs) / max(min(xs), 1e-12) >= 10:
                ax.set_xscale("log")
            if not numeric:
                ax.set_xticks(positions, xs)
            if i == 0:
                ax.set_title(panel or "(all settings)", fontsize=9)
            if j == 0:
                ax.set_ylabel(name, fontsize=8)
            if i == len(cols) - 1:
                ax.set_xlabel(X_LABELS.get(ordered[0].x_flag, ordered[0].x_flag), fontsize=8)
    if axes[0, 0].get_legend_handles_labels()[0]:
        axes[0, 0].legend(fontsize=7)
    fig.suptitle(f"{title} at iteration {step:,}: mean ± s.e. over seeds\n(dashed: does not "
                 "depend on the swept flag" + ("; circled: the setting the decision rule "
                                              "chose" if chosen else "") + ")", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def sweep_table(runs, settings, variants, labels, step, cols, ignored):
    header = ["setting", "variant", "seeds"] + [c[1] for c in cols] + \
        ["flagged (collapsed)", "stalled"]
    rows = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for s in settings:
        for v in variants:
            rs = runs[v].get(s.name)
            if rs is None or s is not _first_of_key(s, settings, ignored.get(v, ())):
                continue  # a variant that ignores the swept flags: once, at its first
            reached = [r for r in rs if step in r["history"]]
            cells = [s.name, labels.get(v, v), str(len(reached))]
            for key, _, scale in cols:
                m, e, _ = cell(reached, step, key)
                cells.append(rr.fmt(m, e, scale))
            cells.append(str(sum(rr.collapsed_by(r, step) for r in reached)))
            cells.append(str(sum((rr.stalled_at(r) or np.inf) <= step for r in reached)))
            rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def load_runs(dataset, settings, seeds, variants, ignored, run_dir):
    """{variant: {setting name: [runs]}}; a variant's ignored flags map several
    settings to one list of runs (the same objects)."""
    out = {}
    for v in variants:
        by_key, by_setting = {}, {}
        for s in settings:
            key = sweep.run_key(s, ignored.get(v, ()))
            if key.name not in by_key:
                loaded = [rr.load_run(run_dir(dataset, v, seed, key)) for seed in seeds]
                by_key[key.name] = [r for r in loaded if r is not None]
            by_setting[s.name] = by_key[key.name]
        out[v] = by_setting
    return out


def write_report(name, datasets, settings, seeds, variants, ignored, run_dir, out,
                 labels, iterations=(), decision_step=0, declaration="", wall_seconds=None):
    """Writes <out>/report.md (+ one PNG per dataset and iteration); returns its path.

    ``datasets``: {dataset: config path}; ``run_dir(dataset, variant, seed, key)``.
    """
    os.makedirs(out, exist_ok=True)
    lines = [f"# Sweep `{name}`", ""]
    if declaration:
        with open(declaration) as f:
            text = f.read().strip()
        lines += ["<details open><summary>The study's declared design (written before "
                  "its runs)</summary>", "", ("\n" + text).replace("\n# ", "\n## ").lstrip("\n"), "", "</details>", ""]
    lines += ["Written by `python reproduce.py --sweep`. Mean ± standard error over the "
              "seeds that reached each iteration. *Flagged* counts runs whose "
              "discriminator the run's health check flagged as collapsed by then; "
              "*stalled* counts runs whose generator the stall check flagged (D's "
              "gradient at the fakes ≪ at the reals). Every run's health is at the end.", ""]
    total_runs = done_runs = 0
    total_seconds = 0.0
    for dataset, config in datasets.items():
        runs = load_runs(dataset, settings, seeds, variants, ignored, run_dir)
        unique = {id(r): r for v in runs.values() for rs in v.values() for r in rs}
        found = list(unique.values())
        planned = {(v, sweep.run_key(s, ignored.get(v, ())).name)
                   for v in variants for s in settings}
        total_runs += len(planned) * len(seeds)
        done_runs += sum(r["final"] is not None and r["final"]["step"] == r["train_steps"]
                         for r in found)
        total_seconds += sum(r["seconds"] for r in found)
        lines += [f"## {dataset} (`{config}`)", ""]
        if not found:
            lines += ["No run has started yet.", ""]
            continue
        length = max(r["train_steps"] for r in found)
        steps = list(iterations) or sorted({length // 2, length})
        kind = rr.metric_kind(dataset)
        cols = rr.METRICS[kind]
        if len(settings) <= CURVES_UP_TO:
            # Few settings (a confirmation, an ablation): each one's metrics over training,
            # where a plot against the swept value would have one or two points.
            for s in settings:
                png = f"{dataset}_{s.name}_curves.png"
                by_variant = {v: runs[v][s.name] for v in variants if runs[v].get(s.name)}
                rr.curves_png(os.path.join(out, png), by_variant, labels, kind,
                              f"{dataset}, {s.name}: mean ± s.e. over seeds")
                lines += [f"![{dataset}, {s.name}, over training]({png})", ""]
        for step in steps:
            lines += [f"### {dataset} at {step:,} steps", ""]
            if len(settings) > 1:
                png = f"{dataset}_{step // 1000}k.png" if step % 1000 == 0 else \
                    f"{dataset}_{step}.png"
                decision = decision_step or length
                chosen = ({v: choose(runs[v], step) for v in variants}
                          if kind == "mixture" and step == decision else None)
                sweep_png(os.path.join(out, png), dataset, runs, settings, variants, labels,
                          step, cols, ignored, chosen)
                lines += [f"![{dataset} at {step:,}]({png})", ""]
            lines += [sweep_table(runs, settings, variants, labels, step, cols, ignored), ""]
        if kind == "mixture" and len(settings) > 1:  # one setting: nothing to choose
            step = decision_step or length
            reached = min((sum(step in r["history"] for r in runs[v][s.name])
                           for v in variants for s in settings), default=0)
            lines += [f"### The decision rule on {dataset} (at {step:,} steps)", ""]
            if reached < len(seeds):
                lines += [f"**Interim: some settings have {reached} of the {len(seeds)} "
                          "declared seeds at this step, so this is not the rule's "
                          "choice yet.**", ""]
            lines += ["Most modes covered (mean over seeds), ties broken by the lower KL:", "",
                      "| variant | best setting | seeds | modes | % high quality | KL |",
                      "|---|---|---|---|---|---|"]
            for v in variants:
                best = choose(runs[v], step)
                swept = {f for s in settings for f, _ in s.items}
                if best is not None and swept <= set(ignored.get(v, ())):
                    best_label = "(any: it ignores " + ", ".join(sorted(swept)) + ")"
                else:
                    best_label = best
                if best is None:
                    lines.append(f"| {labels.get(v, v)} | (no run reached {step:,}) "
                                 "| | | | |")
                    continue
                m, e, n = cell(runs[v][best], step, "modes_covered")
                hq = cell(runs[v][best], step, "high_quality")
                kl = cell(runs[v][best], step, "kl_to_uniform")
                lines.append(f"| {labels.get(v, v)} | {best_label} | {n} | {rr.fmt(m, e)} | "
                             f"{rr.fmt(hq[0], hq[1], 100)} | {rr.fmt(kl[0], kl[1])} |")
            lines.append("")
        lines += [f"### Health of every {dataset} run", "",
                  "(*scale* is the data's RMS radius, so ‖∇D0‖·scale is the logit's change "
                  "across the data)", ""]
        for s in settings:
            by_variant = {v: runs[v][s.name] for v in variants
                          if runs[v].get(s.name) and
                          s is _first_of_key(s, settings, ignored.get(v, ()))}
            if by_variant:
                lines += [f"**{s.name}**", "", rr.health_table(by_variant, labels), ""]
    return rr.finish_report(out, lines, done_runs, total_runs, total_seconds, wall_seconds)


def _first_of_key(setting, settings, ignored):
    """The first setting that maps to the same runs as ``setting`` for a variant that
    ignores ``ignored`` (its health is listed once, there)."""
    key = sweep.run_key(setting, ignored).name
    return next(s for s in settings if sweep.run_key(s, ignored).name == key)
