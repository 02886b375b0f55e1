"""TFLite files of an export folder, converted from its SavedModel (float32, float16 and int8
weights), and the LiteRT interpreter that runs them."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import tensorflow as tf

from tfseg.errors import TfsegError
from tfseg.export.formats import ExportFormat, ExportJob


def write_tflite(saved_model_dir: Path, path: Path, quantization: str = "float32",
                 representative: Iterable[np.ndarray] = ()) -> None:
    """Converts the SavedModel in `saved_model_dir` to a TFLite flatbuffer at `path`.

    Args:
        saved_model_dir: Path. A SavedModel written by `write_saved_model`.
        path: Path. The `.tflite` file to write.
        quantization: str. "float32" (no quantisation), "float16" (weights stored in
            float16) or "int8" (weights and activations in int8, calibrated on
            `representative`; the input and output stay float32). Defaults to "float32".
        representative: iterable of (H, W, C) float32 images, preprocessed as the model's
            input (normalised as `data.normalize` says): the calibration sample of "int8" (about 100 training images).
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




def _tflite_format(name: str, file: str, quantization: str) -> ExportFormat:
    """The export format `name`: the SavedModel converted to `file` with `quantization`."""

    def write(job: ExportJob) -> None:
        write_tflite(job.folder, job.folder / file, quantization, job.representative)

    return ExportFormat(name, file, write, runtime=TfliteModel)


FORMATS = (
    _tflite_format("tflite", "model.tflite", "float32"),
    _tflite_format("tflite-float16", "model_float16.tflite", "float16"),
    _tflite_format("tflite-int8", "model_int8.tflite", "int8"),
)
"""The TFLite formats of `train.export`: float32, float16 weights, and int8 calibrated on training images."""
