"""The dataset fingerprint: what a training plan needs to know about a dataset, computed once.

Like nnU-Net's "dataset fingerprint", it describes the data, not a model: images per split,
how images and masks are stored, image sizes, intensities, and per foreground class how
many objects an image holds, how large and how wide they are, and how many of them a
resize to 64, 128, 256 or 512 pixels would lose or merge. It is cached as
`<cache>/fingerprints/<key>.json` (`tfseg.files.cache_dir`), the key made from the
dataset's files (paths, sizes, modification times) and the options that change the result,
so it is computed again only when the data or those options change. docs/data.md lists the
fields.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from PIL import Image
from scipy import ndimage
from skimage.morphology import skeletonize
from tqdm import tqdm

from tfseg.config import Config, load_config
from tfseg.data.discovery import SPLITS, discover_pairs, read_class_names
from tfseg.data.io import COLOUR_TABLE, GREY, PALETTE, MaskReader, read_image, resize_labels
from tfseg.data.pipeline import load_table, masks_of, resolve_data_dir, settle_data
from tfseg.files import cache_dir, write_atomically

VERSION = 1
"""The fingerprint's format; a change of the fields or of how they are computed raises it."""

RESIZE_TARGETS = (64, 128, 256, 512)
"""Longer sides the survival of objects is measured at (each only where an image is larger)."""

PIXELS_PER_IMAGE = 10_000
"""Pixels sampled per image for the intensity statistics (nnU-Net samples 10k foreground voxels per case) ..."""
PIXELS_IN_ALL = 10_000_000
"""... and at most this many over the dataset (fewer per image in large datasets)."""

KEY_OPTIONS = ("channels", "classes", "mask_threshold", "mask_suffix", "val_fraction", "test_fraction", "stratify",
               "folds", "fold")
"""The data options the fingerprint depends on (how masks and images are read, and the split)."""

BIT_DEPTHS = {"uint8": "8", "uint16": "16", "float32": "float"}
"""`images.bit_depth` of the dtypes `read_image` returns."""

PROGRESS_FROM = 200
"""The progress bar shows (on a terminal) from this many images on."""

CONNECTIVITY = np.ones((3, 3), dtype=bool)
"""Objects are 8-connected: pixels touching at a corner belong to one object."""

UNITS = {
    "height, width, object_size.pixels, width_px": "pixels",
    "aspect": "width / height",
    "intensity": "values as the pipeline reads them (0..255 for 8-bit, 0..65535 for 16-bit), before scaling to [0, 1]",
    "foreground_fraction, object_size.fraction": "share of the image's pixels",
    "width_px": "an object's mean width: twice the mean distance to the background along its skeleton, minus 1 "
                "(1 for a one-pixel line, about the side for a square)",
    "resize": "each image resized (nearest neighbour, as the pipeline resizes masks) so that its longer side is size; "
              "vanished, merged, split: shares of the objects of the images larger than size",
}


def _plain(value: float) -> float | int:
    """A number rounded to 6 significant digits, as a Python int when whole (JSON-friendly, no numpy type)."""
    rounded = float(f"{float(value):.6g}")
    return int(rounded) if rounded.is_integer() else rounded


def _spread(values: np.ndarray | list, *, low: int = 10, high: int = 90) -> dict[str, float] | None:
    """median, percentile_<low>, percentile_<high>, min, max of `values` (None when empty)."""
    values = np.asarray(values, dtype=np.float64)
    if not values.size:
        return None
    median, lower, upper = np.percentile(values, [50, low, high])
    return {"median": _plain(median), f"percentile_{low}": _plain(lower), f"percentile_{high}": _plain(upper),
            "min": _plain(values.min()), "max": _plain(values.max())}


def _intensity(samples: np.ndarray) -> dict[str, float] | None:
    """nnU-Net's intensity statistics of sampled pixel values (None when there are none)."""
    if not samples.size:
        return None
    values = samples.astype(np.float64)
    median, lower, upper = np.percentile(values, [50, 0.5, 99.5])
    return {"mean": _plain(values.mean()), "std": _plain(values.std()), "median": _plain(median),
            "percentile_00_5": _plain(lower), "percentile_99_5": _plain(upper),
            "min": _plain(values.min()), "max": _plain(values.max())}


