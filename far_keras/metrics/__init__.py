"""Metrics of generated samples.

``IMAGE_METRICS`` lives here, free of TensorFlow, so that flag checking can name the
choices without loading TF.
"""

IMAGE_METRICS = ("fid", "is", "kid", "prdc")
