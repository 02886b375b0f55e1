"""tfseg: semantic segmentation of 2D medical images with Keras 3 and TensorFlow.

`import tfseg` does not import TensorFlow, so the `tfseg` command answers `--help` at once.
`tfseg.losses`, `tfseg.metrics`, `tfseg.models` and `tfseg.optim` load on first use, and
they load as soon as Keras does (before `import tfseg` or after it): they register tfseg's
losses, metrics, layers and optimizers, so `import tfseg, keras` then
`keras.saving.load_model("RUN/best.keras")` needs no `custom_objects`. `tfseg.data` and
the Python API of `tfseg.api` (`tfseg.Unet`, …, `tfseg.train`, `tfseg.evaluate`,
`tfseg.predict`, `tfseg.Run`; docs/python-api.md) load on first use too.
"""

import importlib
import importlib.abc
import importlib.util
import sys

__version__ = "0.1.0"

_KERAS_MODULES = ("losses", "metrics", "models", "optim")
_API = (
    "Unet", "UnetPlusPlus", "Linknet", "FPN", "PSPNet", "DeepLabV3", "DeepLabV3Plus", "MAnet", "PAN", "UPerNet",
    "Segformer", "SegNet", "Run", "train", "evaluate", "predict",
)
"""The names of `tfseg.api.__all__` that `tfseg` offers (a test checks that they agree)."""


def register_keras_objects() -> None:
    """Registers tfseg's losses, metrics, layers and optimizers with Keras (imports their modules)."""
    for name in _KERAS_MODULES:
        importlib.import_module(f"tfseg.{name}")


def __getattr__(name: str):
    """`tfseg.losses`, `tfseg.metrics`, `tfseg.models`, `tfseg.optim`, `tfseg.data` and the
    names of `tfseg.api` (`tfseg.Unet`, `tfseg.train`, …): imported on first use."""
    if name in _KERAS_MODULES or name == "data":
        return importlib.import_module(f"tfseg.{name}")
    if name in _API:
        return getattr(importlib.import_module("tfseg.api"), name)
    raise AttributeError(f"module 'tfseg' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The module's names with those loaded on first use, for completion in a notebook."""
    return sorted({*globals(), *_KERAS_MODULES, "data", *_API})


class _RegisterWhenKerasLoads(importlib.abc.MetaPathFinder):
    """Finds `keras` as the other finders do, with a loader that registers tfseg's Keras objects
    right after Keras has loaded: `import tfseg` stays free of TensorFlow until Keras is imported.
    A `find_spec` that only asks whether Keras is installed (TensorFlow does) changes nothing."""

    def __init__(self) -> None:
        self.finding = False

    def find_spec(self, fullname, path, target=None):
        if fullname != "keras" or self.finding:
            return None
        self.finding = True
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            self.finding = False
        if spec is not None and spec.loader is not None:
            load = spec.loader.exec_module

            def exec_module(module):
                load(module)
                if self in sys.meta_path:
                    sys.meta_path.remove(self)
                register_keras_objects()

            spec.loader.exec_module = exec_module
        return spec


if "keras" in sys.modules:
    register_keras_objects()
else:
    sys.meta_path.insert(0, _RegisterWhenKerasLoads())
