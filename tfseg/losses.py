"""Segmentation losses, written with `keras.ops` so they run on any Keras backend.

Each loss is a pure function plus a thin registered `keras.losses.Loss` class. Inputs are
cast to float32 first, so mixed precision cannot overflow them. `mode` says how the
model's output is read:

- "binary": one sigmoid channel, targets in {0, 1};
- "multiclass": softmax over K channels, one-hot targets;
- "multilabel": K independent sigmoid channels, targets in {0, 1} per channel.

`from_logits` says whether the model outputs logits or probabilities; tfseg models output
probabilities by default. Losses that need logits (the Lovász hinge) recover them from
clipped probabilities, log(p) − log(1 − p) with p in [1e-7, 1 − 1e-7].

Overlap losses (Dice, Jaccard, Tversky, focal Tversky, sensitivity–specificity, Lovász)
sum over the batch and the pixels of each channel and average the channels; pixel-wise
losses (cross-entropy, focal) average over every pixel.

A spec string names one loss or a weighted sum: `bce+jaccard`, `dice:1.0,focal:0.5`, with
optional parameters in brackets, `focal(alpha=0.25, gamma=1.5):0.5+dice`,
`ce(class_weights=[0.2, 1, 2])`.
"""

from __future__ import annotations

import inspect
import math

import keras
from keras import ops

from tfseg.errors import TfsegError, did_you_mean

MODES = ("binary", "multiclass", "multilabel")
EPSILON = 1e-7
_SPATIAL_AND_BATCH = (0, 1, 2)


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise TfsegError(f"loss mode {mode!r} unknown; valid: {', '.join(MODES)}")


def _probabilities(y_pred, mode: str, from_logits: bool):
    """float32 probabilities: sigmoid (binary, multilabel) or softmax (multiclass) of logits."""
    y_pred = ops.cast(y_pred, "float32")
    if not from_logits:
        return y_pred
    return ops.softmax(y_pred, axis=-1) if mode == "multiclass" else ops.sigmoid(y_pred)


def _logits(y_pred, from_logits: bool):
    """float32 sigmoid logits; from probabilities via clipped log-odds (finite at 0 and 1)."""
    y_pred = ops.cast(y_pred, "float32")
    if from_logits:
        return y_pred
    p = ops.clip(y_pred, EPSILON, 1.0 - EPSILON)
    return ops.log(p) - ops.log1p(-p)


def _pixel_cross_entropy(y_true, y_pred, mode: str, from_logits: bool):
    """Cross-entropy per pixel (multiclass: shape (N, H, W)) or per element (N, H, W, C)."""
    y_pred = ops.cast(y_pred, "float32")
    if mode == "multiclass":
        return ops.categorical_crossentropy(y_true, y_pred, from_logits=from_logits)
    return ops.binary_crossentropy(y_true, y_pred, from_logits=from_logits)


def cross_entropy_loss(y_true, y_pred, mode: str = "binary", from_logits: bool = False, class_weights=None):
    """Binary (sigmoid) or categorical (softmax) cross-entropy, averaged over pixels.

    With class weights the average is weighted by each pixel's true class,
    Σ w·CE / Σ w (as PyTorch's `CrossEntropyLoss(weight=...)`), so scaling all weights
    changes nothing and equal weights give the plain mean.

    Args:
        y_true: (N, H, W, C) targets.
        y_pred: (N, H, W, C) probabilities, or logits with `from_logits=True`.
        mode: str. "binary", "multiclass" or "multilabel". Defaults to "binary".
        from_logits: bool. Whether `y_pred` holds logits. Defaults to False.
        class_weights: sequence of float or None. Multiclass: one weight per class;
            binary and multilabel: (background weight, foreground weight). Defaults to None.
    """
    y_true = ops.cast(y_true, "float32")
    per_pixel = _pixel_cross_entropy(y_true, y_pred, mode, from_logits)
    if class_weights is None:
        return ops.mean(per_pixel)
    weights = ops.convert_to_tensor(class_weights, "float32")
    if mode == "multiclass":
        pixel_weights = ops.sum(y_true * weights, axis=-1)
    else:
        pixel_weights = weights[0] * (1.0 - y_true) + weights[1] * y_true
    return ops.sum(pixel_weights * per_pixel) / ops.maximum(ops.sum(pixel_weights), EPSILON)


