"""Finding image/mask pairs and their splits, validated before anything trains."""

from __future__ import annotations

import dataclasses
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from tfseg.config import setting_advice
from tfseg.data.io import GREY, IMAGE_SUFFIXES, LOSSY_SUFFIXES, Color, MaskReader, read_image
from tfseg.errors import TfsegError

SPLITS = ("train", "val", "test")

COLOUR_MODES = ("RGB", "RGBA", "RGBX", "RGBa", "CMYK", "YCbCr", "LAB", "HSV")
"""PIL modes that hold colour (a palette holds colour when one of its entries is not grey)."""

MASKS_HOLD_0_1 = "masks (0/1 values)"
"""Where `data.mask_threshold` 0 came from when every mask holds only 0 and 1."""


def _list_by_stem(folder: Path, suffixes: tuple[str, ...]) -> dict[str, Path]:
    """Maps file stem → path for files in `folder` with one of `suffixes`."""
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.suffix.lower() not in suffixes:
            continue
        if path.stem in found:
            raise TfsegError(f"{folder}: two files share the id {path.stem!r}: {found[path.stem].name}, {path.name}")
        found[path.stem] = path
    return found


def _preview(names: list[str], limit: int = 5) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" … ({len(names)} in all)" if len(names) > limit else "")


def read_table_csv(path: Path) -> pd.DataFrame:
    """Reads a CSV of text cells as a spreadsheet may write it: a UTF-8 byte-order mark, CRLF
    line ends and spaces around headers and cells are dropped; empty cells are ""."""
    table = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    table.columns = [str(column).strip() for column in table.columns]
    return table.apply(lambda column: column.str.strip())


def _suffix_hint(image_ids: set[str], mask_stems: list[str]) -> str:
    """'; …pass --mask-suffix S' when every mask is named an image id plus the same suffix S."""
    suffixes = set()
    for stem in mask_stems:
        cut = next((k for k in range(len(stem) - 1, 0, -1) if stem[:k] in image_ids), None)
        if cut is None:
            return ""
        suffixes.add(stem[cut:])
    if len(suffixes) != 1:
        return ""
    suffix = suffixes.pop()
    return f"; the masks are named <id>{suffix}: pass --mask-suffix {suffix} (data.mask_suffix in YAML)"


def discover_pairs(data_dir: str | Path, mask_suffix: str = "") -> pd.DataFrame:
    """Lists `images/<id>.*` with `masks/<id><mask_suffix>.*` pairs in `data_dir` (or reads a CSV manifest).

    Args:
        data_dir: str or Path. Dataset folder, or a `.csv` manifest (see `read_manifest`).
        mask_suffix: str. Masks are named `<id><mask_suffix>.<ext>`, e.g. `_segmentation`
            for ISIC's `<id>_segmentation.png`. Defaults to "".

    Returns:
        DataFrame with columns id, image_path, mask_path, sorted by id (a manifest adds its
        other columns, e.g. split).

    Raises:
        TfsegError: the folder or its `images/`/`masks/` is missing, an image has no mask
            or a mask no image, or no pairs are found.
    """
    data_dir = Path(data_dir)
    if data_dir.suffix.lower() == ".csv" and data_dir.is_file():
        return read_manifest(data_dir)
    if not data_dir.is_dir():
        raise TfsegError(f"--data {data_dir}: not a folder, expected a dataset folder with images/ and masks/ or a CSV manifest")
    for sub in ("images", "masks"):
        if not (data_dir / sub).is_dir():
            raise TfsegError(f"{data_dir}: no {sub}/ folder, expected {data_dir}/images/<id>.<png|jpg|...> and {data_dir}/masks/<id>.png")
    images = _list_by_stem(data_dir / "images", IMAGE_SUFFIXES)
    mask_files = _list_by_stem(data_dir / "masks", IMAGE_SUFFIXES)
    masks = {stem[: len(stem) - len(mask_suffix)]: path for stem, path in mask_files.items() if stem.endswith(mask_suffix)}
    no_mask = sorted(set(images) - set(masks))
    if no_mask:
        hint = "" if mask_suffix else _suffix_hint(set(images), sorted(mask_files))
        raise TfsegError(
            f"{data_dir}/masks: no mask <id>{mask_suffix}.<png|jpg|...> for image(s) {_preview([images[i].name for i in no_mask])}{hint}"
        )
    unpaired = sorted(path.name for stem, path in mask_files.items()
                      if not stem.endswith(mask_suffix) or stem[: len(stem) - len(mask_suffix)] not in images)
    if unpaired:
        raise TfsegError(f"{data_dir}/images: no image for mask(s) {_preview(unpaired)}")
    if not images:
        raise TfsegError(f"{data_dir}/images: no images found (expected {', '.join(IMAGE_SUFFIXES)})")
    ids = sorted(images)
    return pd.DataFrame(
        {"id": ids, "image_path": [str(images[i]) for i in ids], "mask_path": [str(masks[i]) for i in ids]}
    )


