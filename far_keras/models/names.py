"""The models' names: the one home of the spellings that flags, compare.py,
benchmarks and tests use. Free of TensorFlow, so flag checking can name them.

``SDKL_MODELS`` are the five models of the SDKL paper's comparison (sec. 4.2);
``sdkl_nosample`` is "SDKL without sampling". ``models/sdkl.py`` registers a class
under each name.
"""

FAR_GAN = "far_gan"
SDKL_MODELS = ("gan", "vae", "vaegan", "sdkl", "sdkl_nosample")
MODELS = (FAR_GAN,) + SDKL_MODELS

# Old spellings that ``--model`` still accepts, with a warning (flags only: the
# library itself takes the names above).
DEPRECATED_MODELS = {"sdkl_no_sampling": "sdkl_nosample"}


def resolve_deprecated_model(name):
    """(name to use, warning or None) for a ``--model`` value."""
    if name in DEPRECATED_MODELS:
        new = DEPRECATED_MODELS[name]
        return new, f"--model={name} is deprecated; use --model={new}"
    return name, None
