"""Reproduces the FAR paper's synthetic figures (1, 2 and 9) with every variant.

  python reproduce.py --figure=all --seeds=5 --jobs=2
  python reproduce.py --figure=2 --seeds=5 --jobs=2          # just the ring (Fig. 2)
  python reproduce.py --figure=all --report_only             # rebuild the reports

Each (dataset, variant, seed) is one ``train.py`` run at the figure's config (its
settings and their sources are in configs/*.flags) in <runs>/<dataset>/<variant>/
seed<k>. A finished run (metrics.json's final step = its length) is never redone; a
killed run resumes from its last checkpoint, so rerunning the same command after an
interruption reruns only what is missing. Then reports/fig<k>/report.md gets panels
laid out like the paper's (real blue, generated red, one row per variant, one column
per iteration), tables of mean ± s.e. over seeds at those iterations, curves over
training, and every run's discriminator health.

Extra flags after ``--`` go to every run (e.g. ``-- --train_steps=2000`` for a smoke
test; the iterations shown are then those that exist).

Sweeps (a grid of flag values x variants x seeds, same runner, same --jobs)::

  python reproduce.py --figure=2 --seeds=3 --train_steps=200000 \
      --sweep="penalty_target=logit;reg_weight=0.1,0.3,0.625,1,3,10" \
      --sweep="penalty_target=probability;reg_weight=1,10,100" --name=screen
  # the ablation at two of those settings: the screen's FAR and 0GP-sample runs are
  # reused, far_gpreal's run beside them, reported in reports/ablation/
  python reproduce.py --figure=2 --seeds=3 --train_steps=200000 --name=screen \
      --sweep="penalty_target=probability;reg_weight=10" --report_name=ablation \
      --variants=far,0gp_sample,far_gpreal

Each setting's runs go to <runs>/<name>/<dataset>/<setting>/<variant>/seed<k> (one
directory per setting, named by its flags; see far_keras/sweep.py) and the report to
reports/<name>/report.md: each metric against the swept value, one line per variant
with standard-error bars, the tables, the decision rule's choice and every run's
health. ``--declaration=FILE`` puts the study's declared design at the report's top.
"""

import concurrent.futures
import json
import os
import subprocess
import sys
import time

from absl import app, flags

HERE = os.path.dirname(os.path.abspath(__file__))

# Each variant is a set of train.py flags on top of the figure's config (FAR's own).
VARIANTS = {
    "far": [],
    "0gp_sample": ["--regularizer=real", "--num_far=0"],
    "0gp_interpolation": ["--regularizer=interpolation", "--num_far=0"],
    "no_penalty": ["--regularizer=none", "--num_far=0"],
    # The mechanism ablation (not run unless asked for with --variants): FAR with the
    # penalty on the N0 true real rows only, not on D_FAR.
    "far_gpreal": ["--nopenalize_far"],
}
DEFAULT_VARIANTS = ["far", "0gp_sample", "0gp_interpolation", "no_penalty"]
LABELS = {"far": "FAR (0GP-sample + FAR)", "0gp_sample": "0GP-sample",
          "0gp_interpolation": "0GP-interpolation", "no_penalty": "no penalty",
          "far_gpreal": "FAR, penalty on D_r only"}
# The flags a variant does not use: a sweep keys its runs without them (one unpenalised
# run per seed whatever λ), and its report draws the variant flat across them.
IGNORED = {"no_penalty": ("reg_weight", "penalty_target", "penalize_far"),
           "0gp_sample": ("penalize_far",), "0gp_interpolation": ("penalize_far",)}
