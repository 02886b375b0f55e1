"""Figures and overlays shared by training, evaluation and prediction (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import cv2
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from matplotlib.ticker import MaxNLocator  # noqa: E402

from tfseg.files import atomic_path  # noqa: E402


def history_figure(history: pd.DataFrame) -> plt.Figure:
    """Loss and each metric per epoch (whole numbers on the axis), train vs validation, one
    panel each.

    Args:
        history: DataFrame. A run's history (`tfseg.run_state.read_history`: epoch from 1,
            loss, val_loss, ...).
    """
    names = [c for c in history.columns if c not in ("epoch", "learning_rate", "epoch_seconds") and not c.startswith("val_")]
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.4), squeeze=False)
    epochs = history["epoch"]
    for ax, name in zip(axes[0], names):
        ax.plot(epochs, history[name], marker="o", markersize=3, label="train")
        if f"val_{name}" in history:
            ax.plot(epochs, history[f"val_{name}"], marker="o", markersize=3, label="validation")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    return fig


def plot_history(history: pd.DataFrame, out_path: str | Path) -> Path:
    """Writes `history_figure(history)` to the PNG file `out_path` and returns its path."""
    fig = history_figure(history)
    with atomic_path(out_path) as temporary:
        fig.savefig(temporary, dpi=110)
    plt.close(fig)
    return Path(out_path)


TRUE_POSITIVE = (255, 255, 0)
FALSE_POSITIVE = (255, 0, 0)
FALSE_NEGATIVE = (0, 255, 0)
TRUTH_OUTLINE = (0, 229, 255)
"""The colour (RGB) of the ground truth's outline, drawn solid: cyan."""
PREDICTION_OUTLINE = (255, 0, 255)
"""The colour (RGB) of the prediction's outline, drawn dashed: magenta."""
CLASS_COLOURS = plt.get_cmap("tab10").colors


def class_colour(label: int) -> tuple[int, int, int]:
    """The RGB colour (0..255) of foreground label `label` (1, 2, ...) in overlays: tab10's
    colours in order (label 1 blue, 2 orange, ...)."""
    return tuple(int(round(channel * 255)) for channel in CLASS_COLOURS[(label - 1) % len(CLASS_COLOURS)])


def display_image(image: np.ndarray) -> np.ndarray:
    """An (H, W, 1|3) uint8/uint16 image (or (H, W)) as (H, W, 3) uint8 RGB for display."""
    image = np.asarray(image)
    if image.dtype == np.uint16:
        image = (image // 257).astype(np.uint8)
    if image.ndim == 2:
        image = image[..., None]
    return np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image[..., :3].astype(np.uint8)


def outcome_overlay(image: np.ndarray, pred: np.ndarray, truth: np.ndarray, alpha: float = 0.55) -> np.ndarray:
    """Colours each pixel of `image` by its outcome: TP yellow, FP red, FN green.

    Args:
        image: (H, W, C) or (H, W) uint8/uint16 image.
        pred: (H, W) bool, predicted mask.
        truth: (H, W) bool, reference mask.
        alpha: float. Opacity of the colours; 1 paints them solid. Defaults to 0.55.

    Returns:
        (H, W, 3) uint8 RGB.
    """
    pred, truth = np.asarray(pred, bool), np.asarray(truth, bool)
    canvas = display_image(image).astype(np.float32)
    for where, colour in ((pred & truth, TRUE_POSITIVE), (pred & ~truth, FALSE_POSITIVE), (~pred & truth, FALSE_NEGATIVE)):
        canvas[where] = (1 - alpha) * canvas[where] + alpha * np.asarray(colour, np.float32)
    return np.round(canvas).astype(np.uint8)


def legend_colours() -> dict[str, str]:
    """The colours of `outcome_picture` as "#rrggbb", by what they mark: true_positive,
    false_positive, false_negative, truth (outline) and prediction (outline)."""
    colours = {"true_positive": TRUE_POSITIVE, "false_positive": FALSE_POSITIVE, "false_negative": FALSE_NEGATIVE,
               "truth": TRUTH_OUTLINE, "prediction": PREDICTION_OUTLINE}
    return {name: "#%02x%02x%02x" % rgb for name, rgb in colours.items()}


def outcome_picture(image: np.ndarray, pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """One case as the evaluation pictures show it: `outcome_overlay` of its pixels, the ground
    truth's outline (cyan, solid) and the prediction's (magenta, dashed) over it, 1 px thick
    per 300 px of the image's shorter side (at least 1).

    Args:
        image: (H, W, C) or (H, W) uint8/uint16 image.
        pred: (H, W) bool, predicted mask.
        truth: (H, W) bool, reference mask.

    Returns:
        (H, W, 3) uint8 RGB.
    """
    canvas = outcome_overlay(image, pred, truth)
    thickness = max(1, round(min(canvas.shape[:2]) / 300))
    for mask, colour, dash in ((truth, TRUTH_OUTLINE, 0), (pred, PREDICTION_OUTLINE, 4 * thickness)):
        contours, _ = cv2.findContours(np.asarray(mask, np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
        pieces = contours if not dash else [contour[start : start + dash + 1] for contour in contours
                                            for start in range(0, len(contour), 2 * dash)]
        cv2.polylines(canvas, pieces, isClosed=not dash, color=colour, thickness=thickness)
    return canvas


def outline_overlay(image: np.ndarray, labels: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """Draws the outline of each foreground label k = 1..len(names) of `labels` over `image`
    in `class_colour(k)`, with a legend of the names in the top-left corner.

    The outlines are the regions' contours (`cv2.findContours`, holes included), 1 px thick
    per 300 px of the image's shorter side (at least 1); the legend, scaled likewise, shows a
    swatch of each colour and its name, white on a translucent black box.

    Args:
        image: (H, W, C) or (H, W) uint8/uint16 image.
        labels: (H, W) label map (0 background).
        names: the names of labels 1, 2, ... (e.g. ["foreground"] for a binary mask).

    Returns:
        (H, W, 3) uint8 RGB.
    """
    canvas = np.ascontiguousarray(display_image(image))
    size = min(canvas.shape[:2])
    for label in range(1, len(names) + 1):
        contours, _ = cv2.findContours(np.asarray(labels == label, np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(canvas, contours, -1, class_colour(label), max(1, round(size / 300)))
    _draw_legend(canvas, names, scale=max(0.3, size / 1000))
    return canvas


def _draw_legend(canvas: np.ndarray, names: Sequence[str], scale: float) -> None:
    """Draws one row per name (the label's colour swatch, then the name) in the top-left corner of `canvas`."""
    font, weight, pad = cv2.FONT_HERSHEY_SIMPLEX, max(1, round(scale * 2)), max(2, round(5 * scale))
    sizes = [cv2.getTextSize(name, font, scale, weight) for name in names]
    text_height = max(height + baseline for (_, height), baseline in sizes)
    row = text_height + pad
    width = 3 * pad + text_height + max(text_width for (text_width, _), _ in sizes)
    box = canvas[: pad + row * len(names), :width]
    box[:] = np.round(box * 0.4).astype(np.uint8)  # a translucent black box (clipped to the image)
    for index, (name, (_, baseline)) in enumerate(zip(names, sizes)):
        top = pad + index * row
        cv2.rectangle(canvas, (pad, top), (pad + text_height - 1, top + text_height - 1), class_colour(index + 1), -1)
        cv2.putText(canvas, name, (2 * pad + text_height, top + text_height - baseline), font, scale, (255, 255, 255),
                    weight, cv2.LINE_AA)
