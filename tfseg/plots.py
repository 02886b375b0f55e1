"""Figures and overlays shared by training, evaluation and prediction (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path

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
CLASS_COLOURS = plt.get_cmap("tab10").colors


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


def label_overlay(image: np.ndarray, labels: np.ndarray, alpha: float = 0.45) -> np.ndarray:
    """Colours each foreground label k of an (H, W) label map over `image` with the k-th
    tab10 colour (label 1 blue, 2 orange, ...). Returns (H, W, 3) uint8 RGB."""
    canvas = display_image(image).astype(np.float32)
    for label in np.unique(labels[labels > 0]):
        colour = np.asarray(CLASS_COLOURS[(int(label) - 1) % len(CLASS_COLOURS)], np.float32) * 255
        where = labels == label
        canvas[where] = (1 - alpha) * canvas[where] + alpha * colour
    return np.round(canvas).astype(np.uint8)
