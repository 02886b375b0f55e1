"""`train.py --inspect`: what a dataset holds, checked the way training checks it."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pandas as pd

from tfseg.config import Config, DataConfig
from tfseg.data.discovery import MASKS_HOLD_0_1, SPLITS, mask_reader, read_class_names
from tfseg.data.io import COLOUR_TABLE, GREY, LOSSY_SUFFIXES, PALETTE
from tfseg.data.pipeline import load_table, resolve_data_dir, settle_data, split_rows


def _counted(values: pd.Series, limit: int = 6) -> str:
    """'a (n), b (m), …' for the most common values."""
    counts = Counter(values).most_common()
    shown = ", ".join(f"{value} ({count})" for value, count in counts[:limit])
    return shown + (f", … {len(counts) - limit} more" if len(counts) > limit else "")


def _split_source(source: Path, table_has_manifest_split: bool, config: Config) -> str:
    data = config.data
    if table_has_manifest_split:
        origin = "the manifest's split column"
    elif source.is_dir() and (source / "splits.csv").is_file():
        origin = "splits.csv"
    else:
        origin = f"seeded random split (seed {config.train.seed}, val {data.val_fraction}, test {data.test_fraction})"
    if data.stratify and "random" in origin:
        origin += f", stratified by {data.stratify}"
    if data.folds:
        origin += f"; fold {data.fold} of {data.folds} validates (non-test ids dealt into folds)"
    return origin


def _mask_encoding_lines(table: pd.DataFrame, source: Path, data: DataConfig, sources: dict[str, str]) -> list[str]:
    """How the masks are stored (file names, formats, encodings) and how each encoding is read."""
    suffixes = table["mask_path"].map(lambda path: Path(path).suffix.lower())
    lines = []
    if data.mask_suffix:
        lines.append(f"mask files: masks/<id>{data.mask_suffix}.<ext> (data.mask_suffix {data.mask_suffix!r})")
    lines.append(f"mask files: {_counted(suffixes)}; stored modes {_counted(table['mask_mode'])}")
    lossy = int(suffixes.isin(LOSSY_SUFFIXES).sum())
    if lossy:
        lines.append(f"  {lossy} mask(s) in a lossy format (JPEG): edges hold in-between values; read as the encoding below says")
    colors = mask_reader(source, data.classes, data.mask_threshold).colors
    binary = data.classes == 1
    if sources.get("data.mask_threshold") == MASKS_HOLD_0_1:
        grey = f"masks hold 0/1: foreground is 1 (data.mask_threshold {data.mask_threshold}, from the {MASKS_HOLD_0_1})"
    else:
        grey = f"foreground is a stored value > {data.mask_threshold} (data.mask_threshold)"
    meaning = {
        GREY: grey if binary else "the stored value is the label",
        PALETTE: ("the index is the label, whatever its colour; foreground is index > 0" if binary
                  else "the index is the label, whatever its colour"),
        COLOUR_TABLE: "each colour is the label of its classes.txt line: " + ", ".join(
            f"{tuple(color)} -> {label}" for label, color in enumerate(colors)),
    }
    for encoding, count in Counter(table["mask_encoding"]).most_common():
        lines.append(f"mask encoding: {encoding} ({count}): {meaning[encoding]}")
    return lines


def dataset_summary(config: Config, table: pd.DataFrame | None = None) -> str:
    """Discovers, splits and validates the config's dataset and describes it.

    Runs the same checks as training (every file decodes, sizes match, labels < classes,
    some foreground at the threshold, classes.txt, crops fit, train and val non-empty), so a
    problem raises the same one-line `TfsegError` before anything trains.

    Args:
        config: Config. Its data section and train.seed (the split).
        table: DataFrame or None. `load_table(config.data, config.train.seed)` when the
            caller has it; None loads it.

    Returns:
        A multi-line text: pairs per split, image sizes, stored modes, mask values, foreground
        share, class names.
    """
    source = resolve_data_dir(config.data)
    manifest_split = source.suffix.lower() == ".csv" and "split" in pd.read_csv(source, nrows=0).columns
    table = load_table(config.data, config.train.seed, config.sources) if table is None else table
    data, decided = settle_data(config.data, table)
    sources = {**config.sources, **decided}
    for split in ("train", "val"):
        split_rows(table, split)
    lines = [
        f"dataset: {source} ({'CSV manifest' if source.suffix.lower() == '.csv' else 'folder'}), {len(table)} image/mask pairs",
        f"splits: {_split_source(source, manifest_split, config)}",
        f"{'split':<8}{'pairs':>7}{'foreground mean':>18}{'empty masks':>13}",
    ]
    for split in SPLITS:
        rows = table[table["split"] == split]
        mean = f"{rows['foreground'].mean():.3f}" if len(rows) else "-"
        lines.append(f"{split:<8}{len(rows):>7}{mean:>18}{int((rows['foreground'] == 0).sum()):>13}")
    sizes = table["width"].astype(str) + "x" + table["height"].astype(str)
    lines.append(f"image sizes (W x H): {_counted(sizes)}")
    lines.append(f"stored image modes: {_counted(table['mode'])}; read as {data.channels} channel(s) "
                 f"[{sources.get('data.channels', 'default')}], {_counted(table['dtype'])}")
    lines.extend(_mask_encoding_lines(table, source, data, sources))
    values = Counter(int(v) for text in table["mask_values"] for v in text.split())
    if len(values) > 16:
        lines.append(f"mask values: {len(values)} distinct values from {min(values)} to {max(values)}")
    else:
        lines.append("mask values (masks containing each): " + ", ".join(f"{v} ({n})" for v, n in sorted(values.items())))
    share = table["foreground"]
    if data.classes == 1:
        odd = int(sum(len(text.split()) > 2 for text in table["mask_values"]))
        lines.append(
            f"binary masks: foreground share per image "
            f"mean {share.mean():.3f}, min {share.min():.3f}, max {share.max():.3f}"
            + (f"; {odd} mask(s) hold more than two values (anti-aliased edges?)" if odd else "")
        )
    else:
        lines.append(f"label maps: {data.classes} classes [{sources.get('data.classes', 'default')}]; "
                     f"non-background share per image mean {share.mean():.3f}")
    names = read_class_names(source, data.classes)
    if names:
        lines.append("class names (classes.txt): " + ", ".join(f"{i} {name}" for i, name in enumerate(names)))
    lines.append(f"geometry: {data.describe_geometry()}; augment: {data.augment} (engine {data.engine})")
    lines.append("no problems found")
    return "\n".join(lines)
