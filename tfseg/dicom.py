"""Reading single-frame DICOM images for prediction (pydicom, the optional `dicom` extra).

Pixel values go through the modality LUT (rescale slope/intercept), then the VOI LUT or
the stored window (WindowCenter/WindowWidth); without either, the full value range is
used. MONOCHROME1 images (bright = low value) are inverted so that, as in MONOCHROME2
and in PNG training data, bone is bright.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tfseg.errors import TfsegError

DICOM_SUFFIXES = (".dcm", ".dicom")


def is_dicom(path: str | Path) -> bool:
    """True for a `.dcm`/`.dicom` file or any file with the DICM preamble marker."""
    path = Path(path)
    if path.suffix.lower() in DICOM_SUFFIXES:
        return True
    with path.open("rb") as handle:
        handle.seek(128)
        return handle.read(4) == b"DICM"


def read_dicom(path: str | Path) -> tuple[np.ndarray, tuple[float, float] | None]:
    """Reads a single-frame DICOM as a display-ready image and its pixel spacing.

    Args:
        path: str or Path. A DICOM file holding one 2D frame (grey or RGB).

    Returns:
        (image, spacing): image is (H, W, 1) uint16 for grey (windowed, scaled to the
        full uint16 range, MONOCHROME1 inverted) or (H, W, 3) uint8 for colour; spacing
        is (row, column) in mm from PixelSpacing or ImagerPixelSpacing, or None.
    """
    try:
        import pydicom
        from pydicom.pixels import apply_modality_lut, apply_voi_lut
    except ImportError as error:
        raise TfsegError(f"{path}: reading DICOM needs pydicom (pip install 'tfseg[dicom]')") from error
    try:
        dataset = pydicom.dcmread(path)
        pixels = dataset.pixel_array
    except Exception as error:  # pydicom raises many types for unreadable files
        raise TfsegError(f"{path}: cannot read DICOM pixel data ({error})") from error
    frames = int(dataset.get("NumberOfFrames", 1) or 1)
    samples = int(dataset.get("SamplesPerPixel", 1))
    if frames > 1:
        raise TfsegError(f"{path}: DICOM has {frames} frames, expected a single 2D image")
    spacing = dataset.get("PixelSpacing") or dataset.get("ImagerPixelSpacing")
    spacing = (float(spacing[0]), float(spacing[1])) if spacing else None
    if samples == 3:  # pydicom converts YCbCr to RGB when decoding
        return np.asarray(pixels, np.uint8).reshape(*pixels.shape[:2], 3), spacing
    values = apply_modality_lut(pixels, dataset).astype(np.float64)
    if "VOILUTSequence" in dataset:
        values = apply_voi_lut(values, dataset).astype(np.float64)
        low, high = float(values.min()), float(values.max())
    elif dataset.get("WindowWidth") is not None:
        low, high = _window_limits(dataset)
    else:
        low, high = float(values.min()), float(values.max())
    unit = np.clip((values - low) / (high - low), 0.0, 1.0) if high > low else np.zeros_like(values)
    if dataset.get("PhotometricInterpretation") == "MONOCHROME1":
        unit = 1.0 - unit
    return np.round(unit * 65535).astype(np.uint16)[..., None], spacing


def _first(value) -> float:
    """The first of a possibly multi-valued DICOM number."""
    return float(np.atleast_1d(value)[0])


def _window_limits(dataset) -> tuple[float, float]:
    """The value range shown by the first stored window (DICOM PS3.3 C.11.2.1.2, LINEAR)."""
    center, width = _first(dataset.WindowCenter), max(_first(dataset.WindowWidth), 1.0)
    return center - 0.5 - (width - 1) / 2, center - 0.5 + (width - 1) / 2
