"""One typed configuration, loaded from YAML with command-line overrides.

A config is three sections (`data`, `model`, `train`), each a dataclass. YAML files in
`configs/` hold any subset of the keys; everything missing takes the default below. The
fully resolved config is written into every run directory so that evaluation rebuilds the
same model and preprocessing.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tfseg.errors import TfsegError, did_you_mean
from tfseg.files import write_atomically
from tfseg.options import Option, check_value, declared_options, option, reference_markdown
from tfseg.transforms import PIXEL_TRANSFORMS, SQUARE_ONLY, parse_transforms

EXPORT_FORMATS = ("tflite", "tflite-float16", "tflite-int8", "onnx", "bioimageio")
"""Export formats besides best.keras and the SavedModel (`train.export`: the option's
allowed values; each is an entry of `tfseg.export.folder.FORMATS`, which writes it)."""

NORMALIZATIONS = ("scale", "zscore")
"""How pixel values become model input (`data.normalize`: the option's allowed values;
`tfseg.data.io.to_model_input` applies them)."""

INFERENCE_PRECISIONS = ("float32", "mixed_bfloat16_convs", "auto")
"""What prediction and evaluation may run in (`--precision` of predict.py and evaluate.py;
`tfseg.distribution.inference_layers` applies it)."""

TTA_FLIPS = {
    "none": ((),),
    "flip": ((), (2,)),
    "flip-all": ((), (2,), (1,), (1, 2)),
}
"""Test-time augmentation of prediction and evaluation (`--tta`, `tfseg.inference.predict`):
the flips (axes of an NHWC batch) whose predictions are averaged. `flip` mirrors
left-right only (the flip that `augment: flip` trains with); `flip-all` adds up-down and
both, as nnU-Net does."""

POSTPROCESS_STEPS = ("largest-component", "fill-holes", "remove-small=N")
"""The steps of a post-processing spec (`--postprocess`, `parse_postprocess`), as written (N: a
size in pixels); `tfseg.inference.postprocess` applies each to every class's mask in turn."""


def parse_postprocess(spec: str) -> tuple[tuple[str, int | None], ...]:
    """The steps of a post-processing spec, in the order they apply: `none` is no step, else
    steps of `POSTPROCESS_STEPS` joined by `+`, e.g. "remove-small=20+fill-holes" →
    (("remove-small", 20), ("fill-holes", None)).

    Raises:
        TfsegError: for anything else, in one line.
    """
    if spec == "none":
        return ()
    steps = []
    for step in spec.split("+") if isinstance(spec, str) else ():
        name, equals, size = step.partition("=")
        if not equals and name in POSTPROCESS_STEPS:
            steps.append((name, None))
        elif equals and f"{name}=N" in POSTPROCESS_STEPS and re.fullmatch(r"[0-9]+", size) and int(size) >= 1:
            steps.append((name, int(size)))
        else:
            steps = []
            break
    if not steps:
        raise TfsegError(f"--postprocess {spec!r}: expected none, or steps joined by + of "
                         f"{', '.join(POSTPROCESS_STEPS)} (N >= 1 pixels)")
    return tuple(steps)


class YamlLoader(yaml.SafeLoader):
    """PyYAML's safe loader that also reads `3e-4` and `1e5` as numbers, as YAML 1.2 does
    (YAML 1.1 wants `3.0e-4`)."""


YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"), list("-+0123456789"))


def read_yaml(text: str) -> Any:
    """`text` read as YAML (`YamlLoader`): config files, study files and `--set` values."""
    return yaml.load(text, Loader=YamlLoader)


