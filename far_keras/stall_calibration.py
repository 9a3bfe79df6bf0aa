"""Calibrates the stall check (``discriminator_health.looks_stalled``) on finished runs.

  python -m far_keras.stall_calibration --runs=runs/sweep/screen --step=200000 \
      --out=reports/penalty_study/stall

The stall check says a live D starves the generator when D's gradient at the fakes
is under ``ratio`` × its gradient at the reals for ``patience`` evaluations in a row.
Whether that is the right threshold is an empirical question: this compares the check,
over a grid of (ratio, patience), with what the samples did.

*Stuck* (the reference the check is scored against), on the mixtures: through the
``window`` steps up to ``step`` every evaluation covered the same number of modes, fewer
than all: the samples stopped improving short of the target (the ring's 3-mode
triangle). A generator that hops between modes is moving, not stuck, and one that
covers every mode is not stuck however still it is. The contact sheet
(``stall_sheet.png``) shows every run's samples at ``step`` with both labels, so the
reference itself can be checked against the pictures.

Reads metrics.json (evaluations every ``--eval_every`` steps with ``health_grad_fake``
and ``health_grad_real``) and samples/step_<step>.npz; TF-free.
"""

import argparse
import json
import os

import numpy as np

RATIOS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3)
PATIENCES = (1, 3, 5)
NUM_MODES = {"ring8": 8, "grid25": 25}


def find_runs(root):
    """Every run directory under ``root`` whose metrics.json is a mixture run."""
    out = []
    for d, _, files in os.walk(root):
        if "metrics.json" not in files:
            continue
        try:
            with open(os.path.join(d, "metrics.json")) as f:
                m = json.load(f)
        except (OSError, ValueError):
            continue
        if m.get("flags", {}).get("dataset") in NUM_MODES:
            out.append({"dir": d, "dataset": m["flags"]["dataset"],
                        "history": {h["step"]: h for h in m.get("history", [])}})
    return sorted(out, key=lambda r: r["dir"])


def stuck(run, step, window):
    """The reference: every evaluation in [step − window, step] covered the same number
    of modes, fewer than all; None when the run has no evaluation at ``step`` or at
    ``step - window``."""
    h, before = run["history"].get(step), run["history"].get(step - window)
    if h is None or before is None or "modes_covered" not in h:
        return None
    counts = {e["modes_covered"] for s, e in run["history"].items()
              if step - window <= s <= step and "modes_covered" in e}
    return counts == {h["modes_covered"]} and h["modes_covered"] < NUM_MODES[run["dataset"]]


def ratio_trace(run, step):
    """[(eval step, ‖∇D0‖ at the fakes / at the reals)] up to ``step`` (after step 0)."""
    out = []
    for s in sorted(run["history"]):
        h = run["history"][s]
        if 0 < s <= step and isinstance(h.get("health_grad_fake"), (int, float)) \
                and h.get("health_grad_real"):
            out.append((s, h["health_grad_fake"] / h["health_grad_real"]))
    return out


def flagged(run, step, ratio, patience):
    """The check's verdict at ``step``: the last ``patience`` evaluations up to it all
    had ‖∇D0‖ at the fakes < ``ratio`` × at the reals."""
    return flag_threshold(run, step, patience) < ratio


def flag_threshold(run, step, patience):
    """The smallest ratio that flags ``run`` at ``step``: the check flags it for every
    ratio above this (the largest of its last ``patience`` ratios); inf when it has
    fewer evaluations."""
    trace = ratio_trace(run, step)
    if len(trace) < patience or trace[-1][0] != step:
        return float("inf")
    return max(r for _, r in trace[-patience:])


def score(runs, step, window, ratio, patience):
    """(hits, misses, false alarms, correct passes, scored runs) against ``stuck``."""
    hits = misses = false_alarms = passes = 0
    for r in runs:
        truth = stuck(r, step, window)
        if truth is None:
            continue
        f = flagged(r, step, ratio, patience)
        hits += truth and f
        misses += truth and not f
        false_alarms += f and not truth
        passes += not truth and not f
    return hits, misses, false_alarms, passes, hits + misses + false_alarms + passes


