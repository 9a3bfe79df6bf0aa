"""Trains FAR-GAN (and its baselines) from flags.

  python train.py                                  # FAR-GAN on ring8, the default
  python train.py --flagfile=configs/grid25.flags  # any experiment
  python train.py --flagfile=configs/ring8.flags --num_far=0   # GAN-0GP-sample baseline

Every flag is a field of far_keras/config.py; `python train.py --helpfull` lists them.
Rerunning the same command resumes from the last checkpoint in --model_dir.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags, logging  # noqa: E402

from far_keras import config as config_lib  # noqa: E402
from far_keras.models.families import DEPRECATED_MODELS, resolve_deprecated_model  # noqa: E402

FLAGS = flags.FLAGS


def define_flags():
    for field, _ in config_lib.all_fields():
        meta, default = field.metadata, field.default
        if meta.get("choices"):
            choices = list(meta["choices"])
            if field.name == "model":  # old spellings still accepted, with a warning
                choices += list(DEPRECATED_MODELS)
            flags.DEFINE_enum(field.name, default, choices, meta["help"])
        elif isinstance(default, bool):
            flags.DEFINE_bool(field.name, default, meta["help"])
        elif isinstance(default, int):
            flags.DEFINE_integer(field.name, default, meta["help"])
        elif isinstance(default, float):
            flags.DEFINE_float(field.name, default, meta["help"])
        else:
            flags.DEFINE_string(field.name, default, meta["help"])


def config_from_flags():
    values = {f.name: FLAGS[f.name].value for f, _ in config_lib.all_fields()}
    values["model"], warning = resolve_deprecated_model(values["model"])
    if warning:
        print(f"WARNING: {warning}", file=sys.stderr)
    return config_lib.from_flat(values)


def main(argv):
    logging.set_verbosity(logging.WARNING)  # TF's INFO lines would bury the progress line
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])} (flags start with --)")
    try:
        cfg = config_from_flags()
    except config_lib.ConfigError as e:
        raise app.UsageError(str(e))
    # Imported here so that --help and flag errors come back without loading TF; TF
    # first, without its start-up lines (oneDNN, CUDA probing; --verbose=2 or
    # FAR_KERAS_TF_LOGS=1 shows them).
    from far_keras import quiet_tf
    quiet_tf.import_tensorflow(cfg.run.verbose)
    from far_keras import experiment
    from far_keras.data.images import DatasetError
    from far_keras.metrics.inception import InceptionWeightsError
    from far_keras.training import callbacks, checkpointing, progress, strategy
    from far_keras.training.health import DiscriminatorCollapsed

    print(f"Run {cfg.run_name}: model_dir={cfg.model_dir} export_dir={cfg.export_dir}")
    try:
        result = experiment.run(cfg)
    except (checkpointing.CheckpointError, callbacks.TrainingDiverged, config_lib.ConfigError,
            DatasetError, InceptionWeightsError, DiscriminatorCollapsed,
            strategy.WorkerLost) as e:
        print(f"ERROR: {e}", file=sys.stderr)
        return 1
    if result.get("chief") is False:
        # A non-chief worker of a multi-worker run: the chief reports the run.
        print(f"Worker done at step {result['step']} (checkpoints: {result['checkpoint']})")
        return 0
    trained = result["step"] - result["resumed_from"]
    if trained and not cfg.run.verbose:  # else the progress line's last said it
        print(f"Trained {trained} steps in {result['seconds']:.1f} s "
              f"({trained / max(result['seconds'], 1e-9):.0f} steps/s, callbacks included)")
    health = result.get("health") or {}
    if health.get("collapsed_at") is not None:
        print(f"WARNING: {health['message']}.", file=sys.stderr)
    # The handful of final metrics a user reads, rounded; metrics.json keeps them all.
    print(progress.final_table(result["metrics"], result["step"], progress.num_modes(cfg)))
    print(f"metrics: {os.path.join(cfg.model_dir, 'metrics.json')}  "
          f"plot: {os.path.join(cfg.model_dir, 'samples.png')}  "
          f"generator: {result.get('export_dir')}")
    print(f"TensorBoard: tensorboard --logdir {cfg.model_dir}")
    return 0


if __name__ == "__main__":
    define_flags()
    try:
        # A bare config name (the product card's `--flagfile=imagenet.flags`) means configs/.
        argv = config_lib.resolve_flagfiles(sys.argv)
    except config_lib.ConfigError as e:
        sys.exit(f"FATAL Flags parsing error: {e}")
    app.run(main, argv=argv)
