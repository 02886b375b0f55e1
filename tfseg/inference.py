"""Prediction on images of any size: whole-image resize or Gaussian-blended sliding window,
optional flip test-time augmentation, thresholding and post-processing.

One function, `predict`, serves `evaluate.py`, `predict.py` and Python callers, so every
path sees the preprocessing of training (`tfseg.data.to_model_input`).

Two geometries:

- resize (default): each image is resized to the model's input size, as in resize
  training; the probabilities are resized back to the image's own size.
- sliding window: the image is first resized by `scale` (1.0 = native pixels, as for
  crop-trained models; "fit" = the model input size, the field of view of resize
  training), cut into overlapping model-sized windows, and the window predictions are
  blended with a Gaussian weight that is highest at each window's centre (nnU-Net,
  Isensee et al. 2021), so the less reliable window borders count least.

Scale matters more than tiling: a model trained on 256² X-rays resized to 128² has
learnt a chest about 128 pixels across. Tiling a 2048² radiograph of the same field of
view at native resolution shows it lungs 16× larger than it has ever seen, and it fails
(`benchmarks/sliding_window_scale.py`). Match the training scale first, then tile what
is still larger than the model input.
"""

from __future__ import annotations

from typing import Sequence

import cv2
import keras
import numpy as np
import scipy.ndimage

from tfseg.config import TTA_FLIPS, parse_postprocess
from tfseg.data.io import to_model_input
from tfseg.errors import TfsegError
from tfseg.models import final_head


def model_input_size(model: keras.Model) -> tuple[int, int]:
    """The (height, width) a model was built for.

    Raises:
        TfsegError: when the model accepts any size (height or width is None).
    """
    height, width = model.input_shape[1:3]
    if height is None or width is None:
        raise TfsegError(f"model {model.name!r} has no fixed input size ({model.input_shape}); expected (None, H, W, C)")
    return int(height), int(width)


def gaussian_importance(window: tuple[int, int], sigma_fraction: float = 0.125) -> np.ndarray:
    """nnU-Net's blending weight for one window: a Gaussian with sigma = window / 8,
    1 at the centre, never 0 at the border.

    Args:
        window: (height, width) of a window.
        sigma_fraction: float. Sigma as a share of the window size. Defaults to 1/8.

    Returns:
        float32 array of shape `window`.
    """
    impulse = np.zeros(window, np.float32)
    impulse[window[0] // 2, window[1] // 2] = 1.0
    weight = scipy.ndimage.gaussian_filter(impulse, [size * sigma_fraction for size in window], mode="constant")
    weight /= weight.max()
    weight[weight == 0] = weight[weight > 0].min()
    return weight


def window_starts(length: int, window: int, overlap: float) -> list[int]:
    """Start offsets of windows that cover `length` with at least `overlap` between
    neighbours; the first starts at 0 and the last ends exactly at `length`."""
    if length <= window:
        return [0]
    steps = int(np.ceil((length - window) / (window * (1.0 - overlap))))
    return [int(round(i * (length - window) / steps)) for i in range(steps + 1)]


def normalise_scale(scale: float | str | Sequence[float | str]) -> tuple[float, float] | str:
    """A sliding-window scale as (sy, sx) or "fit", from a factor, one or two factors, or "fit".

    Raises:
        TfsegError: anything else, or a factor that is not positive.
    """
    values = [scale] if isinstance(scale, str) or np.isscalar(scale) else list(scale)
    if values == ["fit"]:
        return "fit"
    if not 1 <= len(values) <= 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in values):
        raise TfsegError(f"--scale {' '.join(map(str, values))}: expected one or two positive factors (SY SX) or 'fit'")
    return (float(values[0]), float(values[-1]))


def _predict_batch(model: keras.Model, batch: np.ndarray, tta: str) -> np.ndarray:
    """Probabilities of a batch, averaged over the TTA flips (each flipped back)."""
    total = None
    for axes in TTA_FLIPS[tta]:
        flipped = np.flip(batch, axes) if axes else batch
        probabilities = np.asarray(model.predict_on_batch(flipped), dtype=np.float32)
        probabilities = np.flip(probabilities, axes) if axes else probabilities
        total = probabilities if total is None else total + probabilities
    return total / len(TTA_FLIPS[tta])