def read_manifest(csv_path: str | Path) -> pd.DataFrame:
    """Reads a CSV manifest: columns `image`, `mask` (paths relative to the CSV) and optionally `split`.

    Other columns are kept (e.g. for `stratify`). The id of a row is its image's file stem.

    Args:
        csv_path: str or Path. The manifest.

    Returns:
        DataFrame with columns id, image_path, mask_path, the manifest's other columns, sorted by id.

    Raises:
        TfsegError: missing columns, a missing file (named with its row), or two images with one stem.
    """
    csv_path = Path(csv_path)
    try:
        table = read_table_csv(csv_path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as error:
        raise TfsegError(f"{csv_path}: not a readable CSV manifest ({str(error).splitlines()[0]})") from None
    if not {"image", "mask"} <= set(table.columns):
        raise TfsegError(f"{csv_path}: expected columns image,mask[,split], found {list(table.columns)}")
    if table.empty:
        raise TfsegError(f"{csv_path}: no rows, expected one image,mask pair per row")
    for column in ("image", "mask"):
        paths = [(csv_path.parent / value).resolve() for value in table[column]]
        for row, path in enumerate(paths, start=2):
            if not path.is_file():
                raise TfsegError(f"{csv_path} line {row}: {column} file {path} does not exist")
        table[f"{column}_path"] = [str(path) for path in paths]
    table["id"] = [Path(path).stem for path in table["image_path"]]
    duplicated = sorted(table.loc[table["id"].duplicated(), "id"])
    if duplicated:
        raise TfsegError(f"{csv_path}: images share the id (file stem) {_preview(duplicated)}; ids must be unique")
    extra = [c for c in table.columns if c not in ("id", "image", "mask", "image_path", "mask_path")]
    return table[["id", "image_path", "mask_path", *extra]].sort_values("id").reset_index(drop=True)


def strata(pairs: pd.DataFrame, stratify: str, data_dir: str | Path) -> pd.Series:
    """The group of each id for stratified splits and folds.

    Args:
        pairs: DataFrame from `discover_pairs`.
        stratify: str. `prefix` (the id's leading letters: CHNCXR_0001_0 → CHNCXR), or a column
            of `pairs` (a manifest column) or of `labels.csv` (with an `id` column) in `data_dir`.
        data_dir: str or Path. The dataset folder (or manifest) `pairs` came from.

    Raises:
        TfsegError: the column is in neither place, or an id has no value in labels.csv.
    """
    if stratify == "prefix":
        return pairs["id"].str.extract(r"^([A-Za-z]*)", expand=False).fillna("")
    if stratify in pairs.columns:
        return pairs[stratify].astype(str)
    folder = Path(data_dir).parent if Path(data_dir).suffix.lower() == ".csv" else Path(data_dir)
    labels_csv = folder / "labels.csv"
    if not labels_csv.is_file():
        raise TfsegError(f"data.stratify: no column {stratify!r} (no manifest column and no {labels_csv}); or use 'prefix'")
    labels = read_table_csv(labels_csv)
    if "id" not in labels.columns or stratify not in labels.columns:
        raise TfsegError(f"{labels_csv}: expected columns id and {stratify!r} (data.stratify), found {list(labels.columns)}")
    by_id = dict(zip(labels["id"], labels[stratify]))
    missing = [i for i in pairs["id"] if i not in by_id]
    if missing:
        raise TfsegError(f"{labels_csv}: no {stratify!r} value for id(s) {_preview(missing)}")
    return pairs["id"].map(by_id)


def _shuffled_by_group(groups: pd.Series, rng: np.random.Generator) -> list[np.ndarray]:
    """Row positions of each group (groups sorted by name), each shuffled."""
    return [rng.permutation(np.flatnonzero(groups.to_numpy() == name)) for name in sorted(groups.unique())]


def assign_folds(pairs: pd.DataFrame, folds: int, fold: int, seed: int, groups: pd.Series | None = None) -> pd.DataFrame:
    """k-fold cross-validation: test rows stay; the others become `val` (fold `fold`) or `train`.

    Rows are shuffled within each group (one group without stratification) and dealt out to
    the folds in turn, so folds differ in size by at most one and keep the groups' proportions.

    Args:
        pairs: DataFrame with a `split` column.
        folds: int. Number of folds k >= 2.
        fold: int. The validation fold, 0..k-1.
        seed: int. Seed of the shuffle.
        groups: Series or None. Group of each row (see `strata`). Defaults to None.
    """
    pairs = pairs.copy()
    pool = pairs["split"] != "test"
    pooled = pairs[pool]
    group_of = groups[pool] if groups is not None else pd.Series("all", index=pooled.index)
    order = np.concatenate(_shuffled_by_group(group_of.reset_index(drop=True), np.random.default_rng(seed)))
    fold_of = np.empty(len(pooled), dtype=int)
    fold_of[order] = np.arange(len(order)) % folds
    pairs.loc[pool, "split"] = np.where(fold_of == fold, "val", "train")
    return pairs


def assign_splits(
    pairs: pd.DataFrame,
    data_dir: str | Path,
    val_fraction: float,
    test_fraction: float,
    seed: int,
    *,
    stratify: str | None = None,
    folds: int = 0,
    fold: int = 0,
) -> pd.DataFrame:
    """Adds a `split` column: from the manifest, `data_dir/splits.csv`, or a seeded random split.

    Args:
        pairs: DataFrame from `discover_pairs` (a manifest's own `split` column is kept).
        data_dir: str or Path. Where to look for `splits.csv` (columns id, split).
        val_fraction: float. Validation share of a random split.
        test_fraction: float. Test share of a random split.
        seed: int. Seed of the random split and of the folds.
        stratify: str or None. Keep the proportions of these groups (see `strata`) in a
            random split and in folds. Defaults to None.
        folds: int. k >= 2: the non-test ids are split into k folds (`assign_folds`);
            `val_fraction` is then unused. Defaults to 0 (no folds).
        fold: int. The validation fold. Defaults to 0.
    """
    pairs = pairs.copy()
    groups = strata(pairs, stratify, data_dir) if stratify else None
    splits_csv = Path(data_dir) / "splits.csv"
    if "split" in pairs.columns:
        bad = sorted(set(pairs["split"]) - set(SPLITS))
        if bad:
            raise TfsegError(f"{data_dir}: unknown split value(s) {bad} in column split, expected {list(SPLITS)}")
    elif splits_csv.is_file():
        splits = read_table_csv(splits_csv)
        if not {"id", "split"} <= set(splits.columns):
            raise TfsegError(f"{splits_csv}: expected columns id,split, found {list(splits.columns)}")
        bad = sorted(set(splits["split"]) - set(SPLITS))
        if bad:
            raise TfsegError(f"{splits_csv}: unknown split value(s) {bad}, expected {list(SPLITS)}")
        by_id = dict(zip(splits["id"], splits["split"]))
        missing = [i for i in pairs["id"] if i not in by_id]
        if missing:
            raise TfsegError(f"{splits_csv}: no split for id(s) {_preview(missing)}")
        unknown = sorted(set(by_id) - set(pairs["id"]))
        if unknown:
            raise TfsegError(f"{splits_csv}: id(s) with no image/mask pair: {_preview(unknown)}")
        pairs["split"] = pairs["id"].map(by_id)
    else:
        rng = np.random.default_rng(seed)
        if groups is None:
            shuffled = [rng.permutation(len(pairs))]
        else:
            shuffled = _shuffled_by_group(groups.reset_index(drop=True), rng)
        split = np.full(len(pairs), "train", dtype=object)
        share_val = 0.0 if folds else val_fraction
        for order in shuffled:  # each group split in the same proportions; test first, so it
            n_test = round(test_fraction * len(order))  # does not depend on val_fraction or folds
            n_val = round(share_val * len(order))
            split[order[:n_test]] = "test"
            split[order[n_test : n_test + n_val]] = "val"
        pairs["split"] = split
    if folds:
        pairs = assign_folds(pairs, folds, fold, seed, groups)
    return pairs


def _image_mode(path: str) -> tuple[str, bool]:
    """The stored pixel format of an image file (PIL mode: L, RGB, RGBA, P, I;16, …) and
    whether it holds colour (a colour mode, or a palette with an entry that is not grey)."""
    try:
        with Image.open(path) as image:
            if image.mode in ("P", "PA"):
                palette = np.asarray(image.getpalette() or [0, 0, 0], dtype=np.int32).reshape(-1, 3)
                return image.mode, bool((palette != palette[:, :1]).any())
            return image.mode, image.mode in COLOUR_MODES
    except (OSError, ValueError):  # a format PIL cannot open but OpenCV decoded
        return "?", False


def _check_pair(row: tuple[str, str, str], channels: int | None, masks: MaskReader) -> dict[str, Any]:
    """Reads one pair, checks it, and returns its size, image mode and mask statistics
    (`counts`: how many pixels hold each stored value 0..255)."""
    _, image_path, mask_path = row
    image = read_image(image_path, channels or 1)  # decodes and sizes alike as grey or colour
    values, encoding = masks.read(mask_path)
    if values.shape != image.shape[:2]:
        raise TfsegError(
            f"{mask_path}: mask is {values.shape[1]}x{values.shape[0]}, expected the image's size "
            f"{image.shape[1]}x{image.shape[0]} ({Path(image_path).name})"
        )
    if masks.classes > 1 and values.max() >= masks.classes:
        lossy = Path(mask_path).suffix.lower() in LOSSY_SUFFIXES
        raise TfsegError(
            f"{mask_path}: mask value {int(values.max())} found, expected labels 0..{masks.classes - 1} (classes: {masks.classes})"
            + ("; a lossy JPEG mask cannot hold exact labels, store label maps as PNG" if lossy and encoding == GREY else "")
        )
    mode, colour = _image_mode(image_path)
    counts = np.bincount(values.ravel(), minlength=256)
    return {
        "height": image.shape[0],
        "width": image.shape[1],
        "mode": mode,
        "colour": colour,
        "dtype": str(image.dtype),
        "mask_mode": _image_mode(mask_path)[0],
        "mask_encoding": encoding,
        "mask_values": " ".join(str(v) for v in np.flatnonzero(counts)),
        "counts": counts,
    }


def decide_mask_threshold(table: pd.DataFrame) -> tuple[int, str]:
    """The threshold of binary grey masks that `data.mask_threshold` null stands for, and
    where it came from: 0 (foreground is 1) when every grey mask holds only 0 and 1 and
    some hold 1 (`MASKS_HOLD_0_1`), else 127 (`default`).

    Args:
        table: DataFrame with the mask_values and mask_encoding columns of `validate_pairs`.
    """
    values = {int(v) for text in table.loc[table["mask_encoding"] == GREY, "mask_values"] for v in text.split()}
    return (0, MASKS_HOLD_0_1) if 1 in values and values <= {0, 1} else (127, "default")


def decide_channels(table: pd.DataFrame) -> tuple[int, str]:
    """The model input channels that `data.channels` null stands for, and where they came
    from: 1 when every image is grey (`images (grey)`), else 3 (`images (RGB)`; a dataset
    of grey and colour images is read as colour, and says so).

    Args:
        table: DataFrame with the mode and colour columns of `validate_pairs`.
    """
    kinds = Counter(np.where(table["colour"], table["mode"].replace({"P": "colour palette"}), "grey"))
    if set(kinds) == {"grey"}:
        return 1, "images (grey)"
    if "grey" not in kinds:
        return 3, f"images ({', '.join(sorted(kinds))})"
    counted = ", ".join(f"{count} {kind}" for kind, count in kinds.most_common())
    return 3, f"images ({counted}: grey and colour, read as colour)"


def _empty_masks_advice(values: list[int], sources: dict[str, str]) -> str:
    """What to set when every binary mask is empty at the threshold, as the user sets options."""
    def advice(key: str, value: int) -> str:
        return setting_advice(key, value, sources.get(key, "default"))

    if set(values) <= {0, 1}:
        return f"the masks hold 0/1: {advice('data.mask_threshold', 0)}, or leave it unset"
    top = max(values)
    return (f"for label maps 0..{top}: {advice('data.classes', top + 1)}; "
            f"for foreground stored as {top}: {advice('data.mask_threshold', top - 1)}")


def validate_pairs(
    pairs: pd.DataFrame, channels: int | None, masks: MaskReader, sources: dict[str, str] | None = None
) -> pd.DataFrame:
    """Reads every pair once and adds its statistics; raises on the first bad file.

    Checks that each image and mask decodes, that sizes match, (multi-class) that mask
    labels are below `classes`, and (binary) that some mask has foreground.

    Args:
        pairs: DataFrame with id, image_path, mask_path.
        channels: int or None. 1 or 3, as images are read; None reads them as grey (the
            checks are the same).
        masks: MaskReader. How masks become labels (classes, threshold, colour table); a
            threshold None is decided by `decide_mask_threshold`.
        sources: dict. Where each option's value came from (`tfseg.config.Config.sources`),
            so that advice is worded as the user sets options. Defaults to None.

    Returns:
        `pairs` plus columns height, width, mode (stored pixel format), colour (whether the
        image holds colour), dtype (uint8/uint16 as read), mask_mode, mask_encoding (see
        `tfseg.data.io.read_mask`), mask_values (values found, space-separated) and
        foreground (share of foreground pixels).
    """
    rows = list(pairs[["id", "image_path", "mask_path"]].itertuples(index=False, name=None))
    with ThreadPoolExecutor(max_workers=8) as pool:
        stats = pd.DataFrame(list(pool.map(lambda row: _check_pair(row, channels, masks), rows)))
    pairs = pd.concat([pairs.reset_index(drop=True), stats.drop(columns="counts")], axis=1)
    if masks.threshold is None:
        masks = dataclasses.replace(masks, threshold=decide_mask_threshold(pairs)[0])
    foreground_values = {encoding: masks.to_labels(np.arange(256, dtype=np.uint8), encoding) > 0
                         for encoding in set(pairs["mask_encoding"])}
    pairs["foreground"] = [float(counts[foreground_values[encoding]].sum() / counts.sum())
                           for counts, encoding in zip(stats["counts"], pairs["mask_encoding"])]
    if masks.classes == 1 and len(pairs) and not (pairs["foreground"] > 0).any():
        values = sorted({int(v) for text in pairs["mask_values"] for v in text.split()})
        raise TfsegError(
            f"every mask is empty at data.mask_threshold {masks.threshold} (stored values found: {values}); "
            + _empty_masks_advice(values, sources or {})
        )
    return pairs


def _class_table(
    data_dir: str | Path, classes: int | None, sources: dict[str, str] | None = None
) -> tuple[list[str], tuple[Color, ...]] | None:
    """(names, colours) from `classes.txt` beside the data: one line per label, `name` or
    `name R G B` (all lines with colours, or none), or None without the file. `classes`
    None takes any number of names from 2; `sources` words the advice when the count is wrong."""
    folder = Path(data_dir).parent if Path(data_dir).suffix.lower() == ".csv" else Path(data_dir)
    path = folder / "classes.txt"
    if not path.is_file():
        return None
    lines = [line.strip() for line in path.read_text(encoding="utf-8-sig").splitlines() if line.strip()]
    if classes is None and len(lines) < 2:
        raise TfsegError(f"{path}: {len(lines)} class name(s), expected one per label from 0: at least 2 (background first)")
    expected = len(lines) if classes is None else max(classes, 2)
    if len(lines) != expected:
        advice = setting_advice("data.classes", classes_for_names(len(lines)), (sources or {}).get("data.classes", "default"))
        raise TfsegError(
            f"{path}: {len(lines)} class names, expected {expected} (one per label 0..{expected - 1}; classes: {classes}); "
            f"for {len(lines)} names: {advice}"
        )
    names, colors = [], []
    for number, line in enumerate(lines, start=1):
        words = line.split()
        rgb = words[-3:] if len(words) >= 4 and all(word.isdigit() and int(word) <= 255 for word in words[-3:]) else None
        names.append(" ".join(words[:-3]) if rgb else line)
        if rgb:
            colors.append(tuple(int(word) for word in rgb))
    if colors and len(colors) != len(lines):
        raise TfsegError(f"{path}: {len(colors)} of {len(lines)} lines give a colour; expected 'name R G B' on every line or on none")
    if len(set(colors)) != len(colors):
        raise TfsegError(f"{path}: two classes share a colour; expected one colour per label")
    return names, tuple(colors)


def read_class_names(data_dir: str | Path, classes: int | None) -> list[str] | None:
    """Class names from `classes.txt` (one per line, in label order, optionally followed by
    the label's mask colour `R G B`) beside the data, if present.

    Args:
        data_dir: str or Path. Dataset folder or CSV manifest (its folder is searched).
        classes: int or None. 1 (binary: two names, background first) or K; None takes
            the file's names, however many.

    Raises:
        TfsegError: the file lists a different number of names than there are classes.
    """
    table = _class_table(data_dir, classes)
    return table[0] if table else None


def classes_for_names(count: int) -> int:
    """`data.classes` for a classes.txt of `count` names: K names K classes, 2 names 1 (binary)."""
    return count if count > 2 else 1


def decide_classes(data_dir: str | Path | None) -> tuple[int, str]:
    """The classes that `data.classes` null stands for, and where they came from: from the
    names of classes.txt beside `data_dir` (`classes_for_names`), as `classes.txt (K names)`;
    without the file, or for the demo data (`data_dir` None), 1 (`default`)."""
    names = None if data_dir is None else read_class_names(data_dir, None)
    if names is None:
        return 1, "default"
    return classes_for_names(len(names)), f"classes.txt ({len(names)} names)"


def classes_of(data) -> int:
    """The classes of a `DataConfig`: `data.classes`, or when null what its classes.txt gives
    (`decide_classes`); reads no image or mask."""
    return decide_classes(data.dir)[0] if data.classes is None else data.classes


def mask_reader(
    data_dir: str | Path, classes: int, threshold: int | None, sources: dict[str, str] | None = None
) -> MaskReader:
    """The `MaskReader` of a dataset: its classes and threshold, and the colour table of its
    classes.txt (`sources` words the advice when its count is wrong)."""
    table = _class_table(data_dir, classes, sources)
    return MaskReader(classes, threshold, table[1] if table else ())


def check_crop_fits(pairs: pd.DataFrame, crop: int, pad_crops: bool) -> None:
    """Raises when crops are requested without padding and an image is smaller than the crop."""
    if not crop or pad_crops:
        return
    small = pairs[(pairs["height"] < crop) | (pairs["width"] < crop)]
    if not small.empty:
        row = small.iloc[0]
        raise TfsegError(
            f"{row['image_path']}: image is {row['width']}x{row['height']}, smaller than data.crop {crop} "
            f"with data.pad_crops false; expected at least {crop}x{crop} ({len(small)} such image(s))"
        )


def load_dataset_table(
    data_dir: str | Path,
    channels: int | None,
    classes: int | None,
    val_fraction: float,
    test_fraction: float,
    seed: int,
    *,
    mask_threshold: int | None = None,
    mask_suffix: str = "",
    stratify: str | None = None,
    folds: int = 0,
    fold: int = 0,
    sources: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Discovers, splits and validates a dataset folder or CSV manifest.

    Keyword arguments are those of `discover_pairs`, `assign_splits`, `mask_reader` and
    `validate_pairs`; `classes` None is decided by `decide_classes`, `mask_threshold` None by
    `decide_mask_threshold`.

    Returns:
        DataFrame with columns id, image_path, mask_path, split and the statistics of
        `validate_pairs`.
    """
    pairs = discover_pairs(data_dir, mask_suffix)
    pairs = assign_splits(pairs, data_dir, val_fraction, test_fraction, seed, stratify=stratify, folds=folds, fold=fold)
    if classes is None:
        classes, _ = decide_classes(data_dir)
    return validate_pairs(pairs, channels, mask_reader(data_dir, classes, mask_threshold, sources), sources)
