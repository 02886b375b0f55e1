"""Cell names: built from a cell's grid values, fold and seed, and read back by one pair of functions."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

SHORT_KEYS = {"model.name": "", "train.loss": ""}
"""How a varied key is written in cell names: model and loss as their value alone, others
as `<last part of the key><value>`, e.g. `lr0.0003`."""

_FOLD_AND_SEED = re.compile(r"^(?P<group>.+?)(?:-f(?P<fold>\d+))?-s(?P<seed>-?\d+)$")


@dataclass(frozen=True)
class CellName:
    """A cell's name taken apart: the group (its grid values), its fold (None without folds) and seed."""

    group: str
    fold: int | None
    seed: int


def value_text(value: Any) -> str:
    """A grid value as cell names and result rows write it (lists joined by 'x': [96, 128] → 96x128)."""
    return "x".join(map(str, value)) if isinstance(value, list) else str(value)


def cell_name(values: dict[str, Any], varied: list[str], fold: int | None, seed: int) -> str:
    """The name of the cell with grid `values` (the `varied` keys appear in it), `fold` and `seed`:
    e.g. `unet-bce-lr0.0003-f1-s42`. `read_cell_name` takes it apart again."""
    parts = [SHORT_KEYS.get(key, key.rsplit(".", 1)[-1]) + value_text(values[key]) for key in varied if key in values]
    parts += ([] if fold is None else [f"f{fold}"]) + [f"s{seed}"]
    return re.sub(r"[^A-Za-z0-9._+=-]", "_", "-".join(parts))


def read_cell_name(name: str) -> CellName:
    """The group, fold and seed of a name `cell_name` built. A name without fold and seed (an
    ensemble row, a group), or with nothing before them, is its own group (seed 0)."""
    match = _FOLD_AND_SEED.match(name)
    if not match:
        return CellName(name, None, 0)
    fold = match.group("fold")
    return CellName(match.group("group"), None if fold is None else int(fold), int(match.group("seed")))


def group_name(name: str) -> str:
    """A cell's name without its fold and seed: the row of results.md its seeds (and folds) are summarised in."""
    return read_cell_name(name).group


def ensemble_name(group: str, tta: str) -> str:
    """The results row of a group's ensemble of runs scored with test-time augmentation `tta`."""
    return f"{group}-ensemble" + ("" if tta == "none" else f"-{tta}")
