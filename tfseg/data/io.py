"""Reading images and masks from disk, and turning them into model input.

One implementation is shared by discovery (validation), the tf.data pipeline, evaluation
and inference, so training and prediction see identical preprocessing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from tfseg.config import NORMALIZATIONS
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


GREY, PALETTE, COLOUR_TABLE = "grey levels", "palette indices", "RGB colour table"
"""The encodings `read_mask` reports: stored grey values, or labels (palette indices, colours of a table)."""

LOSSY_SUFFIXES = (".jpg", ".jpeg")
"""Mask files whose values a lossy codec has blurred: read as grey (or the nearest table colour)."""

Color = tuple[int, int, int]


def _palette_values(path: Path) -> tuple[np.ndarray, str] | None:
    """A palette file's indices (and GREY when its palette is the identity grey ramp), or None."""
    try:
        with Image.open(path) as image:
            if image.mode not in ("P", "PA"):
                return None
            indices = np.asarray(image.getchannel(0) if image.mode == "PA" else image, dtype=np.uint8)
            palette = np.asarray(image.getpalette() or [], dtype=np.int32).reshape(-1, 3)
    except (OSError, ValueError):  # not a format PIL opens; OpenCV decodes it below
        return None
    used = np.unique(indices)
    identity = used.max() < len(palette) and (palette[used] == used[:, None]).all()
    return indices, (GREY if identity else PALETTE)


def _unpack_rgb(code: int) -> Color:
    """The (R, G, B) of a colour packed as R << 16 | G << 8 | B."""
    return (code >> 16) & 255, (code >> 8) & 255, code & 255


def _colour_labels(path: Path, rgb: np.ndarray, colors: tuple[Color, ...]) -> np.ndarray:
    """Labels of an (H, W, 3) RGB mask from its label colours (the nearest one for lossy files)."""
    table = np.asarray(colors, dtype=np.int32)
    if path.suffix.lower() in LOSSY_SUFFIXES:
        distances = ((rgb[:, :, None, :].astype(np.int32) - table) ** 2).sum(axis=-1)
        return distances.argmin(axis=-1).astype(np.uint8)
    codes = (rgb[..., 0].astype(np.int32) << 16) | (rgb[..., 1].astype(np.int32) << 8) | rgb[..., 2]
    found, inverse = np.unique(codes, return_inverse=True)
    table_codes = (table[:, 0] << 16) | (table[:, 1] << 8) | table[:, 2]
    unknown = [_unpack_rgb(int(code)) for code in found if code not in table_codes]
    if unknown:
        listed = ", ".join(str(tuple(color)) for color in colors)
        raise TfsegError(
            f"{path}: mask colour(s) {', '.join(map(str, unknown[:8]))} not in the colour table of classes.txt ({listed})"
        )
    label_of = {int(code): label for label, code in enumerate(table_codes)}
    return np.array([label_of[int(code)] for code in found], dtype=np.uint8)[inverse].reshape(codes.shape)


