"""Running a study: train each cell (or resume it), evaluate it on val and test, add its row;
then score the ensembles of the groups whose runs are all done."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

import pandas as pd

from tfseg.errors import TfsegError
from tfseg.files import write_atomically
from tfseg.study.names import ensemble_name, value_text
from tfseg.study.report import render_results
from tfseg.files import append_rows
from tfseg.study.results import SCORES, finished_cells, read_results
from tfseg.study.spec import Cell, Study


def train_cell(study: Study, cell: Cell) -> Path:
    """Trains a cell into its run folder, or resumes the run a stopped study left there."""
    from tfseg.config import DATA_DECIDED_KEYS
    from tfseg.run import read_config
    from tfseg.training import resume_run, train

    run_dir = study.run_dir(cell)
    if not (run_dir / "config.yaml").is_file():
        shutil.rmtree(run_dir, ignore_errors=True)  # killed before its first saved state: nothing to keep
        return train(cell.config)
    saved = read_config(run_dir).to_dict()
    wanted = cell.config.to_dict()
    for config in (saved, wanted):  # the same folder however it is spelled (compare.py --data)
        config["data"]["dir"] = config["data"]["dir"] and os.path.realpath(config["data"]["dir"])
    left_to_data = {key for key in DATA_DECIDED_KEYS if wanted[key.split(".")[0]][key.split(".")[1]] is None}
    changed = [f"{section}.{key}" for section in wanted for key in wanted[section]
               if saved[section].get(key) != wanted[section][key] and key != "run_dir"
               and f"{section}.{key}" not in left_to_data]
    if changed:
        raise TfsegError(f"{run_dir}: trained with other settings than {study.source} gives cell {cell.name} "
                         f"({', '.join(changed)}); delete the folder to train it again")
    return resume_run(run_dir)


def descriptive_values(study: Study, cell: Cell) -> dict[str, str]:
    """The study's varied keys as the cell's row writes them: the value the cell trained with,
    also where its grid block leaves the key to the settings (model, loss and seed have
    their own columns; a model option the cell's model lacks is left out)."""
    config, values = cell.config.to_dict(), {}
    for key in study.varied:
        if key in ("model.name", "train.loss"):
            continue
        value: Any = config
        for part in key.split("."):
            if not isinstance(value, dict) or part not in value:
                break
            value = value[part]
        else:
            values[key] = value_text(value)
    return values


def _scores(study: Study, name: str, run_dir: Path, ensemble: list[Path] = (), tta: str = "none",
            splits: tuple[str, ...] = ("val", "test")) -> dict[str, float]:
    """IoU and Dice (mean and std over images, per class for multi-class) on `splits` of a
    run, or of the ensemble of it and `ensemble`, as evaluate.py computes them; evaluate.py's
    files go to `study.eval_dir(name, split)`, and the test split's per-image scores are kept
    as `study.per_image(name)` (for the study page's side-by-side view)."""
    from tfseg.evaluation import evaluate_run
    from tfseg.run import read_config

    classes = read_config(run_dir).data.classes  # decided when the run trained
    row = {}
    for split in splits:
        out_dir = study.eval_dir(name, split)
        summary = evaluate_run(run_dir, split=split, tta=tta, ensemble=ensemble, out_dir=out_dir)
        if split == "test":
            study.per_image_dir.mkdir(parents=True, exist_ok=True)
            write_atomically(study.per_image(name), (out_dir / "per_image.csv").read_text())
        scores = summary["scores"]
        for score in SCORES:
            row[f"{split}_{score}"], row[f"{split}_{score}_std"] = scores[score]["mean"], scores[score]["std"]
            for k in range(1, classes if classes > 1 else 1):
                class_name = study.class_names[k - 1] if study.class_names else str(k)
                row[f"{split}_{score}_{class_name}"] = scores[f"{score}_{k}"]["mean"]
    return row


def cell_row(study: Study, cell: Cell, run_dir: Path) -> tuple[dict[str, Any], pd.DataFrame]:
    """Evaluates a trained cell on val and test: its results row and its validation curve."""
    from tfseg.export.loading import load_run_model
    from tfseg.run import RunDir
    from tfseg.run_state import best_epoch, read_history

    run = RunDir(run_dir)
    history = read_history(run.history)
    monitor = cell.config.train.monitor
    row = {"cell": cell.name, "model": cell.config.model.name, "loss": cell.config.train.loss,
           **descriptive_values(study, cell)}
    if study.folds:
        row["fold"] = cell.config.data.fold
    best, _ = best_epoch(history, monitor)
    row.update({
        "seed": cell.config.train.seed,
        "params": load_run_model(run.path).count_params(),
        "epochs": len(history),
        "seconds_per_epoch": round(float(history["epoch_seconds"].mean()), 2) if "epoch_seconds" in history else None,
        "best_epoch": best,
    })
    row.update(_scores(study, cell.name, run.path))
    curve = pd.DataFrame({"cell": cell.name, "epoch": history["epoch"], "monitor": monitor, "value": history[monitor]})
    return row, curve


def ensemble_row(study: Study, name: str, cells: list[Cell], tta: str, finished: pd.DataFrame) -> dict[str, Any]:
    """Scores the mean probability of a group's runs (seeds, folds; with test-time augmentation `tta`):
    the results row `name`. Its seed is the members' seeds joined by '+', its parameters
    their sum (from `finished`, results.csv by cell); evaluate.py's files go to
    `runs/<name>/eval/<split>/`. A fold ensemble is scored on test only: each fold's validation
    images trained the other folds' models."""
    first = cells[0]
    row = {"cell": name, "model": first.config.model.name, "loss": first.config.train.loss,
           **descriptive_values(study, first), "seed": "+".join(str(cell.config.train.seed) for cell in cells),
           "params": int(finished.loc[[cell.name for cell in cells], "params"].sum())}
    runs = [study.run_dir(cell) for cell in cells]
    splits = ("test",) if study.folds else ("val", "test")
    row.update(_scores(study, name, runs[0], ensemble=runs[1:], tta=tta, splits=splits))
    return row


def score_ensembles(study: Study) -> None:
    """Adds the rows of the study's `ensembles` whose runs are all done and that have no row yet."""
    if not study.ensembles or not study.results_csv.is_file():
        return
    finished = read_results(study).set_index("cell")
    for group, cells in study.run_groups().items():
        todo = [tta for tta in study.ensembles if ensemble_name(group, tta) not in finished.index]
        if not todo or not all(cell.name in finished.index for cell in cells):
            continue
        missing = [study.run_dir(cell) for cell in cells if not (study.run_dir(cell) / "best.keras").is_file()]
        if missing:
            print(f"tfseg: ensembles of {group} not scored: {missing[0]} has no best.keras (run folders are not "
                  f"committed; delete the runs' rows from {study.results_csv} to train them again)", flush=True)
            continue
        for tta in todo:
            name = ensemble_name(group, tta)
            print(f"tfseg: ensemble {name}: scoring the mean of {len(cells)} runs", flush=True)
            row = ensemble_row(study, name, cells, tta, finished)
            append_rows(study.results_csv, pd.DataFrame([row]), name)
            render_results(study)
            print(f"tfseg: ensemble {name} done: test IoU {row['test_iou']:.4f}, Dice {row['test_dice']:.4f}",
                  flush=True)


def run_study(study: Study, cells: list[Cell] | None = None, pair: list[str] | None = None) -> pd.DataFrame:
    """Trains and evaluates every cell (or `cells`) not yet in results.csv, one after the
    other, writing results.csv, curves.csv, results.md, the figure and report.html (with the
    rows `pair` side by side once both are done; default the two best) after each; then
    scores the `ensembles` of every group whose runs are all done."""
    study.folder.mkdir(parents=True, exist_ok=True)
    todo = [cell for cell in (cells or study.cells) if cell.name not in finished_cells(study)]
    print(f"tfseg: study {study.name}: {len(study.cells)} cells, {len(todo)} to run, results in {study.folder}")
    for index, cell in enumerate(todo, 1):
        print(f"tfseg: cell {index}/{len(todo)}: {cell.name}", flush=True)
        started = time.perf_counter()
        run_dir = train_cell(study, cell)
        row, curve = cell_row(study, cell, run_dir)
        append_rows(study.curves_csv, curve, cell.name)
        append_rows(study.results_csv, pd.DataFrame([row]), cell.name)  # last: the row marks the cell done
        render_results(study, pair_if_done(study, pair))
        print(f"tfseg: cell {cell.name} done in {time.perf_counter() - started:.0f} s: "
              f"test IoU {row['test_iou']:.4f}, Dice {row['test_dice']:.4f}", flush=True)
        score_ensembles(study)
    if not todo:  # every cell done: ensembles added to the study file since, and a fresh table
        score_ensembles(study)
        render_results(study, pair_if_done(study, pair))
    return read_results(study)


def pair_if_done(study: Study, pair: list[str] | None) -> list[str] | None:
    """`pair` once both its rows have per-image scores, else None (the page shows the default pair meanwhile)."""
    return pair if pair and all(study.per_image(name).is_file() for name in pair) else None


def describe_cells(study: Study) -> str:
    """One line per cell, then per ensemble row: its name and state (done, started with k
    epochs, to run; an ensemble waits for its seeds, or is to score)."""
    from tfseg.run_state import completed_epochs

    done = finished_cells(study)
    lines = []
    for cell in study.cells:
        run_dir = study.run_dir(cell)
        if cell.name in done:
            state = "done"
        elif run_dir.is_dir():
            state = f"started: {completed_epochs(run_dir)} of {cell.config.train.epochs} epochs saved"
        else:
            state = "to run"
        lines.append(f"{cell.name:<48}{state}")
    for group, cells in study.run_groups().items():
        waiting = sum(cell.name not in done for cell in cells)
        for tta in study.ensembles:
            name = ensemble_name(group, tta)
            state = "done" if name in done else f"waits for {waiting} run(s)" if waiting else "to score"
            lines.append(f"{name:<48}{state}")
    return "\n".join(lines)
