"""Evaluation of a trained run on one split: per-image scores, a summary, files on disk.

Scores are computed in NumPy at each image's native resolution: predictions are resized
back to the stored mask's size before they are compared.
"""

from __future__ import annotations

import json
from pathlib import Path

import keras
import pandas as pd
import yaml

from tfseg.config import Config, config_from_dict
from tfseg.data import load_table, read_image, read_mask, split_rows
from tfseg.data.io import mask_to_labels
from tfseg.errors import TfsegError
from tfseg.evaluation.scores import image_scores
from tfseg.inference import predict, probabilities_to_labels

def load_run_config(run_dir: str | Path) -> Config:
    """The resolved config saved in a run directory."""
    path = Path(run_dir) / "config.yaml"
    if not path.is_file():
        raise TfsegError(f"{run_dir}: no config.yaml, expected a run directory written by train.py")
    return config_from_dict(yaml.safe_load(path.read_text()), str(path))


def load_run_model(run_dir: str | Path) -> keras.Model:
    """Loads `best.keras` from a run directory (no custom_objects needed)."""
    path = Path(run_dir) / "best.keras"
    if not path.is_file():
        raise TfsegError(f"{run_dir}: no best.keras, the run did not finish its first epoch")
    return keras.saving.load_model(path)


def summarize(per_image: pd.DataFrame) -> pd.DataFrame:
    """mean, median, min, max (and std) of every score column, one row per score."""
    scores = per_image.drop(columns=["id"])
    return scores.agg(["mean", "std", "median", "min", "max"]).T


def evaluate_run(run_dir: str | Path, data_dir: str | Path | None = None, split: str = "test") -> pd.DataFrame:
    """Evaluates a run's `best.keras` on one split and writes the results.

    Writes `RUN_DIR/eval/<split>/per_image.csv` (id and scores) and `summary.json`.

    Args:
        run_dir: str or Path. A directory written by `tfseg.training.train`.
        data_dir: str or Path or None. Dataset to evaluate on; None uses the run's own.
        split: str. train, val or test. Defaults to "test".

    Returns:
        The summary table (`summarize`).
    """
    run_dir = Path(run_dir)
    config = load_run_config(run_dir)
    if data_dir is not None:
        config.data.dir = str(data_dir)
    model = load_run_model(run_dir)
    rows = split_rows(load_table(config.data, config.train.seed), split)
    data = config.data
    images = [read_image(path, data.channels) for path in rows["image_path"]]
    probabilities = predict(model, images, batch_size=config.train.batch_size)
    records = []
    for sample_id, mask_path, probability in zip(rows["id"], rows["mask_path"], probabilities):
        truth = mask_to_labels(read_mask(mask_path), data.classes, data.mask_threshold)
        prediction = probabilities_to_labels(probability)
        records.append({"id": sample_id, **image_scores(prediction, truth, data.classes)})
    per_image = pd.DataFrame(records)
    summary = summarize(per_image)
    out_dir = run_dir / "eval" / split
    out_dir.mkdir(parents=True, exist_ok=True)
    per_image.to_csv(out_dir / "per_image.csv", index=False, float_format="%.6f")
    summary_json = {"split": split, "images": len(per_image), "scores": summary.to_dict(orient="index")}
    (out_dir / "summary.json").write_text(json.dumps(summary_json, indent=2))
    return summary
