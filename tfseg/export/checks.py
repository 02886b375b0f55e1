"""Checks of a run's exports against its `best.keras`: each file's size, its largest
probability difference and its mean Dice on a split, predicted by the runtime that runs it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tfseg.data import load_table, resolve_data_dir, split_rows
from tfseg.errors import TfsegError
from tfseg.evaluation.report import predict_split, truth_labels
from tfseg.evaluation.scores import dice_score
from tfseg.export.card import MODEL_CARD, card_threshold, read_model_card
from tfseg.export.folder import FORMATS
from tfseg.export.loading import load_model_file, load_run_model
from tfseg.export.saved_model import SAVED_MODEL_PARTS
from tfseg.files import write_atomically
from tfseg.inference import probabilities_to_labels
from tfseg.run import RunDir, read_config


def _megabytes(path: Path) -> float:
    """The size of a model file, or of the SavedModel in an export folder, in MB."""
    files = [path] if path.is_file() else [
        item for item in path.rglob("*") if item.is_file() and item.relative_to(path).parts[0] in SAVED_MODEL_PARTS
    ]
    return sum(item.stat().st_size for item in files) / 1e6


def check_exports(run_dir: str | Path, split: str = "val", progress: bool = False) -> pd.DataFrame:
    """Predicts `split` with best.keras and with every file of the run's export, and
    writes the comparison to `export/checks.csv`.

    Every export predicts as predict.py does (the run's geometry, the model card's
    threshold, at the masks' resolution), each in its own runtime: the SavedModel in
    TensorFlow, `.onnx` in onnxruntime, `.tflite` in LiteRT.

    Args:
        run_dir: str or Path. A trained run with a complete export (its model card).
        split: str. The split to predict. Defaults to "val".
        progress: bool. Show progress bars. Defaults to False.

    Returns:
        One row per model: format, file, megabytes, max_abs_diff (largest probability
        difference from best.keras over all pixels), dice (mean over images),
        dice_change (from best.keras's).
    """
    run = RunDir(run_dir)
    config = read_config(run.path)
    card = read_model_card(run.path)
    if card is None:
        raise TfsegError(f"{run.export}: no {MODEL_CARD}, the run has no complete export")
    config.data.dir = str(resolve_data_dir(config.data))
    rows = split_rows(load_table(config.data, config.train.seed), split)
    truths = [truth_labels(config, path) for path in rows["mask_path"]]
    threshold = card_threshold(card)
    models = {"keras": run.best} | {
        name: run.export / file for name, file in card["files"].items() if name not in FORMATS or FORMATS[name].runtime
    }  # the SavedModel, and each format with a runtime here (bioimage.io's own test ran its package)
    reference = None
    records = []
    for name, path in models.items():
        model = load_run_model(run.path) if name == "keras" else load_model_file(path)
        probabilities = predict_split(model, config, rows, "none", progress)
        if reference is None:
            reference = probabilities
        dice = np.mean([
            dice_score(probabilities_to_labels(probability, threshold), truth, config.data.classes)
            for probability, truth in zip(probabilities, truths)
        ])
        records.append({
            "format": name,
            "file": str(path.relative_to(run.path)),
            "megabytes": _megabytes(path),
            "max_abs_diff": max(float(np.abs(p - q).max()) for p, q in zip(probabilities, reference)),
            "dice": float(dice),
        })
    table = pd.DataFrame(records)
    table["dice_change"] = table["dice"] - table["dice"].iloc[0]
    write_atomically(run.export / "checks.csv", table.to_csv(index=False, float_format="%.6g"))
    return table
