"""The model families: the one seam between a Config and a model.

A *family* is a set of ``--model`` names that share networks, flags and a builder:
``far_gan`` (FAR-GAN and its baselines, picked by ``--regularizer`` / ``--num_far``)
and the SDKL paper's five models. Each :class:`Family` knows

- which model names it answers (``MODELS``: the one home of every spelling),
- what the flags mean for it (``check``, ``architecture``, ``latent_dim``,
  ``run_name``), for ``config.py``;
- how to build an uncompiled model from a Config and at what image size its data
  comes (``build``, ``image_shape``), by delegating to its module
  (``models/gan.py``, ``models/sdkl.py``: each defines ``build(cfg)`` and
  ``image_shape(cfg)``).

The built models share the rest of the interface (``models/base.py``): which network
is evaluated (``evaluated_generator``) and how it is exported (``export``).

This module stays free of TensorFlow (the family's module is imported only when a
model is built), so flag parsing and ``--help`` can name the models without loading
TF. Adding a family: a :class:`Family` subclass registered in ``FAMILIES`` here, and
its module with ``build`` / ``image_shape`` and the model class.
"""

import importlib

FAR_GAN = "far_gan"
# The SDKL paper's comparison (sec. 4.2); ``sdkl_nosample`` is "SDKL without sampling".
SDKL_MODELS = ("gan", "vae", "vaegan", "sdkl", "sdkl_nosample")

# Old spellings that ``--model`` still accepts, with a warning (flags only: the
# library itself takes the names above).
DEPRECATED_MODELS = {"sdkl_no_sampling": "sdkl_nosample"}

# The dataset an architecture preset is for, and its z dimension; FAR-GAN's
# --architecture=auto picks by dataset. (Sources: the FAR paper's Tables 3-8;
# "digits" is our small 16x16 preset for offline tests.)
DEFAULT_ARCHITECTURE = {"cifar10": "cifar", "cifar100": "cifar", "imagenet64": "imagenet",
                        "celeb_a": "imagenet", "folder": "cifar", "npz": "cifar",
                        "digits": "digits"}
DEFAULT_LATENT_DIM = {"mlp": 2, "cifar": 128, "imagenet": 256, "digits": 64}
# SDKL models: the native image side of each dataset (the SDKL paper: CelebA 64x64).
DEFAULT_IMAGE_SIZE = {"cifar10": 32, "cifar100": 32, "imagenet64": 64, "celeb_a": 64,
                      "folder": 64, "npz": 64, "digits": 16}


class Family:
    """What the rest of the project needs to know about one model family.

    ``cfg`` is a ``far_keras.config.Config``. Errors are ``ValueError`` naming the
    flag; ``config.py`` re-raises them as ``ConfigError``.
    """

    name = ""
    models = ()
    module = ""  # far_keras.models.<x>: defines build(cfg) and image_shape(cfg)

    def check(self, cfg):
        """Cross-flag rules of this family (raise ValueError naming the flag)."""

    def architecture(self, cfg):
        """The networks actually used (resolves --architecture=auto)."""
        raise NotImplementedError

    def latent_dim(self, cfg):
        """The dimension of z actually used (resolves --latent_dim=0)."""
        raise NotImplementedError

    def run_name(self, cfg):
        """The default name of the run's directories (runs/, saved_models/)."""
        raise NotImplementedError

    def build(self, cfg):
        """An uncompiled model for ``cfg`` (call inside a strategy's scope)."""
        return importlib.import_module(self.module).build(cfg)

    def image_shape(self, cfg):
        """(side, channels) of the images the networks take (image data only)."""
        return importlib.import_module(self.module).image_shape(cfg)


