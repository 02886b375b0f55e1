"""Exports of a trained model: SavedModel, TFLite, ONNX and a model card, written atomically."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from tfseg.files import atomic_dir

SAVED_MODEL_ENDPOINT = "serve"


def write_saved_model(model: keras.Model, folder: Path) -> None:
    """Writes `model` as a SavedModel into `folder` (`model.export`).

    The endpoint `serve` (also the `serving_default` signature) takes a float32 image
    batch (N, H, W, C) in [0, 1] and returns the model's float32 probabilities.
    """
    model.export(str(folder), format="tf_saved_model", verbose=False)


def write_tflite(saved_model_dir: Path, path: Path) -> None:
    """Converts the SavedModel in `saved_model_dir` to a float32 TFLite flatbuffer at `path`."""
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model_dir))
    path.write_bytes(converter.convert())


ONNX_OPSET = 17
"""The ONNX opset of `model.onnx`: read by onnxruntime and OpenCV's DNN module alike."""


def write_onnx(model: keras.Model, path: Path) -> dict[str, Any]:
    """Writes `model` as ONNX at `path` with Keras' own exporter (`model.export(format="onnx")`,
    which converts through tf2onnx), the batch dimension dynamic, and returns what the model
    card records of it: converter, opset, input and output names and shapes.

    The graph takes the float32 image batch `image` (N, H, W, C) in [0, 1] and returns the
    model's float32 probabilities (N, H, W, K), as the SavedModel's `serve` endpoint does.
    """
    import onnx
    import tf2onnx

    model.export(str(path), format="onnx", verbose=False, opset_version=ONNX_OPSET)
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
    `predict_on_batch`."""

    def __init__(self, path: Path) -> None:
        import onnxruntime

        self.session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        spec = self.session.get_inputs()[0]
        self.input_name = spec.name
        self.input_shape = tuple(dim if isinstance(dim, int) else None for dim in spec.shape)
        self.outputs = self.session.get_outputs()
        self.name = Path(path).name

    def predict_on_batch(self, batch):
        import numpy as np

        return self.session.run(None, {self.input_name: np.asarray(batch, np.float32)})[0]


def export_model(model: keras.Model, export_dir: Path, card: dict[str, Any], formats: list[str]) -> None:
    """Writes the SavedModel, the optional formats and `model_card.json` into `export_dir`.

    Everything is written into a temporary folder first and renamed when complete
    (`tfseg.files.atomic_dir`), so `export_dir` is the previous complete export or the new one.

    Args:
        model: keras.Model. The model to export (the best checkpoint).
        export_dir: Path. Target folder: the SavedModel, plus `model.tflite` when
            `tflite` is in `formats`, `model.onnx` when `onnx` is, plus `model_card.json`.
        card: dict. The model card (see `tfseg.run.model_card`); the ONNX converter and
            opset are added under `onnx`.
        formats: list of str. Extra formats: `tflite`, `onnx`.
    """
    with atomic_dir(export_dir) as staging:
        write_saved_model(model, staging)
        files = {"saved_model": "."}
        if "tflite" in formats:
            write_tflite(staging, staging / "model.tflite")
            files["tflite"] = "model.tflite"
        if "onnx" in formats:
            card = {**card, "onnx": write_onnx(model, staging / "model.onnx")}
            files["onnx"] = "model.onnx"
        (staging / "model_card.json").write_text(json.dumps({**card, "files": files}, indent=2) + "\n")
