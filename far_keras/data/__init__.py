"""Training data: 2-D sources (``synthetic.py``) and image sets (``images.py``).

The dataset names live here, free of TensorFlow, so that flag checking can name the
choices without loading TF; ``synthetic.py`` takes its list from here, and
``tests/test_families.py`` checks that every name resolves to a loader.
"""

TWO_D_DATASETS = ("ring8", "grid25", "swissroll", "gaussian")
IMAGE_DATASETS = ("cifar10", "cifar100", "imagenet64", "celeb_a", "folder", "npz", "digits")
