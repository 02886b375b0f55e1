"""Studies: a grid of training runs from one study file, evaluated and compared in one table.

A study file (YAML; examples in configs/studies/) names the shared settings and a grid:

    name: ph2_losses                      # default: the file's stem
    description: SegNet with five losses, U-Net variants with BCE, on PH2.
    settings:                             # a config as train.py reads it (data, model, train),
                                          # or a config file: `settings: configs/ph2_best.yaml`
      data: {dir: ../shared/data/ph2-skin, image_size: [192, 256], channels: 3}
      train: {epochs: 40, batch_size: 8}
    grid:                                 # blocks; each is the product of its lists; the study is all blocks
      - {model.name: segnet, train.loss: [bce, dice, focal, tversky]}
      - {model.name: [unet, unet_upsampling], train.loss: bce}
    seeds: [0, 1, 2]                      # default: [settings' train.seed]
    folds: 5                              # k-fold cross-validation: each cell once per fold (default: 0, none)
    ensembles: [none, flip]               # also score each cell's seeds (and folds) as one ensemble, per TTA mode
    class_names: [lung, heart, clavicle]  # multi-class: names of classes 1..K-1 in the table

Grid keys are the dotted config keys of train.py's YAML (`model.options.depth` reaches
the builder's options). Each cell (one combination and seed) trains into
`<out>/<name>/runs/<cell>/`, is evaluated on the validation and test splits at the
masks' native resolution (threshold 0.5), and adds one row to `results.csv`, its
validation curve to `curves.csv`, and redraws `results.md` and `assets/<out>/<name>.png`, as
soon as it is done. Cells with a row are skipped; a cell whose run was interrupted
resumes from its last saved epoch; so a study can be stopped (even killed) and started
again, on this machine or another with the same files, and finishes with every cell once.
With `folds: k`, each combination and seed trains k times (`data.folds: k`, `data.fold`
0..k-1: fold i validates, the others train; the test split stays), as cells `<cell>-f<i>-s<seed>`.
With `ensembles:`, once every seed (and fold) of a cell is done, the mean probability of
their models is scored the same way (with each listed test-time augmentation) and adds a
row `<cell>-ensemble` (`<cell>-ensemble-<tta>`); a fold ensemble is scored on test only,
as each fold's validation images trained the other folds' models.
"""

from __future__ import annotations

import copy
import itertools
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from filelock import FileLock

from tfseg.config import Config, apply_overrides, config_from_dict, load_config
from tfseg.errors import TfsegError
from tfseg.files import write_atomically

STUDY_KEYS = ("name", "description", "settings", "grid", "seeds", "folds", "ensembles", "class_names")
SCORES = ("iou", "dice")
"""The scores of the table, each as mean and std over images, on val and test."""
SHORT_KEYS = {"model.name": "", "train.loss": ""}
"""How a varied key is written in cell names: model and loss as their value alone, others
as `<last part of the key><value>`, e.g. `lr0.0003`."""


@dataclass
class Cell:
    """One training run of a study: its name, the grid values that make it, and its config."""

    name: str
    values: dict[str, Any]
    config: Config


@dataclass
class Study:
    """A parsed study file; `folder` is where its runs and results go."""

    name: str
    source: Path
    folder: Path
    description: str
    settings: dict[str, Any]
    varied: list[str]
    cells: list[Cell]
    class_names: list[str] = field(default_factory=list)
    ensembles: list[str] = field(default_factory=list)
    """Test-time augmentations with which each cell's seeds (and folds) are scored as an ensemble."""
    folds: int = 0
    """k-fold cross-validation: every combination and seed trains once per fold (0: no folds)."""

    @property
    def results_csv(self) -> Path:
        return self.folder / "results.csv"

    @property
    def curves_csv(self) -> Path:
        return self.folder / "curves.csv"

    @property
    def figure(self) -> Path:
        """The comparison figure: `assets/<studies folder>/<name>.png` beside the studies
        folder (figures are kept under assets/, results tables beside their runs)."""
        studies = self.folder.parent
        return studies.parent / "assets" / studies.name / f"{self.name}.png"

    def run_dir(self, cell: Cell) -> Path:
        return self.folder / "runs" / cell.name

    def run_groups(self) -> dict[str, list[Cell]]:
        """The cells by their name without fold and seed, for the groups with several runs."""
        groups: dict[str, list[Cell]] = {}
        for cell in self.cells:
            groups.setdefault(group_name(cell.name), []).append(cell)
        return {group: cells for group, cells in groups.items() if len(cells) > 1}


