"""Evaluation of a trained run on one split: per-image scores, a summary, a report, pictures.

Scores are computed in NumPy at each image's native resolution: predictions are resized
back to the stored mask's size before they are compared. Prediction goes through
`tfseg.inference.predict`, the same function `predict.py` uses.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from tfseg.config import Config
from tfseg.data import load_table, masks_of, read_image, resolve_data_dir, split_rows
from tfseg.distribution import resolve_inference_precision
from tfseg.errors import TfsegError
from tfseg.files import write_atomically
from tfseg.evaluation.figures import Case, pick_best_median_worst, plot_boxplots, plot_cases
from tfseg.evaluation.page import write_report_page
from tfseg.evaluation.scores import EMPTY_CASES, dice_score, empty_case, image_scores
from tfseg.inference import check_postprocess, postprocess, predict, probabilities_to_labels
from tfseg.plots import plot_history
from tfseg.export.loading import load_run_model
from tfseg.run import RunDir, read_config
from tfseg.run_state import read_history

THRESHOLD_GRID = tuple(np.round(np.arange(0.05, 0.951, 0.05), 2))
"""Thresholds tried by `--threshold auto`."""


def summarize(per_image: pd.DataFrame) -> pd.DataFrame:
    """mean, std, median, min and max of every score column, one row per score."""
    scores = per_image.drop(columns=["id"])
    return scores.agg(["mean", "std", "median", "min", "max"]).T


def choose_threshold(probabilities: list[np.ndarray], truths: list[np.ndarray], method: str = "none") -> tuple[float, float]:
    """The threshold of `THRESHOLD_GRID` with the highest mean Dice (binary masks).

    Args:
        probabilities: (H, W, 1) probability maps.
        truths: (H, W) {0, 1} reference masks of the same images.
        method: str. Post-processing applied before scoring. Defaults to "none".

    Returns:
        (threshold, mean Dice at that threshold); the lowest threshold wins ties.
    """
    truths = [truth > 0 for truth in truths]
    best = (0.5, -1.0)
    for threshold in THRESHOLD_GRID:
        predictions = [postprocess(probabilities_to_labels(p, threshold), method) > 0 for p in probabilities]
        dice = float(np.mean([dice_score(pred, truth, 1) for pred, truth in zip(predictions, truths)]))
        if dice > best[1]:
            best = (float(threshold), dice)
    return best


def predict_split(
    model, config: Config, rows: pd.DataFrame, tta: str, progress: bool, batch_size: int | None = None
) -> list[np.ndarray]:
    """Probability maps of the split's images, at their stored resolution, `batch_size` (default:
    the run's `train.batch_size`) images or windows at a time."""
    images = [read_image(path, config.data.channels) for path in rows["image_path"]]
    return predict(
        model, images, batch_size=batch_size or config.train.batch_size, tta=tta,
        sliding_window=config.data.is_crop_trained(), progress=progress, normalize=config.data.normalize,
    )


def truth_labels(config: Config, mask_path: str) -> np.ndarray:
    """The reference label map of one mask file, as the run's config reads masks."""
    return masks_of(config.data).labels(mask_path)


def check_evaluation_options(classes: int, threshold: float | str, postprocess_method: str, spacing: tuple[float, float]) -> None:
    """Raises a one-line `TfsegError` for an evaluation option that cannot work, naming the option."""
    check_postprocess(postprocess_method)
    if len(spacing) != 2 or min(spacing) <= 0:
        raise TfsegError(f"--spacing {spacing}: expected two positive numbers SY SX")
    if threshold == "auto":
        if classes != 1:
            raise TfsegError("--threshold auto: only for binary masks (classes: 1); multi-class uses the arg-max")
    elif not (isinstance(threshold, (int, float)) and 0.0 < threshold < 1.0):
        raise TfsegError(f"--threshold {threshold}: expected a number in (0, 1) or 'auto'")


