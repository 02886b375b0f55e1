"""Masks for new image files: what `predict.py` does, importable.

Inputs are files or folders of PNG/JPEG/BMP/TIFF/GIF or DICOM images of any size. Each
mask is written at its image's own resolution, with an optional overlay, and a CSV lists
every image's foreground area in pixels (and mm² when DICOM gives the pixel spacing).
Images are read and predicted `batch_size` at a time, so a folder of any length fits in
memory.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple, Sequence

import cv2
import keras
import numpy as np
import pandas as pd

from tfseg.config import Config
from tfseg.data.io import IMAGE_SUFFIXES, read_image, resize_labels
from tfseg.dicom import DICOM_SUFFIXES, is_dicom, read_dicom
from tfseg.errors import TfsegError
from tfseg.files import atomic_path, write_atomically
from tfseg.inference import check_postprocess, check_tta, normalise_scale, postprocess, predict, probabilities_to_labels
from tfseg.pages import Card, Column, resize_picture, save_picture, thumbnail_size, url, write_page
from tfseg.plots import class_colour, outline_overlay
from tfseg.export.card import card_normalize, card_postprocess, card_threshold, card_tta, read_model_card
from tfseg.export.loading import load_predictor


def collect_inputs(inputs: Sequence[str | Path]) -> list[Path]:
    """The image files named by `inputs`: files as given, folders' images (sorted, not
    recursive) by suffix. Raises when a path is missing, nothing is found, or two
    inputs share a file stem (their masks would overwrite each other)."""
    files: list[Path] = []
    suffixes = IMAGE_SUFFIXES + DICOM_SUFFIXES
    for item in map(Path, inputs):
        if item.is_dir():
            files += sorted(p for p in item.iterdir() if p.is_file() and p.suffix.lower() in suffixes)
        elif item.is_file():
            files.append(item)
        else:
            raise TfsegError(f"{item}: no such file or folder, expected images or folders of images")
    if not files:
        raise TfsegError(f"no images found in {', '.join(map(str, inputs))} (expected {', '.join(suffixes)})")
    stems: dict[str, Path] = {}
    for path in files:
        if path.stem in stems:
            raise TfsegError(f"{path} and {stems[path.stem]} share the name {path.stem!r}; masks are written by name")
        stems[path.stem] = path
    return files


def read_input(path: str | Path, channels: int) -> tuple[np.ndarray, tuple[float, float] | None]:
    """Reads an image file or DICOM as (H, W, channels) and its pixel spacing (mm) or None."""
    if not is_dicom(path):
        return read_image(path, channels), None
    image, spacing = read_dicom(path)
    if image.shape[-1] != channels:  # grey ↔ RGB, as read_image does for other formats
        image = np.repeat(image, 3, axis=-1) if channels == 3 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)[..., None]
    return image, spacing


class PredictionSettings(NamedTuple):
    """How a model predicts (`prediction_settings`)."""

    threshold: float
    tta: str
    postprocess: str
    sliding_window: bool
    scale: tuple[float, float] | str
    normalize: str


def prediction_settings(
    config: Config | None,
    card: dict | None,
    threshold: float | None = None,
    sliding_window: bool | None = None,
    scale: float | tuple[float, float] | str | None = None,
    tta: str | None = None,
    postprocess: str | None = None,
) -> PredictionSettings:
    """The threshold, test-time augmentation, post-processing, whether to tile, the tiling
    scale and the normalisation a model predicts with: those given, and for those left None
    what its run's config or its model card says (see `predict_paths`); for a model with
    neither, 0.5, no TTA, no post-processing, whole-image resize, scale 1 and "scale" (to [0, 1]).

    Args:
        config: Config or None. The run's config, when the model is a run's.
        card: dict or None. The model card (`tfseg.export.card.read_model_card`).
        threshold, sliding_window, scale, tta, postprocess: as in `predict_paths`.

    Returns:
        The settings, the scale normalised (`tfseg.inference.normalise_scale`) and the
        TTA and post-processing checked.
    """
    if threshold is None:
        threshold = card_threshold(card)
    tta = card_tta(card) if tta is None else tta
    postprocess = card_postprocess(card) if postprocess is None else postprocess
    check_tta(tta)
    check_postprocess(postprocess)
    if config is not None:
        crop_trained = config.data.is_crop_trained()
    elif card is not None and "geometry" in card:
        crop_trained = card["geometry"]["mode"] == "sliding_window"
    else:
        crop_trained = None  # unknown: whole-image resize, or native-scale windows when asked to tile
    if sliding_window is None:
        sliding_window = bool(crop_trained)
    if scale is None:
        scale = "fit" if crop_trained is False else 1.0
    normalize = config.data.normalize if config is not None else card_normalize(card)
    return PredictionSettings(threshold, tta, postprocess, sliding_window, normalise_scale(scale), normalize)


def predict_paths(
    model_path: str | Path,
    inputs: Sequence[str | Path],
    out_dir: str | Path,
    batch_size: int = 8,
    tta: str | None = None,
    threshold: float | None = None,
    postprocess_method: str | None = None,
    sliding_window: bool | None = None,
    overlap: float = 0.5,
    scale: float | tuple[float, float] | str | None = None,
    overlays: bool = False,
    progress: bool = True,
    precision: str = "float32",
) -> pd.DataFrame:
    """Writes a mask (and optionally an overlay) for every input image, and `areas.csv`.

    Masks are PNGs at the input's resolution, `OUT/masks/<stem>.png`: 0/255 for binary
    models, label values 0..K-1 for K classes. Overlays are `OUT/overlays/<stem>.png`: the
    outline of each predicted class over the image, with a legend (`tfseg.plots.outline_overlay`);
    with them, `OUT/index.html` shows every overlay (thumbnails in `OUT/index_files/`) with
    its areas, sortable and filterable (`write_index`).

    Args:
        model_path: str or Path. Run directory, `.keras` file, SavedModel folder, `.onnx`
            or `.tflite` file. Its model card (`tfseg.export.card.read_model_card`), if any,
            gives the threshold, test-time augmentation and post-processing, the class names
            of the overlays' legends and, for a bare model file, the geometry and
            normalisation (a run's own config gives those).
        inputs: files and folders of images (PNG, JPEG, BMP, TIFF, GIF, DICOM).
        out_dir: str or Path. Output folder (created).
        batch_size: int. Images (or windows) per forward pass. Defaults to 8.
        tta: str or None. "none", "flip" or "flip-all"; None: the model card's, else "none".
            Defaults to None.
        threshold: float or None. Binary threshold on the probability; None: the model
            card's (e.g. tuned by `tfseg-export --threshold auto`), else 0.5. Defaults to None.
        postprocess_method: str or None. A post-processing spec, "none" or steps joined by
            "+" (`tfseg.config.parse_postprocess`); None: the model card's, else "none".
            Defaults to None.
        sliding_window: bool or None. Tile instead of resizing; None decides from the run
            or the model card (crop-trained models tile). Defaults to None.
        overlap: float. Least overlap of neighbouring windows. Defaults to 0.5.
        scale: float, (sy, sx), "fit" or None. Sliding window: resize factor before
            tiling. None matches the training scale: 1 (native) for a crop-trained
            run, "fit" (each image to the model input, as in resize training) for a
            resize-trained run (the same from a model card); 1 for a model file without
            a card, whose training is unknown.
            Defaults to None.
        overlays: bool. Also write overlays (`legend_names` names the classes). Defaults to False.
        progress: bool. Show a progress bar. Defaults to True.
        precision: str. What the model computes in: float32, mixed_bfloat16_convs or
            auto (`tfseg.distribution.inference_layers`). Defaults to "float32".

    Returns:
        The table written to `OUT/areas.csv`, one row per image.
    """
    model, config = load_predictor(model_path, precision)
    card = read_model_card(model_path)
    settings = prediction_settings(config, card, threshold, sliding_window, scale, tta, postprocess_method)
    files = collect_inputs(inputs)
    channels = int(model.input_shape[-1])
    out_dir = Path(out_dir)
    (out_dir / "masks").mkdir(parents=True, exist_ok=True)
    if overlays:
        (out_dir / "overlays").mkdir(exist_ok=True)
        (out_dir / INDEX_PICTURES).mkdir(parents=True, exist_ok=True)
    bar = keras.utils.Progbar(len(files), unit_name="image") if progress else None
    records, names = [], []
    for start in range(0, len(files), batch_size):
        chunk = files[start : start + batch_size]
        read = [read_input(path, channels) for path in chunk]
        probabilities = predict(
            model, [image for image, _ in read], batch_size=batch_size, tta=settings.tta,
            sliding_window=settings.sliding_window, overlap=overlap, scale=settings.scale, normalize=settings.normalize,
        )
        for path, (image, spacing), probability in zip(chunk, read, probabilities):
            labels = postprocess(probabilities_to_labels(probability, settings.threshold), settings.postprocess)
            binary = probability.shape[-1] == 1
            mask_path = out_dir / "masks" / f"{path.stem}.png"
            with atomic_path(mask_path) as temporary:
                cv2.imwrite(str(temporary), labels * 255 if binary else labels)
            if overlays:
                names = legend_names(card, probability.shape[-1])
                overlay = outline_overlay(image, labels, names)
                with atomic_path(out_dir / "overlays" / f"{path.stem}.png") as temporary:
                    cv2.imwrite(str(temporary), cv2.cvtColor(overlay, cv2.COLOR_RGB2BGR))
                size = thumbnail_size(*labels.shape)
                thumbnail = outline_overlay(resize_picture(image, size), resize_labels(labels, size)[..., 0], names)
                with atomic_path(out_dir / INDEX_PICTURES / f"{path.stem}.jpg") as temporary:
                    save_picture(temporary, thumbnail)
            records.append(_area_record(path, mask_path, labels, spacing, 1 if binary else probability.shape[-1]))
        if bar:
            bar.update(len(records))
    table = pd.DataFrame(records)
    write_atomically(out_dir / "areas.csv", table.to_csv(index=False, float_format="%.3f"))
    if overlays:
        write_index(out_dir, table, str(model_path), names)
    return table


INDEX_PICTURES = Path("index_files") / "thumbs"
"""Where index.html's thumbnails of the overlays go, in the output folder (JPEG)."""


def write_index(out_dir: Path, table: pd.DataFrame, model: str, names: list[str]) -> Path:
    """Writes `out_dir/index.html`: every image's overlay (a thumbnail from `INDEX_PICTURES`
    that links to `overlays/<stem>.png`) with its areas from `table` (areas.csv), sortable
    by any area and filterable by a range of one.

    Args:
        out_dir: Path. The prediction's folder.
        table: DataFrame. areas.csv's rows (`predict_paths`).
        model: str. The model predicted with (shown in the title).
        names: the names of labels 1, 2, ... (`legend_names`).
    """
    area_columns = [column for column in table.columns if column.endswith(("_pixels", "_mm2")) and table[column].notna().any()]
    label = {f"class_{k}": name for k, name in enumerate(names, 1)}
    columns = [Column(column, " ".join(label.get(column.rsplit("_", 1)[0], column.rsplit("_", 1)[0]).split("_")) + (
        " px" if column.endswith("_pixels") else " mm²"), ",.0f" if column.endswith("_pixels") else ",.1f")
        for column in area_columns]
    columns += [Column("height", "height", ".0f", False), Column("width", "width", ".0f", False)]
    cards = [Card(Path(row["image"]).stem, url(INDEX_PICTURES / f"{Path(row['image']).stem}.jpg"),
                  url(Path("overlays", f"{Path(row['image']).stem}.png")),
                  {column.key: float(row[column.key]) for column in columns})
             for _, row in table.iterrows()]
    return write_page(
        out_dir / "index.html", "prediction.html.j2", title=f"Predictions of {model}", model=model, cards=cards,
        columns=columns, groups=[], group_label="", sort_key="title", sort_order="ascending",
        classes=[(name, "#%02x%02x%02x" % class_colour(k)) for k, name in enumerate(names, 1)],
    )


def legend_names(card: dict | None, channels: int) -> list[str]:
    """The names of labels 1, 2, ... in overlay legends: the model card's `class_names` (from the
    dataset's classes.txt), else "foreground" for a binary model (one output channel) or "class k"."""
    names = (card or {}).get("class_names") or []
    if len(names) == max(channels, 2):
        return [str(name) for name in names[1:]]
    return ["foreground"] if channels == 1 else [f"class {k}" for k in range(1, channels)]


def _area_record(path: Path, mask_path: Path, labels: np.ndarray, spacing, classes: int) -> dict:
    """One areas.csv row: the files, the size, and foreground (per class) pixels and mm²."""
    pixel_mm2 = spacing[0] * spacing[1] if spacing else None
    record = {"image": str(path), "mask": str(mask_path), "height": labels.shape[0], "width": labels.shape[1]}
    counts = {"foreground": int(np.count_nonzero(labels))}
    if classes > 1:
        counts.update({f"class_{k}": int(np.count_nonzero(labels == k)) for k in range(1, classes)})
    for name, count in counts.items():
        record[f"{name}_pixels"] = count
        record[f"{name}_mm2"] = count * pixel_mm2 if pixel_mm2 else None
    return record