def group_name(cell_name: str) -> str:
    """A cell's name without its `-f<fold>-s<seed>`: the row of results.md its seeds (and
    folds) are summarised in."""
    return re.sub(r"(-f\d+)?-s-?\d+$", "", cell_name)


def ensemble_name(group: str, tta: str) -> str:
    """The results row of a group's seed ensemble scored with test-time augmentation `tta`."""
    return f"{group}-ensemble" + ("" if tta == "none" else f"-{tta}")


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _cell_name(values: dict[str, Any], varied: list[str]) -> str:
    parts = []
    for key in varied:
        if key in values:
            parts.append(SHORT_KEYS.get(key, key.rsplit(".", 1)[-1]) + _text(values[key]))
    if "data.fold" in values:
        parts.append(f"f{values['data.fold']}")
    parts.append(f"s{values['train.seed']}")
    return re.sub(r"[^A-Za-z0-9._+=-]", "_", "-".join(parts))


def _expand_grid(grid: Any, source: Path) -> list[dict[str, Any]]:
    """The combinations of the grid's blocks, in order (each block's product, then the next)."""
    blocks = grid if isinstance(grid, list) else [grid]
    if not blocks or not all(isinstance(block, dict) and block for block in blocks):
        raise TfsegError(f"{source}: grid: expected a mapping of dotted config keys to values or lists, or a list of them")
    combinations = []
    for block in blocks:
        keys = list(block)
        for values in itertools.product(*(_as_list(block[key]) for key in keys)):
            combinations.append(dict(zip(keys, values)))
    return combinations


def _checked_config(raw: dict[str, Any], source: str) -> Config:
    """The cell's config, its model name, model options and loss checked too (not only when
    training reaches the cell)."""
    from tfseg import losses, models

    try:
        config = config_from_dict(raw, source)
        models.entry(config.model.name).check_options(config.model.options)
        losses.get(config.train.loss, config.data.classes)
    except TfsegError as error:
        message = str(error)
        raise TfsegError(message if message.startswith(source) else f"{source}: {message}") from None
    return config


