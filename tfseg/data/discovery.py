"""Finding image/mask pairs and their splits, validated before anything trains."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from tfseg.data.io import IMAGE_SUFFIXES, read_image, read_mask
from tfseg.errors import TfsegError

SPLITS = ("train", "val", "test")


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


def discover_pairs(data_dir: str | Path) -> pd.DataFrame:
    """Lists `images/<id>.*` with `masks/<id>.png` pairs in `data_dir`.

    Args:
        data_dir: str or Path. Dataset folder.

    Returns:
        DataFrame with columns id, image_path, mask_path, sorted by id.

    Raises:
        TfsegError: the folder or its `images/`/`masks/` is missing, an image has no mask
            or a mask no image, or no pairs are found.
    """
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise TfsegError(f"--data {data_dir}: not a folder, expected a dataset folder with images/ and masks/")
    for sub in ("images", "masks"):
        if not (data_dir / sub).is_dir():
            raise TfsegError(f"{data_dir}: no {sub}/ folder, expected {data_dir}/images/<id>.<png|jpg|...> and {data_dir}/masks/<id>.png")
    images = _list_by_stem(data_dir / "images", IMAGE_SUFFIXES)
    masks = _list_by_stem(data_dir / "masks", (".png",))
    no_mask = sorted(set(images) - set(masks))
    if no_mask:
        raise TfsegError(f"{data_dir}/masks: no mask <id>.png for image(s) {_preview([images[i].name for i in no_mask])}")
    no_image = sorted(set(masks) - set(images))
    if no_image:
        raise TfsegError(f"{data_dir}/images: no image for mask(s) {_preview([masks[i].name for i in no_image])}")
    if not images:
        raise TfsegError(f"{data_dir}/images: no images found (expected {', '.join(IMAGE_SUFFIXES)})")
    ids = sorted(images)
    return pd.DataFrame(
        {"id": ids, "image_path": [str(images[i]) for i in ids], "mask_path": [str(masks[i]) for i in ids]}
    )


def assign_splits(
    pairs: pd.DataFrame, data_dir: str | Path, val_fraction: float, test_fraction: float, seed: int
) -> pd.DataFrame:
    """Adds a `split` column from `data_dir/splits.csv`, or a seeded random split.

    Args:
        pairs: DataFrame from `discover_pairs`.
        data_dir: str or Path. Where to look for `splits.csv` (columns id, split).
        val_fraction: float. Validation share when there is no splits.csv.
        test_fraction: float. Test share when there is no splits.csv.
        seed: int. Seed of the random split.
    """
    pairs = pairs.copy()
    splits_csv = Path(data_dir) / "splits.csv"
    if splits_csv.is_file():
        splits = pd.read_csv(splits_csv, dtype=str)
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
        order = np.random.default_rng(seed).permutation(len(pairs))
        n_val = round(val_fraction * len(pairs))
        n_test = round(test_fraction * len(pairs))
        split = np.full(len(pairs), "train", dtype=object)
        split[order[:n_val]] = "val"
        split[order[n_val : n_val + n_test]] = "test"
        pairs["split"] = split
    return pairs


def _check_pair(row: tuple[str, str, str], channels: int, classes: int) -> tuple[int, int]:
    """Reads one pair, checks it, and returns the image's (height, width)."""
    _, image_path, mask_path = row
    image = read_image(image_path, channels)
    mask = read_mask(mask_path)
    if mask.shape != image.shape[:2]:
        raise TfsegError(
            f"{mask_path}: mask is {mask.shape[1]}x{mask.shape[0]}, expected the image's size "
            f"{image.shape[1]}x{image.shape[0]} ({Path(image_path).name})"
        )
    if classes > 1 and mask.max() >= classes:
        raise TfsegError(f"{mask_path}: mask value {int(mask.max())} found, expected labels 0..{classes - 1} (classes: {classes})")
    return image.shape[0], image.shape[1]


def validate_pairs(pairs: pd.DataFrame, channels: int, classes: int) -> pd.DataFrame:
    """Reads every pair once and adds `height`, `width`; raises on the first bad file.

    Checks that each image and mask decodes, that sizes match, and (multi-class) that
    mask values are below `classes`.
    """
    rows = list(pairs[["id", "image_path", "mask_path"]].itertuples(index=False, name=None))
    with ThreadPoolExecutor(max_workers=8) as pool:
        sizes = list(pool.map(lambda row: _check_pair(row, channels, classes), rows))
    pairs = pairs.copy()
    pairs["height"] = [s[0] for s in sizes]
    pairs["width"] = [s[1] for s in sizes]
    return pairs


def load_dataset_table(
    data_dir: str | Path, channels: int, classes: int, val_fraction: float, test_fraction: float, seed: int
) -> pd.DataFrame:
    """Discovers, splits and validates a dataset folder.

    Returns:
        DataFrame with columns id, image_path, mask_path, split, height, width.
    """
    pairs = discover_pairs(data_dir)
    pairs = assign_splits(pairs, data_dir, val_fraction, test_fraction, seed)
    return validate_pairs(pairs, channels, classes)
