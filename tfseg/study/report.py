"""A study's tables and figures: results.md and results.png in its folder, and the tables and
figures it publishes into a Markdown file (RESULTS.md) between markers."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from tfseg.errors import TfsegError
from tfseg.files import write_atomically
from tfseg.study.names import group_name
from tfseg.study.results import read_results
from tfseg.study.spec import Study, load_study

PUBLISHED = re.compile(r"^<!-- study table: (?P<source>\S+) .*-->$")
"""The line that opens a published block in a Markdown file; it names the study file."""
PUBLISHED_END = "<!-- end of study table -->"


def _score_columns(table: pd.DataFrame) -> list[str]:
    """The mean-score columns of results.csv, in order: val then test, IoU, Dice, per class."""
    return [column for column in table.columns
            if column.startswith(("val_", "test_")) and not column.endswith("_std")]


def table_columns(table: pd.DataFrame) -> list[str]:
    """The score columns of results.md: IoU and Dice on val and test, and per class on test."""
    return [column for column in _score_columns(table)
            if column.count("_") == 1 or column.startswith("test_")]


def summary_table(study: Study, table: pd.DataFrame) -> pd.DataFrame:
    """One row per cell without its fold and seed: the number of runs (seeds × folds), the
    scores' mean and spread (std over runs where a cell has several, else std over images),
    seconds per epoch and parameters. An ensemble row counts its members as runs; its
    spread is over images."""
    table = table.assign(group=table["cell"].map(group_name))
    order = list(dict.fromkeys(table["group"]))
    scores = table_columns(table)
    rows = []
    for group in order:
        runs = table[table["group"] == group]
        first = runs.iloc[0]
        row = {"cell": group, "model": first["model"], "loss": first["loss"]}
        row.update({key: first[key] for key in study.varied if key in runs and key not in ("model.name", "train.loss")})
        members = sum(seed.count("+") + 1 for seed in runs["seed"])
        row.update({"runs": members, "params": int(first["params"]), "s/epoch": runs["seconds_per_epoch"].mean(),
                    "best epoch": runs["best_epoch"].mean()})
        for column in scores:
            spread = runs[column].std() if len(runs) > 1 else runs.get(f"{column}_std", pd.Series([np.nan])).iloc[0]
            row[column] = (runs[column].mean(), spread)
        rows.append(row)
    return pd.DataFrame(rows)


def markdown_table(study: Study, table: pd.DataFrame) -> list[str]:
    """The lines of the summary table in Markdown, the best mean of each score column in bold."""
    summary = summary_table(study, table)
    scores = table_columns(table)
    best = {column: np.nanmax([value[0] for value in summary[column]]) for column in scores}
    label = {column: column.replace("_", " ").replace("iou", "IoU").replace("dice", "Dice") for column in scores}
    fixed = [column for column in summary.columns if column not in scores]
    formats = {"params": "{:,}", "s/epoch": "{:.1f}", "best epoch": "{:.3g}"}
    lines = [
        "| " + " | ".join(fixed + [label[column] for column in scores]) + " |",
        "|" + "---|" * len(fixed) + "---:|" * len(scores),
    ]
    for _, row in summary.iterrows():
        cells = [formats.get(column, "{}").format(row[column]) if row[column] == row[column] else "–"
                 for column in fixed]
        for column in scores:
            mean, spread = row[column]
            text = "–" if mean != mean else f"{mean:.4f} ± {spread:.4f}" if spread == spread else f"{mean:.4f}"
            cells.append(f"**{text}**" if mean == best[column] else text)
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def render_markdown(study: Study, table: pd.DataFrame) -> str:
    """results.md: what the study is and how to read its table, the figure, the table."""
    lines = [
        f"# Study `{study.name}`",
        "",
        *([study.description, ""] if study.description else []),
        f"Study file `{study.source}`; command: `python compare.py {study.source}`. Data: `{study.settings.get('data', {}).get('dir', 'demo')}`. "
        "Scores are per-image means at the masks' native resolution, threshold 0.5; "
        "± is the standard deviation over runs (seeds, folds) where a cell ran several (`runs` > 1), "
        "else over images. Bold: the best mean of each column. s/epoch: wall-clock seconds per epoch "
        "(training and validation) on the machine that ran the cell; best epoch: the epoch of the "
        "best validation score, whose model was evaluated. results.csv has every cell and seed, "
        "per class on both splits."
        + (" A `-ensemble` row scores the mean probability of its cell's runs (`runs` counts them), "
           "`-ensemble-<tta>` with that test-time augmentation; its ± is over images."
           if study.ensembles else "")
        + (f" Each cell trained once per fold of {study.folds}-fold cross-validation (fold i validates, the "
           "others train; the test split is the same); val scores are each fold's own, a fold ensemble has "
           "test scores only." if study.folds else ""),
        "",
        f"![test scores and validation curves]({study.figure.name})",
        "",
        *markdown_table(study, table),
    ]
    return "\n".join(lines) + "\n"


def render_figure(study: Study, table: pd.DataFrame, curves: pd.DataFrame | None, path: Path) -> None:
    """The comparison figure: test IoU and Dice per cell with error bars, and every cell's validation curve."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = summary_table(study, table)
    fig, (bars, lines) = plt.subplots(1, 2, figsize=(13, max(3.5, 0.35 * len(summary) + 1.5)))
    positions = np.arange(len(summary))
    for offset, score in ((-0.2, "test_iou"), (0.2, "test_dice")):
        means, spreads = zip(*summary[score])
        bars.barh(positions + offset, means, height=0.4, xerr=np.nan_to_num(spreads), capsize=2,
                  label=score.replace("test_", "test ").replace("iou", "IoU").replace("dice", "Dice"))
    bars.set_yticks(positions, summary["cell"])
    bars.invert_yaxis()
    low = min(min(mean for mean, _ in summary[score]) for score in ("test_iou", "test_dice"))
    bars.set_xlim(max(0.0, low - 0.1), 1.0)
    bars.set_title("test split, mean ± std")
    bars.legend(loc="lower right")
    if curves is not None and len(curves):
        for cell, curve in curves.groupby("cell", sort=False):
            lines.plot(curve["epoch"], curve["value"], label=cell, linewidth=1, marker=".", markersize=3)
        lines.set_xlabel("epoch")
        lines.set_ylabel(str(curves["monitor"].iloc[0]))
        lines.set_title("validation curves")
        lines.legend(fontsize=6, ncol=2)
    fig.suptitle(f"study {study.name}")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(temporary, dpi=110)
    plt.close(fig)
    temporary.replace(path)