def load_study(path: str | Path, out_root: str | Path = "studies") -> Study:
    """Reads and checks a study file; every cell's config is built (and so validated) here.

    Args:
        path: str or Path. The study YAML.
        out_root: str or Path. The folder of all studies; this one goes in `<out_root>/<name>`.
            Defaults to "studies".

    Raises:
        TfsegError: the file is missing, not YAML, has unknown keys, or a cell's config is invalid.
    """
    source = Path(path)
    if not source.is_file():
        raise TfsegError(f"study file {source} does not exist")
    try:
        raw = yaml.safe_load(source.read_text())
    except yaml.YAMLError as error:
        raise TfsegError(f"study file {source} is not valid YAML: {str(error).splitlines()[0]}") from None
    if not isinstance(raw, dict) or "grid" not in raw:
        raise TfsegError(f"study file {source}: expected a mapping with a grid (and settings, seeds, name)")
    unknown = sorted(set(raw) - set(STUDY_KEYS))
    if unknown:
        raise TfsegError(f"study file {source}: unknown key(s) {unknown}; valid: {list(STUDY_KEYS)}")
    settings = raw.get("settings") or {}
    if isinstance(settings, str):  # a config file, e.g. configs/ph2_best.yaml: the study repeats a recipe
        settings = load_config(settings).to_dict()
    if not isinstance(settings, dict):
        raise TfsegError(f"study file {source}: settings: expected a config mapping (data, model, train) or a "
                         f"config file")
    name = str(raw.get("name") or source.stem)
    if not re.fullmatch(r"[A-Za-z0-9._-]+", name):
        raise TfsegError(f"study file {source}: name {name!r}: expected letters, digits, '.', '_' or '-'")
    base = config_from_dict(copy.deepcopy(settings), f"{source}: settings")
    seeds = _as_list(raw.get("seeds", base.train.seed))
    if not seeds or not all(isinstance(seed, int) and not isinstance(seed, bool) for seed in seeds):
        raise TfsegError(f"study file {source}: seeds: expected an integer or a list of integers, got {raw['seeds']!r}")
    combinations = _expand_grid(raw["grid"], source)
    folds = raw.get("folds", 0)
    if not isinstance(folds, int) or isinstance(folds, bool) or folds == 1 or folds < 0:
        raise TfsegError(f"study file {source}: folds: expected an integer k >= 2 (or 0 for no folds), got {folds!r}")
    own_keys = ("train.seed", "train.run_dir", "data.folds", "data.fold")
    if any(key in values for values in combinations for key in own_keys):
        raise TfsegError(f"study file {source}: grid: {', '.join(own_keys)} are set by the study (use seeds: and folds:)")
    keys = list(dict.fromkeys(key for values in combinations for key in values))
    varied = [key for key in keys if len({repr(values.get(key)) for values in combinations}) > 1] or keys[:1]
    folder = Path(out_root) / name
    cells = []
    fold_values = [{"data.folds": folds, "data.fold": fold} for fold in range(folds)] or [{}]
    for values, fold, seed in itertools.product(combinations, fold_values, seeds):
        values = {**values, **fold, "train.seed": seed}
        cell_name = _cell_name(values, varied)
        run_dir = {"train.run_dir": str(folder / "runs" / cell_name)}
        raw_config = apply_overrides(copy.deepcopy(settings), {**values, **run_dir}, skip_none=False)
        cells.append(Cell(cell_name, values, _checked_config(raw_config, f"{source}: cell {cell_name}")))
    duplicates = sorted({cell.name for cell in cells if [c.name for c in cells].count(cell.name) > 1})
    if duplicates:
        raise TfsegError(f"study file {source}: the grid gives the same cell twice: {duplicates}")
    from tfseg.inference import TTA_FLIPS

    ensembles = [str(tta) for tta in _as_list(raw.get("ensembles") or [])]
    if not set(ensembles) <= set(TTA_FLIPS) or len(set(ensembles)) != len(ensembles):
        raise TfsegError(f"study file {source}: ensembles: expected distinct test-time augmentations out of "
                         f"{list(TTA_FLIPS)}, got {raw['ensembles']!r}")
    if ensembles and len(seeds) * max(folds, 1) < 2:
        raise TfsegError(f"study file {source}: ensembles: needs two or more seeds or folds, got seeds {seeds}")
    class_names = [str(name) for name in _as_list(raw.get("class_names") or [])]
    if class_names and len(class_names) != base.data.classes - 1:
        raise TfsegError(f"study file {source}: class_names: expected {base.data.classes - 1} names (classes 1.."
                         f"{base.data.classes - 1}), got {len(class_names)}")
    return Study(name, source, folder, str(raw.get("description") or ""), settings, varied, cells, class_names,
                 ensembles, folds)


def finished_cells(study: Study) -> set[str]:
    """The names of the cells with a row in results.csv."""
    if not study.results_csv.is_file():
        return set()
    return set(read_results(study)["cell"])


def select_cells(study: Study, names: list[str] | None) -> list[Cell]:
    """The study's cells, or those named (a name may be a cell's name without its `-s<seed>`)."""
    if not names:
        return study.cells
    chosen = [cell for cell in study.cells if cell.name in names or group_name(cell.name) in names]
    unknown = sorted(set(names) - {cell.name for cell in chosen} - {group_name(cell.name) for cell in chosen})
    if unknown:
        raise TfsegError(f"--cells: no cell {unknown} in {study.source}; its cells: {[cell.name for cell in study.cells]}")
    return chosen


def train_cell(study: Study, cell: Cell) -> Path:
    """Trains a cell into its run folder, or resumes the run a stopped study left there."""
    from tfseg.run import read_config
    from tfseg.training import resume_run, train

    run_dir = study.run_dir(cell)
    if not (run_dir / "config.yaml").is_file():
        shutil.rmtree(run_dir, ignore_errors=True)  # killed before its first saved state: nothing to keep
        return train(copy.deepcopy(cell.config))
    saved = read_config(run_dir).to_dict()
    wanted = cell.config.to_dict()
    changed = [f"{section}.{key}" for section in wanted for key in wanted[section]
               if saved[section].get(key) != wanted[section][key] and key != "run_dir"]
    if changed:
        raise TfsegError(f"{run_dir}: trained with other settings than {study.source} gives cell {cell.name} "
                         f"({', '.join(changed)}); delete the folder to train it again")
    return resume_run(run_dir)