# The paper's iterations per figure and dataset (Fig. 1: 100k/200k; Fig. 2: 0, 100k,
# 335k, 500k). Fig. 9 gives none: the grid runs as long as the ring (500k), the Swiss
# roll 200k (our choice, for compute: it is the paper's supplementary figure).
FIGURES = {  # in the order they run: the ring (the paper's main figure) first
    "2": {"title": "Figure 2: mixture of 8 Gaussians",
          "datasets": {"ring8": ("configs/ring8.flags", [0, 100000, 335000, 500000])}},
    "1": {"title": "Figure 1: finite samples of a 2-D Gaussian",
          "datasets": {"gaussian": ("configs/gaussian.flags", [100000, 200000])}},
    "9": {"title": "Figure 9: mixture of 25 Gaussians and Swiss roll",
          "datasets": {"grid25": ("configs/grid25.flags", [0, 100000, 200000, 500000]),
                       "swissroll": ("configs/swissroll.flags", [0, 50000, 100000, 200000])}},
}
# Iterations of the tables (the and the paper's figure iterations).
TABLE_ITERATIONS = {"ring8": [100000, 200000, 335000, 500000],
                    "grid25": [100000, 200000, 500000],
                    "swissroll": [50000, 100000, 200000],
                    "gaussian": [100000, 200000]}

flags.DEFINE_list("figure", ["all"], "Figures to reproduce: 1, 2, 9 or all.")
flags.DEFINE_integer("seeds", 5, "Seeds per variant (0 .. seeds-1).", lower_bound=1)
flags.DEFINE_integer("first_seeds", 3, "Every dataset's first this many seeds run first, "
                     "then the ring's and the grid's other seeds (the tables of the paper's "
                     "main claims), then the rest: an interrupted reproduction has complete "
                     "small-n tables everywhere.", lower_bound=1)
flags.DEFINE_list("variants", DEFAULT_VARIANTS, f"Variants: {', '.join(VARIANTS)} "
                  "(far_gpreal: FAR with the penalty on the true real rows only).")
flags.DEFINE_multi_string("sweep", [], "A grid of train.py flag values: 'flag=v1,v2;flag2=v3' "
                          "(the product of its axes); repeat for a union of grids. Each "
                          "setting x variant x seed is one run.")
flags.DEFINE_string("name", "sweep", "A sweep's name: its runs go to <runs>/<name>/, its "
                    "report to <reports>/<name>/.")
flags.DEFINE_string("report_name", "", "A sweep's report (and its archive of finished runs) "
                    "goes to <reports>/<report_name>/ (default: --name). A second study "
                    "over runs of the same --name, e.g. an ablation beside the screen's "
                    "runs of the same settings, reuses those runs and reports apart.")
flags.DEFINE_string("declaration", "", "A Markdown file with the study's declared design "
                    "(grid, seeds, lengths, decision rule), put at the top of the report.")
flags.DEFINE_integer("decision_step", 0, "The iteration at which a sweep's decision rule "
                     "picks each variant's setting (0 = the runs' length).", lower_bound=0)
flags.DEFINE_integer("train_steps", 0, "Every run's length (0 = the figure config's).",
                     lower_bound=0)
flags.DEFINE_integer("jobs", 2, "Runs in parallel (each single-threaded when jobs >= cores).",
                     lower_bound=1)
flags.DEFINE_string("runs", "", "Where the runs go (default runs/reproduce, or runs/sweep "
                    "for a sweep).")
flags.DEFINE_string("reports", "reports", "Where the reports go (reports/fig<k>/).")
flags.DEFINE_list("iterations", [], "Iterations shown in the panels and tables instead of "
                  "the paper's (e.g. for a short smoke run).")
flags.DEFINE_bool("report_only", False, "Only rebuild the reports from the runs there are.")
flags.DEFINE_bool("dry_run", False, "Print every run the command would make (its directory and "
                  "whether it is finished) and stop.")
flags.DEFINE_integer("verbose", 1, "2 shows TensorFlow's start-up lines (oneDNN, GPU probing; "
                     "hidden otherwise).", lower_bound=0, upper_bound=2)
FLAGS = flags.FLAGS