@dataclass
class DataConfig:
    """Where the data is and how it is fed (`data:` in YAML; options declared below)."""

    dir: str | None = option(
        None, "dataset folder with images/ and masks/, or a CSV manifest (columns image,mask[,split])",
        flag="--data", metavar="DIR|CSV",
        default_text="the built-in demo data")
    image_size: list[int] = option(
        [128, 128], "model input [height, width]; images are resized to it (or cropped, see crop)",
        low=1, nargs=2, metavar=("H", "W"))
    channels: int | None = option(
        None, "model input channels: 1 reads images as grey, 3 as RGB", choices=(1, 3),
        default_text="from the images: 1 if all are grey, else 3")
    classes: int | None = option(
        None, "1 for a binary mask, K >= 2 for a label map with values 0..K-1", low=1,
        default_text="from classes.txt (K names: K classes, 2 names: 1), else 1")
    mask_threshold: int | None = option(
        None, "binary grey masks: a stored value above this is foreground", low=0,
        default_text="127, or 0 when every mask holds only 0 and 1")
    mask_suffix: str = option(
        "", "masks are named <id><suffix>.<ext>, e.g. _segmentation for ISIC's <id>_segmentation.png", metavar="SUFFIX",
        default_text="no suffix")
    val_fraction: float = option(0.15, "share of ids for validation when there is no splits.csv", low=0, below=1)
    test_fraction: float = option(0.15, "share of ids for test when there is no splits.csv", low=0, below=1)
    augment: str | list = option(
        "flip", "augmentation: a preset (none, flip, light, medium, heavy) or, in YAML, a list of "
        "transforms (docs/augmentation.md)", metavar="PRESET")
    engine: str = option(
        "tf", "augmentation engine: batched TensorFlow ops, or the optional albumentations 2.0.x per image",
        choices=("tf", "albumentations"))
    crop: int = option(
        0, "N > 0 trains on random NxN crops at native resolution (image_size is then [N, N]) and validates on "
        "a grid of them; 0 resizes every image to image_size", low=0, metavar="N")
    pad_crops: bool = option(True, "zero-pad images smaller than crop (masks with background); false makes it an error")
    foreground_crops: float = option(
        0.0, "share of training crops centred (with jitter) on a foreground pixel of a random present class, the "
        "rest uniform (nnU-Net: 0.33); 0 draws every crop uniformly; needs crop", low=0, high=1, metavar="SHARE")
    normalize: str = option(
        "scale", "intensity normalisation of the model input: scale divides by the dtype's maximum (255 or 65535) "
        "to [0, 1]; zscore is (x - mean) / std per image and channel (nnU-Net's for non-CT images)",
        choices=NORMALIZATIONS)
    cache: bool = option(False, "keep decoded images in memory after the first epoch (augmentation still differs)")
    deterministic: bool = option(
        True, "same seed, same batches in the same order; false lets tf.data hand out elements as they are ready",
        flag="--deterministic-pipeline")
    stratify: str | None = option(
        None, "seeded splits and folds keep the proportions of this column (CSV manifest or labels.csv), "
        "or of the id's leading letters with 'prefix'", metavar="COLUMN|prefix", default_text="unstratified")
    folds: int = option(0, "k-fold cross-validation over the non-test ids when >= 2; 0 turns it off", low=0, metavar="K")
    fold: int = option(0, "which fold (0..folds-1) validates", low=0, metavar="I")
    demo_samples: int = option(240, "number of images in the synthetic demo dataset", low=1)

    def is_crop_trained(self) -> bool:
        """True when the model trains on native-resolution crops (`crop` > 0): it sees native
        pixels in model-sized crops, so it predicts by sliding window at scale 1. A
        resize-trained model sees each whole image resized to its input and predicts by
        whole-image resize."""
        return self.crop > 0

    def describe_geometry(self) -> str:
        """How the model sees an image, in words, height x width (model card, dataset summary,
        evaluation summary, report)."""
        height, width = self.image_size
        if self.is_crop_trained():
            return (
                f"sliding window of {height}x{width} (height x width) windows at native resolution "
                "(the model trained on random crops of that size)"
            )
        return f"resize to {height}x{width} (height x width; area when shrinking, bilinear when enlarging)"


@dataclass
class ModelConfig:
    """Which model to build (`model:` in YAML; options declared below)."""

    name: str = option("unet", "model name (tfseg models; docs/models.md)", flag="--model")
    options: dict[str, Any] = option(
        {}, "keyword arguments of the model's builder, e.g. {base_filters: 32, depth: 4}; on the command "
        "line through the model option flags or --set model.options.NAME=VALUE", flag=None,
        default_text="the builder's defaults")