def focal_loss(y_true, y_pred, mode: str = "binary", from_logits: bool = False, alpha=None, gamma: float = 2.0):
    """Focal loss (Lin et al. 2017), −α_t (1 − p_t)^γ log p_t averaged over pixels.

    p_t is the probability given to the true class. Binary and multilabel: α_t = α for
    foreground and 1 − α for background; multiclass: α multiplies every pixel. α = None
    means no weighting, so γ = 0 with α = None is plain cross-entropy.

    Args:
        y_true: (N, H, W, C) targets.
        y_pred: (N, H, W, C) probabilities, or logits with `from_logits=True`.
        mode: str. "binary", "multiclass" or "multilabel". Defaults to "binary".
        from_logits: bool. Whether `y_pred` holds logits. Defaults to False.
        alpha: float or None. Class balance weight. Defaults to None.
        gamma: float. Focusing exponent, ≥ 0. Defaults to 2.0.
    """
    y_true = ops.cast(y_true, "float32")
    cross_entropy = _pixel_cross_entropy(y_true, y_pred, mode, from_logits)
    probabilities = _probabilities(y_pred, mode, from_logits)
    if mode == "multiclass":
        p_true = ops.sum(y_true * probabilities, axis=-1)
        balance = 1.0 if alpha is None else alpha
    else:
        p_true = y_true * probabilities + (1.0 - y_true) * (1.0 - probabilities)
        balance = 1.0 if alpha is None else alpha * y_true + (1.0 - alpha) * (1.0 - y_true)
    # The floor keeps the gradient of x**gamma finite at x = 0 when gamma < 1.
    modulation = ops.power(ops.maximum(1.0 - p_true, EPSILON), gamma)
    return ops.mean(balance * modulation * cross_entropy)


def _soft_counts(y_true, y_pred, mode: str, from_logits: bool):
    """Per-channel soft true positives, false positives and false negatives over batch and space."""
    y_true = ops.cast(y_true, "float32")
    y_pred = _probabilities(y_pred, mode, from_logits)
    tp = ops.sum(y_true * y_pred, axis=_SPATIAL_AND_BATCH)
    fp = ops.sum((1.0 - y_true) * y_pred, axis=_SPATIAL_AND_BATCH)
    fn = ops.sum(y_true * (1.0 - y_pred), axis=_SPATIAL_AND_BATCH)
    return tp, fp, fn


def _tversky_index(y_true, y_pred, mode, from_logits, alpha, beta, smooth):
    tp, fp, fn = _soft_counts(y_true, y_pred, mode, from_logits)
    return (tp + smooth) / (tp + alpha * fp + beta * fn + smooth)


def dice_loss(y_true, y_pred, mode: str = "binary", from_logits: bool = False, smooth: float = 1.0):
    """1 − soft Dice, (2·TP + 2s) / (2·TP + FP + FN + 2s) per channel, mean over channels.

    TP = Σ t·p, FP = Σ (1 − t)·p, FN = Σ t·(1 − p), summed over batch and pixels. This
    is the Tversky index with α = β = ½. The smoothing s = 1 (for all overlap losses)
    bounds the gradient where truth and prediction are both empty by about 1/s per
    pixel, inside float16's range (s = 1e-5 would give 1e5 for Jaccard).

    Args:
        y_true: (N, H, W, C) targets.
        y_pred: (N, H, W, C) probabilities, or logits with `from_logits=True`.
        mode: str. "binary", "multiclass" or "multilabel". Defaults to "binary".
        from_logits: bool. Whether `y_pred` holds logits. Defaults to False.
        smooth: float. Added to numerator and denominator. Defaults to 1.0.
    """
    return 1.0 - ops.mean(_tversky_index(y_true, y_pred, mode, from_logits, 0.5, 0.5, smooth))


