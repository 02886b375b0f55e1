"""Pictures of an evaluation: best/median/worst cases with outcome overlays, score boxplots.

Outcome colours (`tfseg.plots.outcome_overlay`): true positive yellow, false positive
red, false negative green, drawn over the greyscale image.
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

from tfseg.files import atomic_path  # noqa: E402
from tfseg.plots import FALSE_NEGATIVE, FALSE_POSITIVE, TRUE_POSITIVE, display_image, label_overlay, outcome_overlay  # noqa: E402,E501

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
    with atomic_path(out_path) as temporary:
        fig.savefig(temporary, dpi=100)
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
    with atomic_path(out_path) as temporary:
        fig.savefig(temporary, dpi=100)
    plt.close(fig)
    return Path(out_path)
