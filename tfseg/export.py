"""Exports of a trained model: SavedModel, TFLite and a model card, written atomically."""

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


def export_model(model: keras.Model, export_dir: Path, card: dict[str, Any], formats: list[str]) -> None:
    """Writes the SavedModel, the optional formats and `model_card.json` into `export_dir`.

    Everything is written into a temporary folder first and renamed when complete
    (`tfseg.files.atomic_dir`), so `export_dir` is the previous complete export or the new one.

    Args:
        model: keras.Model. The model to export (the best checkpoint).
        export_dir: Path. Target folder: the SavedModel, plus `model.tflite` when
            `tflite` is in `formats`, plus `model_card.json`.
        card: dict. The model card (see `tfseg.run.model_card`).
        formats: list of str. Extra formats: `tflite`.
    """
    with atomic_dir(export_dir) as staging:
        write_saved_model(model, staging)
        files = {"saved_model": "."}
        if "tflite" in formats:
            write_tflite(staging, staging / "model.tflite")
            files["tflite"] = "model.tflite"
        (staging / "model_card.json").write_text(json.dumps({**card, "files": files}, indent=2) + "\n")
