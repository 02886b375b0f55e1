"""Per-image segmentation scores in NumPy/SciPy, apart from the Keras training metrics.

Overlap scores come from the pixel counts TP, FP, FN, TN of one image. Surface distances
follow medpy (`medpy.metric.binary.assd`, `hd95`) exactly, so results compare with
published work:

- the border of a mask is the mask minus its binary erosion by the 3×3 cross
  (connectivity 1), pixels outside the image counting as background;
- for every border pixel of one mask, the Euclidean distance (in physical units, with the
  pixel `spacing` (row, column)) to the nearest border pixel of the other mask, from
  `scipy.ndimage.distance_transform_edt`;
- ASSD is the mean of both directions' distances pooled together; HD95 is their 95th
  percentile (NumPy's linear interpolation).

Empty masks (never NaN, never dropped from a mean):

- both empty: dice = iou = 1 (and every other ratio 1), assd = hd95 = 0;
- exactly one empty: dice = iou = 0, and assd = hd95 = the image diagonal in physical
  units, √((H·sy)² + (W·sx)²), the largest distance the image can hold;
- any other ratio with a zero denominator (0/0) is 1 when prediction and truth agree on
  every pixel and 0 otherwise (e.g. precision of an empty prediction against a non-empty
  truth is 0, as in medpy; medpy also gives 0 when both are empty, where tfseg gives 1).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from tfseg.errors import TfsegError

SCORE_NAMES = ("dice", "iou", "precision", "recall", "specificity", "accuracy", "assd", "hd95")
EMPTY_CASES = ("both empty", "truth empty", "prediction empty")


def empty_case(pred: np.ndarray, truth: np.ndarray) -> str | None:
    """Which of `EMPTY_CASES` a (prediction, truth) pair of masks falls in.

    Args:
        pred: bool array, the predicted mask.
        truth: bool array, the reference mask.

    Returns:
        "both empty", "truth empty" (prediction not empty), "prediction empty" (truth not
        empty), or None when neither mask is empty.
    """
    pred_empty, truth_empty = not np.any(pred), not np.any(truth)
    if pred_empty and truth_empty:
        return "both empty"
    if truth_empty:
        return "truth empty"
    return "prediction empty" if pred_empty else None


def _check_pair(pred, truth, spacing) -> tuple[np.ndarray, np.ndarray, tuple[float, ...]]:
    pred = np.asarray(pred).astype(bool)
    truth = np.asarray(truth).astype(bool)
    if pred.shape != truth.shape:
        raise TfsegError(f"prediction shape {pred.shape} differs from truth shape {truth.shape}")
    if pred.size == 0:
        raise TfsegError(f"masks of shape {pred.shape} hold no pixel")
    spacing = tuple(float(s) for s in spacing)
    if len(spacing) != pred.ndim or not all(s > 0 and np.isfinite(s) for s in spacing):
        raise TfsegError(f"spacing {spacing}: expected {pred.ndim} positive numbers, one per mask axis")
    return pred, truth, spacing


def _border(mask: np.ndarray) -> np.ndarray:
    """The mask minus its erosion by the connectivity-1 cross (as medpy)."""
    cross = ndimage.generate_binary_structure(mask.ndim, 1)
    return mask ^ ndimage.binary_erosion(mask, structure=cross, iterations=1)


def surface_distances(pred: np.ndarray, truth: np.ndarray, spacing: Sequence[float] = (1.0, 1.0)) -> np.ndarray:
    """Border-to-border distances of two non-empty masks, both directions pooled.

    Args:
        pred: bool array, the predicted mask (not empty).
        truth: bool array of the same shape, the reference mask (not empty).
        spacing: pixel size per axis (row, column). Defaults to (1.0, 1.0).

    Returns:
        1-D float array: for each border pixel of `pred` the distance to the nearest
        border pixel of `truth`, then the same from `truth` to `pred`.
    """
    pred, truth, spacing = _check_pair(pred, truth, spacing)
    if not (pred.any() and truth.any()):
        raise TfsegError("surface distances need two non-empty masks")
    pred_border, truth_border = _border(pred), _border(truth)
    to_truth = ndimage.distance_transform_edt(~truth_border, sampling=spacing)[pred_border]
    to_pred = ndimage.distance_transform_edt(~pred_border, sampling=spacing)[truth_border]
    return np.concatenate([to_truth, to_pred])


def _ratio(numerator: int, denominator: int, agree: bool) -> float:
    if denominator:
        return numerator / denominator
    return 1.0 if agree else 0.0


def _overlap_scores(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """The pixel-count scores of two bool masks of one shape: dice, iou, precision, recall,
    specificity, accuracy (0/0 as in the module docstring)."""
    tp = int(np.count_nonzero(pred & truth))
    fp = int(np.count_nonzero(pred & ~truth))
    fn = int(np.count_nonzero(~pred & truth))
    tn = pred.size - tp - fp - fn
    agree = fp + fn == 0
    return {
        "dice": _ratio(2 * tp, 2 * tp + fp + fn, agree),
        "iou": _ratio(tp, tp + fp + fn, agree),
        "precision": _ratio(tp, tp + fp, agree),
        "recall": _ratio(tp, tp + fn, agree),
        "specificity": _ratio(tn, tn + fp, agree),
        "accuracy": (tp + tn) / pred.size,
    }


def segmentation_scores(pred: np.ndarray, truth: np.ndarray, spacing: Sequence[float] = (1.0, 1.0)) -> dict[str, float]:
    """Overlap and surface-distance scores of one binary prediction against its truth.

    Args:
        pred: bool array (H, W), the predicted mask.
        truth: bool array of the same shape, the reference mask.
        spacing: pixel size (row, column) in physical units (e.g. mm) for the distances.
            Defaults to (1.0, 1.0): distances in pixels.

    Returns:
        dict with dice, iou, precision, recall, specificity, accuracy, assd, hd95
        (empty masks as in the module docstring).
    """
    pred, truth, spacing = _check_pair(pred, truth, spacing)
    scores = _overlap_scores(pred, truth)
    case = empty_case(pred, truth)
    if case is None:
        distances = surface_distances(pred, truth, spacing)
        scores["assd"] = float(distances.mean())
        scores["hd95"] = float(np.percentile(distances, 95))
    else:
        diagonal = float(np.hypot.reduce([n * s for n, s in zip(pred.shape, spacing)]))
        scores["assd"] = scores["hd95"] = 0.0 if case == "both empty" else diagonal
    return scores


def multiclass_scores(
    pred_labels: np.ndarray,
    true_labels: np.ndarray,
    classes: int,
    spacing: Sequence[float] = (1.0, 1.0),
    include_background: bool = False,
) -> dict[int, dict[str, float]]:
    """`segmentation_scores` of each class of a label map, class k scored as `labels == k`.

    Args:
        pred_labels: int array (H, W), predicted labels in 0..classes-1.
        true_labels: int array of the same shape, reference labels.
        classes: int. Number of classes K, background (0) included.
        spacing: pixel size (row, column). Defaults to (1.0, 1.0).
        include_background: bool. Also score class 0. Defaults to False.

    Returns:
        {k: scores} for k = 1..K-1 (0..K-1 with background).
    """
    pred_labels, true_labels = np.asarray(pred_labels), np.asarray(true_labels)
    for what, labels in (("prediction", pred_labels), ("truth", true_labels)):
        if labels.size and (labels.min() < 0 or labels.max() >= classes):
            raise TfsegError(f"{what} labels span {labels.min()}..{labels.max()}, expected 0..{classes - 1} for {classes} classes")
    first = 0 if include_background else 1
    return {
        k: segmentation_scores(pred_labels == k, true_labels == k, spacing) for k in range(first, classes)
    }


def dice_score(pred_labels: np.ndarray, true_labels: np.ndarray, classes: int) -> float:
    """The Dice of one image as `image_scores` gives it (binary, or the mean over the
    foreground classes), without the surface distances: for choosing thresholds and
    comparing exports, where only Dice is needed."""
    pred_labels, true_labels = np.asarray(pred_labels), np.asarray(true_labels)
    masks = [(pred_labels > 0, true_labels > 0)] if classes == 1 else [
        (pred_labels == k, true_labels == k) for k in range(1, classes)]
    return float(np.mean([_overlap_scores(pred, truth)["dice"] for pred, truth in masks]))


def image_scores(
    pred_labels: np.ndarray, true_labels: np.ndarray, classes: int, spacing: Sequence[float] = (1.0, 1.0)
) -> dict[str, float]:
    """The scores of one image, as the evaluation report writes them.

    Args:
        pred_labels: array (H, W): a {0, 1} mask for classes == 1, else labels 0..K-1.
        true_labels: array of the same shape, the reference.
        classes: int. 1 for binary, K for multi-class.
        spacing: pixel size (row, column) for the distances. Defaults to (1.0, 1.0).

    Returns:
        Binary: the `SCORE_NAMES` of `segmentation_scores`. Multi-class: `<score>_<k>`
        for each foreground class k, and under the plain names their mean.
    """
    if classes == 1:
        return segmentation_scores(np.asarray(pred_labels) > 0, np.asarray(true_labels) > 0, spacing)
    per_class = multiclass_scores(pred_labels, true_labels, classes, spacing)
    row = {name: float(np.mean([scores[name] for scores in per_class.values()])) for name in SCORE_NAMES}
    for k, scores in per_class.items():
        row.update({f"{name}_{k}": value for name, value in scores.items()})
    return row