def _descriptive_values(study: Study, cell: Cell) -> dict[str, str]:
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
            values[key] = _text(value)
    return values


def _scores(study: Study, run_dir: Path, ensemble: list[Path] = (), tta: str = "none",
            out_dir: Path | None = None, splits: tuple[str, ...] = ("val", "test")) -> dict[str, float]:
    """IoU and Dice (mean and std over images, per class for multi-class) on `splits` of a
    run, or of the ensemble of it and `ensemble`, as evaluate.py computes them."""
    from tfseg.evaluation import evaluate_run

    classes = study.cells[0].config.data.classes
    row = {}
    for split in splits:
        summary = evaluate_run(run_dir, split=split, tta=tta, ensemble=ensemble,
                               out_dir=None if out_dir is None else out_dir / split)
        scores = summary["scores"]
        for score in SCORES:
            row[f"{split}_{score}"], row[f"{split}_{score}_std"] = scores[score]["mean"], scores[score]["std"]
            for k in range(1, classes if classes > 1 else 1):
                name = study.class_names[k - 1] if study.class_names else str(k)
                row[f"{split}_{score}_{name}"] = scores[f"{score}_{k}"]["mean"]
    return row


def cell_row(study: Study, cell: Cell, run_dir: Path) -> tuple[dict[str, Any], pd.DataFrame]:
    """Evaluates a trained cell on val and test: its results row and its validation curve."""
    from tfseg.export.loading import load_run_model
    from tfseg.run import RunDir

    run = RunDir(run_dir)
    history = pd.read_csv(run.history)
    monitor = cell.config.train.monitor
    row = {"cell": cell.name, "model": cell.config.model.name, "loss": cell.config.train.loss,
           **_descriptive_values(study, cell)}
    if study.folds:
        row["fold"] = cell.config.data.fold
    row.update({
        "seed": cell.config.train.seed,
        "params": load_run_model(run.path).count_params(),
        "epochs": len(history),
        "seconds_per_epoch": round(float(history["epoch_seconds"].mean()), 2) if "epoch_seconds" in history else None,
        "best_epoch": int(history.loc[history[monitor].idxmax(), "epoch"]) + 1 if history[monitor].notna().any() else None,
    })
    row.update(_scores(study, run.path))
    curve = pd.DataFrame({"cell": cell.name, "epoch": history["epoch"] + 1, "monitor": monitor, "value": history[monitor]})
    return row, curve


def ensemble_row(study: Study, name: str, cells: list[Cell], tta: str, finished: pd.DataFrame) -> dict[str, Any]:
    """Scores the mean probability of a group's runs (seeds, folds; with test-time augmentation `tta`):
    the results row `name`. Its seed is the members' seeds joined by '+', its parameters
    their sum (from `finished`, results.csv by cell); evaluate.py's files go to
    `runs/<name>/<split>/`. A fold ensemble is scored on test only: each fold's validation
    images trained the other folds' models."""
    first = cells[0]
    row = {"cell": name, "model": first.config.model.name, "loss": first.config.train.loss,
           **_descriptive_values(study, first), "seed": "+".join(str(cell.config.train.seed) for cell in cells),
           "params": int(finished.loc[[cell.name for cell in cells], "params"].sum())}
    runs = [study.run_dir(cell) for cell in cells]
    splits = ("test",) if study.folds else ("val", "test")
    row.update(_scores(study, runs[0], ensemble=runs[1:], tta=tta, out_dir=study.folder / "runs" / name, splits=splits))
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
            _append(study.results_csv, pd.DataFrame([row]), name)
            render_results(study)
            print(f"tfseg: ensemble {name} done: test IoU {row['test_iou']:.4f}, Dice {row['test_dice']:.4f}",
                  flush=True)


def _text(value: Any) -> str:
    return "x".join(map(str, value)) if isinstance(value, list) else str(value)


