"""Tables that compare runs across a study's reports, read from their archives.

  python -m far_keras.study_tables --reports=reports/penalty_study --dataset=ring8 \\
      --iterations=335000,500000 --title="FAR's setting" \\
      --row="FAR=confirm_far:penalty_target-logit__reg_weight-0.625:far" \\
      --row="0GP-sample=confirm_own_0gp_sample:penalty_target-logit__reg_weight-3.0:0gp_sample"

Each ``--row`` is ``label=report:setting:variant``: the runs of ``variant`` at
``setting`` (a sweep's setting directory name) kept in ``<reports>/<report>/runs.jsonl.gz``
(the archive ``reproduce.py --sweep`` writes). A sweep's own report compares the
variants of one sweep; the penalty study also compares each variant at *its own* best
setting, which lives in several sweeps (the confirmation at FAR's setting, one per
baseline), so this reads those archives side by side. Nothing is recomputed: the
numbers are the runs' own evaluations, mean ± s.e. over the seeds that reached each
iteration, with the same stall verdict as the reports (``reproduction_report.stalled_at``).
TF-free.
"""

import argparse
import os

from far_keras import reproduction_report as rr
from far_keras import sweep


class RowError(ValueError):
    """A --row that is malformed or names runs that are not there."""


def parse_row(spec):
    """'label=report:setting:variant' → (label, report, setting, variant)."""
    label, eq, rest = spec.partition("=")
    parts = rest.split(":")
    if not eq or not label.strip() or len(parts) != 3 or not all(p.strip() for p in parts):
        raise RowError(f"--row={spec!r}: expected label=report:setting:variant, e.g. "
                       "'FAR=confirm_far:penalty_target-logit__reg_weight-0.625:far'")
    return (label.strip(), *(p.strip() for p in parts))


def runs_of(reports, report, dataset, setting, variant):
    """The archived runs (as ``reproduction_report`` run dicts), ordered by seed."""
    path = os.path.join(reports, report, sweep.ARCHIVE)
    if not os.path.exists(path):
        raise RowError(f"{path}: no such archive (run the sweep, or check --reports and "
                       "the report name)")
    prefix = f"{dataset}/{setting}/{variant}/seed"
    records = {k: v for k, v in sweep.read_archive(path).items() if k.startswith(prefix)}
    if not records:
        raise RowError(f"{path} holds no run of {dataset}/{setting}/{variant}")
    return [rr.run_of_metrics(records[k]["metrics"], k)
            for k in sorted(records, key=lambda k: int(k[len(prefix):]))]


def table(rows, dataset, iterations, reports):
    """Markdown: one line per row and iteration."""
    cols = rr.METRICS[rr.metric_kind(dataset)]
    header = ["variant", "setting", "iteration", "seeds"] + [c[1] for c in cols] + ["stalled"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for label, report, setting, variant in rows:
        runs = runs_of(reports, report, dataset, setting, variant)
        for step in iterations:
            reached = [r for r in runs if step in r["history"]]
            cells = [label, setting.replace("penalty_target-", "").replace("__reg_weight-", " λ "),
                     f"{step:,}", str(len(reached))]
            for key, _, scale in cols:
                vals = [r["history"][step][key] for r in reached
                        if isinstance(r["history"][step].get(key), (int, float))]
                cells.append(rr.fmt(*rr.mean_se(vals), scale))
            cells.append(str(sum((rr.stalled_at(r) or float("inf")) <= step for r in reached)))
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reports", default="reports/penalty_study",
                   help="The folder holding the sweeps' reports (each with runs.jsonl.gz).")
    p.add_argument("--dataset", default="ring8")
    p.add_argument("--iterations", default="500000",
                   help="Comma-separated iterations, one line each per row.")
    p.add_argument("--row", action="append", default=[],
                   help="label=report:setting:variant (repeat; in the table's order).")
    p.add_argument("--title", default="", help="A heading over the table.")
    args = p.parse_args(argv)
    if not args.row:
        p.error("give at least one --row=label=report:setting:variant")
    try:
        iterations = [int(s) for s in args.iterations.split(",") if s.strip()]
    except ValueError:
        p.error(f"--iterations={args.iterations!r}: expected comma-separated integers")
    try:
        rows = [parse_row(r) for r in args.row]
        text = table(rows, args.dataset, iterations, args.reports)
    except RowError as e:
        p.error(str(e))
    print((f"### {args.title}\n\n" if args.title else "") + text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
