"""far_keras: FAR-GAN and SDKL generative models in Keras 3 / TensorFlow.

Importing the package has no side effects (no flags are read, no devices are
configured); entry points such as ``train.py`` do that.
"""

__version__ = "0.1.0"
