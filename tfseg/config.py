"""One typed configuration, loaded from YAML with command-line overrides.

A config is three sections (`data`, `model`, `train`), each a dataclass. YAML files in
`configs/` hold any subset of the keys; everything missing takes the default below. The
fully resolved config is written into every run directory so that evaluation rebuilds the
same model and preprocessing.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tfseg.errors import TfsegError


@dataclass
class DataConfig:
    """Where the data is and how it is fed.

    Attributes:
        dir: str or None. Dataset folder with `images/` and `masks/`, or a CSV manifest
            (columns image, mask[, split], paths relative to the CSV); None trains on the
            built-in synthetic demo data. Defaults to None.
        image_size: [height, width] the images are resized to. Defaults to [128, 128].
        channels: int. 1 (greyscale) or 3 (RGB) model input. Defaults to 1.
        classes: int. 1 for a binary mask, K >= 2 for a label map with values 0..K-1.
            Defaults to 1.
        mask_threshold: int. Binary masks: a pixel above this value is foreground.
            Defaults to 127.
        val_fraction: float. Share of ids for validation when there is no splits.csv.
            Defaults to 0.15.
        test_fraction: float. Share of ids for test when there is no splits.csv.
            Defaults to 0.15.
        augment: str or list. A preset (`none`, `flip`, `light`, `medium`, `heavy`) or a list
            of named transforms with parameters, e.g.
            `[horizontal_flip, {affine: {rotate: [-10, 10], p: 0.5}}]` (see
            `tfseg.data.transforms`). Defaults to "flip".
        engine: str. `tf` (batched TensorFlow ops inside tf.data) or `albumentations`
            (the optional albumentations 2.0.x, per image). Defaults to "tf".
        crop: int. 0 resizes every image to `image_size`; N > 0 trains on random N x N
            crops at native resolution (the model input, so `image_size` must be [N, N])
            and validates on a grid of N x N crops covering each image. Defaults to 0.
        pad_crops: bool. Zero-pad images smaller than `crop` (masks with background);
            when False such an image is an error. Defaults to True.
        cache: bool. Keep decoded (resized) images in memory after the first epoch;
            augmentation still differs every epoch. Defaults to False.
        deterministic: bool. Same seed, same batches in the same order; False lets
            tf.data hand out elements as they are ready (faster, order varies).
            Defaults to True.
        stratify: str or None. Seeded splits and folds keep the proportions of this
            column (of the CSV manifest, or of `labels.csv` with an `id` column in the
            dataset folder), or of the id's leading letters with `prefix`. Defaults to None.
        folds: int. k-fold cross-validation over the non-test ids when >= 2; fold `fold`
            is the validation split. 0 turns it off. Defaults to 0.
        fold: int. Which fold (0..folds-1) validates. Defaults to 0.
        demo_samples: int. Number of images in the synthetic demo dataset. Defaults to 240.
    """

    dir: str | None = None
    image_size: list[int] = field(default_factory=lambda: [128, 128])
    channels: int = 1
    classes: int = 1
    mask_threshold: int = 127
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    augment: str | list = "flip"
    engine: str = "tf"
    crop: int = 0
    pad_crops: bool = True
    cache: bool = False
    deterministic: bool = True
    stratify: str | None = None
    folds: int = 0
    fold: int = 0
    demo_samples: int = 240


@dataclass
class ModelConfig:
    """Which model to build.

    Attributes:
        name: str. A name from `tfseg.models.names()`. Defaults to "unet".
        options: dict. Keyword arguments for the model's builder (e.g. `base_filters`,
            `depth`, `batch_norm`, `dropout`). Defaults to {}.
    """

    name: str = "unet"
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrainConfig:
    """How to train.

    Attributes:
        epochs: int. Total number of epochs (a resumed run counts the ones already done).
            Defaults to 10.
        batch_size: int. Global batch size, split evenly across replicas. Defaults to 8.
        lr: float. Base learning rate (the peak of a warm-up). Defaults to 1e-3.
        loss: str. A loss name or weighted sum, e.g. `bce+dice` or `dice:1.0,bce:0.8`.
            Defaults to "bce+dice".
        seed: int. Seeds Python, NumPy, TensorFlow, the split and the pipeline.
            Defaults to 42.
        run_dir: str or None. Output folder; None means `runs/<model>-<timestamp>`.
            Defaults to None.
        optimizer: str. `adam`, `adamw`, `sgd` or `rmsprop`. Defaults to "adam".
        momentum: float. Momentum of `sgd` and `rmsprop`. Defaults to 0.9.
        nesterov: bool. Nesterov momentum for `sgd`. Defaults to False.
        weight_decay: float. Decoupled weight decay (any optimizer); 0 disables it.
            Defaults to 0.0.
        clipnorm: float. Clip each gradient to this L2 norm; 0 disables clipping.
            Defaults to 0.0.
        schedule: str. `constant`, `plateau` (ReduceLROnPlateau), `cosine` (with
            warm-up) or `poly` (nnU-Net's polynomial decay). Defaults to "constant".
        warmup_epochs: int. Linear warm-up from 0 to `lr` (`cosine`). Defaults to 0.
        min_lr: float. Floor of every schedule. Defaults to 0.0.
        poly_power: float. Exponent of the `poly` schedule. Defaults to 0.9.
        plateau_factor: float. `plateau`: multiply the rate by this. Defaults to 0.5.
        plateau_patience: int. `plateau`: epochs without improvement. Defaults to 5.
        monitor: str. Validation metric for the best checkpoint, early stopping and
            `plateau`, e.g. `val_iou`, `val_dice`, `val_loss`. Defaults to "val_iou".
        early_stopping_patience: int. Stop after this many epochs without improvement of
            `monitor`; 0 disables early stopping. Defaults to 0.
        encoder_lr_multiplier: float. Learning rate of the pretrained encoder relative to
            `lr` (e.g. 0.1). Defaults to 1.0.
        freeze_encoder_epochs: int. Keep the pretrained encoder frozen for the first N
            epochs, then train it. Defaults to 0.
        strategy: str. `auto` (MirroredStrategy with more than one GPU, else the default),
            `none`, `mirrored` or `multiworker` (reads TF_CONFIG). Defaults to "auto".
        precision: str. `auto` (mixed_float16 on GPU, float32 on CPU), `float32`,
            `mixed_float16` or `mixed_bfloat16`. Defaults to "auto".
        jit_compile: bool. Compile the train step with XLA. Defaults to False.
        deterministic: bool. Enable TensorFlow op determinism (stays on for the rest of
            the process). Defaults to False.
        export: list of str. Extra export formats besides best.keras and the SavedModel:
            `tflite`. Defaults to [].
        tensorboard_images: int. Validation images (with predicted masks) written to
            TensorBoard each epoch; 0 disables them. Defaults to 3.
    """

    epochs: int = 10
    batch_size: int = 8
    lr: float = 1e-3
    loss: str = "bce+dice"
    seed: int = 42
    run_dir: str | None = None
    optimizer: str = "adam"
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 0.0
    clipnorm: float = 0.0
    schedule: str = "constant"
    warmup_epochs: int = 0
    min_lr: float = 0.0
    poly_power: float = 0.9
    plateau_factor: float = 0.5
    plateau_patience: int = 5
    monitor: str = "val_iou"
    early_stopping_patience: int = 0
    encoder_lr_multiplier: float = 1.0
    freeze_encoder_epochs: int = 0
    strategy: str = "auto"
    precision: str = "auto"
    jit_compile: bool = False
    deterministic: bool = False
    export: list[str] = field(default_factory=list)
    tensorboard_images: int = 3


@dataclass
class Config:
    """The whole configuration of a run."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        """Returns the config as plain nested dicts and lists (YAML-ready)."""
        return dataclasses.asdict(self)

    def save(self, path: str | Path) -> None:
        """Writes the config as YAML to `path`."""
        Path(path).write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))


_SECTIONS = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig}

TRAIN_CHOICES = {
    "optimizer": ["adam", "adamw", "sgd", "rmsprop"],
    "schedule": ["constant", "plateau", "cosine", "poly"],
    "strategy": ["auto", "none", "mirrored", "multiworker"],
    "precision": ["auto", "float32", "mixed_float16", "mixed_bfloat16"],
    "export": ["tflite"],
}

# Keys whose values may also take a second type besides their default's.
_ALSO_ACCEPTED = {"data.augment": list}


def _check_type(where: str, value: Any, default: Any) -> Any:
    """Coerces `value` to the type of `default`, or raises naming `where`."""
    if default is None or value is None:
        return value
    if isinstance(value, _ALSO_ACCEPTED.get(where, ())):
        return value
    expected = type(default)
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if expected is list and isinstance(value, tuple):
        value = list(value)
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise TfsegError(f"config key {where}: expected {expected.__name__}, got {value!r}")
    return value


def config_from_dict(raw: dict[str, Any] | None, source: str = "config") -> Config:
    """Builds a `Config` from nested dicts, rejecting unknown keys and wrong types.

    Args:
        raw: dict. `{"data": {...}, "model": {...}, "train": {...}}`, any subset.
        source: str. Where the dict came from, for error messages. Defaults to "config".
    """
    raw = raw or {}
    if not isinstance(raw, dict):
        raise TfsegError(f"{source}: expected a mapping with sections {sorted(_SECTIONS)}")
    unknown = set(raw) - set(_SECTIONS)
    if unknown:
        raise TfsegError(f"{source}: unknown section(s) {sorted(unknown)}; valid: {sorted(_SECTIONS)}")
    sections = {}
    for name, cls in _SECTIONS.items():
        values = raw.get(name) or {}
        if not isinstance(values, dict):
            raise TfsegError(f"{source}: section {name!r} must be a mapping")
        defaults = cls()
        fields = {f.name for f in dataclasses.fields(cls)}
        bad = set(values) - fields
        if bad:
            raise TfsegError(f"{source}: unknown key(s) {name}.{sorted(bad)}; valid: {sorted(fields)}")
        checked = {
            key: _check_type(f"{name}.{key}", value, getattr(defaults, key))
            for key, value in values.items()
        }
        sections[name] = cls(**checked)
    config = Config(**sections)
    validate_config(config)
    return config


def validate_config(config: Config) -> None:
    """Raises `TfsegError` for values that cannot work, naming the key."""
    data = config.data
    if len(data.image_size) != 2 or any(int(s) < 1 for s in data.image_size):
        raise TfsegError(f"data.image_size: expected [height, width] > 0, got {data.image_size}")
    if data.channels not in (1, 3):
        raise TfsegError(f"data.channels: expected 1 or 3, got {data.channels}")
    if data.classes < 1:
        raise TfsegError(f"data.classes: expected 1 (binary) or K >= 2, got {data.classes}")
    if not 0 <= data.val_fraction < 1 or not 0 <= data.test_fraction < 1:
        raise TfsegError("data.val_fraction and data.test_fraction must be in [0, 1)")
    _validate_data_pipeline(data)
    train = config.train
    if train.epochs < 1 or train.batch_size < 1 or train.lr <= 0:
        raise TfsegError(
            f"train: epochs and batch_size must be >= 1 and lr > 0, got epochs={train.epochs}, "
            f"batch_size={train.batch_size}, lr={train.lr}"
        )
    for key, valid in TRAIN_CHOICES.items():
        value = getattr(train, key)
        for item in value if isinstance(value, list) else [value]:
            if item not in valid:
                raise TfsegError(f"train.{key}: expected one of {valid}, got {item!r}")
    for key in ("weight_decay", "clipnorm", "min_lr", "warmup_epochs", "early_stopping_patience", "freeze_encoder_epochs", "tensorboard_images"):
        if getattr(train, key) < 0:
            raise TfsegError(f"train.{key}: expected >= 0, got {getattr(train, key)}")
    if not 0 < train.plateau_factor < 1 or train.plateau_patience < 1:
        raise TfsegError(
            f"train.plateau_factor must be in (0, 1) and train.plateau_patience >= 1, got "
            f"{train.plateau_factor} and {train.plateau_patience}"
        )
    if not 0 <= train.momentum < 1 or train.poly_power <= 0 or train.encoder_lr_multiplier <= 0:
        raise TfsegError(
            f"train.momentum must be in [0, 1), train.poly_power and train.encoder_lr_multiplier > 0, got "
            f"{train.momentum}, {train.poly_power} and {train.encoder_lr_multiplier}"
        )
    if train.min_lr >= train.lr:
        raise TfsegError(f"train.min_lr: expected below train.lr={train.lr}, got {train.min_lr}")
    if train.schedule == "cosine" and train.warmup_epochs >= train.epochs:
        raise TfsegError(f"train.warmup_epochs: expected fewer than train.epochs={train.epochs}, got {train.warmup_epochs}")
    if not train.monitor.startswith("val_"):
        raise TfsegError(f"train.monitor: expected a validation metric such as val_iou or val_loss, got {train.monitor!r}")


def _validate_data_pipeline(data: DataConfig) -> None:
    """Checks augmentation, engine, crop, folds and stratification settings."""
    from tfseg.data.transforms import SQUARE_ONLY, parse_transforms

    if data.engine not in ("tf", "albumentations"):
        raise TfsegError(f"data.engine: expected 'tf' or 'albumentations', got {data.engine!r}")
    if data.crop < 0:
        raise TfsegError(f"data.crop: expected 0 (resize) or a crop size > 0, got {data.crop}")
    if data.crop and list(data.image_size) != [data.crop, data.crop]:
        raise TfsegError(
            f"data.crop: {data.crop} trains the model on {data.crop}x{data.crop} crops, so data.image_size "
            f"(the model input) must be [{data.crop}, {data.crop}], got {data.image_size}"
        )
    transforms = parse_transforms(data.augment)
    height, width = data.image_size
    square_only = sorted({t.name for t in transforms} & set(SQUARE_ONLY))
    if square_only and height != width:
        raise TfsegError(f"data.augment: {square_only} need square images, got data.image_size {data.image_size}")
    if data.folds == 1 or data.folds < 0:
        raise TfsegError(f"data.folds: expected 0 (no cross-validation) or k >= 2, got {data.folds}")
    if data.folds and not 0 <= data.fold < data.folds:
        raise TfsegError(f"data.fold: expected 0..{data.folds - 1} (data.folds: {data.folds}), got {data.fold}")
    if data.stratify is not None and (not isinstance(data.stratify, str) or not data.stratify):
        raise TfsegError(f"data.stratify: expected a column name or 'prefix', got {data.stratify!r}")


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> Config:
    """Loads a YAML config (or the defaults) and applies dotted-key overrides.

    Args:
        path: str or Path or None. YAML file; None starts from the defaults.
        overrides: dict. `{"train.epochs": 5, "model.options.encoder_freeze": True}` (a dotted
            key may reach into `model.options`); None values are
            ignored, so unset command-line flags leave the file's values alone.

    Returns:
        The validated `Config`.
    """
    raw: dict[str, Any] = {}
    source = "config"
    if path is not None:
        path = Path(path)
        source = str(path)
        if not path.is_file():
            raise TfsegError(f"config file {path} does not exist")
        try:
            raw = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as error:
            first = str(error).splitlines()[0]
            raise TfsegError(f"config file {path} is not valid YAML: {first}") from None
        if not isinstance(raw, dict):
            raise TfsegError(f"config file {path}: expected a mapping with sections {sorted(_SECTIONS)}")
    for dotted, value in (overrides or {}).items():
        if value is None:
            continue
        *parents, key = dotted.split(".")
        node = raw
        for parent in parents:  # e.g. model.options.encoder_weights
            if not isinstance(node.get(parent), dict):
                node[parent] = {}
            node = node[parent]
        node[key] = value
    return config_from_dict(raw, source)
