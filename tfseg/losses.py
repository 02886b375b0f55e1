"""Segmentation losses, written with `keras.ops` so they run on any Keras backend.

Each loss is a pure function plus a thin registered `keras.losses.Loss` class. Inputs are
cast to float32 first, so mixed precision cannot overflow them. `mode` says how the
model's output is read: "binary" (one sigmoid channel, or independent sigmoid channels)
or "multiclass" (softmax over channels, one-hot targets). `from_logits` says whether the
model outputs logits or probabilities; tfseg models output probabilities by default.

Sums are written as `bce+dice` (weights 1) or `dice:1.0,bce:0.8` (explicit weights).
"""

from __future__ import annotations

import keras
from keras import ops

from tfseg.errors import TfsegError

MODES = ("binary", "multiclass")
_SPATIAL_AND_BATCH = (0, 1, 2)


def _probabilities(y_pred, mode: str, from_logits: bool):
    y_pred = ops.cast(y_pred, "float32")
    if not from_logits:
        return y_pred
    return ops.sigmoid(y_pred) if mode == "binary" else ops.softmax(y_pred, axis=-1)


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise TfsegError(f"loss mode {mode!r} unknown; valid: {', '.join(MODES)}")


def cross_entropy_loss(y_true, y_pred, mode: str = "binary", from_logits: bool = False):
    """Mean binary (sigmoid) or categorical (softmax) cross-entropy over all pixels."""
    y_true = ops.cast(y_true, "float32")
    y_pred = ops.cast(y_pred, "float32")
    if mode == "binary":
        return ops.mean(keras.losses.binary_crossentropy(y_true, y_pred, from_logits=from_logits))
    return ops.mean(keras.losses.categorical_crossentropy(y_true, y_pred, from_logits=from_logits))


def _overlap(y_true, y_pred, mode: str, from_logits: bool):
    """Per-channel soft intersection and soft sizes, summed over batch and space."""
    y_true = ops.cast(y_true, "float32")
    y_pred = _probabilities(y_pred, mode, from_logits)
    intersection = ops.sum(y_true * y_pred, axis=_SPATIAL_AND_BATCH)
    return intersection, ops.sum(y_true, axis=_SPATIAL_AND_BATCH), ops.sum(y_pred, axis=_SPATIAL_AND_BATCH)


def dice_loss(y_true, y_pred, mode: str = "binary", from_logits: bool = False, smooth: float = 1e-5):
    """1 − soft Dice, (2|T·P| + s) / (|T| + |P| + s), per channel over the batch, channel mean."""
    intersection, true_size, pred_size = _overlap(y_true, y_pred, mode, from_logits)
    score = (2.0 * intersection + smooth) / (true_size + pred_size + smooth)
    return 1.0 - ops.mean(score)


def jaccard_loss(y_true, y_pred, mode: str = "binary", from_logits: bool = False, smooth: float = 1e-5):
    """1 − soft Jaccard, (|T·P| + s) / (|T| + |P| − |T·P| + s), per channel, channel mean."""
    intersection, true_size, pred_size = _overlap(y_true, y_pred, mode, from_logits)
    score = (intersection + smooth) / (true_size + pred_size - intersection + smooth)
    return 1.0 - ops.mean(score)


class _SegmentationLoss(keras.losses.Loss):
    """Base of the loss classes: one attribute per argument, config returns exactly those."""

    function = None

    def __init__(self, mode: str = "binary", from_logits: bool = False, name: str | None = None, **kwargs):
        _check_mode(mode)
        super().__init__(name=name or type(self).default_name, **kwargs)
        self.mode = mode
        self.from_logits = from_logits

    def call(self, y_true, y_pred):
        return type(self).function(y_true, y_pred, mode=self.mode, from_logits=self.from_logits)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode, "from_logits": self.from_logits}