def read_mask(path: str | Path, colors: tuple[Color, ...] = ()) -> tuple[np.ndarray, str]:
    """Reads a mask file as (H, W) uint8 values and the encoding they were stored in.

    - Palette files (PNG/GIF/BMP/TIFF mode P, the PASCAL VOC convention): the indices, whatever
      their colours (PALETTE). A palette that is the grey ramp (index i drawn as grey i) is GREY.
    - Grey files (8-bit, or 16-bit with values up to 255), and RGB(A) files whose pixels are all
      grey: the grey values (GREY).
    - RGB(A) files in colour: the label of each colour in `colors` (COLOUR_TABLE); without a
      table, or with a colour missing from it, a one-line error lists the colours found.
    - Lossy files (JPEG): read as grey (GREY), or mapped to the nearest colour of `colors`.

    Args:
        path: str or Path. The mask file (any format `read_image` reads).
        colors: tuple of (R, G, B). The colour of label 0, 1, … (classes.txt). Defaults to ().

    Returns:
        (values, encoding): labels for PALETTE and COLOUR_TABLE; stored grey values for GREY.
    """
    path = Path(path)
    lossy = path.suffix.lower() in LOSSY_SUFFIXES
    if lossy and not colors:
        return _imread(path, cv2.IMREAD_GRAYSCALE), GREY
    if not lossy:
        palette = _palette_values(path)
        if palette is not None:
            return palette
    stored = _imread(path, cv2.IMREAD_UNCHANGED)
    if stored.dtype != np.uint8:
        if stored.max() > 255:
            raise TfsegError(f"{path}: mask values above 255, expected an 8-bit mask")
        stored = stored.astype(np.uint8)
    if stored.ndim == 2:
        return stored, GREY
    rgb = cv2.cvtColor(stored[..., :3], cv2.COLOR_BGR2RGB) if stored.shape[-1] >= 3 else np.repeat(stored[..., :1], 3, -1)
    if colors:
        return _colour_labels(path, rgb, colors), COLOUR_TABLE
    if (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all():
        return rgb[..., 0].copy(), GREY
    found = np.unique(rgb.reshape(-1, 3), axis=0)
    shown = ", ".join(str(tuple(int(c) for c in color)) for color in found[:8])
    raise TfsegError(
        f"{path}: RGB mask in colour ({len(found)} colours: {shown}{', …' if len(found) > 8 else ''}); "
        f"expected grey levels or palette indices, or each label's colour in classes.txt (lines 'name R G B')"
    )


@dataclass(frozen=True)
class MaskReader:
    """How a dataset's mask files become labels: {0, 1} for binary, 0..K-1 for K classes.

    Binary (`classes == 1`): a grey value above `threshold` is foreground; for labels (palette
    indices, table colours) every label above 0 is. Multi-class: values are the labels.

    Attributes:
        classes: int. 1 (binary) or K.
        threshold: int or None. Binary grey masks: a stored value above it is foreground;
            None until `tfseg.data.validate_pairs` decides it from the masks.
        colors: tuple of (R, G, B). Colour of each label for RGB masks (classes.txt); () for none.
    """

    classes: int = 1
    threshold: int | None = 127
    colors: tuple[Color, ...] = ()

    def read(self, path: str | Path) -> tuple[np.ndarray, str]:
        """(values, encoding) of one mask file (see `read_mask`)."""
        return read_mask(path, self.colors)

    def to_labels(self, values: np.ndarray, encoding: str) -> np.ndarray:
        """Values read by `read` → (H, W) uint8 labels."""
        if self.classes > 1:
            return values
        return (values > (self.threshold if encoding == GREY else 0)).astype(np.uint8)

    def labels(self, path: str | Path) -> np.ndarray:
        """The (H, W) uint8 label map of one mask file."""
        return self.to_labels(*self.read(path))


ZSCORE_EPS = 1e-8
"""The least standard deviation `zscore` divides by (nnU-Net's), so a flat image stays finite (all zeros)."""


def to_model_input(image: np.ndarray, image_size: tuple[int, int] | list[int], normalize: str = "scale") -> np.ndarray:
    """Resizes an (H, W, C) image to `image_size` and normalises it to float32.

    Downscaling uses area averaging, upscaling bilinear interpolation. Then `normalize`:
    "scale" divides by the dtype's maximum (65535 for 16-bit, else 255) to [0, 1] (float
    images are taken as in [0, 1] already);
    "zscore" subtracts each channel's mean over the resized image and divides by its
    standard deviation (at least `ZSCORE_EPS`).
    """
    height, width = int(image_size[0]), int(image_size[1])
    scale = 1.0 if image.dtype.kind == "f" else 65535.0 if image.dtype == np.uint16 else 255.0
    channels = image.shape[-1]
    if image.shape[:2] != (height, width):
        shrinking = image.shape[0] * image.shape[1] > height * width
        interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
        image = cv2.resize(image, (width, height), interpolation=interpolation)
    pixels = image.astype(np.float32).reshape(height, width, channels)
    if normalize == "zscore":
        mean = pixels.mean(axis=(0, 1), dtype=np.float64)
        std = pixels.std(axis=(0, 1), dtype=np.float64)
        return ((pixels - mean) / np.maximum(std, ZSCORE_EPS)).astype(np.float32)
    if normalize != "scale":
        raise TfsegError(f"normalize {normalize!r}: expected one of {', '.join(NORMALIZATIONS)}")
    return pixels / scale


def to_display(images: np.ndarray) -> np.ndarray:
    """Model inputs, one image or a batch (..., H, W, C), as float32 images in [0, 1] to look
    at: inputs already in [0, 1] (`scale`) as they are, others (`zscore`) each image stretched
    from its lowest to its highest value."""
    images = np.asarray(images, np.float32)
    if images.size == 0 or (images.min() >= 0 and images.max() <= 1):
        return images
    low = images.min(axis=(-3, -2, -1), keepdims=True)
    high = images.max(axis=(-3, -2, -1), keepdims=True)
    return (images - low) / np.maximum(high - low, ZSCORE_EPS)


def resize_labels(labels: np.ndarray, image_size: tuple[int, int] | list[int]) -> np.ndarray:
    """(H, W) labels → (h, w, 1) uint8 labels at `image_size` (nearest-neighbour resize)."""
    height, width = int(image_size[0]), int(image_size[1])
    if labels.shape != (height, width):
        labels = cv2.resize(labels, (width, height), interpolation=cv2.INTER_NEAREST)
    return labels[..., None]
