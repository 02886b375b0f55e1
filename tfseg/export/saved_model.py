"""The TensorFlow SavedModel of an export folder: always written, the source of the TFLite files."""

from __future__ import annotations

from pathlib import Path

import keras

from tfseg.errors import TfsegError

SAVED_MODEL_ENDPOINT = "serve"
"""The SavedModel's endpoint (also its `serving_default` signature)."""

SAVED_MODEL_PARTS = ("saved_model.pb", "variables", "assets", "fingerprint.pb")
"""What of an export folder is the SavedModel."""


def write_saved_model(model: keras.Model, folder: Path) -> None:
    """Writes `model` as a SavedModel into `folder` (`model.export`).

    The endpoint `serve` (also the `serving_default` signature) takes a float32 image
    batch (N, H, W, C), normalised as the model card's `normalize` says ([0, 1] for `scale`),
    and returns the model's float32 probabilities.
    """
    model.export(str(folder), format="tf_saved_model", verbose=False)


def is_saved_model(path: Path) -> bool:
    """Whether `path` is a folder holding a SavedModel."""
    return (Path(path) / "saved_model.pb").is_file()


def load_saved_model(path: Path) -> keras.Model:
    """The SavedModel in the folder `path` as a `keras.Model`: a `keras.layers.TFSMLayer` calling
    its `serve` endpoint, with the endpoint's input shape, so it predicts exactly like the
    `.keras` model it was exported from (in float32, as it was exported).

    Raises:
        TfsegError: the SavedModel has no `serve` endpoint.
    """
    import tensorflow as tf

    endpoint = tf.saved_model.load(str(path)).signatures.get(SAVED_MODEL_ENDPOINT)
    if endpoint is None:
        raise TfsegError(f"{path}: SavedModel has no {SAVED_MODEL_ENDPOINT!r} endpoint, expected one written by model.export")
    (spec,) = endpoint.structured_input_signature[1].values()
    inputs = keras.Input(shape=tuple(spec.shape[1:]), dtype=spec.dtype.name)
    outputs = keras.layers.TFSMLayer(str(path), call_endpoint=SAVED_MODEL_ENDPOINT)(inputs)
    return keras.Model(inputs, outputs, name=Path(path).name)
