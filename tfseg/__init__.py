"""tfseg: semantic segmentation of 2D medical images with Keras 3 and TensorFlow.

`import tfseg` does not import TensorFlow (the `tfseg` command answers `--help` at once);
`tfseg.losses`, `tfseg.metrics`, `tfseg.models` and `tfseg.optim` load on first use. Those
modules register tfseg's losses, metrics, layers and optimizers with Keras:
`tfseg.register_keras_objects()` imports them all, so saved `.keras` models load with
`keras.saving.load_model` and no `custom_objects`.
"""

import importlib

__version__ = "0.1.0"

_KERAS_MODULES = ("losses", "metrics", "models", "optim")


def register_keras_objects() -> None:
    """Registers tfseg's losses, metrics, layers and optimizers with Keras (imports their modules)."""
    for name in _KERAS_MODULES:
        importlib.import_module(f"tfseg.{name}")


def __getattr__(name: str):
    """`tfseg.losses`, `tfseg.metrics`, `tfseg.models`, `tfseg.optim`: imported on first use."""
    if name in _KERAS_MODULES:
        return importlib.import_module(f"tfseg.{name}")
    raise AttributeError(f"module 'tfseg' has no attribute {name!r}")
