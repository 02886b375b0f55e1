"""The ONNX file of an export folder (Keras' exporter, through tf2onnx) and the onnxruntime
session that runs it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import numpy as np

from tfseg.export.formats import ExportFormat, ExportJob

ONNX_OPSET = 17
"""The ONNX opset of `model.onnx`: read by onnxruntime and OpenCV's DNN module alike."""


def write_onnx(model: keras.Model, path: Path, batch: int | None = None) -> dict[str, Any]:
    """Writes `model` as ONNX at `path` with Keras' own exporter (`model.export(format="onnx")`,
    which converts through tf2onnx), and returns what the model card records of it:
    converter, opset, input and output names and shapes.

    The graph takes the float32 image batch `image` (N, H, W, C), normalised as the model card's
    `normalize` says ([0, 1] for `scale`), and returns the model's float32 probabilities
    (N, H, W, K), as the SavedModel's `serve` endpoint does.
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


def _write(job: ExportJob) -> dict[str, Any]:
    return write_onnx(job.model, job.folder / "model.onnx", job.onnx_batch)


FORMAT = ExportFormat("onnx", "model.onnx", _write, runtime=OnnxModel)
"""`train.export: onnx`; the card records the converter, opset, input and output under `onnx`."""