def _counts(values) -> dict[str, int]:
    """{value: how often} with string keys, most common first."""
    return {str(value): count for value, count in Counter(values).most_common()}


def _resized_size(shape: tuple[int, int], longer: int) -> tuple[int, int]:
    """(height, width) of an image of `shape` resized so that its longer side is `longer`."""
    scale = longer / max(shape)
    return max(1, round(shape[0] * scale)), max(1, round(shape[1] * scale))


def _survival(objects: np.ndarray, count: int, size: tuple[int, int]) -> tuple[int, int, int]:
    """(vanished, merged, split): how many of the `count` objects (labelled 1..count in
    `objects`) a nearest-neighbour resize to `size` leaves without pixels, joins to another
    object, or breaks into pieces."""
    resized = resize_labels(objects, size)[..., 0]
    inside = resized > 0
    pieces, _ = ndimage.label(inside, CONNECTIVITY)
    pairs = np.unique(pieces[inside].astype(np.int64) * (count + 1) + resized[inside])  # distinct (piece, object)
    piece_of, object_of = pairs // (count + 1), pairs % (count + 1)
    objects_in_piece = np.bincount(piece_of)
    merged = np.unique(object_of[objects_in_piece[piece_of] > 1]).size
    split = int(np.count_nonzero(np.bincount(object_of) > 1))
    return count - np.unique(object_of).size, merged, split


def _objects(mask: np.ndarray) -> dict[str, object]:
    """The objects of one class in one image: their sizes, widths and survival of resizes."""
    objects, count = ndimage.label(mask, CONNECTIVITY)
    sizes = np.bincount(objects.ravel(), minlength=count + 1)[1:]
    skeleton = skeletonize(mask)
    distance = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    on_skeleton = np.bincount(objects[skeleton], minlength=count + 1)[1:]
    distance_sum = np.bincount(objects[skeleton], weights=distance[skeleton], minlength=count + 1)[1:]
    widths = 2 * distance_sum / np.maximum(on_skeleton, 1) - 1
    resize = {target: _survival(objects, count, _resized_size(mask.shape, target))
              for target in RESIZE_TARGETS if target < max(mask.shape)}
    return {"sizes": sizes, "fractions": sizes / mask.size, "widths": widths, "resize": resize}


def _measure(index: int, image_path: str, mask_path: str, masks: MaskReader, channels: int,
             samples: int) -> dict[str, object]:
    """Reads one pair: sampled pixel values (all, foreground) and the objects of each foreground class."""
    image = read_image(image_path, channels)
    labels = masks.labels(mask_path)
    rng = np.random.default_rng(index)
    pixels = image.reshape(-1, image.shape[-1])
    foreground = pixels[labels.ravel() > 0]
    classes = {}
    for label in range(1, max(masks.classes, 2)):
        mask = labels == label
        share = np.count_nonzero(mask) / mask.size
        classes[label] = {"fraction": share, **(_objects(mask) if share else {})}
    return {
        "all": pixels[rng.integers(0, len(pixels), samples)],
        "foreground": foreground[rng.integers(0, len(foreground), samples)] if len(foreground) else foreground,
        "classes": classes,
    }


def _class_entry(label: int, name: str | None, measured: list[dict[str, object]]) -> dict[str, object]:
    """The fingerprint of one foreground class from every image's measurements."""
    present = [one["classes"][label] for one in measured if one["classes"][label]["fraction"]]

    def pooled(key: str) -> np.ndarray:
        return np.concatenate([one[key] for one in present]) if present else np.zeros(0)

    sizes = pooled("sizes")
    resize = []
    for target in RESIZE_TARGETS:
        counts = [(len(one["sizes"]), *one["resize"][target]) for one in present if target in one["resize"]]
        if counts:
            objects, vanished, merged, split = np.sum(counts, axis=0)
            resize.append({"size": target, "images": len(counts), "objects": int(objects),
                           "vanished": _plain(vanished / objects), "merged": _plain(merged / objects),
                           "split": _plain(split / objects)})
    fractions = [one["classes"][label]["fraction"] for one in measured]
    return {
        "label": label,
        "name": name,
        "images_with_class": len(present),
        "foreground_fraction": {"mean": _plain(np.mean(fractions)), "median": _plain(np.median(fractions)),
                                "min": _plain(np.min(fractions)), "max": _plain(np.max(fractions))},
        "objects": int(sizes.size),
        "objects_per_image": _spread([len(one["sizes"]) for one in present]),
        "object_size": {"pixels": _spread(sizes), "fraction": _spread(pooled("fractions"))},
        "width_px": _spread(pooled("widths")),
        "resize": resize,
    }


