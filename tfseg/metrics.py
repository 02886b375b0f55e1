"""Keras training metrics accumulated over the whole epoch from confusion counts.

All metrics share one counting function (`confusion_counts`) and keep per-class totals
of true/false positives/negatives across batches; the score is computed from the totals
at the end, never as a mean of per-batch scores. A ratio with a zero denominator (0/0)
scores 1 when prediction and truth agree on every pixel of that class (e.g. a class absent
from both) and 0 otherwise. These are the conventions of
`tfseg.evaluation.segmentation_scores`.

Binary (one output channel): foreground where probability > threshold. Multi-class: the
arg-max class; the mean over classes leaves out class 0 (background) unless
`include_background=True`, and `class_id` selects one class's score.
"""

from __future__ import annotations

import keras
from keras import ops

from tfseg.errors import TfsegError


def confusion_counts(y_true, y_pred, threshold: float = 0.5, from_logits: bool = False):
    """Per-class (tp, fp, fn, tn) of a batch, each a float32 vector of length C.

    Args:
        y_true: (N, H, W, C) targets: {0, 1} for C == 1, one-hot for C > 1.
        y_pred: (N, H, W, C) probabilities (or logits with `from_logits=True`).
        threshold: float. Binary probability threshold. Defaults to 0.5.
        from_logits: bool. Whether `y_pred` holds logits. Defaults to False.
    """
    y_true = ops.cast(y_true, "float32")
    y_pred = ops.cast(y_pred, "float32")
    channels = y_pred.shape[-1]
    if channels == 1:
        if from_logits:
            y_pred = ops.sigmoid(y_pred)
        predicted = ops.cast(y_pred > threshold, "float32")
        actual = ops.cast(y_true > 0.5, "float32")
    else:
        predicted = ops.one_hot(ops.argmax(y_pred, axis=-1), channels)
        actual = ops.one_hot(ops.argmax(y_true, axis=-1), channels)
    predicted = ops.reshape(predicted, (-1, channels))
    actual = ops.reshape(actual, (-1, channels))
    tp = ops.sum(predicted * actual, axis=0)
    fp = ops.sum(predicted * (1.0 - actual), axis=0)
    fn = ops.sum((1.0 - predicted) * actual, axis=0)
    tn = ops.sum((1.0 - predicted) * (1.0 - actual), axis=0)
    return tp, fp, fn, tn


def _ratio(numerator, denominator, fp, fn):
    """numerator / denominator; for 0/0, 1 where prediction and truth agree (fp = fn = 0), else 0."""
    safe = ops.where(denominator > 0, denominator, 1.0)
    agree = ops.where(fp + fn > 0, 0.0, 1.0)
    return ops.where(denominator > 0, numerator / safe, agree)


SCORES = {
    "iou": lambda tp, fp, fn, tn: _ratio(tp, tp + fp + fn, fp, fn),
    "dice": lambda tp, fp, fn, tn: _ratio(2.0 * tp, 2.0 * tp + fp + fn, fp, fn),
    "precision": lambda tp, fp, fn, tn: _ratio(tp, tp + fp, fp, fn),
    "recall": lambda tp, fp, fn, tn: _ratio(tp, tp + fn, fp, fn),
    "specificity": lambda tp, fp, fn, tn: _ratio(tn, tn + fp, fp, fn),
    "accuracy": lambda tp, fp, fn, tn: _ratio(tp + tn, tp + fp + fn + tn, fp, fn),
}
"""Score formulas from per-class (tp, fp, fn, tn) count vectors."""


@keras.saving.register_keras_serializable(package="tfseg")
class ConfusionScore(keras.metrics.Metric):
    """An epoch-level segmentation score from accumulated confusion counts.

    Args:
        score: str. One of `SCORES`: "iou", "dice" (F1), "precision", "recall",
            "specificity", "accuracy".
        classes: int. Output channels: 1 (binary) or K. Defaults to 1.
        threshold: float. Binary probability threshold. Defaults to 0.5.
        from_logits: bool. Whether predictions are logits. Defaults to False.
        class_id: int or None. Report this class only; None averages. Defaults to None.
        include_background: bool. Multi-class mean includes class 0. Defaults to False.
        name: str or None. Defaults to the score's name.
    """

    def __init__(
        self,
        score: str = "iou",
        classes: int = 1,
        threshold: float = 0.5,
        from_logits: bool = False,
        class_id: int | None = None,
        include_background: bool = False,
        name: str | None = None,
        **kwargs,
    ):
        if score not in SCORES:
            raise TfsegError(f"unknown metric score {score!r}; valid: {', '.join(SCORES)}")
        if class_id is not None and not 0 <= class_id < classes:
            raise TfsegError(f"metric {score}: class_id {class_id} outside 0..{classes - 1} for {classes} classes")
        if not 0.0 < threshold < 1.0:
            raise TfsegError(f"metric {score}: threshold {threshold} must lie in (0, 1)")
        super().__init__(name=name or score, **kwargs)
        self.score = score
        self.classes = classes
        self.threshold = threshold
        self.from_logits = from_logits
        self.class_id = class_id
        self.include_background = include_background
        self.counts = [
            self.add_variable(shape=(classes,), initializer="zeros", name=count, dtype="float32")
            for count in ("tp", "fp", "fn", "tn")
        ]

    def update_state(self, y_true, y_pred, sample_weight=None):
        """Adds a batch's confusion counts; pixel weights are not supported."""
        if sample_weight is not None:
            raise TfsegError(f"metric {self.name}: sample_weight is not supported (scores come from pixel counts)")
        for variable, count in zip(self.counts, confusion_counts(y_true, y_pred, self.threshold, self.from_logits)):
            variable.assign(variable + count)

    def result(self):
        per_class = SCORES[self.score](*self.counts)
        if self.class_id is not None:
            return per_class[self.class_id]
        if self.classes > 1 and not self.include_background:
            per_class = per_class[1:]
        return ops.mean(per_class)

    def reset_state(self):
        for variable in self.counts:
            variable.assign(ops.zeros_like(variable))

    def get_config(self):
        return {
            **super().get_config(),
            "score": self.score,
            "classes": self.classes,
            "threshold": self.threshold,
            "from_logits": self.from_logits,
            "class_id": self.class_id,
            "include_background": self.include_background,
        }


def training_metrics(classes: int = 1, threshold: float = 0.5, from_logits: bool = False) -> list[ConfusionScore]:
    """The metrics tfseg trains with.

    Epoch IoU (`iou`) and Dice/F1 (`dice`): binary, or for K classes the mean over the
    foreground classes; with K classes also each foreground class's IoU (`iou_<k>`).

    Args:
        classes: int. Output channels: 1 (binary) or K. Defaults to 1.
        threshold: float. Binary probability threshold. Defaults to 0.5.
        from_logits: bool. Whether the model outputs logits. Defaults to False.
    """
    means = [ConfusionScore(score, classes, threshold, from_logits) for score in ("iou", "dice")]
    per_class = [
        ConfusionScore("iou", classes, threshold, from_logits, class_id=k, name=f"iou_{k}") for k in range(1, classes)
    ]
    return means + per_class