def jaccard_loss(y_true, y_pred, mode: str = "binary", from_logits: bool = False, smooth: float = 1.0):
    """1 − soft Jaccard, (TP + s) / (TP + FP + FN + s) per channel, mean over channels.

    Args:
        y_true: (N, H, W, C) targets.
        y_pred: (N, H, W, C) probabilities, or logits with `from_logits=True`.
        mode: str. "binary", "multiclass" or "multilabel". Defaults to "binary".
        from_logits: bool. Whether `y_pred` holds logits. Defaults to False.
        smooth: float. Added to numerator and denominator. Defaults to 1.0.
    """
    return 1.0 - ops.mean(_tversky_index(y_true, y_pred, mode, from_logits, 1.0, 1.0, smooth))


def tversky_loss(
    y_true, y_pred, mode: str = "binary", from_logits: bool = False, alpha: float = 0.3, beta: float = 0.7, smooth: float = 1.0
):
    """1 − Tversky index (Salehi et al. 2017), (TP + s) / (TP + α·FP + β·FN + s), channel mean.

    α = β = 0.5 is Dice, α = β = 1 is Jaccard; β > α penalises missed foreground more.

    Args:
        y_true: (N, H, W, C) targets.
        y_pred: (N, H, W, C) probabilities, or logits with `from_logits=True`.
        mode: str. "binary", "multiclass" or "multilabel". Defaults to "binary".
        from_logits: bool. Whether `y_pred` holds logits. Defaults to False.
        alpha: float. Weight of false positives. Defaults to 0.3.
        beta: float. Weight of false negatives. Defaults to 0.7.
        smooth: float. Added to numerator and denominator. Defaults to 1.0.
    """
    return 1.0 - ops.mean(_tversky_index(y_true, y_pred, mode, from_logits, alpha, beta, smooth))


def focal_tversky_loss(
    y_true,
    y_pred,
    mode: str = "binary",
    from_logits: bool = False,
    alpha: float = 0.3,
    beta: float = 0.7,
    gamma: float = 0.75,
    smooth: float = 1.0,
):
    """Focal Tversky loss (Abraham and Khan 2019), mean over channels of (1 − TI)^γ.

    TI is the Tversky index of `tversky_loss`. (1 − TI) is floored at 1e-7 so the
    gradient stays finite at a perfect prediction when γ < 1.

    Args:
        y_true: (N, H, W, C) targets.
        y_pred: (N, H, W, C) probabilities, or logits with `from_logits=True`.
        mode: str. "binary", "multiclass" or "multilabel". Defaults to "binary".
        from_logits: bool. Whether `y_pred` holds logits. Defaults to False.
        alpha: float. Weight of false positives. Defaults to 0.3.
        beta: float. Weight of false negatives. Defaults to 0.7.
        gamma: float. Exponent, > 0. Defaults to 0.75.
        smooth: float. Added to numerator and denominator. Defaults to 1.0.
    """
    index = _tversky_index(y_true, y_pred, mode, from_logits, alpha, beta, smooth)
    return ops.mean(ops.power(ops.maximum(1.0 - index, EPSILON), gamma))


def sensitivity_specificity_loss(
    y_true, y_pred, mode: str = "binary", from_logits: bool = False, sensitivity_weight: float = 0.05, smooth: float = 1e-5
):
    """Sensitivity–specificity loss (Brosch et al. 2015), mean over channels of
    r·Σ(t − p)²·t / (Σt + s) + (1 − r)·Σ(t − p)²·(1 − t) / (Σ(1 − t) + s).

    Args:
        y_true: (N, H, W, C) targets.
        y_pred: (N, H, W, C) probabilities, or logits with `from_logits=True`.
        mode: str. "binary", "multiclass" or "multilabel". Defaults to "binary".
        from_logits: bool. Whether `y_pred` holds logits. Defaults to False.
        sensitivity_weight: float. r, the weight of the foreground (sensitivity) term.
            Defaults to 0.05 (the paper's value).
        smooth: float. Added to each denominator. Defaults to 1e-5.
    """
    y_true = ops.cast(y_true, "float32")
    squared_error = ops.square(y_true - _probabilities(y_pred, mode, from_logits))
    sensitivity_term = ops.sum(squared_error * y_true, axis=_SPATIAL_AND_BATCH) / (
        ops.sum(y_true, axis=_SPATIAL_AND_BATCH) + smooth
    )
    specificity_term = ops.sum(squared_error * (1.0 - y_true), axis=_SPATIAL_AND_BATCH) / (
        ops.sum(1.0 - y_true, axis=_SPATIAL_AND_BATCH) + smooth
    )
    return ops.mean(sensitivity_weight * sensitivity_term + (1.0 - sensitivity_weight) * specificity_term)