@dataclass
class TrainConfig:
    """How to train (`train:` in YAML; options declared below)."""

    epochs: int = option(10, "total number of epochs (a resumed run counts the ones already done)", low=1, resumable=True)
    batch_size: int = option(8, "global batch size, split evenly across replicas", low=1)
    steps_per_epoch: int = option(
        0, "optimizer steps per epoch: 0 is one pass over the training images; N > 0 is N fresh batches drawn from "
        "the endlessly repeated training data (nnU-Net: 250); validation is always one pass", low=0, metavar="N")
    lr: float = option(1e-3, "base learning rate (the peak of a warm-up)", above=0)
    loss: str = option("bce+dice", "loss name or weighted sum, e.g. bce+dice or dice:1.0,bce:0.8 (docs/losses-metrics.md)")
    seed: int = option(42, "seeds Python, NumPy, TensorFlow, the split and the pipeline")
    run_dir: str | None = option(None, "the run directory (output folder)", metavar="DIR", group="output",
                                 default_text="runs/<model>-<timestamp>")
    optimizer: str = option("adam", "optimizer", choices=("adam", "adamw", "sgd", "rmsprop"))
    momentum: float = option(0.9, "momentum of sgd and rmsprop", low=0, below=1)
    nesterov: bool = option(False, "Nesterov momentum (sgd)")
    weight_decay: float = option(0.0, "decoupled weight decay (any optimizer); 0 disables it", low=0)
    clipnorm: float = option(0.0, "clip each gradient to this L2 norm; 0 disables clipping", low=0)
    schedule: str = option(
        "constant", "learning-rate schedule, stepped per batch: plateau is ReduceLROnPlateau, cosine has a "
        "warm-up, poly is nnU-Net's polynomial decay", choices=("constant", "plateau", "cosine", "poly"))
    warmup_epochs: int = option(0, "linear warm-up from 0 to lr (cosine)", low=0)
    min_lr: float = option(0.0, "floor of every schedule", low=0)
    poly_power: float = option(0.9, "exponent of the poly schedule", above=0)
    plateau_factor: float = option(0.5, "plateau: multiply the rate by this", above=0, below=1)
    plateau_patience: int = option(5, "plateau: epochs without improvement", low=1)
    monitor: str = option(
        "val_iou", "validation metric for best.keras, early stopping and plateau, e.g. val_iou, val_dice, val_loss")
    early_stopping_patience: int = option(
        0, "stop after this many epochs without improvement of monitor; 0 disables early stopping", low=0,
        flag="--early-stopping", metavar="PATIENCE")
    early_stopping_min_delta: float = option(
        0.0, "early stopping: the least change of monitor that counts as an improvement", low=0, metavar="DELTA")
    encoder_lr_multiplier: float = option(1.0, "learning rate of the pretrained encoder relative to lr (e.g. 0.1)", above=0)
    freeze_encoder_epochs: int = option(0, "keep the pretrained encoder frozen for the first N epochs", low=0)
    strategy: str = option(
        "auto", "distribution: auto is MirroredStrategy with more than one GPU, else the default; multiworker "
        "reads TF_CONFIG", choices=("auto", "none", "mirrored", "multiworker"), resumable=True)
    precision: str = option(
        "auto", "auto is mixed_float16 on a GPU; on a CPU with bfloat16 instructions mixed_bfloat16_convs "
        "(convolutions in bfloat16), else float32 (docs/speed.md)",
        choices=("auto", "float32", "mixed_float16", "mixed_bfloat16", "mixed_bfloat16_convs"))
    jit_compile: bool | str = option(
        "auto", "compile the train step with XLA; auto: the fastest for the model on this device "
        "(docs/speed.md)", choices=(True, False, "auto"), resumable=True)
    deterministic: bool = option(
        False, "TensorFlow op determinism (slower; stays on for the rest of the process)", resumable=True)
    export: list[str] = option(
        [], "formats besides best.keras and the SavedModel (docs/export.md); tflite-int8 is quantised, calibrated "
        "on training images; onnx needs pip install 'tfseg[onnx]', bioimageio 'tfseg[bioimageio]'",
        choices=EXPORT_FORMATS, nargs="+", metavar="FORMAT", resumable=True, group="export",
        default_text="none")
    export_batch: int = option(
        0, "batch dimension of the exported model.onnx: 0 = dynamic (any batch), N = fixed to N", low=0, resumable=True,
        group="export")
    tensorboard_images: int = option(
        3, "validation images (with predicted masks) written to TensorBoard each epoch", low=0, group="output")