def tune_threshold(
    members: list[tuple], table: pd.DataFrame, tta: str, postprocess_method: str, progress: bool,
    batch_size: int | None = None,
) -> tuple[float, str]:
    """`--threshold auto`: the threshold with the highest mean Dice on the val split of the
    (averaged) prediction of `members` (see `predict_members`), and a note saying so."""
    config = members[0][1]
    val_rows = split_rows(table, "val")
    val_probabilities = predict_members(members, val_rows, tta, progress, batch_size)
    val_truths = [truth_labels(config, path) for path in val_rows["mask_path"]]
    threshold, val_dice = choose_threshold(val_probabilities, val_truths, postprocess_method)
    return threshold, f"auto: highest mean Dice on the val split ({val_dice:.4f}) over {THRESHOLD_GRID[0]}..{THRESHOLD_GRID[-1]}"


def predict_members(
    members: list[tuple], rows: pd.DataFrame, tta: str, progress: bool, batch_size: int | None = None
) -> list[np.ndarray]:
    """Probability maps of the split's images averaged over `members`, (model, config) pairs:
    one run, or an ensemble of runs (seeds, folds), each predicting with its own geometry
    (and, unless `batch_size` is given, its own batch size)."""
    total = None
    for model, config in members:
        probabilities = predict_split(model, config, rows, tta, progress, batch_size)
        total = probabilities if total is None else [sum_ + maps for sum_, maps in zip(total, probabilities)]
    return [maps / len(members) for maps in total]


def ensemble_members(run_dir: Path, config: Config, others, precision: str) -> list[tuple]:
    """(model, config) of a run and of the other runs of an ensemble, which must predict the
    same classes from the same channels; raises naming the first run that does not."""
    members = [(load_run_model(run_dir, precision), config)]
    for other in others:
        if not RunDir(other).config.is_file():
            raise TfsegError(f"--ensemble {other}: not a run directory, expected config.yaml written by train.py")
        other_config = read_config(other)
        for key in ("classes", "channels"):
            if getattr(other_config.data, key) != getattr(config.data, key):
                raise TfsegError(f"--ensemble {other}: data.{key} is {getattr(other_config.data, key)}, expected "
                                 f"{getattr(config.data, key)} as in {run_dir}")
        members.append((load_run_model(other, precision), other_config))
    return members