@keras.saving.register_keras_serializable(package="tfseg")
class CrossEntropyLoss(_SegmentationLoss):
    """Binary or categorical cross-entropy (see `cross_entropy_loss`)."""

    default_name = "cross_entropy"
    function = staticmethod(cross_entropy_loss)


class _SmoothedLoss(_SegmentationLoss):
    def __init__(self, mode: str = "binary", from_logits: bool = False, smooth: float = 1e-5, **kwargs):
        super().__init__(mode=mode, from_logits=from_logits, **kwargs)
        self.smooth = smooth

    def call(self, y_true, y_pred):
        return type(self).function(y_true, y_pred, mode=self.mode, from_logits=self.from_logits, smooth=self.smooth)

    def get_config(self):
        return {**super().get_config(), "smooth": self.smooth}


@keras.saving.register_keras_serializable(package="tfseg")
class DiceLoss(_SmoothedLoss):
    """Soft Dice loss (see `dice_loss`)."""

    default_name = "dice"
    function = staticmethod(dice_loss)


@keras.saving.register_keras_serializable(package="tfseg")
class JaccardLoss(_SmoothedLoss):
    """Soft Jaccard (IoU) loss (see `jaccard_loss`)."""

    default_name = "jaccard"
    function = staticmethod(jaccard_loss)


_LOSSES = {"bce": CrossEntropyLoss, "ce": CrossEntropyLoss, "dice": DiceLoss, "jaccard": JaccardLoss}


def names() -> list[str]:
    """The loss names usable alone or in a weighted sum."""
    return sorted(_LOSSES)


def parse_loss_spec(spec: str) -> list[tuple[str, float]]:
    """Parses `bce+dice` or `dice:1.0,bce:0.8` into [(name, weight), ...]."""
    terms = []
    for part in spec.replace("+", ",").split(","):
        part = part.strip()
        name, _, weight = part.partition(":")
        name = name.strip().lower()
        if name not in _LOSSES:
            raise TfsegError(f"unknown loss {name or part!r} in {spec!r}; valid: {', '.join(names())}")
        try:
            terms.append((name, float(weight) if weight else 1.0))
        except ValueError:
            raise TfsegError(f"loss {spec!r}: weight {weight!r} of {name} is not a number") from None
    return terms


@keras.saving.register_keras_serializable(package="tfseg")
class CombinedLoss(keras.losses.Loss):
    """A weighted sum of named losses, e.g. `CombinedLoss("dice:1.0,bce:0.8")`.

    Args:
        spec: str. Names joined by `+` or `,`, each optionally `name:weight`.
        mode: str. "binary" or "multiclass". Defaults to "binary".
        from_logits: bool. Whether predictions are logits. Defaults to False.
    """

    def __init__(self, spec: str, mode: str = "binary", from_logits: bool = False, name: str | None = None, **kwargs):
        _check_mode(mode)
        super().__init__(name=name or "loss", **kwargs)
        self.spec = spec
        self.mode = mode
        self.from_logits = from_logits
        self.terms = [(weight, _LOSSES[term](mode=mode, from_logits=from_logits)) for term, weight in parse_loss_spec(spec)]

    def call(self, y_true, y_pred):
        return sum(weight * loss.call(y_true, y_pred) for weight, loss in self.terms)

    def get_config(self):
        return {**super().get_config(), "spec": self.spec, "mode": self.mode, "from_logits": self.from_logits}


def get(spec: str, classes: int = 1, from_logits: bool = False) -> keras.losses.Loss:
    """The loss for a spec string, in binary mode for one class and multiclass otherwise.

    Args:
        spec: str. A name from `names()` or a weighted sum (`bce+dice`, `dice:1.0,bce:0.8`).
        classes: int. Model output channels: 1 (binary) or K (multi-class). Defaults to 1.
        from_logits: bool. Whether the model outputs logits. Defaults to False.
    """
    parse_loss_spec(spec)  # validates names and weights
    return CombinedLoss(spec, mode="binary" if classes == 1 else "multiclass", from_logits=from_logits)