@dataclass
class Config:
    """The whole configuration of a run."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    sources: dict[str, str] = field(default_factory=dict, repr=False, compare=False)
    """Where each value that is not a default came from, by dotted key: `config FILE`, `flag --xyz`, or
    what the data decided it from, e.g. `images (RGB)` (see `source_of`); not saved."""

    def to_dict(self) -> dict[str, Any]:
        """Returns the config as plain nested dicts and lists (YAML-ready)."""
        return {name: dataclasses.asdict(getattr(self, name)) for name in _SECTIONS}

    def source_of(self, key: str) -> str:
        """Where the value of dotted `key` came from: its entry in `sources`, else `default`."""
        return self.sources.get(key, "default")

    def save(self, path: str | Path) -> None:
        """Writes the config as YAML to `path`."""
        write_atomically(path, yaml.safe_dump(self.to_dict(), sort_keys=False))


_SECTIONS = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig}

MODEL_OPTION_FLAGS = [
    Option("model.options.encoder_weights", str | None, None, "pretrained-encoder models: none, imagenet, or a "
           ".weights.h5/.h5 file of the keras.applications backbone", flag="--encoder-weights",
           metavar="none|imagenet|PATH", group="model", default_text="random init"),
    Option("model.options.encoder_freeze", bool | None, None, "pretrained-encoder models: build with the encoder frozen",
           flag="--encoder-freeze", group="model", default_text="off"),
    Option("model.options.deep_supervision", bool | None, None, "U-Net++ models: one output per nested head, loss "
           "averaged over them; predicts with the last", flag="--deep-supervision", group="model",
           default_text="off"),
]
"""Builder keyword arguments that train.py sets with a flag; the builder checks them."""

HELP_GROUPS = ("data", "model", "training", "export", "output")
"""The groups of the option flags in train.py --help, in order: a section's options are in
the group named after it (train: training) unless their declaration names another."""

OPTIONS: list[Option] = [
    *declared_options("data", DataConfig, "data"), *declared_options("model", ModelConfig, "model"),
    *declared_options("train", TrainConfig, "training"), *MODEL_OPTION_FLAGS,
]
"""Every declared option: the config's fields and the model option flags."""

_BY_KEY = {spec.key: spec for spec in OPTIONS}
RESUMABLE_KEYS = tuple(spec.key for spec in OPTIONS if spec.resumable)
"""The options that may change when a run is resumed."""

DATA_DECIDED_KEYS = ("data.channels", "data.classes", "data.mask_threshold")
"""The options whose null (their default) leaves the value to the dataset (`tfseg.data.settle_data`);
a run's config.yaml holds the values decided."""


def options_reference() -> str:
    """The "all options" page of the docs (docs/options.md), generated from the declarations."""
    return "\n".join([
        "# All options",
        "",
        "<!-- generated by `python -m tfseg.config > docs/options.md`; do not edit -->",
        "",
        "Settings come from the defaults (`configs/default.yaml` writes them all out), then the YAML file "
        "given with `--config`, then `--set KEY=VALUE` (any key below, VALUE read as YAML), then the "
        "command-line flags. A YAML-only option has no flag. Model builder options (`model.options.*`; "
        "`tfseg models NAME` lists a model's) are checked by the model's builder (docs/models.md).",
        "",
        reference_markdown(OPTIONS),
    ])


