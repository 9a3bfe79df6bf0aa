"""Networks: the 2-D MLPs (``mlp.py``), the FAR paper's ResNets (``resnet.py``) and
the SDKL paper's conv nets (``sdkl.py``).

``ARCHITECTURES`` (the ``--architecture`` presets of FAR-GAN) lives here, free of
TensorFlow, for flag checking; ``resnet.py`` checks its presets against it.
"""

ARCHITECTURES = ("mlp", "cifar", "imagenet", "digits")
