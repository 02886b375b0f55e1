"""Evaluation: per-image scores (`scores.py`) and whole-run reports (`report.py`)."""

from tfseg.evaluation.report import evaluate_run, summarize
from tfseg.evaluation.scores import (
    EMPTY_CASES,
    SCORE_NAMES,
    dice_score,
    empty_case,
    image_scores,
    multiclass_scores,
    segmentation_scores,
    surface_distances,
)

__all__ = [
    "EMPTY_CASES",
    "SCORE_NAMES",
    "dice_score",
    "empty_case",
    "evaluate_run",
    "image_scores",
    "multiclass_scores",
    "segmentation_scores",
    "summarize",
    "surface_distances",
]
