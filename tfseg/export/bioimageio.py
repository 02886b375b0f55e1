"""A bioimage.io model package of an export: model spec 0.5 with ONNX and TensorFlow SavedModel weights.

The package (one `.zip`) is what ilastik, deepImageJ, QuPath and napari load: `rdf.yaml`,
both weight formats, a test input and output, a cover image and a README made from the
model card. Its input is the raw 8-bit image (0-255) as float32; the package's own
preprocessing (`scale_linear`, gain 1/255) turns it into the [0, 1] input the model was
trained on, so these tools can feed it raw images.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
import keras
import numpy as np
import tensorflow as tf

from tfseg import models
from tfseg.errors import TfsegError
from tfseg.export.formats import ExportFormat, ExportJob
from tfseg.files import atomic_path

PAPERS = {
    "U-Net": (
        "Ronneberger O, Fischer P, Brox T. U-Net: Convolutional Networks for Biomedical Image Segmentation. "
        "MICCAI 2015",
        "10.1007/978-3-319-24574-4_28",
    ),
    "U-Net++": (
        "Zhou Z, Rahman Siddiquee MM, Tajbakhsh N, Liang J. UNet++: A Nested U-Net Architecture for Medical "
        "Image Segmentation. DLMIA 2018",
        "10.1007/978-3-030-00889-5_1",
    ),
    "SegNet": (
        "Badrinarayanan V, Kendall A, Cipolla R. SegNet: A Deep Convolutional Encoder-Decoder Architecture "
        "for Image Segmentation. IEEE TPAMI 2017",
        "10.1109/TPAMI.2016.2644615",
    ),
    "LinkNet": (
        "Chaurasia A, Culurciello E. LinkNet: Exploiting Encoder Representations for Efficient Semantic "
        "Segmentation. VCIP 2017",
        "10.1109/VCIP.2017.8305148",
    ),
    "FPN": (
        "Lin TY, Dollar P, Girshick R, He K, Hariharan B, Belongie S. Feature Pyramid Networks for Object "
        "Detection. CVPR 2017",
        "10.1109/CVPR.2017.106",
    ),
    "DeepLabV3": (
        "Chen LC, Papandreou G, Schroff F, Adam H. Rethinking Atrous Convolution for Semantic Image "
        "Segmentation. arXiv 2017",
        "10.48550/arXiv.1706.05587",
    ),
    "DeepLabV3+": (
        "Chen LC, Zhu Y, Papandreou G, Schroff F, Adam H. Encoder-Decoder with Atrous Separable Convolution "
        "for Semantic Image Segmentation. ECCV 2018",
        "10.1007/978-3-030-01234-2_49",
    ),
    "PSPNet": (
        "Zhao H, Shi J, Qi X, Wang X, Jia J. Pyramid Scene Parsing Network. CVPR 2017",
        "10.1109/CVPR.2017.660",
    ),
    "PAN": (
        "Li H, Xiong P, An J, Wang L. Pyramid Attention Network for Semantic Segmentation. arXiv 2018",
        "10.48550/arXiv.1805.10180",
    ),
    "MA-Net": (
        "Fan T, Wang G, Li Y, Wang H. MA-Net: A Multi-Scale Attention Network for Liver and Tumor "
        "Segmentation. IEEE Access 2020",
        "10.1109/ACCESS.2020.3025372",
    ),
    "SegFormer": (
        "Xie E, Wang W, Yu Z, Anandkumar A, Alvarez JM, Luo P. SegFormer: Simple and Efficient Design for "
        "Semantic Segmentation with Transformers. NeurIPS 2021",
        "10.48550/arXiv.2105.15203",
    ),
    "UPerNet": (
        "Xiao T, Liu Y, Zhou B, Jiang Y, Sun J. Unified Perceptual Parsing for Scene Understanding. ECCV 2018",
        "10.48550/arXiv.1807.10221",
    ),
}
"""The paper and DOI of each model family (`tfseg.models.entry(name).family`), cited by the package."""

CLASS_COLOURS = np.array([(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
                          (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)], np.float32)
"""RGB colours of labels 1, 2, ... on the cover: matplotlib's tab10, as tfseg's other overlays."""


def _write_saved_model_zip(model: keras.Model, folder: Path, path: Path) -> None:
    """Writes `model` as a SavedModel into `folder` and zips it (its files at the archive's root) into `path`.

    Its `serve` endpoint (= `serving_default`) maps `image` to `{"probabilities": ...}`: bioimageio.core
    0.11 runs TF2 SavedModels as `keras.layers.TFSMLayer(call_endpoint="serve")` and asserts that the
    result is a dict, which that of `model.export`'s `serve` endpoint (a bare tensor) is not.
    """
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serve", lambda image: {"probabilities": model(image, training=False)},
                         input_signature=[tf.TensorSpec(model.input_shape, tf.float32, name="image")])
    archive.write_out(str(folder), verbose=False)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as bundle:
        for file in sorted(folder.rglob("*")):
            bundle.write(file, file.relative_to(folder).as_posix())


def _cover(image: np.ndarray, probabilities: np.ndarray, threshold: Any, path: Path, height: int = 256) -> None:
    """Writes the cover: `image` beside its predicted labels coloured over it, `height` pixels high (PNG)."""
    labels = probabilities[..., 0] > threshold if probabilities.shape[-1] == 1 else probabilities.argmax(-1)
    rgb = np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image
    overlay = rgb.astype(np.float32)
    where = labels > 0
    overlay[where] = 0.55 * overlay[where] + 0.45 * CLASS_COLOURS[(labels[where] - 1) % len(CLASS_COLOURS)]
    cover = np.concatenate([rgb, np.round(overlay).astype(np.uint8)], axis=1)
    width = round(cover.shape[1] * height / cover.shape[0])
    shrink = cover.shape[0] > height
    cover = cv2.resize(cover, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_NEAREST)
    cv2.imwrite(str(path), cv2.cvtColor(cover, cv2.COLOR_RGB2BGR))


def _readme(card: dict[str, Any], class_names: list[str]) -> str:
    """The package's documentation, from the model card."""
    _, height, width, channels = card["input"]["shape"]
    validation = card["validation"]
    score = ("not recorded" if validation["value"] is None
             else f"{validation['metric']} {validation['value']:.4f} at epoch {validation['epoch']}")
    mask = (f"threshold the probability at {card['threshold']}" if card["classes"] == 1
            else "take the arg max over the channels")
    return f"""# {card['model']}: 2D semantic segmentation

Trained and exported with tfseg (Keras {keras.__version__}, TensorFlow {tf.__version__}).

## Input

`image`: float32 (batch, y, x, channel), {height} x {width} x {channels} ({card['input']['channels']}): the raw
intensities, 0-255. The package's preprocessing `scale_linear` (gain 1/255, offset 0) scales them
to the [0, 1] the model was trained on, so give the package images with 0-255 intensities.
tfseg's preprocessing of this model, of which the package does the scaling: {card['preprocessing']}.

## Output

`probabilities`: {card['output']}; channels: {', '.join(class_names)}. For a mask, {mask}.

## Validation

Best validation score: {score}.

## Weights

`tensorflow_saved_model_bundle`: the zipped SavedModel; its `serve` endpoint (= signature `serving_default`)
maps `image` (the [0, 1] input) to `{{"probabilities": ...}}`. `onnx`: the same model converted by
{card['onnx']['converter']}, opset {card['onnx']['opset']}.
"""


def write_bioimageio_package(model: keras.Model, export_dir: Path, card: dict[str, Any], image: np.ndarray, path: Path,
                             *, license: str = "MIT", authors: Sequence[str | Mapping[str, str]] = ("tfseg user",)
                             ) -> dict[str, Any]:
    """Writes the bioimage.io model package (model spec 0.5) of an export as the zip `path`, atomically,
    and returns what the model card records of it.

    The package is assembled in a temporary folder, tested with `bioimageio.core.test_model`
    (both weight formats reproduce the test output from the test input) and renamed to `path`
    only when it passed. Its test input is `image` as float32, its test output the model's
    probabilities for `image` / 255.

    Args:
        model: keras.Model. The exported float32 model: images (N, H, W, C) in [0, 1] to probabilities (N, H, W, K).
        export_dir: Path. The export folder: its `model.onnx` becomes the ONNX weights. The SavedModel
            weights are `model` written again with a dict output (see `_write_saved_model_zip`).
        card: dict. The model card (see `tfseg.export.card.model_card`) with its `onnx` entry; `class_names`
            (names of the labels 0..) is optional.
        image: ndarray. A sample image at the model's input size as read from disk (uint8, (H, W, C)
            or (H, W)): the test input, the sample tensors and the cover.
        path: Path. The `.zip` to write.
        license: str. SPDX license identifier. Defaults to "MIT".
        authors: names or bioimage.io author dicts (`name`, `affiliation`, `email`, `orcid`, `github_user`;
            a `github_user` is looked up on GitHub when the package is tested). Defaults to the
            placeholder "tfseg user": tfseg cannot know who trained the model, and a placeholder
            leaks no local user or host name into a file meant to be shared.

    Returns:
        dict: `file`, `format_version`, `weights`, `spec` and `validated_with`.

    Raises:
        TfsegError: bioimageio.core is not installed, or the package fails its test.
    """
    try:
        import bioimageio.core
        import bioimageio.spec
        from bioimageio.spec.model import v0_5
        from imageio.v3 import imwrite
    except ImportError as error:
        raise TfsegError('bioimage.io export needs bioimageio.core: pip install "tfseg[bioimageio]"') from error

    _, height, width, channels = card["input"]["shape"]
    batch = card["onnx"]["input"]["shape"][0]
    if batch not in (None, 1):  # bioimage.io batch axes are of any size or of 1
        raise TfsegError(f"a bioimage.io package takes a model.onnx of any batch size or of 1, not {batch} "
                         "(train.export_batch)")
    classes = card["classes"]
    names = card.get("class_names") or (["background", "foreground"] if classes == 1
                                        else [f"class_{k}" for k in range(classes)])
    output_names = names[1:2] if classes == 1 else names[:classes]
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise TfsegError(f"the sample image of a bioimage.io package must be 8-bit (uint8), not {image.dtype}")
    image = image.reshape(height, width, channels)
    test_input = image.astype(np.float32)[None]
    probabilities = np.asarray(model.predict_on_batch(test_input / 255.0), np.float32)
    if test_input.max() < 1e-4 or probabilities.max() < 1e-4:  # bioimageio.spec rejects such test tensors
        raise TfsegError("bioimage.io cannot test a package on a black sample image or on one with all probabilities "
                         "below 1e-4: choose a sample with foreground")
    family = models.entry(card["model"]).family
    paper, doi = PAPERS[family]  # every family has one (tests/test_bioimageio.py)

    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        np.save(folder / "test_input.npy", test_input)
        np.save(folder / "test_output.npy", probabilities)
        imwrite(folder / "sample_input.png", image[..., 0] if channels == 1 else image)
        imwrite(folder / "sample_output.tif", probabilities[0])
        _cover(image, probabilities[0], card["threshold"], folder / "cover.png")
        (folder / "README.md").write_text(_readme(card, output_names), encoding="utf-8")
        _write_saved_model_zip(model, folder / "saved_model", folder / "saved_model.zip")
        description = v0_5.ModelDescr(
            name=f"tfseg {card['model']} ({classes} class{'es' if classes > 1 else ''})",
            description=(f"{family} ({card['model']}) 2D semantic segmentation of {card['input']['channels']} images "
                         f"into {', '.join(output_names)}; trained with tfseg."),
            authors=[v0_5.Author(name=author) if isinstance(author, str) else v0_5.Author(**author)
                     for author in authors],
            cite=[v0_5.CiteEntry(text=paper, doi=v0_5.Doi(doi))],
            license=v0_5.LicenseId(license),
            tags=["segmentation", "semantic-segmentation", "2d", card["input"]["channels"].lower(), family.lower(),
                  "tensorflow", "onnx", "keras", "tfseg"],
            documentation=v0_5.FileDescr(source=folder / "README.md"),
            covers=[v0_5.FileDescr(source=folder / "cover.png")],
            inputs=[v0_5.InputTensorDescr(
                id=v0_5.TensorId("image"),
                description="raw 8-bit intensities 0-255 as float32",
                axes=[v0_5.BatchAxis(size=batch),
                      v0_5.SpaceInputAxis(id=v0_5.AxisId("y"), size=height),
                      v0_5.SpaceInputAxis(id=v0_5.AxisId("x"), size=width),
                      v0_5.ChannelAxis(channel_names=["grey"] if channels == 1 else ["red", "green", "blue"])],
                test_tensor=v0_5.FileDescr(source=folder / "test_input.npy"),
                sample_tensor=v0_5.FileDescr(source=folder / "sample_input.png"),
                data=v0_5.IntervalOrRatioDataDescr(type="float32", range=(0.0, 255.0)),
                preprocessing=[v0_5.ScaleLinearDescr(kwargs=v0_5.ScaleLinearKwargs(gain=1 / 255, offset=0.0))],
            )],
            outputs=[v0_5.OutputTensorDescr(
                id=v0_5.TensorId("probabilities"),
                description=card["output"],
                axes=[v0_5.BatchAxis(size=batch),
                      v0_5.SpaceOutputAxis(id=v0_5.AxisId("y"), size=height),
                      v0_5.SpaceOutputAxis(id=v0_5.AxisId("x"), size=width),
                      v0_5.ChannelAxis(channel_names=output_names)],
                test_tensor=v0_5.FileDescr(source=folder / "test_output.npy"),
                sample_tensor=v0_5.FileDescr(source=folder / "sample_output.tif"),
                data=v0_5.IntervalOrRatioDataDescr(type="float32", range=(0.0, 1.0)),
            )],
            weights=v0_5.WeightsDescr(
                tensorflow_saved_model_bundle=v0_5.TensorflowSavedModelBundleWeightsDescr(
                    source=folder / "saved_model.zip", tensorflow_version=v0_5.Version(tf.__version__)),
                onnx=v0_5.OnnxWeightsDescr(
                    source=Path(export_dir) / "model.onnx", opset_version=card["onnx"]["opset"],
                    parent="tensorflow_saved_model_bundle", comment=card["onnx"]["converter"]),
            ),
        )
        with atomic_path(path) as temporary:
            bioimageio.spec.save_bioimageio_package(description, output_path=temporary)
            package, cwd = temporary.resolve(), Path.cwd()
            os.chdir(folder)  # bioimageio.core unzips the SavedModel into ./bioimageio_unzipped_tf_weights
            try:
                summary = bioimageio.core.test_model(package)
            finally:
                os.chdir(cwd)
            if summary.status != "passed":
                failed = [detail.name for detail in summary.details if detail.status == "failed"]
                raise TfsegError(f"the bioimage.io package of {card['model']} fails bioimageio.core's test: {failed}")
    return {
        "file": Path(path).name,
        "format_version": description.format_version,
        "weights": ["tensorflow_saved_model_bundle", "onnx"],
        "spec": bioimageio.spec.__version__,
        "validated_with": f"bioimageio.core {bioimageio.core.__version__}",
    }


def _write(job: ExportJob) -> dict[str, Any]:
    if job.sample is None:
        raise TfsegError(f"{job.folder}: the bioimage.io package needs a sample image, got none")
    return write_bioimageio_package(job.model, job.folder, job.card, job.sample, job.folder / "bioimageio.zip", **job.package)


FORMAT = ExportFormat("bioimageio", "bioimageio.zip", _write, needs=("onnx",))
"""`train.export: bioimageio`; the package holds the ONNX and SavedModel weights, and bioimage.io's
own test runs it when it is written (so it has no runtime here). The card records it under `bioimageio`."""