def ignored(variant):
    """The flags a variant's sweep runs are keyed without: those it does not use and
    those it sets itself (a swept value of those would not reach its runs)."""
    own = {a[2:].split("=", 1)[0] for a in VARIANTS[variant]}
    own |= {name[4:] for name in own if name.startswith("no")}  # --nopenalize_far
    return tuple(IGNORED.get(variant, ())) + tuple(sorted(own))


def runs_root():
    return FLAGS.runs or ("runs/sweep" if FLAGS.sweep else "runs/reproduce")


def run_dir(dataset, variant, seed, setting=None):
    """A run's directory; a sweep's runs sit in their setting's own directory."""
    if setting is None:
        return os.path.join(runs_root(), dataset, variant, f"seed{seed}")
    return os.path.join(runs_root(), FLAGS.name, dataset, setting.name, variant, f"seed{seed}")


def read_metrics(model_dir):
    try:
        with open(os.path.join(model_dir, "metrics.json")) as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError):
        return None


# Flags that make a run another experiment: a finished run recorded with other values
# is not this job's (train.py then refuses the directory, naming the flags).
IDENTITY_FLAGS = ("regularizer", "reg_weight", "penalty_target", "penalize_far", "num_far",
                  "num_candidates", "dataset")


def job_args(job):
    """The train.py flags that define ``job``'s experiment (config, setting, variant)."""
    dataset, variant, seed, config, setting = job
    return [f"--flagfile={os.path.join(HERE, config)}",
            *(setting.flags if setting is not None else []), *VARIANTS[variant]]


def is_done(model_dir, extra, job=None):
    """Finished: metrics.json has a final evaluation at the run's own length, made
    with the flags that define ``job``'s experiment (a run of the same directory made
    under an older config, e.g. another penalty, is not reused)."""
    m = read_metrics(model_dir)
    if not m or not m.get("final"):
        return False
    if job is not None:
        from far_keras import config as config_lib
        want = config_lib.flags_of_args(job_args(job) + list(extra))
        had = m.get("flags", {})
        unused = config_lib.unused_flags(want)   # e.g. λ for the unpenalised GAN
        if any(k in want and k in had and had[k] != want[k]
               for k in IDENTITY_FLAGS if k not in unused):
            return False
    return m["final"]["step"] == m["flags"]["train_steps"] and run_flags_match(m, extra)


def run_flags_match(metrics, extra):
    """The finished run had the --train_steps asked for now (else it is extended)."""
    for arg in extra:
        if arg.startswith("--train_steps="):
            return metrics["flags"]["train_steps"] == int(arg.split("=", 1)[1])
    return True


def run_length(config, extra):
    """The --train_steps a run of ``config`` gets (the last one given wins)."""
    steps = [int(a.split("=", 1)[1]) for a in extra if a.startswith("--train_steps=")]
    if steps:
        return steps[-1]
    from far_keras import config as config_lib
    return config_lib.read_flagfile(os.path.join(HERE, config)).get("train_steps", 100000)


def job_dir(job):
    dataset, variant, seed, _, setting = job
    return run_dir(dataset, variant, seed, setting)


def train(job, extra, threads):
    dataset, variant, seed, config, setting = job
    model_dir = job_dir(job)
    os.makedirs(model_dir, exist_ok=True)
    # The variant's own flags come last, so a sweep never turns a baseline into another
    # variant (absl keeps the last value); ignored() keys the run without them.
    cmd = [sys.executable, os.path.join(HERE, "train.py"), *job_args(job),
           f"--seed={seed}",
           f"--model_dir={model_dir}", f"--export_dir={os.path.join(model_dir, 'export')}",
           "--verbose=0", *extra]
    env = dict(os.environ)
    if threads:
        # Two single-threaded runs beat two runs fighting over two cores (and one
        # run's 64-wide matmuls do not scale past one core anyway).
        env.update(TF_NUM_INTRAOP_THREADS=str(threads), TF_NUM_INTEROP_THREADS=str(threads))
    start = time.time()
    with open(os.path.join(model_dir, "train.log"), "a") as log:
        log.write(f"\n$ {' '.join(cmd)}\n")
        log.flush()
        code = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    seconds = time.time() - start
    with open(os.path.join(model_dir, "wall_time.json"), "a") as f:
        f.write(json.dumps({"seconds": seconds, "exit": code, "ended": time.time()}) + "\n")
    return job, code, seconds


