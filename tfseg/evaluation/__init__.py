"""Evaluation: per-image scores (`scores.py`) and whole-run reports (`report.py`)."""

from tfseg.evaluation.report import evaluate_run, load_run_config, load_run_model, summarize
from tfseg.evaluation.scores import SCORE_NAMES, image_scores, segmentation_scores

__all__ = [
    "SCORE_NAMES",
    "evaluate_run",
    "image_scores",
    "load_run_config",
    "load_run_model",
    "segmentation_scores",
    "summarize",
]
