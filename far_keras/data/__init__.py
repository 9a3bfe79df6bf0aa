"""Training data: 2-D sources (``synthetic.py``) and image sets (``images.py``).

The dataset names live here, free of TensorFlow, so that flag checking can name the
choices without loading TF; each loader module checks at import that it serves
exactly these names.
"""

TWO_D_DATASETS = ("ring8", "grid25", "swissroll", "gaussian")
IMAGE_DATASETS = ("cifar10", "cifar100", "imagenet64", "celeb_a", "folder", "npz", "digits")
