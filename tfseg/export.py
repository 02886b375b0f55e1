"""Exports of a trained model: SavedModel, TFLite, ONNX and a model card, written atomically."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from tfseg.config import EXPORT_FORMATS
from tfseg.errors import TfsegError
from tfseg.files import atomic_dir

SAVED_MODEL_ENDPOINT = "serve"


def write_saved_model(model: keras.Model, folder: Path) -> None:
    """Writes `model` as a SavedModel into `folder` (`model.export`).

    The endpoint `serve` (also the `serving_default` signature) takes a float32 image
    batch (N, H, W, C) in [0, 1] and returns the model's float32 probabilities.
    """
    model.export(str(folder), format="tf_saved_model", verbose=False)


TFLITE_FORMATS = {
    "tflite": ("model.tflite", "float32"),
    "tflite-float16": ("model_float16.tflite", "float16"),
    "tflite-int8": ("model_int8.tflite", "int8"),
}
"""TFLite formats: their file and quantisation (see `write_tflite`)."""


def write_tflite(saved_model_dir: Path, path: Path, quantization: str = "float32",
                 representative: Iterable[np.ndarray] = ()) -> None:
    """Converts the SavedModel in `saved_model_dir` to a TFLite flatbuffer at `path`.

    Args:
        saved_model_dir: Path. A SavedModel written by `write_saved_model`.
        path: Path. The `.tflite` file to write.
        quantization: str. "float32" (no quantisation), "float16" (weights stored in
            float16) or "int8" (weights and activations in int8, calibrated on
            `representative`; the input and output stay float32). Defaults to "float32".
        representative: iterable of (H, W, C) float32 images in [0, 1], preprocessed as
            the model's input: the calibration sample of "int8" (about 100 training images).
    """
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model_dir))
    if quantization != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantization == "float16":
        converter.target_spec.supported_types = [tf.float16]
    elif quantization == "int8":
        images = [np.asarray(image, np.float32)[None] for image in representative]
        if not images:
            raise TfsegError(f"{path}: int8 quantisation needs representative images, got none")
        converter.representative_dataset = lambda: ([image] for image in images)
    path.write_bytes(converter.convert())


ONNX_OPSET = 17
"""The ONNX opset of `model.onnx`: read by onnxruntime and OpenCV's DNN module alike."""


def write_onnx(model: keras.Model, path: Path, batch: int | None = None) -> dict[str, Any]:
    """Writes `model` as ONNX at `path` with Keras' own exporter (`model.export(format="onnx")`,
    which converts through tf2onnx), and returns what the model card records of it:
    converter, opset, input and output names and shapes.

    The graph takes the float32 image batch `image` (N, H, W, C) in [0, 1] and returns the
    model's float32 probabilities (N, H, W, K), as the SavedModel's `serve` endpoint does.
    N is dynamic unless `batch` fixes it (some runtimes and accelerators want a fixed shape).
    """
    import onnx
    import tf2onnx

    signature = [keras.InputSpec(shape=(batch, *model.input_shape[1:]), dtype="float32", name="image")]
    model.export(str(path), format="onnx", verbose=False, opset_version=ONNX_OPSET, input_signature=signature)
    graph = onnx.load(str(path)).graph

    def shape(value) -> list[int | None]:
        return [dim.dim_value or None for dim in value.type.tensor_type.shape.dim]

    return {
        "converter": f"keras {keras.__version__} Model.export(format='onnx') with tf2onnx {tf2onnx.__version__}",
        "opset": ONNX_OPSET,
        "input": {"name": graph.input[0].name, "shape": shape(graph.input[0])},
        "output": {"name": graph.output[0].name, "shape": shape(graph.output[0])},
    }


class OnnxModel:
    """A `model.onnx` run by onnxruntime, with what `tfseg.inference.predict` uses of a
    Keras model: `input_shape`, `outputs` (one: exports hold the last head), `name` and
    `predict_on_batch`. A model with a fixed batch size runs any batch, in chunks of it."""

    def __init__(self, path: Path) -> None:
        import onnxruntime

        self.session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        spec = self.session.get_inputs()[0]
        self.input_name = spec.name
        self.input_shape = tuple(dim if isinstance(dim, int) else None for dim in spec.shape)
        self.outputs = self.session.get_outputs()
        self.name = Path(path).name

    def predict_on_batch(self, batch) -> np.ndarray:
        batch = np.asarray(batch, np.float32)
        size = self.input_shape[0]
        if size is None:
            return self.session.run(None, {self.input_name: batch})[0]
        chunks = []
        for start in range(0, len(batch), size):
            chunk = batch[start : start + size]
            padded = np.concatenate([chunk, np.zeros((size - len(chunk), *chunk.shape[1:]), np.float32)])
            chunks.append(self.session.run(None, {self.input_name: padded})[0][: len(chunk)])
        return np.concatenate(chunks)