def _lovasz_gradient(sorted_truth):
    """Gradient of the Lovász extension of the Jaccard loss, per column of (P, C) targets
    sorted by decreasing error (Berman et al. 2018, Alg. 1)."""
    total = ops.sum(sorted_truth, axis=0)
    intersection = total - ops.cumsum(sorted_truth, axis=0)
    union = total + ops.cumsum(1.0 - sorted_truth, axis=0)  # ≥ 1 at every position
    jaccard = 1.0 - intersection / union
    return ops.concatenate([jaccard[:1], jaccard[1:] - jaccard[:-1]], axis=0)


def _lovasz_per_channel(errors, truth):
    """Σ sorted errors × Lovász gradient, per channel of (P, C) errors and targets."""
    order = ops.argsort(-errors, axis=0)
    sorted_errors = ops.take_along_axis(errors, order, axis=0)
    sorted_truth = ops.take_along_axis(truth, order, axis=0)
    return ops.sum(sorted_errors * ops.stop_gradient(_lovasz_gradient(sorted_truth)), axis=0)


def lovasz_loss(y_true, y_pred, mode: str = "binary", from_logits: bool = False):
    """Lovász hinge (binary, multilabel) or Lovász-softmax (multiclass), Berman et al. 2018.

    Hinge: errors 1 − z·(2t − 1) on logits z, relu, sorted, dotted with the Lovász
    gradient of the Jaccard loss, per channel over the whole batch, channel mean.
    Softmax: errors |t − p| per class, averaged over the classes present in the targets.

    Args:
        y_true: (N, H, W, C) targets.
        y_pred: (N, H, W, C) probabilities, or logits with `from_logits=True`.
        mode: str. "binary", "multiclass" or "multilabel". Defaults to "binary".
        from_logits: bool. Whether `y_pred` holds logits. Defaults to False.
    """
    channels = y_pred.shape[-1]
    truth = ops.reshape(ops.cast(y_true, "float32"), (-1, channels))
    if mode == "multiclass":
        probabilities = ops.reshape(_probabilities(y_pred, mode, from_logits), (-1, channels))
        per_class = _lovasz_per_channel(ops.abs(truth - probabilities), truth)
        present = ops.cast(ops.sum(truth, axis=0) > 0, "float32")
        return ops.sum(per_class * present) / ops.maximum(ops.sum(present), 1.0)
    logits = ops.reshape(_logits(y_pred, from_logits), (-1, channels))
    return ops.mean(_lovasz_per_channel(ops.relu(1.0 - logits * (2.0 * truth - 1.0)), truth))


def _check_range(loss: str, parameter: str, value, low: float, high: float) -> None:
    if not (isinstance(value, (int, float)) and low <= value <= high):
        raise TfsegError(f"loss {loss}: {parameter} must be a number in [{low}, {high}], got {value!r}")