def _mask_encoding(table: pd.DataFrame, classes: int) -> str:
    """How the masks store labels, in one word: 0/1, 0/255, grey levels, labels, palette or colour table."""
    encodings = set(table["mask_encoding"])
    if encodings != {GREY}:
        names = {GREY: "labels" if classes > 1 else "grey levels", PALETTE: "palette", COLOUR_TABLE: "colour table"}
        return " + ".join(sorted(names[encoding] for encoding in encodings))
    values = {int(value) for text in table["mask_values"] for value in text.split()}
    if classes > 1:
        return "labels"
    return "0/1" if values <= {0, 1} else "0/255" if values <= {0, 255} else "grey levels"


def _stored_channels(mode: str) -> str:
    """Bands of a PIL mode ("?" for a file PIL cannot open)."""
    try:
        return str(Image.getmodebands(mode))
    except (KeyError, ValueError):
        return "?"


def compute_fingerprint(config: Config, table: pd.DataFrame, progress: bool | None = None) -> dict[str, object]:
    """Computes the fingerprint of a validated dataset table (no cache; see `fingerprint`).

    Args:
        config: Config. Its data section (channels, classes, threshold) and the dataset folder.
        table: DataFrame from `tfseg.data.load_table(config.data, config.train.seed)`.
        progress: bool or None. Show a progress bar on stderr; None (default) shows it on
            a terminal for PROGRESS_FROM images or more.
    """
    data, _ = settle_data(config.data, table)  # channels, classes and threshold the data decides
    source = resolve_data_dir(data)
    masks = masks_of(data)
    samples = max(1, min(PIXELS_PER_IMAGE, PIXELS_IN_ALL // len(table)))
    rows = list(table[["image_path", "mask_path"]].itertuples(index=False, name=None))
    if progress is None:
        progress = sys.stderr.isatty() and len(rows) >= PROGRESS_FROM
    bar = tqdm(total=len(rows), desc="fingerprint", unit="image", disable=not progress, leave=False, file=sys.stderr)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool, bar:
        jobs = [pool.submit(_measure, index, image, mask, masks, data.channels, samples)
                for index, (image, mask) in enumerate(rows)]
        measured = []
        for job in jobs:
            measured.append(job.result())
            bar.update()
    names = read_class_names(source, data.classes)
    channel_names = ["grey"] if data.channels == 1 else ["red", "green", "blue"]
    heights, widths = table["height"].to_numpy(), table["width"].to_numpy()
    return {
        "version": VERSION,
        "dataset": str(Path(source).resolve()),
        "options": _options(dataclasses.replace(config, data=data)),  # as decided from the data
        "units": UNITS,
        "images": {
            "count": len(table),
            "splits": {split: int((table["split"] == split).sum()) for split in SPLITS},
            "formats": _counts(Path(path).suffix.lower() for path in table["image_path"]),
            "modes": _counts(table["mode"]),
            "stored_channels": _counts(_stored_channels(mode) for mode in table["mode"]),
            "bit_depth": _counts(BIT_DEPTHS.get(dtype, dtype) for dtype in table["dtype"]),
            "height": _spread(heights),
            "width": _spread(widths),
            "aspect": _spread(widths / heights),
        },
        "intensity": {
            "sampled_pixels_per_image": samples,
            "channels": [
                {"channel": name,
                 "all": _intensity(np.concatenate([one["all"][:, c] for one in measured])),
                 "foreground": _intensity(np.concatenate([one["foreground"][:, c] for one in measured]))}
                for c, name in enumerate(channel_names)
            ],
        },
        "masks": {
            "encoding": _mask_encoding(table, data.classes),
            "stored_as": _counts(table["mask_encoding"]),
            "formats": _counts(Path(path).suffix.lower() for path in table["mask_path"]),
            "modes": _counts(table["mask_mode"]),
            "values": {str(value): count for value, count in sorted(
                Counter(int(value) for text in table["mask_values"] for value in text.split()).items())},
            "class_names": names,
        },
        "classes": [_class_entry(label, names[label] if names else None, measured)
                    for label in range(1, max(data.classes, 2))],
    }


def _options(config: Config) -> dict[str, object]:
    """The options the fingerprint depends on, by their dotted keys."""
    return {**{f"data.{key}": getattr(config.data, key) for key in KEY_OPTIONS}, "train.seed": config.train.seed}


def _key(config: Config) -> str:
    """The cache key of a config's fingerprint: its dataset's files (paths, sizes, modification
    times; also the manifest, splits.csv, labels.csv, classes.txt) and the options that change it."""
    data = config.data
    source = resolve_data_dir(data)
    pairs = discover_pairs(source, data.mask_suffix)
    folder = source.parent if source.suffix.lower() == ".csv" else source
    side_files = [source] if source.is_file() else []
    side_files += [folder / name for name in ("splits.csv", "labels.csv", "classes.txt") if (folder / name).is_file()]
    stats = []
    for path in [*pairs["image_path"], *pairs["mask_path"], *side_files]:
        info = os.stat(path)
        stats.append((str(Path(path).resolve()), info.st_size, info.st_mtime_ns))
    identity = json.dumps({"version": VERSION, "files": stats, "options": _options(config)})
    return hashlib.sha256(identity.encode()).hexdigest()[:24]


def fingerprint_path(config: Config) -> Path:
    """Where the fingerprint of the config's dataset is cached (the file may not exist yet)."""
    return cache_dir() / "fingerprints" / f"{_key(config)}.json"


def fingerprint_file(
    config: Config, table: pd.DataFrame | None = None, progress: bool | None = None, path: Path | None = None
) -> Path:
    """The cached fingerprint of the config's dataset, computed and written (atomically) if missing.

    Args:
        config: Config. Its data section and train.seed (the split).
        table: DataFrame or None. `load_table(config.data, config.train.seed)` when the
            caller has it; None loads (and validates) it when the fingerprint is computed.
        progress: bool or None. See `compute_fingerprint`.
        path: Path or None. `fingerprint_path(config)` when the caller has it (it stats every
            file of the dataset); None works it out.

    Returns:
        The path of the JSON file under `tfseg.files.cache_dir()/fingerprints`.
    """
    path = path or fingerprint_path(config)
    if not path.is_file():
        if table is None:
            table = load_table(config.data, config.train.seed)
        content = compute_fingerprint(config, table, progress)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, json.dumps(content, indent=1) + "\n")
    return path


def fingerprint(config_or_data: Config | str | Path, progress: bool | None = None) -> dict[str, object]:
    """The fingerprint of a dataset (docs/data.md, "Fingerprint"), from the cache when its files are unchanged.

    Args:
        config_or_data: Config, or a dataset folder or CSV manifest (read with the default options).
        progress: bool or None. See `compute_fingerprint`.
    """
    config = config_or_data if isinstance(config_or_data, Config) else load_config(None, {"data.dir": str(config_or_data)})
    return json.loads(fingerprint_file(config, progress=progress).read_text(encoding="utf-8"))


def describe_classes(content: dict[str, object]) -> list[str]:
    """One line per foreground class of a fingerprint: objects per image, their size and width,
    and the objects lost or merged by the resizes."""
    lines = []
    for entry in content["classes"]:
        title = f"class {entry['label']}" + (f" {entry['name']}" if entry["name"] else "")
        if not entry["objects"]:
            lines.append(f"{title}: in no mask")
            continue
        resized = ", ".join(f"{one['size']}: {one['vanished']:.1%} / {one['merged']:.1%}"
                            for one in reversed(entry["resize"]))
        lines.append(
            f"{title}: {entry['objects_per_image']['median']:g} object(s) per image (median), object size median "
            f"{entry['object_size']['fraction']['median']:.2%} of the image (10th percentile "
            f"{entry['object_size']['fraction']['percentile_10']:.2%}), width median {entry['width_px']['median']:.3g} px"
            + (f"; objects lost / merged resized to {resized}" if resized else "")
        )
    return lines
