"""Losses, penalties and selection rules: pure functions of tensors.

The regulariser and penalty-target names live here, free of TensorFlow, so that flag
checking can name the choices without loading TF; ``tests/test_families.py`` checks
that ``penalties.REGULARIZER_FUNCTIONS`` implements exactly these.
"""

REGULARIZERS = ("none", "real", "interpolation")
PENALTY_TARGETS = ("logit", "probability")