class _SegmentationLoss(keras.losses.Loss):
    """Base of the loss classes: a thin class around a loss function.

    A subclass names its `function`; the loss's own parameters are that function's
    keyword arguments after `mode` and `from_logits`, with their defaults, declared there
    and nowhere else: each becomes an argument of the class, one attribute, a key of
    `get_config` and a parameter a spec may set in brackets. `ranges` maps a parameter
    to the closed interval its numbers must lie in (None, where it is the default, is
    always allowed).
    """

    default_name = ""
    function = None
    ranges: dict[str, tuple[float, float]] = {}
    parameters: dict = {}
    """Parameter name → default, read from `function` (set for each subclass)."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        signature = inspect.signature(cls.function)
        cls.parameters = {
            name: parameter.default for name, parameter in signature.parameters.items()
            if name not in ("y_true", "y_pred", "mode", "from_logits")
        }

    def __init__(self, mode: str = "binary", from_logits: bool = False, name: str | None = None, **kwargs):
        _check_mode(mode)
        values = {parameter: kwargs.pop(parameter, default) for parameter, default in self.parameters.items()}
        super().__init__(name=name or type(self).default_name, **kwargs)
        self.mode = mode
        self.from_logits = from_logits
        for parameter, value in self._checked(values).items():
            setattr(self, parameter, value)

    def _checked(self, values: dict) -> dict:
        """`values` after the range checks of `ranges`; a subclass may convert them too."""
        for parameter, (low, high) in self.ranges.items():
            if values[parameter] is not None or self.parameters[parameter] is not None:
                _check_range(self.default_name, parameter, values[parameter], low, high)
        return values

    def _parameter_values(self) -> dict:
        return {parameter: getattr(self, parameter) for parameter in self.parameters}

    def call(self, y_true, y_pred):
        return type(self).function(y_true, y_pred, mode=self.mode, from_logits=self.from_logits, **self._parameter_values())

    def get_config(self):
        return {**super().get_config(), "mode": self.mode, "from_logits": self.from_logits, **self._parameter_values()}


_NON_NEGATIVE = (0.0, math.inf)


@keras.saving.register_keras_serializable(package="tfseg")
class CrossEntropyLoss(_SegmentationLoss):
    """Binary or categorical cross-entropy with optional class weights (`cross_entropy_loss`)."""

    default_name = "cross_entropy"
    function = staticmethod(cross_entropy_loss)

    def _checked(self, values: dict) -> dict:
        class_weights = values["class_weights"]
        if class_weights is not None:
            if not all(isinstance(w, (int, float)) and w >= 0 for w in class_weights) or not any(class_weights):
                raise TfsegError(f"loss ce: class_weights must be non-negative numbers, not all 0; got {class_weights!r}")
            class_weights = [float(w) for w in class_weights]
        return {"class_weights": class_weights}


@keras.saving.register_keras_serializable(package="tfseg")
class FocalLoss(_SegmentationLoss):
    """Focal loss (`focal_loss`)."""

    default_name = "focal"
    function = staticmethod(focal_loss)
    ranges = {"alpha": (0.0, 1.0), "gamma": _NON_NEGATIVE}


@keras.saving.register_keras_serializable(package="tfseg")
class DiceLoss(_SegmentationLoss):
    """Soft Dice loss (`dice_loss`)."""

    default_name = "dice"
    function = staticmethod(dice_loss)
    ranges = {"smooth": _NON_NEGATIVE}


@keras.saving.register_keras_serializable(package="tfseg")
class JaccardLoss(_SegmentationLoss):
    """Soft Jaccard (IoU) loss (`jaccard_loss`)."""

    default_name = "jaccard"
    function = staticmethod(jaccard_loss)
    ranges = {"smooth": _NON_NEGATIVE}


@keras.saving.register_keras_serializable(package="tfseg")
class TverskyLoss(_SegmentationLoss):
    """Tversky loss (`tversky_loss`)."""

    default_name = "tversky"
    function = staticmethod(tversky_loss)
    ranges = {"alpha": _NON_NEGATIVE, "beta": _NON_NEGATIVE, "smooth": _NON_NEGATIVE}


@keras.saving.register_keras_serializable(package="tfseg")
class FocalTverskyLoss(_SegmentationLoss):
    """Focal Tversky loss (`focal_tversky_loss`)."""

    default_name = "focal_tversky"
    function = staticmethod(focal_tversky_loss)
    ranges = {"alpha": _NON_NEGATIVE, "beta": _NON_NEGATIVE, "gamma": (EPSILON, math.inf), "smooth": _NON_NEGATIVE}


@keras.saving.register_keras_serializable(package="tfseg")
class SensitivitySpecificityLoss(_SegmentationLoss):
    """Sensitivity–specificity loss (`sensitivity_specificity_loss`)."""

    default_name = "sensitivity_specificity"
    function = staticmethod(sensitivity_specificity_loss)
    ranges = {"sensitivity_weight": (0.0, 1.0), "smooth": _NON_NEGATIVE}


@keras.saving.register_keras_serializable(package="tfseg")
class LovaszLoss(_SegmentationLoss):
    """Lovász hinge (binary, multilabel) or Lovász-softmax (multiclass) (`lovasz_loss`)."""

    default_name = "lovasz"
    function = staticmethod(lovasz_loss)


_LOSSES = {
    "bce": CrossEntropyLoss,
    "ce": CrossEntropyLoss,
    "dice": DiceLoss,
    "jaccard": JaccardLoss,
    "focal": FocalLoss,
    "tversky": TverskyLoss,
    "focal_tversky": FocalTverskyLoss,
    "sensitivity_specificity": SensitivitySpecificityLoss,
    "lovasz": LovaszLoss,
}


def names() -> list[str]:
    """The loss names usable alone or in a weighted sum."""
    return sorted(_LOSSES)


def _split_outside_brackets(spec: str, text: str, separators: str) -> list[str]:
    """Splits `text` at each of `separators` outside brackets; raises on unbalanced brackets."""
    parts, depth, start = [], 0, 0
    for position, character in enumerate(text):
        if character in "([":
            depth += 1
        elif character in ")]":
            depth -= 1
        elif character in separators and depth == 0:
            parts.append(text[start:position])
            start = position + 1
        if depth < 0:
            break
    if depth != 0:
        raise TfsegError(f"loss {spec!r}: unbalanced brackets")
    return [*parts, text[start:]]


def _parse_value(text: str):
    """A parameter value: a finite number, None, True, False, a quoted string, or a
    [list] / (tuple) of values. Raises ValueError otherwise."""
    text = text.strip()
    if text[:1] + text[-1:] in ("[]", "()"):
        inner = text[1:-1]
        values = [_parse_value(part) for part in _split_outside_brackets(text, inner, ",")] if inner.strip() else []
        return values if text[0] == "[" else tuple(values)
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    constants = {"None": None, "True": True, "False": False}
    if text in constants:
        return constants[text]
    for number in (int, float):
        try:
            value = number(text)
        except ValueError:
            continue
        if math.isfinite(value):
            return value
    raise ValueError(text)


def _parse_parameters(spec: str, name: str, text: str) -> dict:
    """`alpha=0.25, gamma=2` → {"alpha": 0.25, "gamma": 2}, checked against the loss's parameters."""
    valid = list(_LOSSES[name].parameters)
    parameters = {}
    try:
        for item in _split_outside_brackets(spec, text, ",") if text.strip() else []:
            key, equals, value = item.partition("=")
            if not equals or not key.strip().isidentifier():
                raise ValueError(item)
            parameters[key.strip()] = _parse_value(value)
    except ValueError:
        raise TfsegError(
            f"loss {spec!r}: parameters of {name} must read key=value, e.g. {name}({', '.join(f'{p}=...' for p in valid)})"
        ) from None
    for parameter in parameters:
        if parameter not in valid:
            raise TfsegError(
                f"loss {spec!r}: {name} has no parameter {parameter!r}; "
                f"{did_you_mean(parameter, valid, end=' ')}valid: {', '.join(valid) or 'none'}"
            )
    return parameters