PRIORITY = ("ring8", "grid25")  # their later seeds run before the others'


def plan(figures, seeds, variants, first, settings=None):
    """Jobs (dataset, variant, seed, config, setting) in the order they run (see
    --first_seeds). With sweep ``settings``, a dataset's seeds run in order, each over
    the whole grid (an interrupted sweep has every setting at the same seeds), and a
    variant's runs that differ only in flags it ignores are one run."""
    entries = [(dataset, config) for fig in figures
               for dataset, (config, _) in FIGURES[fig]["datasets"].items()]
    if settings is not None:
        from far_keras import sweep
        jobs, seen = [], set()
        for dataset, config in entries:
            for seed in seeds:
                for setting in settings:
                    for variant in variants:
                        key = sweep.run_key(setting, ignored(variant))
                        if (dataset, variant, seed, key.name) not in seen:
                            seen.add((dataset, variant, seed, key.name))
                            jobs.append((dataset, variant, seed, config, key))
        return jobs
    later = sorted(entries, key=lambda e: e[0] not in PRIORITY)
    jobs = []
    for group, order in ((seeds[:first], entries), (seeds[first:], later)):
        for dataset, config in order:
            for seed in group:
                for variant in variants:
                    jobs.append((dataset, variant, seed, config, None))
    return jobs