def _predict_sliding(model, image, window, batch_size, tta, overlap, scale, normalize) -> np.ndarray:
    """One image by sliding window; returns (H, W, classes) at the image's size."""
    height, width = image.shape[:2]
    if scale == "fit":
        scaled = tuple(window)
    else:
        scaled = (max(1, round(height * scale[0])), max(1, round(width * scale[1])))
    pixels = to_model_input(image, scaled, normalize)
    pad_h, pad_w = max(0, window[0] - scaled[0]), max(0, window[1] - scaled[1])
    if pad_h or pad_w:  # smaller than one window: pad (zeros, as nnU-Net) and crop back
        pixels = np.pad(pixels, ((0, pad_h), (0, pad_w), (0, 0)))
    weight = gaussian_importance(window)[..., None]
    corners = [
        (top, left)
        for top in window_starts(pixels.shape[0], window[0], overlap)
        for left in window_starts(pixels.shape[1], window[1], overlap)
    ]
    summed, weights = None, np.zeros((*pixels.shape[:2], 1), np.float32)
    for start in range(0, len(corners), batch_size):
        chunk = corners[start : start + batch_size]
        tiles = np.stack([pixels[top : top + window[0], left : left + window[1]] for top, left in chunk])
        probabilities = _predict_batch(model, tiles, tta)
        if summed is None:
            summed = np.zeros((*pixels.shape[:2], probabilities.shape[-1]), np.float32)
        for (top, left), probability in zip(chunk, probabilities):
            summed[top : top + window[0], left : left + window[1]] += probability * weight
            weights[top : top + window[0], left : left + window[1]] += weight
    blended = (summed / weights)[: scaled[0], : scaled[1]]
    if scaled != (height, width):
        blended = cv2.resize(blended, (width, height), interpolation=cv2.INTER_LINEAR).reshape(height, width, -1)
    return blended


def predict(
    model: keras.Model,
    images: Sequence[np.ndarray],
    batch_size: int = 8,
    tta: str = "none",
    sliding_window: bool = False,
    overlap: float = 0.5,
    scale: float | tuple[float, float] | str = 1.0,
    progress: bool = False,
    normalize: str = "scale",
) -> list[np.ndarray]:
    """Predicts probability maps at each image's own resolution.

    Args:
        model: keras.Model. A tfseg model (probability outputs), e.g. from `tfseg.export.loading.load_predictor`;
            a deep-supervised model predicts with its last, full-depth head.
        images: sequence of (H, W, C) uint8 or uint16 arrays, C = the model's channels.
        batch_size: int. Images (or windows) per forward pass. Defaults to 8.
        tta: str. A key of `TTA_FLIPS`: "none", "flip" or "flip-all". Defaults to "none".
        sliding_window: bool. Tile instead of resizing the whole image. Defaults to False.
        overlap: float. Sliding window: least overlap between neighbouring windows, as a
            share of the window, in [0, 1). Defaults to 0.5 (nnU-Net).
        scale: float, (sy, sx) or "fit". Sliding window: resize factor applied to the
            image before tiling, so that its pixels match the training scale; "fit"
            resizes each image to the model input, as resize training did. Defaults
            to 1.0 (native pixels, as crop training).
        progress: bool. Show a progress bar. Defaults to False.
        normalize: str. How pixel values become model input, as the model was trained
            (`data.normalize`, `tfseg.data.io.to_model_input`): "scale" or "zscore" (over the
            resized image, or the whole scaled image before tiling). Defaults to "scale".

    Returns:
        One float32 array (H, W, classes) per image.
    """
    check_tta(tta)
    if not 0.0 <= overlap < 1.0:
        raise TfsegError(f"--overlap {overlap}: expected a share in [0, 1)")
    scale = normalise_scale(scale)
    model = final_head(model)
    size = model_input_size(model)
    bar = keras.utils.Progbar(len(images), unit_name="image") if progress else None
    outputs: list[np.ndarray] = []
    if sliding_window:
        for count, image in enumerate(images, 1):
            outputs.append(_predict_sliding(model, image, size, batch_size, tta, overlap, scale, normalize))
            if bar:
                bar.update(count)
        return outputs
    for start in range(0, len(images), batch_size):
        chunk = images[start : start + batch_size]
        batch = np.stack([to_model_input(image, size, normalize) for image in chunk])
        for image, probability in zip(chunk, _predict_batch(model, batch, tta)):
            height, width = image.shape[:2]
            if (height, width) != size:
                probability = cv2.resize(probability, (width, height), interpolation=cv2.INTER_LINEAR)
            outputs.append(probability.reshape(height, width, -1))
        if bar:
            bar.update(len(outputs))
    return outputs