def _parse_term(spec: str, term: str) -> tuple[str, dict, float]:
    """`focal(gamma=2):0.5` → ("focal", {"gamma": 2}, 0.5)."""
    head, *weight = _split_outside_brackets(spec, term, ":")
    name, bracket, arguments = head.strip().partition("(")
    name = name.strip().lower()
    well_formed = name.isidentifier() and (not bracket or arguments.endswith(")"))
    if not well_formed or name not in _LOSSES:
        given = name if well_formed else term.strip()
        advice = did_you_mean(given, names(), end=" ")
        raise TfsegError(f"unknown loss {given!r} in {spec!r}; {advice}valid: {', '.join(names())}")
    parameters = _parse_parameters(spec, name, arguments[:-1]) if bracket else {}
    text = ":".join(weight).strip() if weight else None
    try:
        value = float(text) if text is not None else 1.0
    except ValueError:
        raise TfsegError(f"loss {spec!r}: weight {text!r} of {name} is not a number") from None
    if not math.isfinite(value):
        raise TfsegError(f"loss {spec!r}: weight {text!r} of {name} is not finite")
    return name, parameters, value


def parse_loss_spec(spec: str) -> list[tuple[str, dict, float]]:
    """Parses a loss spec into [(name, parameters, weight), ...].

    Args:
        spec: str. Terms joined by `+` or `,`; each is `name`, optionally with parameters
            `name(key=value, ...)` and a weight `name:weight` (default 1), e.g.
            `bce+dice`, `dice:1.0,focal(gamma=1.5):0.5`.

    Returns:
        One (name, parameters, weight) per term.
    """
    return [_parse_term(spec, term) for term in _split_outside_brackets(spec, spec, "+,")]


