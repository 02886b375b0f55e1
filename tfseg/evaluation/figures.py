"""Pictures of an evaluation: best/median/worst cases with outlines and outcome overlays, score boxplots.

Each case shows the image, the outlines of the ground truth (cyan, solid) and of the
prediction (magenta, dashed) over it, and the outcome of each pixel (`tfseg.plots.outcome_overlay`:
true positive yellow, false positive red, false negative green) over the greyscale image.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from tfseg.files import atomic_path  # noqa: E402
from tfseg.plots import FALSE_NEGATIVE, FALSE_POSITIVE, TRUE_POSITIVE, display_image, outcome_overlay  # noqa: E402
from tfseg import plots  # noqa: E402

TRUTH_OUTLINE = {"colors": "#%02x%02x%02x" % plots.TRUTH_OUTLINE, "linestyles": "solid", "label": "ground truth"}
"""How the ground truth's outline is drawn: cyan, solid (`tfseg.plots.TRUTH_OUTLINE`)."""
PREDICTION_OUTLINE = {"colors": "#%02x%02x%02x" % plots.PREDICTION_OUTLINE, "linestyles": "dashed", "label": "prediction"}
"""How the prediction's outline is drawn: magenta, dashed (`tfseg.plots.PREDICTION_OUTLINE`)."""

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


def _outline(ax, mask: np.ndarray, style: dict) -> None:
    """Draws the outline of a (H, W) bool mask (its contour between the pixels in and out) in `style`."""
    if mask.any() and not mask.all():
        ax.contour(mask.astype(np.float32), levels=[0.5], colors=style["colors"], linestyles=style["linestyles"],
                   linewidths=1.2)


def cases_figure(cases: list[Case], score: str = "dice") -> Figure:
    """One row per case: the image; the outlines of the ground truth and of the prediction over
    it (of the case's class for multi-class); the outcome overlay; and one legend of them all.

    Args:
        cases: list of Case (e.g. best, median, worst).
        score: str. Name of the score shown in the titles. Defaults to "dice".
    """
    fig, axes = plt.subplots(len(cases), 3, figsize=(8.4, 2.9 * len(cases)), squeeze=False)
    for row, case in zip(axes, cases):
        fg_truth = case.truth > 0 if case.label is None else case.truth == case.label
        fg_pred = case.pred > 0 if case.label is None else case.pred == case.label
        which = case.rank if case.label is None else f"{case.rank} for class {case.label}"
        _show(row[0], display_image(case.image), f"{which}: {case.sample_id}")
        _show(row[1], display_image(case.image), "ground truth and prediction")
        _outline(row[1], fg_truth, TRUTH_OUTLINE)
        _outline(row[1], fg_pred, PREDICTION_OUTLINE)
        column = score if case.label is None else f"{score}_{case.label}"
        _show(row[2], outcome_overlay(case.image, fg_pred, fg_truth), f"{column} = {case.score:.3f}")
    outlines = [Line2D([], [], color=style["colors"], linestyle=style["linestyles"], label=style["label"])
                for style in (TRUTH_OUTLINE, PREDICTION_OUTLINE)]
    outcomes = [
        Patch(color=np.asarray(colour) / 255, label=name)
        for name, colour in (("true positive", TRUE_POSITIVE), ("false positive", FALSE_POSITIVE), ("false negative", FALSE_NEGATIVE))
    ]
    fig.legend(handles=outlines + outcomes, loc="lower center", ncol=5, frameon=False, fontsize=8)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig


def plot_cases(cases: list[Case], out_path: str | Path, score: str = "dice") -> Path:
    """Writes `cases_figure(cases, score)` to the PNG `out_path`."""
    fig = cases_figure(cases, score)
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