def best_rule(runs, step, window, ratios=RATIOS, patiences=PATIENCES):
    """The (ratio, patience) with the most hits minus false alarms; ties: the smaller
    ratio, then the longer patience (the more conservative warning)."""
    scored = [(score(runs, step, window, q, p), q, p) for q in ratios for p in patiences]
    return max(scored, key=lambda s: (s[0][0] - s[0][2], -s[1], s[2]))


def best_interval(runs, step, window, patience=3):
    """Every ratio in (lo, hi] scores the same, the most hits minus false alarms.

    The grid of :func:`best_rule` only samples the ratio; this finds the whole range
    that is best, from each run's :func:`flag_threshold` (the score only changes at
    those). Returns (lo, hi, hits, false alarms); the range's geometric middle is the
    threshold farthest, by ratio, from both the stuck runs and the moving ones. When
    the best score is reached in several separate ranges the lowest is returned (the
    more conservative warning).
    """
    scored = [(flag_threshold(r, step, patience), stuck(r, step, window)) for r in runs]
    scored = [(t, s) for t, s in scored if s is not None]
    cuts = sorted({t for t, _ in scored if np.isfinite(t)})
    edges = [0.0] + cuts + [float("inf")]
    best = None
    for lo, hi in zip(edges[:-1], edges[1:]):
        hits = sum(s and t <= lo for t, s in scored)         # flagged for ratio in (lo, hi]
        alarms = sum((not s) and t <= lo for t, s in scored)
        if best is None or hits - alarms > best[2] - best[3]:
            best = (lo, hi, hits, alarms)
    return best


def short_name(run_dir):
    """<setting values> <variant> s<seed> of a sweep run's directory
    (…/penalty_target-logit__reg_weight-0.3/far/seed0 → 'logit 0.3 far s0')."""
    parts = run_dir.rstrip(os.sep).split(os.sep)[-3:]
    values = " ".join(kv.split("-", 1)[-1] for kv in parts[0].split("__"))
    return f"{values} {parts[1]} s{parts[2].replace('seed', '')}"


