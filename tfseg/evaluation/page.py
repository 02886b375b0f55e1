"""report.html of an evaluation: the summary, the box plots and a gallery of every image of the
split with its scores (`tfseg.pages`), worst Dice first."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tfseg.config import Config
from tfseg.data import masks_of, read_class_names, read_image, resize_labels, resolve_data_dir
from tfseg.evaluation.scores import SCORE_NAMES
from tfseg.files import atomic_dir
from tfseg.pages import Card, Column, resize_picture, save_picture, thumbnail_size, url, write_page
from tfseg.plots import legend_colours, outcome_picture

PICTURES = "report_files"
"""The folder beside report.html with its pictures (JPEG): `full/` at the masks' resolution, `thumbs/` at `THUMBNAIL_SIDE`."""
CARD_SCORES = ("dice", "iou", "precision", "recall", "assd", "hd95")
"""The scores each card of the gallery prints; it sorts and filters by all of `SCORE_NAMES`."""


def picture_classes(config: Config) -> list[tuple[int | None, str]]:
    """(label, name) of the classes the gallery shows a picture of per image: (None, "") for a
    binary run (any label > 0 is foreground), else each class k = 1..K-1 by its classes.txt name."""
    classes = config.data.classes
    if classes == 1:
        return [(None, "")]
    names = read_class_names(resolve_data_dir(config.data), classes) or [f"class {k}" for k in range(classes)]
    return [(label, str(names[label])) for label in range(1, classes)]


def foreground(labels: np.ndarray, label: int | None) -> np.ndarray:
    """The pixels of class `label` of a label map (None: any label > 0)."""
    return labels > 0 if label is None else labels == label


def write_pictures(
    per_image: pd.DataFrame, rows: pd.DataFrame, predictions: dict[str, np.ndarray], config: Config, folder: Path
) -> list[Card]:
    """Writes each image's picture (`tfseg.plots.outcome_picture`, per class for multi-class) into
    `folder` at full resolution and as a thumbnail, and returns the gallery's cards (URLs relative
    to `folder`'s parent), worst Dice first."""
    scores = per_image.set_index(per_image["id"].astype(str))
    masks, classes = masks_of(config.data), picture_classes(config)
    cards = []
    with atomic_dir(folder) as temporary:
        (temporary / "full").mkdir()
        (temporary / "thumbs").mkdir()
        for sample_id, image_path, mask_path in zip(rows["id"].astype(str), rows["image_path"], rows["mask_path"]):
            image, truth, prediction = read_image(image_path, config.data.channels), masks.labels(mask_path), predictions[sample_id]
            size = thumbnail_size(*truth.shape)
            small_image = resize_picture(image, size)
            small_truth, small_prediction = resize_labels(truth, size)[..., 0], resize_labels(prediction, size)[..., 0]
            for label, name in classes:
                stem = sample_id if label is None else f"{sample_id}_class{label}"
                save_picture(temporary / "full" / f"{stem}.jpg",
                             outcome_picture(image, foreground(prediction, label), foreground(truth, label)))
                save_picture(temporary / "thumbs" / f"{stem}.jpg",
                             outcome_picture(small_image, foreground(small_prediction, label), foreground(small_truth, label)))
                suffix = "" if label is None else f"_{label}"
                values = {score: float(scores.at[sample_id, score + suffix]) for score in SCORE_NAMES}
                cards.append(Card(sample_id, url(Path(folder.name, "thumbs", f"{stem}.jpg")),
                                  url(Path(folder.name, "full", f"{stem}.jpg")), values, name))
    return sorted(cards, key=lambda card: (card.values["dice"], card.title))


def write_report_page(
    run_dir: Path, summary: dict, per_image: pd.DataFrame, rows: pd.DataFrame, predictions: dict[str, np.ndarray],
    config: Config, out_dir: Path,
) -> Path:
    """Writes `out_dir/report.html` and its pictures (`out_dir/report_files/`): the summary (see
    `tfseg.evaluation.report.evaluate_run`), the box plots (`boxplots.png`, drawn before), and
    a gallery of every image of `rows` sortable by any score and filterable by class and by a
    score range, worst Dice first.

    Args:
        run_dir: Path. The run evaluated (shown in the title).
        summary: dict. As written to summary.json.
        per_image: DataFrame. The per-image scores (per_image.csv).
        rows: DataFrame. The split's rows (id, image_path, mask_path).
        predictions: label maps by id, at each mask's resolution.
        config: Config. The run's config (channels, classes, how masks are read).
        out_dir: Path. The evaluation's folder.

    Returns:
        The page's path.
    """
    cards = write_pictures(per_image, rows, predictions, config, out_dir / PICTURES)
    columns = [Column(score, score, ".2f" if score in ("assd", "hd95") else ".4f", score in CARD_SCORES)
               for score in SCORE_NAMES]
    groups = [name for _, name in picture_classes(config) if name]
    return write_page(
        out_dir / "report.html", "evaluation.html.j2", title=f"Evaluation of {run_dir} ({summary['split']})",
        run_dir=str(run_dir), summary=summary, boxplots="boxplots.png",
        colours=legend_colours(),
        cards=cards, columns=columns, groups=groups, group_label="class", sort_key="dice", sort_order="ascending",
    )
