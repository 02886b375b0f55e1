"""What an export format is: a file of the export folder, the function that writes it and
the runtime that runs it. Each format module declares its own; `tfseg.export.folder`
holds the registry (`FORMATS`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np


@dataclass
class ExportJob:
    """What the writers of one export folder are given.

    Attributes:
        model: keras.Model. The model to export (a run's best epoch, last head, float32).
        folder: Path. The folder being written; it already holds the SavedModel.
        card: dict. The model card so far; a writer's record is added under its format's name.
        onnx_batch: int or None. Fixed batch size of `model.onnx`; None: dynamic.
        representative: list of (H, W, C) float32 images, preprocessed as the model's input
            (normalised as `data.normalize` says): the int8 calibration sample (about 100 training images).
        sample: (H, W, C) uint8 image at the input size, or None: the bioimage.io test input and cover.
        package: dict. Keyword arguments of the bioimage.io package (`license`, `authors`).
    """

    model: keras.Model
    folder: Path
    card: dict[str, Any]
    onnx_batch: int | None = None
    representative: Sequence[np.ndarray] = ()
    sample: np.ndarray | None = None
    package: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ExportFormat:
    """One value of `train.export`.

    Attributes:
        name: str. The format's name (`train.export`, `--format`, the model card's `files`).
        file: str. The file it writes in the export folder.
        write: callable. Writes `file` for an `ExportJob`; returns what the model card records
            of it under `name`, or None for nothing.
        runtime: callable or None. Loads the file for prediction (an object with
            `input_shape`, `outputs`, `name` and `predict_on_batch`); None when the file is
            checked by its own tools (bioimage.io).
        needs: tuple of str. Formats written first because this one holds their files.
    """

    name: str
    file: str
    write: Callable[[ExportJob], dict[str, Any] | None]
    runtime: Callable[[Path], Any] | None = None
    needs: tuple[str, ...] = ()