class TfliteModel:
    """A `.tflite` file run by the LiteRT interpreter (`ai_edge_litert`, the TFLite runtime
    of edge devices), with the same interface as `OnnxModel`."""

    def __init__(self, path: Path) -> None:
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            raise TfsegError(f'{path}: running .tflite files needs the LiteRT interpreter: pip install "tfseg[tflite]"') from None
        self.interpreter = Interpreter(model_path=str(path))
        self.input, (self.output,) = self.interpreter.get_input_details()[0], self.interpreter.get_output_details()
        self.input_shape = (None, *(int(dim) for dim in self.input["shape_signature"][1:]))
        self.outputs = [self.output]
        self.name = Path(path).name
        self.interpreter.allocate_tensors()

    def predict_on_batch(self, batch) -> np.ndarray:
        batch = np.asarray(batch, np.float32)
        if tuple(self.interpreter.get_input_details()[0]["shape"]) != batch.shape:
            self.interpreter.resize_tensor_input(self.input["index"], batch.shape)
            self.interpreter.allocate_tensors()
        self.interpreter.set_tensor(self.input["index"], batch)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output["index"]).copy()


def export_model(
    model: keras.Model,
    export_dir: Path,
    card: dict[str, Any],
    formats: Sequence[str],
    *,
    onnx_batch: int | None = None,
    representative: Iterable[np.ndarray] = (),
    sample: np.ndarray | None = None,
    package: dict[str, Any] | None = None,
) -> None:
    """Writes the SavedModel, the optional formats and `model_card.json` into `export_dir`.

    Everything is written into a temporary folder first and renamed when complete
    (`tfseg.files.atomic_dir`), so `export_dir` is the previous complete export or the new one.

    Args:
        model: keras.Model. The model to export (the best checkpoint's last head, float32).
        export_dir: Path. Target folder: the SavedModel, `model_card.json`, and per format
            in `formats`: `model.tflite`, `model_float16.tflite`, `model_int8.tflite`,
            `model.onnx`, `bioimageio.zip` (which holds the ONNX and SavedModel weights).
        card: dict. The model card (see `tfseg.run.model_card`); the ONNX converter and
            opset are added under `onnx`, the package under `bioimageio`, the files under `files`.
        formats: sequence of str. Extra formats, from `EXPORT_FORMATS`.
        onnx_batch: int or None. Fixed batch size of `model.onnx`; None: dynamic.
        representative: iterable of preprocessed input images: the int8 calibration sample.
        sample: (H, W, C) uint8 image at the input size: the bioimage.io test input and cover.
        package: dict or None. Keyword arguments of `write_bioimageio_package` (`license`, `authors`).
    """
    unknown = sorted(set(formats) - set(EXPORT_FORMATS))
    if unknown:
        raise TfsegError(f"export format {unknown[0]!r}: expected one of {', '.join(EXPORT_FORMATS)}")
    with atomic_dir(export_dir) as staging:
        write_saved_model(model, staging)
        files = {"saved_model": "."}
        for name, (file, quantization) in TFLITE_FORMATS.items():
            if name in formats:
                write_tflite(staging, staging / file, quantization, representative)
                files[name] = file
        if "onnx" in formats or "bioimageio" in formats:  # the package holds the ONNX weights
            card = {**card, "onnx": write_onnx(model, staging / "model.onnx", onnx_batch)}
            files["onnx"] = "model.onnx"
        if "bioimageio" in formats:
            from tfseg.bioimageio import write_bioimageio_package

            if sample is None:
                raise TfsegError(f"{export_dir}: the bioimage.io package needs a sample image, got none")
            package_info = write_bioimageio_package(model, staging, card, sample, staging / "bioimageio.zip", **(package or {}))
            card = {**card, "bioimageio": package_info}
            files["bioimageio"] = "bioimageio.zip"
        (staging / "model_card.json").write_text(json.dumps({**card, "files": files}, indent=2) + "\n")
