"""The table `tfseg train` prints before the first epoch: the settings that matter and where each came from."""

from __future__ import annotations

import inspect
from collections import Counter

import pandas as pd

from tfseg import models
from tfseg.config import Config, setting_advice
from tfseg.data import read_class_names, resolve_data_dir
from tfseg.data.discovery import MASKS_HOLD_0_1
from tfseg.data.io import COLOUR_TABLE, GREY, PALETTE
from tfseg.distribution import resolve_precision
from tfseg.transforms import parse_transforms


NORMALIZATION_TEXT = {"scale": "scale to [0, 1]", "zscore": "z-score per image and channel"}
"""`data.normalize` in words."""


def _sizes(table: pd.DataFrame) -> tuple[str, list[float]]:
    """The images' native sizes (W x H) in words, and their aspect ratios (W / H)."""
    sizes = sorted(Counter(zip(table["width"], table["height"])), key=lambda size: size[0] * size[1])
    shown = [f"{width}x{height}" for width, height in sizes]
    text = ", ".join(shown) if len(shown) <= 3 else f"{len(shown)} sizes from {shown[0]} to {shown[-1]}"
    return text, sorted({round(width / height, 2) for width, height in sizes})


def _geometry(config: Config, table: pd.DataFrame) -> str:
    """Native size(s) → model input (W x H), and whether the aspect ratio changes; or the crops."""
    data = config.data
    native, ratios = _sizes(table)
    height, width = data.image_size
    if data.is_crop_trained():
        centred = f", {data.foreground_crops:.0%} centred on foreground" if data.foreground_crops else ""
        return f"{native} → random {width}x{height} crops at native resolution{centred} (validation: a grid of crops)"
    target = round(width / height, 2)
    if ratios == [target]:
        return f"{native} → {width}x{height} (aspect ratio kept)"
    before = f"{ratios[0]:.2f}" if len(ratios) == 1 else f"{ratios[0]:.2f}-{ratios[-1]:.2f}"
    return f"{native} → {width}x{height} (aspect ratio changes {before} → {target:.2f})"


def _encoder(config: Config) -> str:
    """How the model's encoder starts: random or pretrained weights, frozen or not."""
    options, train = config.model.options, config.train
    entry = models.entry(config.model.name, options.get("encoder"))
    if "encoder_weights" not in inspect.signature(entry.architecture.builder).parameters:
        return "no pretrained encoder: random init"
    name = f"{entry.encoder} encoder" if entry.encoder else "encoder"
    weights = options.get("encoder_weights")
    if weights in (None, "none"):
        advice = setting_advice("model.options.encoder_weights", "imagenet", config.source_of("model.options.encoder_weights"))
        text = f"{name}: random init; {advice} for ImageNet weights"
    else:
        text = f"{name}: {'ImageNet weights' if weights == 'imagenet' else f'weights from {weights}'}"
    if options.get("encoder_freeze") or train.freeze_encoder_epochs:
        text += ", frozen" + (f" for {train.freeze_encoder_epochs} epochs" if train.freeze_encoder_epochs else "")
    if train.encoder_lr_multiplier != 1:
        text += f", lr x{train.encoder_lr_multiplier:g}"
    return text


def _classes(config: Config) -> str:
    """The number of classes, binary or not, with their names."""
    classes = config.data.classes
    names = read_class_names(resolve_data_dir(config.data), classes)
    if classes == 1:
        return "1: binary" + (f" ({', '.join(names)})" if names else "")
    return f"{classes}: " + (", ".join(names) if names else f"labels 0..{classes - 1}")


def _mask_reading(config: Config, table: pd.DataFrame) -> tuple[str, str]:
    """How the stored mask values become labels, and where that came from."""
    data = config.data
    encodings = list(Counter(table["mask_encoding"]))
    if data.classes > 1:
        meaning = {GREY: "the stored value is the label", PALETTE: "the palette index is the label",
                   COLOUR_TABLE: "the classes.txt colour gives the label"}
        return "; ".join(meaning[encoding] for encoding in encodings), "masks"
    if config.source_of("data.mask_threshold") == MASKS_HOLD_0_1:
        grey = "masks hold 0/1: foreground is 1"
    else:
        grey = f"foreground is a stored value > {data.mask_threshold}"
    meaning = {GREY: grey, PALETTE: "foreground is a palette index > 0",
               COLOUR_TABLE: "foreground is a classes.txt colour after the first"}
    source = config.source_of("data.mask_threshold") if GREY in encodings else "masks"
    return "; ".join(meaning[encoding] for encoding in encodings), source