def _append(path: Path, rows: pd.DataFrame, cell: str) -> None:
    """Adds `rows` to the CSV at `path`, replacing the cell's earlier rows, atomically.

    The read-modify-write holds `.<name>.lock` beside it, so compare.py processes running
    other cells of the study at once (e.g. one per GPU) never drop each other's rows."""
    with FileLock(path.with_name(f".{path.name}.lock")):
        table = pd.read_csv(path) if path.is_file() else pd.DataFrame()
        if len(table):
            table = table[table["cell"].astype(str) != cell]
        table = pd.concat([table, rows], ignore_index=True)
        write_atomically(path, table.to_csv(index=False, float_format="%.6g"))


def run_study(study: Study, cells: list[Cell] | None = None) -> pd.DataFrame:
    """Trains and evaluates every cell (or `cells`) not yet in results.csv, one after the
    other, writing results.csv, curves.csv, results.md and the figure after each; then
    scores the `ensembles` of every group whose runs are all done."""
    study.folder.mkdir(parents=True, exist_ok=True)
    todo = [cell for cell in (cells or study.cells) if cell.name not in finished_cells(study)]
    print(f"tfseg: study {study.name}: {len(study.cells)} cells, {len(todo)} to run, results in {study.folder}")
    for index, cell in enumerate(todo, 1):
        print(f"tfseg: cell {index}/{len(todo)}: {cell.name}", flush=True)
        started = time.perf_counter()
        run_dir = train_cell(study, cell)
        row, curve = cell_row(study, cell, run_dir)
        _append(study.curves_csv, curve, cell.name)
        _append(study.results_csv, pd.DataFrame([row]), cell.name)  # last: the row marks the cell done
        render_results(study)
        print(f"tfseg: cell {cell.name} done in {time.perf_counter() - started:.0f} s: "
              f"test IoU {row['test_iou']:.4f}, Dice {row['test_dice']:.4f}", flush=True)
        score_ensembles(study)
    if not todo:  # every cell done: ensembles added to the study file since, and a fresh table
        score_ensembles(study)
        render_results(study)
    return read_results(study)


def _score_columns(table: pd.DataFrame) -> list[str]:
    """The mean-score columns of results.csv, in order: val then test, IoU, Dice, per class."""
    return [column for column in table.columns
            if column.startswith(("val_", "test_")) and not column.endswith("_std")]


def _table_columns(table: pd.DataFrame) -> list[str]:
    """The score columns of results.md: IoU and Dice on val and test, and per class on test."""
    return [column for column in _score_columns(table)
            if column.count("_") == 1 or column.startswith("test_")]


def read_results(study: Study) -> pd.DataFrame:
    """results.csv, the varied keys' values as written (text), not parsed as numbers."""
    return pd.read_csv(study.results_csv, dtype={"cell": str, "seed": str, **{key: str for key in study.varied}})


def summary_table(study: Study, table: pd.DataFrame) -> pd.DataFrame:
    """One row per cell without its fold and seed: the number of runs (seeds × folds), the
    scores' mean and spread (std over runs where a cell has several, else std over images),
    seconds per epoch and parameters. An ensemble row counts its members as runs; its
    spread is over images."""
    table = table.assign(group=table["cell"].map(group_name))
    order = list(dict.fromkeys(table["group"]))
    scores = _table_columns(table)
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


def render_markdown(study: Study, table: pd.DataFrame) -> str:
    """results.md: the summary table, the best mean of each score column in bold."""
    summary = summary_table(study, table)
    scores = _table_columns(table)
    best = {column: np.nanmax([value[0] for value in summary[column]]) for column in scores}
    label = {column: column.replace("_", " ").replace("iou", "IoU").replace("dice", "Dice") for column in scores}
    fixed = [column for column in summary.columns if column not in scores]
    formats = {"params": "{:,}", "s/epoch": "{:.1f}", "best epoch": "{:.3g}"}
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
        f"![test scores and validation curves]({os.path.relpath(study.figure, study.folder)})",
        "",
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
    temporary = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(temporary, dpi=110)
    plt.close(fig)
    temporary.replace(path)


def render_results(study: Study) -> None:
    """Rewrites results.md and the figure (`Study.figure`) from results.csv and curves.csv (if there are rows)."""
    if not study.results_csv.is_file():
        return
    table = read_results(study)
    if not len(table):
        return
    curves = pd.read_csv(study.curves_csv) if study.curves_csv.is_file() else None
    write_atomically(study.folder / "results.md", render_markdown(study, table))
    study.figure.parent.mkdir(parents=True, exist_ok=True)
    render_figure(study, table, curves, study.figure)


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