def config_from_dict(raw: dict[str, Any] | None, source: str = "config", labels: dict[str, str] | None = None) -> Config:
    """Builds a `Config` from nested dicts, rejecting unknown keys and wrong types.

    `data.crop` N without `data.image_size` sets the model input to [N, N].

    Args:
        raw: dict. `{"data": {...}, "model": {...}, "train": {...}}`, any subset.
        source: str. Where the dict came from, for error messages; every key of `raw`
            comes from `config <source>` in `Config.sources`. Defaults to "config".
        labels: dict. Dotted key → where its value came from instead (e.g. `flag --epochs`).
            Defaults to None.
    """
    raw = raw or {}
    if not isinstance(raw, dict):
        raise TfsegError(f"{source}: expected a mapping with sections {sorted(_SECTIONS)}")
    unknown = set(raw) - set(_SECTIONS)
    if unknown:
        advice = "".join(did_you_mean(str(section), _SECTIONS, end=' ') for section in sorted(unknown, key=str))
        raise TfsegError(f"{source}: unknown section(s) {sorted(unknown)}; {advice}valid: {sorted(_SECTIONS)}")
    sections = {}
    for name, cls in _SECTIONS.items():
        values = raw.get(name) or {}
        if not isinstance(values, dict):
            raise TfsegError(f"{source}: section {name!r} must be a mapping")
        fields = {f.name for f in dataclasses.fields(cls)}
        bad = set(values) - fields
        if bad:
            advice = "".join(did_you_mean(f"{name}.{key}", _BY_KEY, end=' ') for key in sorted(bad, key=str))
            raise TfsegError(f"{source}: unknown key(s) {name}.{sorted(bad)}; {advice}valid: {sorted(fields)}")
        checked = {key: check_value(_BY_KEY[f"{name}.{key}"], value) for key, value in values.items()}
        if name == "data" and checked.get("crop") and "image_size" not in checked:  # the crop is the model input
            checked["image_size"] = [checked["crop"]] * 2
        sections[name] = cls(**checked)
    config = Config(**sections, sources=_sources(raw, "config" if source == "config" else f"config {source}", labels))
    validate_config(config)
    return config


def _sources(raw: dict[str, Any], label: str, labels: dict[str, str] | None) -> dict[str, str]:
    """`Config.sources` of a config built from `raw`: each dotted key it sets (model options one
    by one), from `labels` or else `label`; a model input set by the crop comes from where the crop does."""
    keys = [f"{section}.{key}" for section, values in raw.items() for key in values or {}]
    keys += [f"model.options.{key}" for key in (raw.get("model") or {}).get("options") or {}]
    sources = {key: (labels or {}).get(key, label) for key in keys}
    if "data.crop" in sources and "data.image_size" not in sources:
        sources["data.image_size"] = sources["data.crop"]
    return sources


def validate_config(config: Config) -> None:
    """Raises `TfsegError` for combinations of values that cannot work, naming the keys.

    Each value on its own is checked against its declaration (`tfseg.options.check_value`)
    when the config is built; this checks the rules that tie options together.
    """
    data, train = config.data, config.train
    if len(data.image_size) != 2:
        raise TfsegError(f"data.image_size: expected [height, width], got {data.image_size}")
    if data.crop and list(data.image_size) != [data.crop, data.crop]:
        raise TfsegError(
            f"data.crop: {data.crop} trains the model on {data.crop}x{data.crop} crops, so data.image_size "
            f"(the model input) must be [{data.crop}, {data.crop}], got {data.image_size}"
        )
    transforms = {t.name for t in parse_transforms(data.augment)}
    square_only = sorted(transforms & set(SQUARE_ONLY))
    if square_only and data.image_size[0] != data.image_size[1]:
        raise TfsegError(f"data.augment: {square_only} need square images, got data.image_size {data.image_size}")
    pixel = sorted(transforms & set(PIXEL_TRANSFORMS))
    if pixel and data.normalize != "scale":
        raise TfsegError(f"data.augment: {pixel} change intensities in [0, 1] (data.normalize: scale), got "
                         f"data.normalize {data.normalize}; use geometric transforms only (e.g. the flip preset)")
    if data.folds == 1:
        raise TfsegError(f"data.folds: expected 0 (no cross-validation) or k >= 2, got {data.folds}")
    if data.folds and data.fold >= data.folds:
        raise TfsegError(f"data.fold: expected 0..{data.folds - 1} (data.folds: {data.folds}), got {data.fold}")
    if data.foreground_crops and not data.crop:
        raise TfsegError(f"data.foreground_crops: {data.foreground_crops} chooses where random crops are taken, "
                         "so it needs data.crop N > 0 (got 0: images are resized, not cropped)")
    if data.normalize == "zscore" and "bioimageio" in train.export:
        raise TfsegError("train.export: a bioimage.io package takes 8-bit images scaled to [0, 1] (data.normalize: "
                         "scale), got data.normalize zscore")
    if data.stratify == "":
        raise TfsegError("data.stratify: expected a column name or 'prefix', got ''")
    if train.min_lr >= train.lr:
        raise TfsegError(f"train.min_lr: expected below train.lr={train.lr}, got {train.min_lr}")
    if train.schedule == "cosine" and train.warmup_epochs >= train.epochs:
        raise TfsegError(f"train.warmup_epochs: expected fewer than train.epochs={train.epochs}, got {train.warmup_epochs}")
    if not train.monitor.startswith("val_"):
        raise TfsegError(f"train.monitor: expected a validation metric such as val_iou or val_loss, got {train.monitor!r}")
    if "bioimageio" in train.export and train.export_batch > 1:
        raise TfsegError(f"train.export_batch: a bioimage.io package (train.export: bioimageio) takes a model.onnx of any "
                         f"batch (0) or of 1, got {train.export_batch}")


