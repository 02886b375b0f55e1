"""A study's report.html: its results table (sortable), its figure (test scores and validation
curves), and two of its rows side by side on the same test images, sorted by how much their
Dice differs (`tfseg.pages`)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from tfseg.errors import TfsegError
from tfseg.pages import data_uri, url, write_page
from tfseg.plots import legend_colours
from tfseg.study.report import summary_table, table_columns
from tfseg.study.spec import Study

TIE = 0.01
"""Two cells whose Dice on an image differ by less than this count as equal on it."""


def check_pair(study: Study, table: pd.DataFrame, pair: Sequence[str]) -> None:
    """Raises a one-line `TfsegError` unless `pair` names two rows of results.csv that have per-image scores."""
    names = list(table["cell"])
    for name in pair:
        if name not in names:
            raise TfsegError(f"--pair {name}: no such row in {study.results_csv}; its rows: {names}")
        if not study.per_image(name).is_file():
            raise TfsegError(f"--pair {name}: no per-image scores {study.per_image(name)}; the cell ran before "
                             "compare.py kept them: delete its row from results.csv and run the study again")


def default_pair(study: Study, table: pd.DataFrame) -> list[str]:
    """The two rows with the highest test Dice among those with per-image scores (fewer if fewer have them)."""
    ranked = table.sort_values("test_dice", ascending=False)["cell"]
    return [name for name in ranked if study.per_image(name).is_file()][:2]


def _pictures(study: Study, name: str, sample_id: str, classes: int) -> list[tuple[str, str]]:
    """(thumbnail, full picture) URLs, relative to the study page, of an image in a row's evaluation
    pictures (one per class for multi-class); empty where they are not on this machine."""
    folder = study.eval_dir(name, "test") / "report_files"
    stems = [sample_id] if classes == 1 else [f"{sample_id}_class{k}" for k in range(1, classes)]
    return [(url((folder / "thumbs" / f"{stem}.jpg").relative_to(study.folder)),
             url((folder / "full" / f"{stem}.jpg").relative_to(study.folder)))
            for stem in stems if (folder / "thumbs" / f"{stem}.jpg").is_file()]


def compare_pair(study: Study, pair: Sequence[str]) -> list[dict]:
    """The test images both rows of `pair` scored: id, each one's Dice, their difference (first
    minus second) and each one's pictures, largest difference first."""
    first, second = (pd.read_csv(study.per_image(name), dtype={"id": str}).set_index("id") for name in pair)
    labels = [column for column in first.columns if column.startswith("dice_") and column[5:].isdigit()]
    classes = len(labels) + 1 if labels else 1
    images = []
    for sample_id in first.index.intersection(second.index):
        a, b = float(first.at[sample_id, "dice"]), float(second.at[sample_id, "dice"])
        images.append({"id": sample_id, "first": a, "second": b, "difference": a - b,
                       "first_pictures": _pictures(study, pair[0], sample_id, classes),
                       "second_pictures": _pictures(study, pair[1], sample_id, classes)})
    return sorted(images, key=lambda image: (-abs(image["difference"]), image["id"]))


def table_rows(study: Study, table: pd.DataFrame) -> tuple[list[str], int, list[list[dict]]]:
    """The results table as results.md has it (`summary_table`): its headings, how many of them
    are text, and its rows of cells {text, sort (None for text), best}."""
    summary = summary_table(study, table)
    scores = table_columns(table)
    best = {column: np.nanmax([mean for mean, _ in summary[column]]) for column in scores}
    fixed = [column for column in summary.columns if column not in scores]
    text = [column for column in fixed if not pd.api.types.is_numeric_dtype(summary[column])]
    numbers = [column for column in fixed if column not in text]
    formats = {"params": "{:,}", "s/epoch": "{:.1f}", "best epoch": "{:.3g}"}
    rows = []
    for _, row in summary.iterrows():
        cells = [{"text": str(row[column]), "sort": None, "best": False} for column in text]
        cells += [{"text": formats.get(column, "{}").format(row[column]) if row[column] == row[column] else "–",
                   "sort": float(row[column]), "best": False} for column in numbers]
        for column in scores:
            mean, spread = row[column]
            shown = "–" if mean != mean else f"{mean:.4f} ± {spread:.4f}" if spread == spread else f"{mean:.4f}"
            cells.append({"text": shown, "sort": float(mean), "best": mean == best[column]})
        rows.append(cells)
    headings = text + numbers + [column.replace("_", " ").replace("iou", "IoU").replace("dice", "Dice") for column in scores]
    return headings, len(text), rows


def write_study_page(study: Study, table: pd.DataFrame, pair: Sequence[str] | None = None) -> Path:
    """Writes the study's report.html (`Study.report_html`) from results.csv (`table`), the
    figure (results.png, embedded) and the kept per-image scores.

    Args:
        study: Study. The study.
        table: DataFrame. results.csv.
        pair: two rows of results.csv to show side by side; None: the two with the highest
            test Dice among those with per-image scores. Defaults to None.

    Raises:
        TfsegError: a row of `pair` is not in results.csv or has no per-image scores.
    """
    if pair:
        check_pair(study, table, pair)
    pair = list(pair or default_pair(study, table))
    headings, text_columns, rows = table_rows(study, table)
    comparison = compare_pair(study, pair) if len(pair) == 2 else []
    differences = [image["difference"] for image in comparison]
    missing = (f"The side-by-side view needs the per-image test scores of two rows (per_image/<row>.csv), which "
               f"compare.py keeps since it writes this page; {'only one row has them' if pair else 'no row has them'}: "
               "the cells ran before. Run the cells again (delete their rows from results.csv) to compare them image "
               "by image.")
    return write_page(
        study.report_html, "study.html.j2", title=f"Study {study.name}", name=study.name,
        description=study.description, source=str(study.source), headings=headings, text_columns=text_columns,
        rows=rows, figure=data_uri(study.figure) if study.figure.is_file() else "",
        pair=pair if len(pair) == 2 else None, comparison=comparison, missing=missing,
        better=[sum(d >= TIE for d in differences), sum(d <= -TIE for d in differences),
                sum(abs(d) < TIE for d in differences)],
        pictures=any(image["first_pictures"] or image["second_pictures"] for image in comparison),
        colours=legend_colours(),
    )