class FARGANFamily(Family):
    """FAR-GAN, GAN-0GP-sample, GAN-0GP-interpolation and the unpenalised GAN:
    MLPs on 2-D data, the paper's ResNets on images."""

    name = FAR_GAN
    models = (FAR_GAN,)
    module = "far_keras.models.gan"

    def check(self, cfg):
        image, arch = cfg.data.is_image, self.architecture(cfg)
        if image == (arch == "mlp"):
            raise ValueError(
                f"--architecture={cfg.model.architecture}: --dataset={cfg.data.dataset} "
                "needs " + ("a ResNet (cifar, imagenet, digits)" if image else "the mlp"))
        m, n = cfg.model, cfg.data.batch_size
        if m.num_far >= n:
            raise ValueError(f"--num_far={m.num_far}: must be < --batch_size={n} "
                             "(N0 = N - M0 real samples must remain)")
        if m.num_far > m.num_candidates:
            raise ValueError(f"--num_far={m.num_far}: must be <= --num_candidates="
                             f"{m.num_candidates} (M0 of M1)")
        if not m.penalize_far and (m.regularizer != "real" or not m.num_far):
            raise ValueError("--nopenalize_far (the penalty on the true real rows only) "
                             "needs --regularizer=real and --num_far > 0; got "
                             f"--regularizer={m.regularizer} --num_far={m.num_far}")

    def architecture(self, cfg):
        if cfg.model.architecture != "auto":
            return cfg.model.architecture
        return DEFAULT_ARCHITECTURE.get(cfg.data.dataset, "mlp")

    def latent_dim(self, cfg):
        return cfg.model.latent_dim or DEFAULT_LATENT_DIM[self.architecture(cfg)]

    def run_name(self, cfg):
        m = cfg.model
        far = f"far{m.num_far}of{m.num_candidates}" if m.num_far else "nofar"
        if not m.penalize_far:
            far += "_gpreal"  # the ablation: D_FAR's rows unpenalised
        # The penalty is part of a run's identity (the penalty study): runs at two
        # settings never share a directory, nor resume each other.
        penalty = m.regularizer
        if m.regularizer != "none":
            target = {"logit": "logit", "probability": "prob"}[cfg.penalty_target]
            penalty += f"_{target}{m.reg_weight:g}"
        return f"{cfg.data.dataset}_{penalty}_{far}_seed{cfg.run.seed}"


class SDKLFamily(Family):
    """The SDKL paper's GAN, VAE, VAE/GAN, SDKL and SDKL without sampling: encoder,
    decoder and discriminator conv nets on images."""

    name = "sdkl"
    models = SDKL_MODELS
    module = "far_keras.models.sdkl"

    def check(self, cfg):
        if not cfg.data.is_image:
            raise ValueError(f"--model={cfg.model.model}: needs image data, not "
                             f"--dataset={cfg.data.dataset}")
        if cfg.optim.ema_decay:
            raise ValueError(f"--ema_decay={cfg.optim.ema_decay}: generator EMA is "
                             "implemented for --model=far_gan only")
        if self.image_size(cfg) % 16:
            raise ValueError(f"--image_size={self.image_size(cfg)}: SDKL nets need a "
                             "multiple of 16")

    def image_size(self, cfg):
        """The image side (resolves --image_size=0 by dataset)."""
        return cfg.model.image_size or DEFAULT_IMAGE_SIZE.get(cfg.data.dataset, 64)

    def architecture(self, cfg):
        return "sdkl"

    def latent_dim(self, cfg):
        return cfg.model.latent_dim or (128 if self.image_size(cfg) >= 64 else 32)

    def run_name(self, cfg):
        return f"{cfg.data.dataset}_{cfg.model.model}_seed{cfg.run.seed}"


FAMILIES = {family.name: family for family in (FARGANFamily(), SDKLFamily())}
# model name -> its family
FAMILY_OF = {model: family for family in FAMILIES.values() for model in family.models}
MODELS = tuple(FAMILY_OF)


def family_of(model):
    """The :class:`Family` of a ``--model`` name."""
    try:
        return FAMILY_OF[model]
    except KeyError:
        raise ValueError(f"--model={model}: must be one of {', '.join(MODELS)}") from None


def resolve_deprecated_model(name):
    """(name to use, warning or None) for a ``--model`` value."""
    if name in DEPRECATED_MODELS:
        new = DEPRECATED_MODELS[name]
        return new, f"--model={name} is deprecated; use --model={new}"
    return name, None
