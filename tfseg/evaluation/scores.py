"""Per-image segmentation scores in NumPy, apart from the Keras training metrics.

Empty masks: when truth and prediction are both empty every score is 1; any other zero
denominator gives 0 (as in medpy), so no image is ever dropped from a mean as NaN.
"""

from __future__ import annotations

import numpy as np

SCORE_NAMES = ("dice", "iou", "precision", "recall")


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator) / denominator if denominator else 0.0


def segmentation_scores(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Overlap scores of one binary prediction against its ground truth.

    Args:
        pred: bool array, the predicted mask.
        truth: bool array of the same shape, the reference mask.

    Returns:
        dict with dice, iou, precision, recall.
    """
    pred = np.asarray(pred, bool)
    truth = np.asarray(truth, bool)
    if pred.shape != truth.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from truth shape {truth.shape}")
    tp = np.count_nonzero(pred & truth)
    fp = np.count_nonzero(pred & ~truth)
    fn = np.count_nonzero(~pred & truth)
    if tp + fp + fn == 0:
        return dict.fromkeys(SCORE_NAMES, 1.0)
    return {
        "dice": _ratio(2 * tp, 2 * tp + fp + fn),
        "iou": _ratio(tp, tp + fp + fn),
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
    }


def image_scores(pred_labels: np.ndarray, true_labels: np.ndarray, classes: int) -> dict[str, float]:
    """Scores of one image: binary scores, or per class (`dice_<k>`) plus their
    foreground mean (`dice`) for a multi-class label map."""
    if classes == 1:
        return segmentation_scores(pred_labels > 0, true_labels > 0)
    per_class = {k: segmentation_scores(pred_labels == k, true_labels == k) for k in range(1, classes)}
    row = {name: float(np.mean([scores[name] for scores in per_class.values()])) for name in SCORE_NAMES}
    for k, scores in per_class.items():
        row.update({f"{name}_{k}": value for name, value in scores.items()})
    return row