def setting_advice(key: str, value: Any, source: str) -> str:
    """How to set dotted `key` to `value`, in the form the current value was given in: the
    YAML key (`set data.mask_threshold: 0 in c.yaml`) when `source` (see `Config.source_of`)
    is a config file, else the flag (`pass --mask-threshold 0`)."""
    spec = _BY_KEY[key]
    if spec.flag is None or source.startswith("config"):
        where = source.removeprefix("config").strip() if source.startswith("config") else ""
        text = str(value).lower() if isinstance(value, bool) else value
        return f"set {key}: {text}" + (f" in {where}" if where else "")
    if isinstance(value, bool):
        return f"pass {spec.flag if value else '--no-' + spec.flag[2:]}"
    return f"pass {spec.flag} {value}"


def load_config(
    path: str | Path | None = None, overrides: dict[str, Any] | None = None, settings: dict[str, Any] | None = None
) -> Config:
    """Loads a YAML config (or the defaults), then sets `settings`, then `overrides`.

    Args:
        path: str or Path or None. YAML file; None starts from the defaults.
        overrides: dict. `{"train.epochs": 5, "model.options.encoder_freeze": True}` (the
            command-line flags); None values are ignored, so unset flags leave the file's
            values alone. A `data.crop` (from here or `settings`) without a
            `data.image_size` sets the model input to the crop, whatever the file's
            `data.image_size`.
        settings: dict. `--set KEY=VALUE` values by dotted key, set as if written in the
            file (null included); a key must be an option or `model.options.NAME`
            (`check_setting_keys`). Defaults to None.

    Returns:
        The validated `Config`; its `sources` say which values came from the file and which
        from which flag.
    """
    raw: dict[str, Any] = {}
    source = "config"
    if path is not None:
        path = Path(path)
        source = str(path)
        if not path.is_file():
            raise TfsegError(f"config file {path} does not exist")
        try:
            raw = read_yaml(path.read_text()) or {}
        except yaml.YAMLError as error:
            first = str(error).splitlines()[0]
            raise TfsegError(f"config file {path} is not valid YAML: {first}") from None
        if not isinstance(raw, dict):
            raise TfsegError(f"config file {path}: expected a mapping with sections {sorted(_SECTIONS)}")
    return _with_overrides(raw, overrides, source, settings)


def _with_overrides(
    raw: dict[str, Any], overrides: dict[str, Any] | None, source: str, settings: dict[str, Any] | None = None
) -> Config:
    """The validated config of the mapping `raw` with `settings`, then `overrides` (see `load_config`)."""
    check_setting_keys(settings or {})
    overrides = {key: value for key, value in (overrides or {}).items() if value is not None}
    changes = {**(settings or {}), **overrides}
    if changes.get("data.crop") and "data.image_size" not in changes and isinstance(raw.get("data"), dict):
        raw["data"].pop("image_size", None)  # the crop is the model input
    labels = {key: "--set" for key in settings or {}}
    labels |= {key: f"flag {_BY_KEY[key].flag}" if key in _BY_KEY and _BY_KEY[key].flag else "command line"
               for key in overrides}
    return config_from_dict(apply_overrides(raw, changes, skip_none=False), source, labels)


