"""A study's results.csv, read (`tfseg.files.append_rows` adds its rows and those of curves.csv)."""

from __future__ import annotations

import pandas as pd

from tfseg.study.spec import Study

SCORES = ("iou", "dice")
"""The scores of the table, each as mean and std over images, on val and test."""


def read_results(study: Study) -> pd.DataFrame:
    """results.csv, the varied keys' values as written (text), not parsed as numbers."""
    return pd.read_csv(study.results_csv, dtype={"cell": str, "seed": str, **{key: str for key in study.varied}})


def finished_cells(study: Study) -> set[str]:
    """The names of the cells (and ensemble rows) with a row in results.csv."""
    if not study.results_csv.is_file():
        return set()
    return set(read_results(study)["cell"])
