"""The study file: parsed, checked, and expanded into named cells, each with its config."""

from __future__ import annotations

import copy
import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tfseg.config import TTA_FLIPS, Config, apply_overrides, config_from_dict, load_config, read_yaml
from tfseg.errors import TfsegError
from tfseg.study.names import cell_name, ensemble_name, group_name

STUDY_KEYS = ("name", "description", "settings", "grid", "seeds", "folds", "ensembles", "class_names")


@dataclass
class Cell:
    """One training run of a study: its name, the grid values that make it, and its config."""

    name: str
    values: dict[str, Any]
    config: Config


@dataclass
class Study:
    """A parsed study file; `folder` is where its runs and results go, and all it writes."""

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
    def results_md(self) -> Path:
        return self.folder / "results.md"

    @property
    def figure(self) -> Path:
        """The comparison figure, beside results.md."""
        return self.folder / "results.png"

    @property
    def report_html(self) -> Path:
        """The study page (`tfseg.study.page`), beside results.md."""
        return self.folder / "report.html"

    @property
    def per_image_dir(self) -> Path:
        """The per-image test scores of each row of results.csv, `<row>.csv` (see `per_image`)."""
        return self.folder / "per_image"

    def per_image(self, name: str) -> Path:
        """The test split's per_image.csv of a results row (a cell or an ensemble), kept in the study's folder."""
        return self.per_image_dir / f"{name}.csv"

    def run_dir(self, cell: Cell) -> Path:
        return self.folder / "runs" / cell.name

    def eval_dir(self, name: str, split: str) -> Path:
        """Where evaluate.py's files of a results row (a cell or an ensemble) on `split` go."""
        return self.folder / "runs" / name / "eval" / split

    def run_groups(self) -> dict[str, list[Cell]]:
        """The cells by their name without fold and seed, for the groups with several runs."""
        groups: dict[str, list[Cell]] = {}
        for cell in self.cells:
            groups.setdefault(group_name(cell.name), []).append(cell)
        return {group: cells for group, cells in groups.items() if len(cells) > 1}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


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
    from tfseg.data.discovery import classes_of

    try:
        config = config_from_dict(raw, source)
        models.entry(config.model.name).check_options(config.model.options)
        losses.get(config.train.loss, classes_of(config.data))
    except TfsegError as error:
        message = str(error)
        raise TfsegError(message if message.startswith(source) else f"{source}: {message}") from None
    return config


def _read_study_file(source: Path) -> dict[str, Any]:
    """The study file's mapping, its keys checked."""
    if not source.is_file():
        raise TfsegError(f"study file {source} does not exist")
    try:
        raw = read_yaml(source.read_text())
    except yaml.YAMLError as error:
        raise TfsegError(f"study file {source} is not valid YAML: {str(error).splitlines()[0]}") from None
    if not isinstance(raw, dict) or "grid" not in raw:
        raise TfsegError(f"study file {source}: expected a mapping with a grid (and settings, seeds, name)")
    unknown = sorted(set(raw) - set(STUDY_KEYS))
    if unknown:
        raise TfsegError(f"study file {source}: unknown key(s) {unknown}; valid: {list(STUDY_KEYS)}")
    return raw


def load_study(path: str | Path, out_root: str | Path = "studies", data_dir: str | None = None) -> Study:
    """Reads and checks a study file; every cell's config is built (and so validated) here.

    Args:
        path: str or Path. The study YAML.
        out_root: str or Path. The folder of all studies; this one goes in `<out_root>/<name>`.
            Defaults to "studies".
        data_dir: str or None. The dataset every cell reads instead of the file's `data.dir`
            (`compare.py --data`). Defaults to None: the file's.

    Raises:
        TfsegError: the file is missing, not YAML, has unknown keys, or a cell's config is invalid.
    """
    source = Path(path)
    raw = _read_study_file(source)
    settings = raw.get("settings") or {}
    if isinstance(settings, str):  # a config file, e.g. configs/ph2_best.yaml: the study repeats a recipe
        settings = load_config(settings).to_dict()
    if not isinstance(settings, dict):
        raise TfsegError(f"study file {source}: settings: expected a config mapping (data, model, train) or a "
                         f"config file")
    if data_dir is not None:
        settings = apply_overrides(copy.deepcopy(settings), {"data.dir": data_dir})
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
    for values, fold, seed in itertools.product(combinations, list(range(folds)) or [None], seeds):
        name_of_cell = cell_name(values, varied, fold, seed)
        fold_values = {} if fold is None else {"data.folds": folds, "data.fold": fold}
        values = {**values, **fold_values, "train.seed": seed}
        run_dir = {"train.run_dir": str(folder / "runs" / name_of_cell)}
        raw_config = apply_overrides(copy.deepcopy(settings), {**values, **run_dir}, skip_none=False)
        cells.append(Cell(name_of_cell, values, _checked_config(raw_config, f"{source}: cell {name_of_cell}")))
    duplicates = sorted({cell.name for cell in cells if [c.name for c in cells].count(cell.name) > 1})
    if duplicates:
        raise TfsegError(f"study file {source}: the grid gives the same cell twice: {duplicates}")
    ensembles = [str(tta) for tta in _as_list(raw.get("ensembles") or [])]
    if not set(ensembles) <= set(TTA_FLIPS) or len(set(ensembles)) != len(ensembles):
        raise TfsegError(f"study file {source}: ensembles: expected distinct test-time augmentations out of "
                         f"{list(TTA_FLIPS)}, got {raw['ensembles']!r}")
    if ensembles and len(seeds) * max(folds, 1) < 2:
        raise TfsegError(f"study file {source}: ensembles: needs two or more seeds or folds, got seeds {seeds}")
    from tfseg.data.discovery import classes_of

    class_names = [str(name) for name in _as_list(raw.get("class_names") or [])]
    classes = classes_of(base.data)
    if class_names and len(class_names) != classes - 1:
        raise TfsegError(f"study file {source}: class_names: expected {classes - 1} names (classes 1.."
                         f"{classes - 1}), got {len(class_names)}")
    return Study(name, source, folder, str(raw.get("description") or ""), settings, varied, cells, class_names,
                 ensembles, folds)


def select_cells(study: Study, names: list[str] | None) -> list[Cell]:
    """The study's cells, or those named (a name may be a cell's name without its `-s<seed>`)."""
    if not names:
        return study.cells
    chosen = [cell for cell in study.cells if cell.name in names or group_name(cell.name) in names]
    unknown = sorted(set(names) - {cell.name for cell in chosen} - {group_name(cell.name) for cell in chosen})
    if unknown:
        raise TfsegError(f"--cells: no cell {unknown} in {study.source}; its cells: {[cell.name for cell in study.cells]}")
    return chosen



def check_pair_names(study: Study, pair: list[str]) -> None:
    """Raises a one-line `TfsegError` unless both names of `compare.py --pair` are rows the study
    has or will have: its cells and its ensembles."""
    rows = [cell.name for cell in study.cells]
    rows += [ensemble_name(group, tta) for group in study.run_groups() for tta in study.ensembles]
    unknown = [name for name in pair if name not in rows]
    if unknown:
        raise TfsegError(f"--pair {' '.join(unknown)}: not a row of {study.source}; its rows: {rows}")