def check_setting_keys(settings: dict[str, Any]) -> None:
    """Raises a one-line `TfsegError` naming a `--set` key that is neither a declared option
    nor a builder option `model.options.NAME` (which the model's builder checks), with the
    closest keys."""
    for key in settings:
        if key not in _BY_KEY and not re.fullmatch(r"model\.options\.\w+", key):
            raise TfsegError(f"--set {key}: unknown config key; {did_you_mean(key, _BY_KEY, end=' ')}"
                             "(every key: docs/options.md)")


def keyword(spec: Option) -> str:
    """The Python keyword of an option (`make_config`): its flag without the dashes
    (`--batch-size` → `batch_size`, `--data` → `data`); a YAML-only option's dotted key with
    underscores (`model.options` → `model_options`)."""
    return (spec.flag.removeprefix("--") if spec.flag else spec.key).replace("-", "_").replace(".", "_")


KEYWORDS = {keyword(spec): spec.key for spec in OPTIONS}
"""Python keyword → dotted config key, for `make_config`."""


def make_config(source: Config | str | Path | None = None, **settings: Any) -> Config:
    """A config for Python callers: from a `Config`, a YAML file, a dataset folder or CSV
    manifest, or the defaults, with settings given as keywords.

    `make_config("data/ph2", model="unet_resnet34", epochs=20, image_size=[256, 256])`
    is what `train.py --data data/ph2 --model unet_resnet34 --epochs 20 --image-size 256 256`
    trains: each keyword is a flag without its dashes (`batch_size` for `--batch-size`),
    and `model_options` is the builder's keyword arguments (`model.options`).

    Args:
        source: a `Config` (copied, not changed), a `.yaml`/`.yml` file, a dataset folder or
            CSV manifest (`data.dir`), or None: the defaults, whose data is the built-in demo
            dataset. Defaults to None.
        **settings: option values by keyword (see `KEYWORDS`); None leaves an option as the
            source has it.

    Raises:
        TfsegError: an unknown keyword (with the closest ones), or a value the option does
            not take.
    """
    unknown = sorted(set(settings) - set(KEYWORDS))
    if unknown:
        advice = "".join(did_you_mean(name, KEYWORDS, end=" ") for name in unknown)
        raise TfsegError(f"unknown setting(s) {unknown}; {advice}valid: the train.py flags without dashes, e.g. "
                         f"batch_size, and model_options (docs/options.md)")
    overrides = {KEYWORDS[name]: value for name, value in settings.items()}
    if "model.options" in overrides:  # the whole mapping first, then the single options set beside it
        overrides = {"model.options": overrides.pop("model.options"), **overrides}
    if isinstance(source, Config):  # its values keep the sources they had; the keywords' are new
        config = _with_overrides(source.to_dict(), overrides, "config")
        config.sources = {**source.sources, **{key: config.sources[key] for key in overrides if key in config.sources}}
        return config
    if source is not None and Path(source).suffix.lower() not in (".yaml", ".yml"):
        overrides = {"data.dir": str(source), **overrides}
        source = None
    return load_config(source, overrides)


def apply_overrides(raw: dict[str, Any], overrides: dict[str, Any] | None, skip_none: bool = True) -> dict[str, Any]:
    """Sets dotted keys (e.g. `train.epochs`, `model.options.encoder_weights`) in the nested
    config mapping `raw`, in place, and returns `raw`; None values (unset flags) are skipped
    unless `skip_none` is False."""
    for dotted, value in (overrides or {}).items():
        if value is None and skip_none:
            continue
        *parents, key = dotted.split(".")
        node = raw
        for parent in parents:
            if not isinstance(node.get(parent), dict):
                node[parent] = {}
            node = node[parent]
        node[key] = value
    return raw


if __name__ == "__main__":
    print(options_reference())