def settings_table(config: Config, table: pd.DataFrame) -> str:
    """What `tfseg train` says before the first epoch: the settings that matter, each with
    where its value came from (`default`, `config FILE`, `flag --xyz`, or the data, e.g.
    `images (RGB)`; see `tfseg.config.Config.sources`).

    Args:
        config: Config. The run's config, its data settings decided (`tfseg.data.settle_data`,
            the decided sources added to `config.sources`).
        table: DataFrame. Its dataset's table (`tfseg.data.load_table`).

    Returns:
        About 15 lines: a title, then one `name  value  source` row per setting.
    """
    data, train = config.data, config.train

    def source(*keys: str) -> str:
        found = list(dict.fromkeys(config.source_of(key) for key in keys if config.source_of(key) != "default"))
        reasons = [found.pop(found.index(text)).removeprefix("plan: ") for text in list(found) if text.startswith("plan: ")]
        return ", ".join(found + ([f"plan: {'; '.join(reasons)}"] if reasons else [])) or "default"

    splits = Counter(table["split"])
    counts = ", ".join(f"{splits[split]} {split}" for split in ("train", "val", "test") if splits[split])
    where = f"{data.dir}" if data.dir is not None else "built-in demo data"
    model_options = ", ".join(f"{key} {value}" for key, value in config.model.options.items()
                              if key not in ("encoder_weights", "encoder_freeze"))
    augment = data.augment if isinstance(data.augment, str) else ", ".join(t.name for t in parse_transforms(data.augment))
    precision = resolve_precision(train.precision)
    mask_text, mask_source = _mask_reading(config, table)
    rows = [
        ("data", f"{where} ({counts})", source("data.dir")),
        ("model", config.model.name + (f" ({model_options})" if model_options else ""),
         source("model.name", *(f"model.options.{key}" for key in config.model.options))),
        ("encoder", _encoder(config),
         source("model.options.encoder_weights", "model.options.encoder_freeze", "train.freeze_encoder_epochs")),
        ("channels", f"{data.channels} ({'grey' if data.channels == 1 else 'RGB'})", source("data.channels")),
        ("normalisation", NORMALIZATION_TEXT[data.normalize], source("data.normalize")),
        ("geometry", _geometry(config, table), source("data.image_size", "data.crop", "data.foreground_crops")),
        ("classes", _classes(config), source("data.classes")),
        ("mask reading", mask_text, mask_source),
        ("loss", train.loss, source("train.loss")),
        ("epochs", f"{train.epochs}" + (f" of {train.steps_per_epoch} steps" if train.steps_per_epoch else "")
         + (f", early stopping after {train.early_stopping_patience} without progress"
            if train.early_stopping_patience else ""),
         source("train.epochs", "train.steps_per_epoch", "train.early_stopping_patience")),
        ("batch size", str(train.batch_size), source("train.batch_size")),
        ("learning rate", f"{train.lr:g} ({train.optimizer}, {train.schedule} schedule"
         + (f", {train.warmup_epochs} warm-up epochs" if train.warmup_epochs else "") + ")",
         source("train.lr", "train.optimizer", "train.weight_decay", "train.schedule", "train.warmup_epochs")),
        ("augmentation", augment + (f" ({data.engine})" if data.engine != "tf" else ""), source("data.augment", "data.engine")),
        ("precision", precision if precision == train.precision else f"{train.precision}: {precision}",
         source("train.precision")),
    ]
    width = min(max(len(value) for _, value, _ in rows), 52)
    lines = ["tfseg: settings, and where each came from:"]
    lines += [f"  {name:<15}{value:<{width}}  {origin}" for name, value, origin in rows]
    return "\n".join(lines)
