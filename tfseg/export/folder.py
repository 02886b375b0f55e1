"""Writing an export folder: the SavedModel, the formats of `train.export` and the model card,
atomically; and the export of a trained run's best epoch."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd

from tfseg import models
from tfseg.config import EXPORT_FORMATS, Config
from tfseg.data import load_table, model_inputs, read_class_names, resolve_data_dir, split_rows
from tfseg.distribution import float32_layers
from tfseg.errors import TfsegError
from tfseg.export import bioimageio, onnx, tflite
from tfseg.export.card import MODEL_CARD, model_card
from tfseg.export.formats import ExportFormat, ExportJob
from tfseg.export.saved_model import write_saved_model
from tfseg.files import atomic_dir
from tfseg.inference import check_postprocess, check_tta
from tfseg.run import RunDir
from tfseg.run_state import best_epoch, read_history

FORMATS: dict[str, ExportFormat] = {spec.name: spec for spec in (*tflite.FORMATS, onnx.FORMAT, bioimageio.FORMAT)}
"""The formats of `train.export` (`tfseg.config.EXPORT_FORMATS`, in that order), by name."""


def export_model(
    model: keras.Model,
    export_dir: Path,
    card: dict[str, Any],
    formats: Sequence[str],
    *,
    onnx_batch: int | None = None,
    representative: Sequence[np.ndarray] = (),
    sample: np.ndarray | None = None,
    package: dict[str, Any] | None = None,
) -> None:
    """Writes the SavedModel, the formats in `formats` and `model_card.json` into `export_dir`.

    Everything is written into a temporary folder first and renamed when complete
    (`tfseg.files.atomic_dir`), so `export_dir` is the previous complete export or the new one.

    Args:
        model: keras.Model. The model to export (the best checkpoint's last head, float32).
        export_dir: Path. Target folder: the SavedModel, `model_card.json`, and the file of
            each format in `formats` (`FORMATS`), with the formats they need (the bioimage.io
            package holds the ONNX and SavedModel weights).
        card: dict. The model card (`tfseg.export.card.model_card`); what a format's writer
            returns is added under the format's name (`onnx`: converter and opset;
            `bioimageio`: the package), the files under `files`.
        formats: sequence of str. Extra formats, from `FORMATS`.
        onnx_batch: int or None. Fixed batch size of `model.onnx`; None: dynamic.
        representative: preprocessed input images: the int8 calibration sample.
        sample: (H, W, C) uint8 image at the input size: the bioimage.io test input and cover.
        package: dict or None. Keyword arguments of the bioimage.io package (`license`, `authors`).
    """
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise TfsegError(f"export format {unknown[0]!r}: expected one of {', '.join(FORMATS)}")
    wanted = set(formats) | {need for name in formats for need in FORMATS[name].needs}
    with atomic_dir(export_dir) as staging:
        write_saved_model(model, staging)
        job = ExportJob(model, staging, dict(card), onnx_batch, list(representative), sample, dict(package or {}))
        files = {"saved_model": "."}
        for name, spec in FORMATS.items():
            if name in wanted:
                record = spec.write(job)
                if record is not None:
                    job.card[name] = record
                files[name] = spec.file
        (staging / MODEL_CARD).write_text(json.dumps({**job.card, "files": files}, indent=2) + "\n")


CALIBRATION_IMAGES = 100
"""Training images (or crops), drawn at random, that calibrate int8 quantisation (`--export tflite-int8`)."""


def calibration_images(config: Config, table: pd.DataFrame) -> list[np.ndarray]:
    """`CALIBRATION_IMAGES` training images of `table` drawn with the run's seed, as the model sees
    them: the int8 calibration sample."""
    train_rows = split_rows(table, "train")
    drawn = train_rows.sample(min(CALIBRATION_IMAGES, len(train_rows)), random_state=config.train.seed)
    return model_inputs(drawn, config.data, CALIBRATION_IMAGES)


def sample_image(config: Config, table: pd.DataFrame) -> np.ndarray:
    """The bioimage.io package's test image: the first validation image with foreground (or the
    first one) at the model's input, as uint8."""
    val_rows = split_rows(table, "val")
    with_foreground = val_rows[val_rows["foreground"] > 0]
    rows = with_foreground if len(with_foreground) else val_rows
    return np.round(model_inputs(rows, config.data, 1)[0] * 255).astype(np.uint8)


def export_run(run: RunDir, config: Config, threshold: float = 0.5, threshold_choice: str = "fixed",
               package: dict[str, Any] | None = None, postprocess: str = "none", tta: str = "none") -> None:
    """Exports a trained run's best epoch (its last head) into `run.export`: the SavedModel, the
    model card and the formats of `train.export`.

    Args:
        run: RunDir. A trained run.
        config: Config. Its config; `train.export` and `train.export_batch` say what to write.
        threshold: float. The binary threshold the model card gives predict.py. Defaults to 0.5.
        threshold_choice: str. How it was chosen, for the card. Defaults to "fixed".
        package: dict or None. The bioimage.io package's `license` and `authors`
            (`tfseg.export.bioimageio.write_bioimageio_package`). Defaults to None: its defaults.
        postprocess: str. The post-processing spec the model card gives predict.py
            (`tfseg.config.parse_postprocess`). Defaults to "none".
        tta: str. The test-time augmentation the model card gives predict.py
            (`tfseg.config.TTA_FLIPS`). Defaults to "none".

    Raises:
        TfsegError: no best.keras, or a `postprocess` or `tta` predict.py cannot apply.
    """
    check_postprocess(postprocess)
    check_tta(tta)
    monitor = config.train.monitor
    if not run.best.exists():
        raise TfsegError(f"{run.path}: no epoch produced a finite {monitor}, so there is no best.keras to export")
    epoch, score = best_epoch(read_history(run.history), monitor)
    best = float32_layers(keras.saving.load_model(run.best))  # a no-op unless best.keras predates issue 29
    formats = config.train.export
    representative, sample = [], None
    if "tflite-int8" in formats or "bioimageio" in formats:
        table = load_table(config.data, config.train.seed)
        representative = calibration_images(config, table) if "tflite-int8" in formats else []
        sample = sample_image(config, table) if "bioimageio" in formats else None
    class_names = read_class_names(resolve_data_dir(config.data), config.data.classes)
    card = model_card(config, monitor, score, epoch, threshold, threshold_choice, class_names, postprocess, tta)
    export_model(models.final_head(best), run.export, card, formats, onnx_batch=config.train.export_batch or None,
                 representative=representative, sample=sample, package=package)