def sheet(path, runs, step, window, rules):
    """Every run's samples at ``step``: real blue, generated red, with the reference
    and each rule's verdict."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    shown = [r for r in runs if os.path.exists(os.path.join(r["dir"], "samples",
                                                              f"step_{step}.npz"))]
    if not shown:
        return False
    cols = 7
    rows = -(-len(shown) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.3 * cols, 2.8 * rows), dpi=70,
                             squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, r in zip(axes.flat, shown):
        with np.load(os.path.join(r["dir"], "samples", f"step_{step}.npz")) as d:
            real, fake = d["real"], d["fake"]
        ax.scatter(real[:, 0], real[:, 1], s=0.5, c="tab:blue", lw=0)
        ax.scatter(fake[:, 0], fake[:, 1], s=0.5, c="tab:red", lw=0)
        lim = 1.3 * np.abs(real).max()
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        truth = stuck(r, step, window)
        verdicts = " ".join(("F" if flagged(r, step, q, p) else "·") for q, p in rules)
        ratio = ratio_trace(r, step)[-1][1] if ratio_trace(r, step) else float("nan")
        ax.set_title(f"{short_name(r['dir'])}\n{r['history'][step]['modes_covered']} modes, "
                     f"{'STUCK' if truth else 'moving' if truth is not None else '?'}\n"
                     f"ratio {ratio:.2g}; {verdicts}", fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", required=True, help="A folder searched for mixture runs.")
    p.add_argument("--step", type=int, default=200000, help="The evaluation judged.")
    p.add_argument("--window", type=int, default=50000,
                   help="'Stuck' means the same mode count, short of all, over this many "
                   "steps up to --step.")
    p.add_argument("--out", default="", help="Writes stall.md and stall_sheet.png here.")
    p.add_argument("--note", default="", help="A line put under the title (e.g. that the "
                   "runs are an interim subset).")
    args = p.parse_args(argv)
    if not os.path.isdir(args.runs):
        p.error(f"--runs={args.runs}: no such folder")
    runs = find_runs(args.runs)
    scored = [r for r in runs if stuck(r, args.step, args.window) is not None]
    if not scored:
        p.error(f"--runs={args.runs}: no ring8/grid25 run has evaluations at "
                f"{args.step} and {args.step - args.window}")
    n_stuck = sum(stuck(r, args.step, args.window) for r in scored)
    lines = [f"# The stall check against {len(scored)} runs at step {args.step:,}", "",
             *([f"**{args.note}**", ""] if args.note else []),
             f"Reference: *stuck* = the same number of modes, fewer than all, at every "
             f"evaluation of the last {args.window:,} steps ({n_stuck} of {len(scored)} "
             "runs). The check flags a "
             "run when ‖∇D0‖ at the fakes < ratio × at the reals for `patience` "
             "evaluations in a row up to the step.", "",
             "| ratio | patience | hits | misses | false alarms | correct passes |",
             "|---|---|---|---|---|---|"]
    for q in RATIOS:
        for pat in PATIENCES:
            h, m, fa, ok, _ = score(scored, args.step, args.window, q, pat)
            lines.append(f"| {q:g} | {pat} | {h} | {m} | {fa} | {ok} |")
    (h, m, fa, ok, _), q, pat = best_rule(scored, args.step, args.window)
    lines += ["", f"Best (most hits − false alarms; ties: smaller ratio, longer patience): "
              f"ratio {q:g}, patience {pat}: {h} hits, {m} misses, {fa} false alarms.", ""]
    lo, hi, gh, gfa = best_interval(scored, args.step, args.window, 3)
    middle = (lo * hi) ** 0.5 if lo > 0 and np.isfinite(hi) else float("nan")
    lines += [f"Over every ratio, not just the grid (patience 3): any ratio in "
              f"({lo:.3g}, {hi:.3g}] gives the best score, {gh} hits and {gfa} false "
              f"alarms; its geometric middle is {middle:.3g}. Each run's smallest "
              "flagging ratio (the largest of its last 3 ratios):", "",
              "| run | modes | stuck | smallest flagging ratio |", "|---|---|---|---|"]
    for r in sorted(scored, key=lambda r: flag_threshold(r, args.step, 3))[:12]:
        lines.append(f"| {short_name(r['dir'])} | {r['history'][args.step]['modes_covered']}"
                     f" | {'yes' if stuck(r, args.step, args.window) else 'no'} | "
                     f"{flag_threshold(r, args.step, 3):.3g} |")
    lines += ["", "(the 12 lowest; stuck runs above the range are the check's misses: their "
              "samples stopped improving while D's gradient at them stayed comparable to "
              "that at the reals, which is not what this check looks for)", ""]
    # The threshold to adopt: the best range's middle, to 2 decimals (what --stall_ratio
    # defaults to, 0.05, came from this on the penalty study's screen).
    adopted = round(middle, 2) if np.isfinite(middle) and round(middle, 2) > 0 else q
    h, m, fa, ok, _ = score(scored, args.step, args.window, adopted, 3)
    lines += [f"Adopted: ratio {adopted:g} (the middle, to 2 decimals), patience 3: {h} "
              f"hits, {m} misses, {fa} false alarms.", ""]
    rules = [(0.01, 3), (adopted, 3)]
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        if sheet(os.path.join(args.out, "stall_sheet.png"), scored, args.step, args.window,
                 rules):
            lines += ["![every run's samples](stall_sheet.png)", "",
                      f"Each panel: modes, the reference, the last ratio, then the verdicts "
                      f"of ratio 0.01 / patience 3 (the check before calibration) and of "
                      f"the adopted ratio {adopted:g} / patience 3 (F = flagged)."]
        with open(os.path.join(args.out, "stall.md"), "w") as f:
            f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
