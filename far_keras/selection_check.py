"""Where are the fakes FAR puts on the real side? A check on finished 2-D runs.

  python -m far_keras.selection_check --step=200000 RUN_DIR [RUN_DIR ...]

FAR replaces M0 rows of each real batch by the M0 of M1 generated samples that D scores
lowest (``--num_far``, ``--num_candidates``). On Fig. 1's Gaussian FAR's samples end up
8-12 % too wide (docs/penalty_study.md); one explanation is that the fakes D scores
lowest are the outermost ones, so FAR labels the tails real. This restores a run's
generator and discriminator at ``step``, draws ``--batches`` candidate sets of M1 fakes,
and reports the mean distance from the data's centre of the M0 selected fakes over that
of all the candidates (> 1: FAR selects outer fakes). It measures the selection, not
whether the selection causes the width.
"""

import argparse
import json
import os

import numpy as np


def outer_ratio(selected, candidates, center=(0.0, 0.0)):
    """Mean ‖x − center‖ of the ``selected`` fakes over that of all ``candidates``
    ([..., 2] arrays; every 2-D set here is centred at the origin)."""
    def radius(x):
        return np.linalg.norm(np.asarray(x, np.float64) - np.asarray(center), axis=-1)
    return float(radius(selected).mean() / radius(candidates).mean())


def check_run(run_dir, step, batches=40, seed=0):
    """``outer_ratio`` of the run at ``step``: {run, ratio, m0, m1}."""
    import tensorflow as tf

    from far_keras import builders, config
    from far_keras.objectives import far
    with open(os.path.join(run_dir, "metrics.json")) as f:
        flags = json.load(f)["flags"]
    cfg = config.from_flat(flags)
    ckpt = os.path.join(run_dir, "checkpoints", f"ckpt-{step}")
    if not os.path.exists(ckpt + ".index"):
        raise FileNotFoundError(f"{ckpt}: no checkpoint at --step={step} in {run_dir}")
    model = builders.build_model(cfg)
    tf.train.Checkpoint(generator=model.generator,
                        discriminator=model.discriminator).restore(ckpt).expect_partial()
    m1, m0 = flags["num_candidates"], flags["num_far"]
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((batches * m1, cfg.model.latent_dim)).astype(np.float32)
    x = model.generator(z, training=False)
    d = model.discriminator(x, training=False)
    # The training step's own selection, one candidate set of M1 at a time.
    selected = [far.far_select(x[i * m1:(i + 1) * m1], d[i * m1:(i + 1) * m1], m0)[0]
                for i in range(batches)]
    return {"run": run_dir, "ratio": outer_ratio(np.concatenate(selected), x.numpy()),
            "m0": m0, "m1": m1}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", help="run directories (with metrics.json and checkpoints/)")
    p.add_argument("--step", type=int, required=True, help="the checkpoint's step")
    p.add_argument("--batches", type=int, default=40, help="candidate sets of M1 fakes")
    args = p.parse_args(argv)
    failed = 0
    for run in args.runs:
        try:
            r = check_run(run, args.step, args.batches)
        except (OSError, KeyError, ValueError) as e:  # one bad run does not stop the rest
            print(f"{run}: {e}", flush=True)
            failed += 1
            continue
        print(f"{run}: the {r['m0']} lowest-scored of {r['m1']} fakes are "
              f"{r['ratio']:.2f}x as far from the centre as the average fake", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
