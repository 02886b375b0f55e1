"""A study's results.csv and curves.csv: read, and appended to under a file lock."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from filelock import FileLock

from tfseg.files import write_atomically
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


def append_rows(path: Path, rows: pd.DataFrame, cell: str) -> None:
    """Adds `rows` to the CSV at `path`, replacing the cell's earlier rows, atomically.

    The read-modify-write holds `.<name>.lock` beside it, so compare.py processes running
    other cells of the study at once (e.g. one per GPU) never drop each other's rows."""
    with FileLock(path.with_name(f".{path.name}.lock")):
        table = pd.read_csv(path) if path.is_file() else pd.DataFrame()
        if len(table):
            table = table[table["cell"].astype(str) != cell]
        table = pd.concat([table, rows], ignore_index=True)
        write_atomically(path, table.to_csv(index=False, float_format="%.6g"))