def probabilities_to_labels(probabilities: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """(H, W, C) probabilities → (H, W) labels: threshold for C == 1, arg-max otherwise."""
    if probabilities.shape[-1] == 1:
        return (probabilities[..., 0] > threshold).astype(np.uint8)
    return np.argmax(probabilities, axis=-1).astype(np.uint8)


EIGHT_CONNECTED = np.ones((3, 3), bool)
"""The neighbourhood of a component of post-processing: a pixel and its 8 neighbours."""


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 8-connected component of a boolean mask (the `largest-component` step)."""
    components, count = scipy.ndimage.label(mask, EIGHT_CONNECTED)
    sizes = np.bincount(components.ravel())
    sizes[0] = 0  # the background
    return components == np.argmax(sizes) if count else np.zeros(mask.shape, bool)


def remove_small_components(mask: np.ndarray, size: int) -> np.ndarray:
    """A boolean mask without its 8-connected components of fewer than `size` pixels (the
    `remove-small=N` step)."""
    components, _ = scipy.ndimage.label(mask, EIGHT_CONNECTED)
    kept = np.bincount(components.ravel()) >= size
    kept[0] = False
    return kept[components]


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """A boolean mask with its holes filled (the `fill-holes` step): the background that
    4-connected paths cannot join to the border, as `scipy.ndimage.binary_fill_holes` finds it."""
    return scipy.ndimage.binary_fill_holes(mask)


def check_tta(tta: str) -> None:
    """Raises a one-line `TfsegError` unless `tta` is a key of `TTA_FLIPS`."""
    if tta not in TTA_FLIPS:
        raise TfsegError(f"--tta {tta!r}: expected one of {', '.join(TTA_FLIPS)}")


def check_postprocess(spec: str) -> None:
    """Raises a one-line `TfsegError` unless `spec` is a post-processing spec (`parse_postprocess`)."""
    parse_postprocess(spec)


def postprocess(labels: np.ndarray, spec: str) -> np.ndarray:
    """Applies a post-processing spec (`tfseg.config.parse_postprocess`) to a label map.

    Each step changes every label's mask in turn, within the label's bounding box: components
    it drops become background, and a hole it fills takes the label only where the map is
    background (the lowest label, where the holes of two labels meet).

    Args:
        labels: (H, W) integer label map, 0 = background.
        spec: str. "none", or steps joined by "+", e.g. "remove-small=20+fill-holes".

    Returns:
        The post-processed label map (a copy, unless `spec` is "none").
    """
    for name, size in parse_postprocess(spec):
        change = {"largest-component": largest_component, "fill-holes": fill_holes,
                  "remove-small": lambda mask: remove_small_components(mask, size)}[name]
        before, labels = labels, labels.copy()
        for label, box in enumerate(scipy.ndimage.find_objects(before), 1):
            if box is not None:
                mask = before[box] == label
                changed = change(mask)
                region = labels[box]
                region[mask & ~changed] = 0
                region[changed & ~mask & (region == 0)] = label
    return labels
