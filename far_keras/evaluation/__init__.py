"""Periodic evaluation during a run: the 2-D and image evaluators, their plots, and
metrics.json. The metric functions they call live in ``far_keras.metrics``."""