def main(argv):
    extra = argv[1:]
    figures = list(FIGURES) if "all" in FLAGS.figure else FLAGS.figure
    bad = [f for f in figures if f not in FIGURES]
    if bad:
        raise app.UsageError(f"--figure: unknown {bad}; choose from 1, 2, 9, all")
    bad = [v for v in FLAGS.variants if v not in VARIANTS]
    if bad or not FLAGS.variants:
        raise app.UsageError(f"--variants: unknown {bad or 'empty list'}; choose from "
                             f"{', '.join(VARIANTS)}")
    try:
        [int(i) for i in FLAGS.iterations]
    except ValueError:
        raise app.UsageError(f"--iterations={','.join(FLAGS.iterations)}: expected integers")
    if FLAGS.train_steps:
        extra = [f"--train_steps={FLAGS.train_steps}", *extra]
    settings = None
    if FLAGS.sweep:
        from far_keras import config as config_lib
        from far_keras import sweep
        try:
            settings = sweep.parse_sweep(FLAGS.sweep)
            for fig in figures:
                for config, _ in FIGURES[fig]["datasets"].values():
                    sweep.check_settings(settings, config_lib.read_flagfile(
                        os.path.join(HERE, config)))
        except sweep.SweepError as e:
            raise app.UsageError(str(e))
        if FLAGS.declaration and not os.path.exists(FLAGS.declaration):
            raise app.UsageError(f"--declaration={FLAGS.declaration}: no such file")
    seeds = list(range(FLAGS.seeds))
    jobs = plan(figures, seeds, FLAGS.variants, FLAGS.first_seeds, settings)
    archive = None
    if settings is not None:
        # Finished runs kept in git (a fresh clone has no run directories): restored
        # into their directories, so they are neither redone nor missing from the report.
        report_dir = os.path.join(FLAGS.reports, FLAGS.report_name or FLAGS.name)
        archive = os.path.join(report_dir, sweep.ARCHIVE)
        # (a second study over --name's runs restores from --name's archive too)
        records = sweep.read_archive(os.path.join(FLAGS.reports, FLAGS.name, sweep.ARCHIVE))
        records.update(sweep.read_archive(archive))
        restored = sum(sweep.restore(job_dir(j), records[k]) for j in jobs
                       for k in [sweep.archive_key(j[0], j[1], j[2], j[4].name)]
                       if k in records and records[k]["metrics"]["flags"]["train_steps"]
                       == run_length(j[3], extra))
        if restored:
            print(f"{restored} finished run(s) restored from {archive}", flush=True)
    from far_keras.config import ConfigError
    try:
        todo = [j for j in jobs if not is_done(job_dir(j), extra, j)]
    except ConfigError as e:  # a flag after -- that train.py would refuse too
        raise app.UsageError(str(e))
    if FLAGS.dry_run:
        for j in jobs:
            print(f"{'todo' if j in todo else 'done'}  {job_dir(j)}")
        print(f"{len(jobs)} runs, {len(todo)} to run")
        return 0
    t0 = time.time()
    failed = []
    if not FLAGS.report_only and todo:
        print(f"{len(jobs) - len(todo)} of {len(jobs)} runs already finished; "
              f"running {len(todo)} with --jobs={FLAGS.jobs}", flush=True)
        threads = 1 if FLAGS.jobs >= (os.cpu_count() or 1) else 0
        with concurrent.futures.ThreadPoolExecutor(FLAGS.jobs) as pool:
            futures = [pool.submit(train, j, extra, threads) for j in todo]
            for i, fut in enumerate(concurrent.futures.as_completed(futures), 1):
                (dataset, variant, seed, _, setting), code, seconds = fut.result()
                status = "ok" if code == 0 else f"FAILED (exit {code}, see train.log)"
                where = f" {setting.name}" if setting is not None else ""
                print(f"[{i}/{len(todo)}] {dataset}{where} {variant} seed {seed}: {status} "
                      f"in {seconds:.0f} s", flush=True)
                if code:
                    failed.append(job_dir((dataset, variant, seed, None, setting)))
        if failed:
            print(f"{len(failed)} run(s) failed (see their train.log): {', '.join(failed)}",
                  file=sys.stderr)
    from far_keras import quiet_tf
    quiet_tf.import_tensorflow(FLAGS.verbose)  # the reports load TF: without its GPU noise
    from far_keras import reproduction_report  # matplotlib etc. only when reporting
    if settings is not None:
        from far_keras import sweep_report
        os.makedirs(os.path.dirname(archive), exist_ok=True)
        done = {sweep.archive_key(j[0], j[1], j[2], j[4].name): sweep.record_of(job_dir(j))
                for j in jobs}
        sweep.write_archive(archive, {k: r for k, r in done.items() if r is not None})
        datasets = {d: c for fig in figures for d, (c, _) in FIGURES[fig]["datasets"].items()}
        its = [int(i) for i in FLAGS.iterations]
        path = sweep_report.write_report(
            FLAGS.report_name or FLAGS.name, datasets, settings, seeds, FLAGS.variants,
            {v: ignored(v) for v in FLAGS.variants},
            lambda d, v, s, st: run_dir(d, v, s, st), report_dir,
            LABELS, iterations=its, decision_step=FLAGS.decision_step,
            declaration=FLAGS.declaration, wall_seconds=time.time() - t0)
        print(f"Sweep {FLAGS.report_name or FLAGS.name}: {path}")
        return 1 if failed else 0
    for fig in figures:
        spec, tables = FIGURES[fig], TABLE_ITERATIONS
        if FLAGS.iterations:
            its = [int(i) for i in FLAGS.iterations]
            spec = dict(spec, datasets={d: (c, its) for d, (c, _) in spec["datasets"].items()})
            tables = {d: its for d in tables}
        path = reproduction_report.write_report(
            fig, spec, seeds, FLAGS.variants, run_dir, FLAGS.reports, tables, LABELS,
            wall_seconds=time.time() - t0)
        print(f"Figure {fig}: {path}")
    return 1 if failed else 0  # (the reports cover what did finish)


if __name__ == "__main__":
    app.run(main)
