"""Loading a model to predict with: a run's best epoch, a `.keras` file, or an export in the
runtime that runs it (the SavedModel in TensorFlow, `.onnx` in onnxruntime, `.tflite` in LiteRT)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras

from tfseg.config import Config
from tfseg.distribution import inference_layers
from tfseg.errors import TfsegError
from tfseg.export.folder import FORMATS
from tfseg.export.saved_model import is_saved_model, load_saved_model
from tfseg.run import RunDir, read_config

MODEL_FILES = "a run directory, a .keras file, a SavedModel folder, a .onnx file or a .tflite file"
"""What `load_predictor` takes, in words (for messages)."""


def load_run_model(run_dir: str | Path, precision: str = "float32") -> keras.Model:
    """Loads a run's `best.keras` for inference (no custom_objects needed).

    Loaded with `compile=False`: prediction needs neither the optimizer nor the loss; in
    `precision` whatever the training precision (`tfseg.distribution.inference_layers`;
    default float32).
    """
    run = RunDir(run_dir)
    if not run.best.is_file():
        raise TfsegError(f"{run.path}: no best.keras, the run did not finish its first epoch")
    return inference_layers(keras.saving.load_model(run.best, compile=False), precision)


def load_model_file(path: str | Path, precision: str = "float32") -> Any:
    """Loads a model for prediction from a `.keras` file, a SavedModel folder, or the file of an
    export format with a runtime (`tfseg.export.folder.FORMATS`: `.onnx`, `.tflite`).

    A `.onnx` file runs in onnxruntime (`tfseg.export.onnx.OnnxModel`), a `.tflite` file in the
    LiteRT interpreter (`tfseg.export.tflite.TfliteModel`), a SavedModel (e.g. a run's
    `export/`) in TensorFlow (`tfseg.export.saved_model.load_saved_model`): each in float32,
    as it was exported.

    Args:
        path: str or Path. A `.keras` file, a folder holding `saved_model.pb`, a `.onnx` or a `.tflite` file.
        precision: str. Of a `.keras` model (`tfseg.distribution.inference_layers`).
            Defaults to "float32".

    Returns:
        A keras.Model (an `OnnxModel` or `TfliteModel` for those files) that outputs probabilities.
    """
    path = Path(path)
    if path.is_file() and path.suffix == ".keras":
        return inference_layers(keras.saving.load_model(path, compile=False), precision)  # no optimizer or loss
    if is_saved_model(path):
        return load_saved_model(path)
    for spec in FORMATS.values():
        if spec.runtime is not None and path.is_file() and path.suffix == Path(spec.file).suffix:
            return spec.runtime(path)
    raise TfsegError(f"{path}: not a model, expected {MODEL_FILES.removeprefix('a run directory, ')}")


def load_predictor(path: str | Path, precision: str = "float32") -> tuple[Any, Config | None]:
    """A model to predict with and, for a run directory, its config.

    Args:
        path: str or Path. A run directory (best.keras + config.yaml), a `.keras` file,
            a SavedModel folder (e.g. a run's `export/`), a `.onnx` or a `.tflite` file.
        precision: str. See `tfseg.distribution.inference_layers`. Defaults to "float32".
    """
    path = Path(path)
    if RunDir(path).config.is_file():
        return load_run_model(path, precision), read_config(path)
    if not path.exists():
        raise TfsegError(f"{path}: does not exist, expected {MODEL_FILES}")
    return load_model_file(path, precision), None