def _curves(study: Study) -> pd.DataFrame | None:
    return pd.read_csv(study.curves_csv) if study.curves_csv.is_file() else None


def render_results(study: Study, pair: list[str] | None = None) -> None:
    """Rewrites results.md, results.png and report.html (`tfseg.study.page`, with the rows
    `pair` side by side, default the two best) in the study's folder from results.csv,
    curves.csv and the kept per-image scores (if there are rows)."""
    from tfseg.study.page import write_study_page

    if not study.results_csv.is_file():
        return
    table = read_results(study)
    if not len(table):
        return
    write_atomically(study.results_md, render_markdown(study, table))
    render_figure(study, table, _curves(study), study.figure)
    write_study_page(study, table, pair)


def _published_block(study: Study, figure: Path, markdown: Path) -> list[str]:
    """The lines of one published block: the figure's link (relative to the Markdown file) and the table."""
    link = Path(os.path.relpath(figure, markdown.parent)).as_posix()
    return [f"![`{study.name}`: test scores and validation curves]({link})", "", *markdown_table(study, read_results(study))]


def publish(markdown: str | Path, figures: str | Path = "docs/assets/studies", out_root: str | Path = "studies",
            write: bool = True, other_tables: Callable[[Path, Path], list[str] | None] | None = None) -> str:
    """Rewrites the published blocks of a Markdown file from the studies' results.

    A block runs from a line `<!-- study table: STUDY.yaml ... -->` (the study file, relative
    to the Markdown file's folder) to `<!-- end of study table -->`; everything between is
    replaced by the study's figure link and table, rendered from its results.csv. The figure
    is drawn into `figures/<name>.png`. `other_tables(study_file, out_root)` may render
    other study files' blocks (compare.py passes `tfseg.plan.evidence.published_table`, a
    planned study's table alone); None for a grid study.

    Args:
        markdown: str or Path. The Markdown file, e.g. RESULTS.md.
        figures: str or Path. Where the figures go. Defaults to "docs/assets/studies".
        out_root: str or Path. The folder of all studies. Defaults to "studies".
        write: bool. Write the file and the figures; False only returns the text. Defaults to True.
        other_tables: callable or None. (study file, out_root) → the block's lines, or None
            for a grid study. Defaults to None.

    Returns:
        The file's new text.

    Raises:
        TfsegError: a block without its end, or a study without results.
    """
    markdown, figures = Path(markdown), Path(figures)
    lines = markdown.read_text().splitlines()
    output, index = [], 0
    while index < len(lines):
        line = lines[index]
        output.append(line)
        index += 1
        opened = PUBLISHED.match(line)
        if not opened:
            continue
        end = next((k for k in range(index, len(lines)) if lines[k] == PUBLISHED_END), None)
        if end is None:
            raise TfsegError(f"{markdown} line {index}: no {PUBLISHED_END} after the study table it opens")
        source = markdown.parent / opened["source"]
        other = other_tables(source, Path(out_root)) if other_tables else None
        if other is not None:
            output += other
            index = end
            continue
        study = load_study(source, out_root)
        if not study.results_csv.is_file():
            raise TfsegError(f"{markdown} line {index}: {study.results_csv} does not exist; run the study first")
        figure = figures / f"{study.name}.png"
        output += _published_block(study, figure, markdown)
        if write:
            render_figure(study, read_results(study), _curves(study), figure)
        index = end
    text = "\n".join(output) + "\n"
    if write:
        write_atomically(markdown, text)
    return text
