"""The model card of an export folder: everything a runtime needs to reproduce `predict.py`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tfseg.config import Config
from tfseg.data.io import ZSCORE_EPS
from tfseg.errors import TfsegError
from tfseg.export.saved_model import SAVED_MODEL_ENDPOINT
from tfseg.run import RunDir

_NORMALIZATION_TEXT = {
    "scale": "scale to [0, 1] (divide 8-bit images by 255, 16-bit by 65535)",
    "zscore": (f"z-score each channel over the whole image (after any resize, before any tiling): subtract its mean, "
               f"divide by its standard deviation (at least {ZSCORE_EPS:g})"),
}
"""How the card's `preprocessing` states each `data.normalize`."""

MODEL_CARD = "model_card.json"
"""The model card's file in an export folder; an export is complete when it is there."""


def model_card(
    config: Config,
    monitor: str,
    score: float | None,
    best_epoch: int | None,
    threshold: float = 0.5,
    threshold_choice: str = "fixed",
    class_names: list[str] | None = None,
    postprocess: str = "none",
    tta: str = "none",
) -> dict[str, Any]:
    """Everything a runtime needs to reproduce `predict.py` with an export: input,
    preprocessing, geometry, output, threshold, post-processing, test-time augmentation,
    class names, and the validation score.

    Args:
        config: Config. The run's resolved config.
        monitor: str. The validation metric the best model was chosen by.
        score: float or None. Its value at the best epoch.
        best_epoch: int or None. That epoch (numbered from 1).
        threshold: float. Binary threshold on the foreground probability (ignored for
            K classes: arg-max). Defaults to 0.5.
        threshold_choice: str. How the threshold was chosen. Defaults to "fixed".
        class_names: list of str or None. Names of labels 0.. (`classes.txt`); None:
            background and foreground, or class_0..class_K-1.
        postprocess: str. The post-processing spec predict.py applies to the labels
            (`tfseg.config.parse_postprocess`). Defaults to "none".
        tta: str. The test-time augmentation predict.py averages over (`tfseg.config.TTA_FLIPS`).
            Defaults to "none".
    """
    data = config.data
    height, width = data.image_size
    colour = "grey" if data.channels == 1 else "RGB"
    binary = data.classes == 1
    if class_names is None:
        class_names = ["background", "foreground"] if binary else [f"class_{k}" for k in range(data.classes)]
    return {
        "model": config.model.name,
        "model_options": config.model.options,
        "input": {"shape": [None, height, width, data.channels], "dtype": "float32", "channels": colour},
        "preprocessing": f"read as {colour}, {data.describe_geometry()}, {_NORMALIZATION_TEXT[data.normalize]}",
        "normalize": data.normalize,
        "classes": data.classes,
        "output": (
            "sigmoid foreground probability, shape (N, H, W, 1)"
            if data.classes == 1
            else f"softmax probabilities of {data.classes} classes, shape (N, H, W, {data.classes})"
        ),
        **({"scale": {"uint8": 255, "uint16": 65535}} if data.normalize == "scale" else {"zscore_eps": ZSCORE_EPS}),
        "geometry": {
            "mode": "sliding_window" if data.is_crop_trained() else "resize",
            "size": [height, width],
            "overlap": 0.5 if data.is_crop_trained() else None,
        },
        "activation": "sigmoid" if binary else "softmax",
        "class_names": class_names,
        "threshold": float(threshold) if binary else "argmax",
        "threshold_choice": threshold_choice if binary else "arg-max over the classes",
        "postprocess": postprocess,
        "tta": tta,
        "validation": {"metric": monitor, "value": score, "epoch": best_epoch},
        "saved_model_endpoint": SAVED_MODEL_ENDPOINT,
    }


def read_model_card(path: str | Path) -> dict[str, Any] | None:
    """The model card that describes the model at `path`, or None.

    A run directory's card is `export/model_card.json`; an export folder holds its own;
    a model file (`.keras`, `.onnx`, `.tflite`) is described by the card in its folder
    (a run's `best.keras` by the run's export card).
    """
    path = Path(path)
    if RunDir(path).config.is_file():
        candidate = RunDir(path).export / MODEL_CARD
    elif path.is_dir():
        candidate = path / MODEL_CARD
    elif path.name == "best.keras" and RunDir(path.parent).config.is_file():
        candidate = RunDir(path.parent).export / MODEL_CARD
    else:
        candidate = path.parent / MODEL_CARD
    if not candidate.is_file():
        return None
    try:
        return json.loads(candidate.read_text())
    except json.JSONDecodeError as error:
        raise TfsegError(f"{candidate}: not a model card, expected JSON ({error})") from None


def card_normalize(card: dict[str, Any] | None) -> str:
    """The normalisation a model card gives (`data.normalize`): its `normalize`, else "scale"
    (no card, or a card written before tfseg had the option)."""
    return (card or {}).get("normalize", "scale")


def card_threshold(card: dict[str, Any] | None) -> float:
    """The binary threshold a model card gives: its `threshold`, else 0.5 (no card, or a
    multi-class card, whose arg-max needs none)."""
    value = (card or {}).get("threshold")
    return float(value) if isinstance(value, (int, float)) else 0.5


def card_postprocess(card: dict[str, Any] | None) -> str:
    """The post-processing spec a model card gives: its `postprocess`, else "none" (no card,
    or a card written before tfseg recorded it)."""
    return (card or {}).get("postprocess", "none")


def card_tta(card: dict[str, Any] | None) -> str:
    """The test-time augmentation a model card gives: its `tta`, else "none" (no card, or a
    card written before tfseg recorded it)."""
    return (card or {}).get("tta", "none")