def _build_term(spec: str, name: str, parameters: dict, mode: str, from_logits: bool) -> keras.losses.Loss:
    try:
        return _LOSSES[name](mode=mode, from_logits=from_logits, **parameters)
    except TypeError as error:  # e.g. class_weights=3 (not a sequence)
        raise TfsegError(f"loss {spec!r}: bad parameters for {name}: {error}") from None


@keras.saving.register_keras_serializable(package="tfseg")
class CombinedLoss(keras.losses.Loss):
    """A weighted sum of named losses, e.g. `CombinedLoss("dice:1.0,bce:0.8")`.

    Args:
        spec: str. A loss spec (see `parse_loss_spec`).
        mode: str. "binary", "multiclass" or "multilabel". Defaults to "binary".
        from_logits: bool. Whether predictions are logits. Defaults to False.
        name: str or None. Defaults to "loss".
    """

    def __init__(self, spec: str, mode: str = "binary", from_logits: bool = False, name: str | None = None, **kwargs):
        _check_mode(mode)
        super().__init__(name=name or "loss", **kwargs)
        self.spec = spec
        self.mode = mode
        self.from_logits = from_logits
        self.terms = [
            (weight, _build_term(spec, term, parameters, mode, from_logits))
            for term, parameters, weight in parse_loss_spec(spec)
        ]

    def call(self, y_true, y_pred):
        total = sum(weight * loss.call(y_true, y_pred) for weight, loss in self.terms)
        # One value per sample: Keras divides per-sample losses by the number of replicas
        # under tf.distribute (so summed replica gradients are the global mean) but passes
        # a scalar through unscaled, which would multiply gradients by the replica count.
        return ops.broadcast_to(total, ops.shape(y_true)[:1])

    def get_config(self):
        return {**super().get_config(), "spec": self.spec, "mode": self.mode, "from_logits": self.from_logits}


def get(spec: str, classes: int = 1, from_logits: bool = False, mode: str | None = None) -> CombinedLoss:
    """The loss for a spec string.

    Args:
        spec: str. A name from `names()` or a weighted sum (`bce+dice`, `dice:1.0,bce:0.8`),
            optionally with parameters (`focal(gamma=1.5)+dice`).
        classes: int. Model output channels: 1 (binary) or K. Defaults to 1.
        from_logits: bool. Whether the model outputs logits. Defaults to False.
        mode: str or None. None picks "binary" for one class and "multiclass" otherwise;
            "multilabel" reads K channels as independent sigmoids. Defaults to None.

    Returns:
        A `CombinedLoss` (a single name is a sum of one term).
    """
    mode = mode or ("binary" if classes == 1 else "multiclass")
    loss = CombinedLoss(spec, mode=mode, from_logits=from_logits)
    expected = classes if mode == "multiclass" else 2
    for _, term in loss.terms:
        weights = getattr(term, "class_weights", None)
        if weights is not None and len(weights) != expected:
            what = f"one per class ({classes})" if mode == "multiclass" else "2 (background, foreground)"
            raise TfsegError(f"loss {spec!r}: class_weights has {len(weights)} values, expected {what}")
    return loss
