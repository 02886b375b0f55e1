"""tfseg: semantic segmentation of 2D medical images with Keras 3 and TensorFlow.

Importing the package registers its losses, metrics and layers with Keras, so saved
`.keras` models load without `custom_objects`.
"""

__version__ = "0.1.0"

from tfseg import losses, metrics, models, optim  # noqa: E402,F401  (registers serializables)
