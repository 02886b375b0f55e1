"""Pictures of an evaluation: outcome overlays, best/median/worst cases, score boxplots.

Outcome colours (`outcome_overlay`): true positive yellow, false positive red, false
negative green, drawn over the greyscale image.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

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


@dataclass
class Case:
    """One picked image: why it was picked, its id and score, and its arrays; `label` is
    the class it was picked for (None for binary masks: any label > 0 is foreground)."""

    rank: str
    sample_id: str
    score: float
    image: np.ndarray
    truth: np.ndarray
    pred: np.ndarray
    label: int | None = None


def pick_best_median_worst(per_image: pd.DataFrame, score: str = "dice") -> list[tuple[str, str, float]]:
    """The best, median and worst image by `score`.

    Ties are broken by id, so the pick is deterministic; with an even count the median is
    the lower of the two middle images.

    Args:
        per_image: DataFrame with an `id` column and a `score` column.
        score: str. Column to rank by. Defaults to "dice".

    Returns:
        [("best", id, value), ("median", id, value), ("worst", id, value)].
    """
    ranked = per_image.assign(id=per_image["id"].astype(str)).sort_values([score, "id"], ascending=[False, True])
    ranked = ranked.reset_index(drop=True)
    positions = {"best": 0, "median": len(ranked) // 2, "worst": len(ranked) - 1}
    return [(rank, ranked.at[i, "id"], float(ranked.at[i, score])) for rank, i in positions.items()]


def _show(ax, picture: np.ndarray, title: str) -> None:
    """Shows an (H, W, 3) uint8 picture without axes ticks."""
    ax.imshow(picture, interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def plot_cases(cases: list[Case], out_path: str | Path, score: str = "dice") -> Path:
    """Draws one row per case: image, ground truth, prediction, outcome overlay.

    Args:
        cases: list of Case (e.g. best, median, worst).
        out_path: str or Path. PNG to write.
        score: str. Name of the score shown in the titles. Defaults to "dice".
    """
    fig, axes = plt.subplots(len(cases), 4, figsize=(11, 2.9 * len(cases)), squeeze=False)
    for row, case in zip(axes, cases):
        fg_truth = case.truth > 0 if case.label is None else case.truth == case.label
        fg_pred = case.pred > 0 if case.label is None else case.pred == case.label
        which = case.rank if case.label is None else f"{case.rank} for class {case.label}"
        _show(row[0], display_image(case.image), f"{which}: {case.sample_id}")
        _show(row[1], label_overlay(case.image, case.truth, alpha=0.5), "ground truth")
        _show(row[2], label_overlay(case.image, case.pred, alpha=0.5), "prediction")
        column = score if case.label is None else f"{score}_{case.label}"
        _show(row[3], outcome_overlay(case.image, fg_pred, fg_truth), f"{column} = {case.score:.3f}")
    handles = [
        Patch(color=np.asarray(colour) / 255, label=name)
        for name, colour in (("true positive", TRUE_POSITIVE), ("false positive", FALSE_POSITIVE), ("false negative", FALSE_NEGATIVE))
    ]
    fig.legend(handles=handles, loc="lower center", ncol=3, frameon=False, fontsize=9)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(out_path, dpi=100)
    plt.close(fig)
    return Path(out_path)


def plot_boxplots(per_image: pd.DataFrame, out_path: str | Path, scores: tuple[str, ...] = ("dice", "iou")) -> Path:
    """Boxplots (with every image as a dot) of each score, and of each class's
    `<score>_<k>` columns when present, one panel per score.

    Args:
        per_image: DataFrame of per-image scores.
        out_path: str or Path. PNG to write.
        scores: score names to draw. Defaults to ("dice", "iou").
    """
    scores = tuple(name for name in scores if name in per_image)
    fig, axes = plt.subplots(1, len(scores), figsize=(4.2 * len(scores), 3.8), squeeze=False)
    rng = np.random.default_rng(0)
    for ax, name in zip(axes[0], scores):
        columns = [name] + sorted(c for c in per_image if c.startswith(f"{name}_") and c[len(name) + 1 :].isdigit())
        values = [per_image[column].to_numpy(float) for column in columns]
        ax.boxplot(values, showfliers=False, widths=0.5, medianprops={"color": "black"}, showmeans=True,
                   meanprops={"marker": "D", "markerfacecolor": "white", "markeredgecolor": "black", "markersize": 5})
        for position, points in enumerate(values, 1):
            ax.scatter(position + rng.uniform(-0.12, 0.12, len(points)), points, s=9, alpha=0.45, color="tab:blue", lw=0)
        names = ["class mean" if column == name else f"class {column[len(name) + 1:]}" for column in columns]
        ax.set_xticks(range(1, len(columns) + 1), names if len(columns) > 1 else ["all images"])
        ax.set_title(f"{name} per image (n={len(per_image)}; box: quartiles, ◇ mean)", fontsize=10)
        lowest = min(float(v.min()) for v in values)
        ax.set_ylim(max(0.0, np.floor((lowest - 0.02) * 20) / 20), 1.005)
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(out_path, dpi=100)
    plt.close(fig)
    return Path(out_path)
