"""The Python API that `import tfseg` offers at the top level (docs/python-api.md).

Model constructors named and called as segmentation_models.pytorch's (`tfseg.Unet`,
`tfseg.FPN`, …) that return a plain `keras.Model`; `tfseg.train`, `tfseg.evaluate` and
`tfseg.predict`, which do what `tfseg train`, `tfseg evaluate` and `tfseg predict` do and
return Python objects (a `Run`, a DataFrame, arrays). Each name loads on first use, so
`import tfseg` stays free of TensorFlow; `tfseg.data.datasets` gives the datasets to fit a
model yourself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import keras
import numpy as np
import pandas as pd

from tfseg import inference, models, training
from tfseg.config import Config, make_config
from tfseg.errors import TfsegError
from tfseg.evaluation import evaluate_run
from tfseg.export.card import read_model_card
from tfseg.export.loading import load_predictor, load_run_model
from tfseg.models.encoders import encoder_key
from tfseg.prediction import collect_inputs, prediction_settings, read_input
from tfseg.run import RunDir, read_config
from tfseg.run_state import best_epoch, read_history

CONSTRUCTORS = {
    "Unet": "unet",
    "UnetPlusPlus": "unetpp",
    "Linknet": "linknet",
    "FPN": "fpn",
    "PSPNet": "pspnet",
    "DeepLabV3": "deeplabv3",
    "DeepLabV3Plus": "deeplabv3plus",
    "MAnet": "manet",
    "PAN": "pan",
    "UPerNet": "upernet",
    "Segformer": "segformer",
    "SegNet": "segnet",
}
"""Constructor name (segmentation_models.pytorch's, and SegNet) → tfseg architecture. Each is
a function of this module and of `tfseg`, `tfseg.Unet(encoder="resnet34", encoder_weights=None,
in_channels=3, classes=1, input_shape=(256, 256), activation="auto", **options)` → `keras.Model`
(`help(tfseg.Unet)`, docs/python-api.md)."""


class Run:
    """A run directory as Python objects: what `tfseg.train` returns, and what
    `tfseg.evaluate` and `tfseg.predict` take. It reads the run's files when asked, so
    `tfseg.Run("runs/demo")` opens a run trained earlier, by `tfseg.train` or train.py.

    Args:
        path: str or Path. A run directory written by `tfseg.training.train`.

    Attributes:
        path: Path. The run directory.
        files: `tfseg.run.RunDir`. The paths of its files (`files.best`, `files.eval_dir("test")`, …).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.files = RunDir(self.path)

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    @property
    def config(self) -> Config:
        """The resolved config the run trained with (config.yaml)."""
        return read_config(self.path)

    @property
    def history(self) -> pd.DataFrame:
        """Loss and metrics, one row per epoch (history.csv, `tfseg.run_state.read_history`; `epoch` counts from 1)."""
        history = read_history(self.files.history)
        if history is None:
            raise TfsegError(f"{self.path}: no history.csv; expected a run directory written by train.py")
        return history

    @property
    def best_scores(self) -> dict[str, float]:
        """The history row of the best epoch by `train.monitor`, the epoch of best.keras:
        `{"epoch": 1, "loss": 0.41, "val_iou": 0.83, ...}`; empty before the first epoch."""
        history = read_history(self.files.history)
        epoch, _ = best_epoch(history, self.config.train.monitor)
        if epoch is None:
            return {}
        row = history[history["epoch"] == epoch].iloc[-1].to_dict()
        return {name: int(value) if name == "epoch" else float(value) for name, value in row.items()}

    def load_model(self, precision: str = "float32") -> keras.Model:
        """The best epoch's model (best.keras), uncompiled: predict with it, or compile it to
        fit it further (`tfseg.export.load_run_model`).

        Args:
            precision: str. float32, mixed_bfloat16_convs or auto. Defaults to "float32".
        """
        return load_run_model(self.path, precision)


def _input_shape(input_shape: Sequence[int | None], in_channels: int, constructor: str) -> tuple:
    """(height, width, in_channels) from `input_shape`, (height, width) or (height, width, in_channels)."""
    shape = tuple(input_shape)
    if len(shape) == 3 and shape[2] == in_channels:
        shape = shape[:2]
    if len(shape) != 2:
        raise TfsegError(f"{constructor}: input_shape {tuple(input_shape)}: expected (height, width), or "
                         f"(height, width, {in_channels}) with in_channels={in_channels}")
    return (*shape, in_channels)


def _build(
    constructor: str,
    encoder: str | None,
    encoder_weights: str | None,
    in_channels: int,
    classes: int,
    input_shape: Sequence[int | None],
    activation: str | None,
    **options: Any,
) -> keras.Model:
    """What every constructor of `CONSTRUCTORS` does: its architecture on `encoder` (smp
    spellings taken, `tfseg.models.encoders.encoder_key`), or with its own encoder for None.

    Raises:
        TfsegError: an unknown encoder (with the closest names) or option, encoder=None for
            an architecture that needs one, or an `input_shape` that is not (height, width).
    """
    architecture = CONSTRUCTORS[constructor]
    shape = _input_shape(input_shape, in_channels, constructor)
    options["activation"] = activation
    if encoder is None:
        if encoder_weights is not None:
            raise TfsegError(f"{constructor}: encoder_weights={encoder_weights!r} needs an encoder, got encoder=None")
        if architecture not in models.entries():
            raise TfsegError(f"{constructor}: encoder=None: {architecture} has no variant with its own encoder; "
                             "name a pretrained encoder, e.g. encoder='resnet34'")
        return models.build(architecture, shape, classes, **options)
    own = models.entries().get(f"{architecture}_{encoder_key(encoder)}")
    if own is not None and own.encoder is None:  # a model built on one encoder, e.g. segnet_vgg16
        return models.build(own.name, shape, classes, encoder_weights=encoder_weights, **options)
    return models.build(architecture, shape, classes, encoder=encoder, encoder_weights=encoder_weights, **options)


def _constructor(name: str, default_encoder: str | None = "resnet34") -> Callable[..., keras.Model]:
    """The constructor `name` of `CONSTRUCTORS`, with its docstring."""
    architecture = CONSTRUCTORS[name]

    def construct(
        encoder: str | None = default_encoder,
        encoder_weights: str | None = None,
        in_channels: int = 3,
        classes: int = 1,
        input_shape: Sequence[int | None] = (256, 256),
        activation: str | None = "auto",
        **options: Any,
    ) -> keras.Model:
        return _build(name, encoder, encoder_weights, in_channels, classes, input_shape, activation, **options)

    has_own = architecture in models.entries()
    own_note = f"encoder=None builds tfseg's {architecture!r}, with its own encoder trained from scratch." if has_own else ""
    construct.__name__ = construct.__qualname__ = name
    construct.__module__ = __name__
    construct.__doc__ = f"""Builds {name} as segmentation_models.pytorch's `{name}(encoder_name=..., ...)` does,
    as a `keras.Model`: tfseg's `{architecture}_<encoder>` (`tfseg.models.build`). {own_note}

    Args:
        encoder: str or None. The encoder, as tfseg (`effb3`) or smp (`efficientnet-b3`)
            name it (`tfseg.models.encoders.encoder_key`). Defaults to {default_encoder!r}.
        encoder_weights: None (random), "imagenet" or a weights file. Defaults to None.
        in_channels: int. Input channels: 1 for grey images, 3 for RGB. Defaults to 3.
        classes: int. 1 for a binary mask, K for K classes. Defaults to 1.
        input_shape: (height, width), multiples of 32; (height, width, in_channels) is
            taken too. Defaults to (256, 256).
        activation: str or None. "auto" (sigmoid for one class, softmax for more, what
            tfseg's losses take), "sigmoid", "softmax" or None (logits, smp's default).
            Defaults to "auto".
        **options: the builder's own options (`tfseg.models.build`; docs/api.md).

    Returns:
        A functional `keras.Model` taking images in [0, 1] of shape (batch, height, width, in_channels).

    Raises:
        TfsegError: an unknown encoder (with the closest names) or option.
    """
    return construct


Unet = _constructor("Unet")
UnetPlusPlus = _constructor("UnetPlusPlus")
Linknet = _constructor("Linknet")
FPN = _constructor("FPN")
PSPNet = _constructor("PSPNet")
DeepLabV3 = _constructor("DeepLabV3")
DeepLabV3Plus = _constructor("DeepLabV3Plus")
MAnet = _constructor("MAnet")
PAN = _constructor("PAN")
UPerNet = _constructor("UPerNet")
Segformer = _constructor("Segformer")
SegNet = _constructor("SegNet", None)


def _as_run(run: Run | str | Path) -> Run:
    """`run` as a `Run`, from a `Run` or a path."""
    return run if isinstance(run, Run) else Run(run)


def train(config: Config | str | Path | None = None, callbacks: list | None = None, **settings: Any) -> Run:
    """Trains a model as `tfseg train` does and returns its run.

    `tfseg.train(data="data/ph2", model="unet_resnet34", epochs=20)` is
    `tfseg train --data data/ph2 --model unet_resnet34 --epochs 20`.

    Args:
        config: a `Config`, a YAML config file, a dataset folder or CSV manifest, or None:
            the defaults, on the built-in demo data (`tfseg.config.make_config`). Defaults to None.
        callbacks: list of keras.callbacks.Callback. Run after the run's own. Defaults to None.
        **settings: options by keyword: the train.py flags without dashes (`epochs`,
            `batch_size`, `image_size`, `run_dir`, …) and `model_options` (docs/options.md).

    Returns:
        The `Run` written to `run_dir` (default `runs/<model>-<timestamp>`): its path,
        config, history, best scores and `load_model()`.
    """
    return Run(training.train(make_config(config, **settings), callbacks=callbacks))


def evaluate(
    run: Run | str | Path,
    split: str = "test",
    data: str | Path | None = None,
    tta: str = "none",
    threshold: float | str = 0.5,
    postprocess: str = "none",
    spacing: tuple[float, float] = (1.0, 1.0),
    out_dir: str | Path | None = None,
    precision: str = "float32",
    ensemble: Sequence[str | Path | Run] = (),
    batch_size: int | None = None,
) -> pd.DataFrame:
    """Scores a run on one split as `tfseg evaluate` does (`tfseg.evaluation.evaluate_run`),
    writing the same report, and returns the per-image scores.

    Args:
        run: Run or str or Path. A run, or its directory.
        split: str. train, val or test. Defaults to "test".
        data: str or Path or None. Dataset to score on; None: the run's own. Defaults to None.
        tta: str. "none", "flip" or "flip-all". Defaults to "none".
        threshold: float or "auto" (the best mean Dice on the val split). Defaults to 0.5.
        postprocess: str. A post-processing spec, "none" or steps joined by "+"
            (`tfseg.config.parse_postprocess`). Defaults to "none".
        spacing: (row, column) pixel size for ASSD and HD95. Defaults to (1.0, 1.0): pixels.
        out_dir: str or Path or None. Where the report goes; None: `RUN/eval/<split>`.
        precision: str. float32, mixed_bfloat16_convs or auto. Defaults to "float32".
        ensemble: other runs whose probabilities are averaged with this run's. Defaults to ().
        batch_size: int or None. Images (or windows) per forward pass; None: the run's
            `train.batch_size`. Defaults to None.

    Returns:
        A DataFrame, one row per image: `id` and every score (`dice`, `iou`, …; per class
        for K classes), as `per_image.csv`. `.attrs["summary"]` is the summary
        (`summary.json`: mean, std, median, min and max of each score, threshold, empty masks, …).
    """
    run = _as_run(run)
    out_dir = Path(out_dir) if out_dir is not None else run.files.eval_dir(split)
    summary = evaluate_run(
        run.path, data, split, tta=tta, threshold=threshold, postprocess_method=postprocess, spacing=tuple(spacing),
        out_dir=out_dir, precision=precision, ensemble=[_as_run(other).path for other in ensemble],
        batch_size=batch_size,
    )
    per_image = pd.read_csv(out_dir / "per_image.csv", dtype={"id": str})
    per_image.attrs["summary"] = summary
    return per_image


def _images(images, channels: int) -> tuple[list[np.ndarray], str]:
    """The images as (H, W, channels) arrays, and what was given: "batch", "image" or "list"."""
    if isinstance(images, (str, Path)):
        images = [images]
    if isinstance(images, np.ndarray):
        if images.ndim == 4:
            return _checked(list(images), channels), "batch"
        if images.ndim in (2, 3):
            return _checked([images], channels), "image"
        raise TfsegError(f"images: array of shape {images.shape}, expected (H, W), (H, W, C) or (N, H, W, C)")
    images = list(images)
    if images and all(isinstance(item, (str, Path)) for item in images):
        return [read_input(path, channels)[0] for path in collect_inputs(images)], "list"
    return _checked([np.asarray(image) for image in images], channels), "list"


def _checked(images: list[np.ndarray], channels: int) -> list[np.ndarray]:
    """(H, W) images made (H, W, 1); raises for a channel count the model does not take."""
    images = [image[..., None] if image.ndim == 2 else image for image in images]
    for image in images:
        if image.ndim != 3 or image.shape[-1] != channels:
            raise TfsegError(f"images: an image of shape {image.shape}; the model takes (H, W, {channels})")
    return images


def predict(
    model: keras.Model | Run | str | Path,
    images,
    threshold: float | None = None,
    tta: str | None = None,
    postprocess: str | None = None,
    batch_size: int = 8,
    sliding_window: bool | None = None,
    overlap: float = 0.5,
    scale: float | tuple[float, float] | str | None = None,
    precision: str = "float32",
) -> np.ndarray | list[np.ndarray]:
    """Predicts masks as `tfseg predict` does (`tfseg.inference.predict`), at each image's
    own size, and returns them instead of writing them.

    Args:
        model: a `keras.Model` (tfseg's: probabilities out, images in [0, 1] in), a `Run`, or
            what `tfseg predict` takes: a run directory, `.keras`, SavedModel, `.onnx` or
            `.tflite` (their threshold and geometry from the run or the model card).
        images: image files or folders of them (a path or a list), or arrays: one image
            (H, W) or (H, W, C), a batch (N, H, W, C), or a list of images of any sizes;
            uint8, uint16, or float in [0, 1].
        threshold: float or None. Binary threshold; None: the model card's, else 0.5.
        tta: str or None. "none", "flip" or "flip-all"; None: the model card's, else "none".
        postprocess: str or None. A post-processing spec, "none" or steps joined by "+"
            (`tfseg.config.parse_postprocess`); None: the model card's, else "none".
        batch_size: int. Images (or windows) per forward pass. Defaults to 8.
        sliding_window: bool or None. Tile instead of resizing; None decides from the run or
            the model card (whole-image resize for a model without either). Defaults to None.
        overlap: float. Sliding window: least overlap of neighbouring windows. Defaults to 0.5.
        scale: float, (sy, sx), "fit" or None. Sliding window: resize factor before tiling;
            None: the training scale (`tfseg.prediction.predict_paths`). Defaults to None.
        precision: str. For a model loaded from a path: float32, mixed_bfloat16_convs or
            auto. Defaults to "float32".

    Returns:
        Label maps, uint8, 0/1 for a binary model and 0..K-1 for K classes, each of its
        image's height and width: one (H, W) array for one image, an (N, H, W) array for a
        batch, a list of (H, W) arrays for paths or a list.
    """
    if isinstance(model, keras.Model):
        config, card = None, None
    else:
        path = _as_run(model).path  # a run directory or a model file
        (model, config), card = load_predictor(path, precision), read_model_card(path)
    settings = prediction_settings(config, card, threshold, sliding_window, scale, tta, postprocess)
    arrays, given = _images(images, int(model.input_shape[-1]))
    probabilities = inference.predict(
        model, arrays, batch_size=batch_size, tta=settings.tta, sliding_window=settings.sliding_window,
        overlap=overlap, scale=settings.scale, normalize=settings.normalize,
    )
    masks = [
        inference.postprocess(inference.probabilities_to_labels(p, settings.threshold), settings.postprocess)
        for p in probabilities
    ]
    if given == "batch":
        return np.stack(masks)
    return masks[0] if given == "image" else masks


__all__ = [*CONSTRUCTORS, "Run", "train", "evaluate", "predict"]
