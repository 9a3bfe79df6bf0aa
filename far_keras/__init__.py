"""far_keras: FAR-GAN and SDKL generative models in Keras 3 / TensorFlow.

Importing the package has no side effects (no flags are read, no devices are
configured) and does not load TensorFlow: entry points such as ``train.py`` import
``far_keras.config`` before TF. The public names below are loaded on first use
(PEP 562), each from its module. FAR-GAN with your own networks is in ``FARGAN``'s
docstring and in docs/library.md; an SDKL-paper model with the paper's networks,
here on 16×16 grey images in [-1, 1]:

>>> import keras, numpy as np
>>> from far_keras import build_sdkl_model
>>> model = build_sdkl_model("sdkl", resolution=16, channels=1, latent_dim=4,
...                          base_width=2, fc_units=8, batch_size=8, d_steps=2)
>>> model.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3))
>>> model.real_batch_size  # d_steps × B real images per training step
16
>>> x = np.random.default_rng(0).uniform(-1, 1, (64, 16, 16, 1)).astype("float32")
>>> history = model.fit(x, batch_size=16, verbose=0)
>>> model.current_step(), model.sample(np.zeros((3, 4), "float32")).shape
(4, TensorShape([3, 16, 16, 1]))

Every model takes exactly ``real_batch_size`` rows per training step: any other
count is an error naming both numbers, never trained on.

- Models (``keras.Model`` subclasses; ``compile(d_optimizer, g_optimizer)``, then
  ``fit``): ``FARGAN`` and the SDKL paper's five, ``GANModel``, ``VAEModel``,
  ``VAEGANModel``, ``SDKLModel``, ``SDKLNoSampleModel`` (``build_sdkl_model(name,
  ...)`` builds one with the paper's networks).
- Networks: ``mlp_generator``, ``mlp_discriminator`` (the FAR paper's 2-D MLPs),
  ``sdkl_encoder``, ``sdkl_decoder``, ``sdkl_discriminator``.
- FAR selection (eq. 11): ``far_select``, ``far_real_batch``.
- Penalties: ``squared_gradient_norm`` (‖∇D0‖² or ‖∇σ(D0)‖² per row),
  ``real_side_regularizer`` (0GP-sample, eq. 12), ``interpolation_regularizer``
  and ``interpolation_gradient_penalty`` (0GP-interpolation); GAN losses
  ``discriminator_loss``, ``generator_loss``.
- Metrics: ``mode_metrics`` (modes covered, high-quality share, KL to uniform),
  ``energy_distance``, ``frechet_to_gaussian``, ``memorization_score`` (2-D);
  ``gaussian_statistics``, ``frechet_distance``, ``fid_from_features``,
  ``inception_score``, ``kernel_inception_distance``,
  ``precision_recall_density_coverage`` (features from ``inception_extractor``).
"""

import importlib

__version__ = "0.1.0"

# Public name -> the module that defines it.
_EXPORTS = {
    # models
    "FARGAN": "far_keras.models.gan",
    "GANModel": "far_keras.models.sdkl",
    "VAEModel": "far_keras.models.sdkl",
    "VAEGANModel": "far_keras.models.sdkl",
    "SDKLModel": "far_keras.models.sdkl",
    "SDKLNoSampleModel": "far_keras.models.sdkl",
    "build_sdkl_model": "far_keras.models.sdkl",
    # networks
    "mlp_generator": "far_keras.nets.mlp",
    "mlp_discriminator": "far_keras.nets.mlp",
    "sdkl_encoder": "far_keras.nets.sdkl",
    "sdkl_decoder": "far_keras.nets.sdkl",
    "sdkl_discriminator": "far_keras.nets.sdkl",
    # FAR selection, penalties, losses
    "far_select": "far_keras.objectives.far",
    "far_real_batch": "far_keras.objectives.far",
    "squared_gradient_norm": "far_keras.objectives.penalties",
    "real_side_regularizer": "far_keras.objectives.penalties",
    "interpolation_regularizer": "far_keras.objectives.penalties",
    "interpolation_gradient_penalty": "far_keras.objectives.penalties",
    "discriminator_loss": "far_keras.objectives.gan_losses",
    "generator_loss": "far_keras.objectives.gan_losses",
    # metrics
    "mode_metrics": "far_keras.metrics.mode_coverage",
    "energy_distance": "far_keras.metrics.sample_metrics",
    "frechet_to_gaussian": "far_keras.metrics.sample_metrics",
    "memorization_score": "far_keras.metrics.sample_metrics",
    "gaussian_statistics": "far_keras.metrics.frechet",
    "frechet_distance": "far_keras.metrics.frechet",
    "fid_from_features": "far_keras.metrics.image_metrics",
    "inception_score": "far_keras.metrics.image_metrics",
    "kernel_inception_distance": "far_keras.metrics.kid",
    "precision_recall_density_coverage": "far_keras.metrics.prdc",
    "inception_extractor": "far_keras.metrics.inception",
}

__all__ = list(_EXPORTS)


def __getattr__(name):
    """Loads a public name from its module on first use (PEP 562)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