def score_images(
    rows: pd.DataFrame, predictions: dict[str, np.ndarray], config: Config, spacing: tuple[float, float]
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Per-image scores (one row per image) and the counts of empty-mask cases (per class for multi-class)."""
    classes = config.data.classes
    labels = range(1, max(classes, 2))
    empty_key = (lambda label, case: case) if classes == 1 else (lambda label, case: f"class {label}: {case}")
    empty_counts = {empty_key(label, case): 0 for label in labels for case in EMPTY_CASES}
    records = []
    for sample_id, mask_path in zip(rows["id"], rows["mask_path"]):
        truth, prediction = truth_labels(config, mask_path), predictions[sample_id]
        records.append({"id": sample_id, **image_scores(prediction, truth, classes, spacing)})
        for label in labels:
            case = empty_case(prediction == label, truth == label)
            if case:
                empty_counts[empty_key(label, case)] += 1
    return pd.DataFrame(records), empty_counts


FULL_COVER = 0.99
"""A prediction covering at least this fraction of an image counts as all foreground."""


def degenerate_prediction_warnings(predictions: dict[str, np.ndarray], classes: int) -> list[str]:
    """Warnings about a split's predictions that no working model makes: foreground
    (almost) everywhere on every image, no foreground on any image, or (multi-class) a
    class never predicted.

    Args:
        predictions: label maps of the split's images by id (0 background).
        classes: int. `data.classes` of the run (1: binary).

    Returns:
        One sentence per problem found; empty when there is none.
    """
    maps = list(predictions.values())
    if not maps:
        return []
    cover = [float(np.mean(labels > 0)) for labels in maps]
    if max(cover) == 0.0:
        return [f"no image of the {len(maps)} predicts any foreground: every mask is empty (an untrained or collapsed "
                "model, or a threshold too high?)"]
    warnings = []
    if min(cover) >= FULL_COVER:
        warnings.append(f"every image's prediction covers at least {FULL_COVER:.0%} of its pixels (mean "
                        f"{np.mean(cover):.1%}): the model predicts foreground everywhere (an untrained or collapsed "
                        "model, inverted masks, or a threshold too low?)")
    for label in range(1, classes if classes > 1 else 1):
        if not any(np.any(labels == label) for labels in maps):
            warnings.append(f"class {label} is never predicted on any of the {len(maps)} images")
    return warnings


def draw_cases_and_boxplots(
    per_image: pd.DataFrame, rows: pd.DataFrame, predictions: dict[str, np.ndarray], config: Config, out_dir: Path
) -> None:
    """Writes `best_median_worst.png` (per class for multi-class) and `boxplots.png` into `out_dir`."""
    classes = config.data.classes
    by_id = rows.set_index("id")
    cases_per_label = [(None, "dice")] if classes == 1 else [(k, f"dice_{k}") for k in range(1, classes)]
    cases = [
        Case(rank, sample_id, value, read_image(by_id.at[sample_id, "image_path"], config.data.channels),
             truth_labels(config, by_id.at[sample_id, "mask_path"]), predictions[sample_id], label)
        for label, column in cases_per_label
        for rank, sample_id, value in pick_best_median_worst(per_image, column)
    ]
    plot_cases(cases, out_dir / "best_median_worst.png")
    plot_boxplots(per_image, out_dir / "boxplots.png")


def evaluate_run(
    run_dir: str | Path,
    data_dir: str | Path | None = None,
    split: str = "test",
    tta: str = "none",
    threshold: float | str = 0.5,
    postprocess_method: str = "none",
    spacing: tuple[float, float] = (1.0, 1.0),
    out_dir: str | Path | None = None,
    progress: bool = False,
    precision: str = "float32",
    ensemble: Sequence[str | Path] = (),
    batch_size: int | None = None,
) -> dict:
    """Evaluates a run's `best.keras` (or the ensemble of it and other runs) on one split and writes the results.

    Writes into `out_dir` (default `RUN_DIR/eval/<split>/`): `per_image.csv` (id and
    every score that `image_scores` returns), `summary.json`, `report.md`, `best_median_worst.png`,
    `boxplots.png`, and `report.html` with every image's picture in `report_files/`
    (`tfseg.evaluation.page`); and `RUN_DIR/curves.png` from `history.csv` if it is missing.

    Args:
        run_dir: str or Path. A directory written by `tfseg.training.train`.
        data_dir: str or Path or None. Dataset to evaluate on; None uses the run's own.
        split: str. train, val or test. Defaults to "test".
        tta: str. "none", "flip" or "flip-all" (see `tfseg.config.TTA_FLIPS`).
            Defaults to "none".
        threshold: float or "auto". Binary threshold on the probability; "auto" picks
            the one maximising mean Dice on the validation split. Defaults to 0.5.
        postprocess_method: str. A post-processing spec (`tfseg.inference.parse_postprocess`). Defaults to "none".
        spacing: (row, column) pixel size for the distance scores (ASSD, HD95).
            Defaults to (1.0, 1.0), i.e. distances in pixels.
        out_dir: str or Path or None. Output folder; None means `RUN_DIR/eval/<split>`.
            Defaults to None.
        progress: bool. Show progress bars. Defaults to False.
        precision: str. What the model computes in: float32, mixed_bfloat16_convs or
            auto (`tfseg.distribution.inference_layers`). Defaults to "float32".
        ensemble: other run directories whose probabilities are averaged with this
            run's (e.g. the same recipe with other seeds, or other folds); they must
            have the same classes and channels. Defaults to () (this run alone).
        batch_size: int or None. Images (or windows) per forward pass; None: each run's
            `train.batch_size`. Defaults to None.

    Returns:
        The summary (as written to summary.json).
    """
    run = RunDir(run_dir)
    config = read_config(run.path)
    check_evaluation_options(config.data.classes, threshold, postprocess_method, spacing)
    members = ensemble_members(run.path, config, ensemble, precision)
    config.data.dir = str(data_dir) if data_dir is not None else str(resolve_data_dir(config.data))  # demo: its folder
    table = load_table(config.data, config.train.seed)
    threshold_note = "fixed"
    if threshold == "auto":
        threshold, threshold_note = tune_threshold(members, table, tta, postprocess_method, progress, batch_size)
    rows = split_rows(table, split)
    probabilities = predict_members(members, rows, tta, progress, batch_size)
    predictions = {
        sample_id: postprocess(probabilities_to_labels(probability, threshold), postprocess_method)
        for sample_id, probability in zip(rows["id"], probabilities)
    }
    per_image, empty_counts = score_images(rows, predictions, config, spacing)
    summary = {
        "split": split,
        "images": len(per_image),
        "data": config.data.dir,
        "threshold": float(threshold),
        "threshold_choice": threshold_note,
        "tta": tta,
        "ensemble": [str(path) for path in ensemble],
        "precision": resolve_inference_precision(precision),
        "postprocess": postprocess_method,
        "spacing": list(spacing),
        "geometry": config.data.describe_geometry(),
        "empty_cases": empty_counts,
        "scores": summarize(per_image).to_dict(orient="index"),
        "warnings": degenerate_prediction_warnings(predictions, config.data.classes),
    }
    out_dir = Path(out_dir) if out_dir is not None else run.eval_dir(split)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_atomically(out_dir / "per_image.csv", per_image.to_csv(index=False, float_format="%.6f"))
    write_atomically(out_dir / "summary.json", json.dumps(summary, indent=2))
    draw_cases_and_boxplots(per_image, rows, predictions, config, out_dir)
    if not run.curves.exists() and (history := read_history(run.history)) is not None:
        plot_history(history, run.curves)
    write_atomically(out_dir / "report.md", render_report(run.path, summary))
    write_report_page(run.path, summary, per_image, rows, predictions, config, out_dir)
    return summary


def render_report(run_dir: Path, summary: dict) -> str:
    """The Markdown report of one evaluation (see `evaluate_run` for the summary keys)."""
    lines = [
        f"# Evaluation of `{run_dir}` on the {summary['split']} split",
        "",
        f"- images: {summary['images']} from `{summary['data']}`",
        f"- prediction: {summary['geometry']}, in {summary.get('precision', 'float32')}, "
        f"test-time augmentation: {summary['tta']}, "
        f"post-processing: {summary['postprocess']}",
        f"- threshold: {summary['threshold']:g} ({summary['threshold_choice']})",
        *([f"- ensemble: the mean probability of this run and {', '.join(f'`{path}`' for path in summary['ensemble'])}"]
          if summary.get("ensemble") else []),
        f"- pixel spacing (row, column): {summary['spacing'][0]:g} × {summary['spacing'][1]:g}; assd and hd95 are in "
        + ("pixels" if summary["spacing"] == [1.0, 1.0] else "the units of this spacing"),
        *(f"- **warning**: {warning}" for warning in summary.get("warnings", [])),
        "",
        "| score | mean ± std | median | min | max |",
        "|---|---|---|---|---|",
    ]
    for name, stats in summary["scores"].items():
        std = stats["std"] if stats["std"] == stats["std"] else 0.0  # one image: std is NaN
        lines.append(
            f"| {name} | {stats['mean']:.4f} ± {std:.4f} | {stats['median']:.4f} | {stats['min']:.4f} | {stats['max']:.4f} |"
        )
    lines += [
        "",
        "## Empty masks",
        "",
        "| case | images |",
        "|---|---|",
        *(f"| {case} | {count} |" for case, count in summary["empty_cases"].items()),
        "",
        "Both empty: overlap scores 1, distances 0. Exactly one empty: Dice and IoU 0, distances the",
        "image diagonal (see docs/losses-metrics.md, per-image scores).",
        "",
        "## Pictures",
        "",
        "Best, median and worst image by Dice: true positive yellow, false positive red, false negative green.",
        "",
        "![best, median and worst](best_median_worst.png)",
        "",
        "![scores per image](boxplots.png)",
        "",
    ]
    return "\n".join(lines)
