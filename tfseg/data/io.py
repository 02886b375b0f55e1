"""Reading images and masks from disk, and turning them into model input.

One implementation is shared by discovery (validation), the tf.data pipeline, evaluation
and inference, so training and prediction see identical preprocessing.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from tfseg.errors import TfsegError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif")


def _imread(path: str | Path, flags: int) -> np.ndarray:
    """cv2.imread that raises a one-line `TfsegError` instead of returning None."""
    path = str(path)
    data = np.fromfile(path, np.uint8) if Path(path).is_file() else None
    if data is None:
        raise TfsegError(f"{path}: file does not exist")
    if data.size == 0:
        raise TfsegError(f"{path}: empty file, expected an image")
    image = cv2.imdecode(data, flags)
    if image is None:
        if Path(path).suffix.lower() == ".gif":  # older OpenCV builds cannot decode GIF
            image = _read_gif(path, flags)
        if image is None:
            raise TfsegError(f"{path}: cannot decode image (corrupt, truncated or unsupported format)")
    return image


def _read_gif(path: str, flags: int) -> np.ndarray | None:
    """Reads the first frame of a GIF with OpenCV's video reader, or None."""
    capture = cv2.VideoCapture(path)
    ok, frame = capture.read()
    capture.release()
    if not ok:
        return None
    return cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if flags == cv2.IMREAD_GRAYSCALE else frame


def read_image(path: str | Path, channels: int) -> np.ndarray:
    """Reads an image as (H, W, channels) uint8 or uint16.

    Greyscale, RGB, RGBA and palette files are all accepted: `channels=1` converts to
    grey, `channels=3` to RGB (alpha dropped, grey repeated).

    Args:
        path: str or Path. Image file (PNG, JPEG, BMP, TIFF, GIF).
        channels: int. 1 or 3.
    """
    if channels == 1:
        image = _imread(path, cv2.IMREAD_GRAYSCALE | cv2.IMREAD_ANYDEPTH)
        return image[..., None]
    image = _imread(path, cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def read_mask(path: str | Path) -> np.ndarray:
    """Reads a mask as a (H, W) uint8 array of stored values (no scaling)."""
    mask = _imread(path, cv2.IMREAD_UNCHANGED)
    if mask.ndim == 3:  # an RGB(A) mask: take the first channel's values
        mask = mask[..., 0]
    if mask.dtype != np.uint8:
        if mask.max() > 255:
            raise TfsegError(f"{path}: mask values above 255, expected an 8-bit mask")
        mask = mask.astype(np.uint8)
    return mask


def to_model_input(image: np.ndarray, image_size: tuple[int, int] | list[int]) -> np.ndarray:
    """Resizes an (H, W, C) image to `image_size` and scales it to float32 in [0, 1].

    Downscaling uses area averaging, upscaling bilinear interpolation.
    """
    height, width = int(image_size[0]), int(image_size[1])
    scale = 65535.0 if image.dtype == np.uint16 else 255.0
    channels = image.shape[-1]
    if image.shape[:2] != (height, width):
        shrinking = image.shape[0] * image.shape[1] > height * width
        interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
        image = cv2.resize(image, (width, height), interpolation=interpolation)
    return (image.astype(np.float32) / scale).reshape(height, width, channels)


def to_model_target(mask: np.ndarray, image_size: tuple[int, int] | list[int], classes: int, threshold: int) -> np.ndarray:
    """Resizes a stored (H, W) mask (nearest) to the model's target, float32.

    Binary (`classes == 1`): (h, w, 1) with 1 where the stored value exceeds `threshold`.
    Multi-class: (h, w, classes) one-hot of the label values.
    """
    labels = to_label_map(mask, image_size, classes, threshold)[..., 0]
    if classes == 1:
        return labels[..., None].astype(np.float32)
    return np.eye(classes, dtype=np.float32)[labels]


def to_label_map(mask: np.ndarray, image_size: tuple[int, int] | list[int], classes: int, threshold: int) -> np.ndarray:
    """Stored (H, W) mask → (h, w, 1) uint8 labels at `image_size` (nearest-neighbour resize).

    Labels are {0, 1} for binary (`classes == 1`, above `threshold` is 1) or 0..K-1.
    """
    height, width = int(image_size[0]), int(image_size[1])
    labels = mask_to_labels(mask, classes, threshold)
    if labels.shape != (height, width):
        labels = cv2.resize(labels, (width, height), interpolation=cv2.INTER_NEAREST)
    return labels[..., None]


def mask_to_labels(mask: np.ndarray, classes: int, threshold: int) -> np.ndarray:
    """Stored mask values → uint8 labels: {0, 1} for binary, 0..K-1 for multi-class."""
    if classes == 1:
        return (mask > threshold).astype(np.uint8)
    return mask.astype(np.uint8)
