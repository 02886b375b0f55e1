"""The built-in demo dataset: procedurally generated lesion-like images, seeded.

Each image is a smooth, textured background with one to three blobs whose boundaries
are irregular (a radius perturbed by low-frequency harmonics), whose inside has its own
texture and contrast, plus a few unlabelled distractor spots, blur and sensor noise.
The mask is the union of the blobs. It is written in the same folder layout as real
data (`images/`, `masks/`, `splits.csv`), so the demo exercises the real pipeline.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from scipy import ndimage

from tfseg.files import cache_dir


def _smooth_noise(rng: np.random.Generator, size: int, sigma: float) -> np.ndarray:
    """Gaussian-filtered white noise scaled to [0, 1]."""
    field = ndimage.gaussian_filter(rng.standard_normal((size, size)), sigma)
    field -= field.min()
    return field / max(field.max(), 1e-8)


def _blob(rng: np.random.Generator, size: int) -> np.ndarray:
    """A boolean mask of one irregular, lesion-like blob."""
    cy, cx = rng.uniform(0.2, 0.8, 2) * size
    radius = rng.uniform(0.08, 0.2) * size
    yy, xx = np.mgrid[:size, :size]
    angle = np.arctan2(yy - cy, xx - cx)
    distance = np.hypot(yy - cy, xx - cx)
    boundary = np.ones_like(angle)
    for harmonic in range(2, 6):
        boundary += rng.uniform(0, 0.25 / harmonic * 2) * np.cos(harmonic * angle + rng.uniform(0, 2 * np.pi))
    elongation = rng.uniform(0.7, 1.3)
    stretched = np.hypot((yy - cy) * elongation, (xx - cx) / elongation)
    return (stretched < radius * boundary) | (distance < radius * 0.3)


def make_sample(seed: int, size: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """Generates one demo image and its mask.

    Args:
        seed: int. The sample's seed; the same seed gives the same pair.
        size: int. Side length in pixels. Defaults to 128.

    Returns:
        (image, mask): uint8 arrays of shape (size, size); mask values are 0 or 255.
    """
    rng = np.random.default_rng(seed)
    background = 0.35 + 0.25 * _smooth_noise(rng, size, size / 8) + 0.1 * _smooth_noise(rng, size, 2)
    mask = np.zeros((size, size), bool)
    for _ in range(rng.integers(1, 4)):
        mask |= _blob(rng, size)
    inside = 0.25 + 0.2 * _smooth_noise(rng, size, 3) * rng.uniform(0.5, 1.5)
    contrast = rng.choice([-1.0, 1.0]) * rng.uniform(0.15, 0.35)
    soft_mask = ndimage.gaussian_filter(mask.astype(float), 1.0)
    image = background + soft_mask * (contrast + inside - 0.35)
    for _ in range(rng.integers(2, 6)):  # distractors: small spots that are not lesions
        cy, cx = rng.uniform(0, size, 2)
        yy, xx = np.ogrid[:size, :size]
        spot = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * rng.uniform(1, 3) ** 2))
        image += rng.uniform(-0.3, 0.3) * spot
    image = ndimage.gaussian_filter(image, 0.7) + rng.normal(0, 0.04, image.shape)
    image = np.clip(image * 255, 0, 255).astype(np.uint8)
    return image, mask.astype(np.uint8) * 255


def write_demo_dataset(directory: str | Path, samples: int = 240, size: int = 128, seed: int = 0) -> Path:
    """Writes the demo dataset (`images/`, `masks/`, `splits.csv`) into `directory`.

    Written to a temporary folder first and renamed into place, so an interrupted write
    never leaves a half-complete dataset. An existing complete dataset is reused.

    Args:
        directory: str or Path. Target folder.
        samples: int. Number of image/mask pairs. Defaults to 240.
        size: int. Side length in pixels. Defaults to 128.
        seed: int. Dataset seed. Defaults to 0.

    Returns:
        The dataset folder.
    """
    directory = Path(directory)
    if (directory / "splits.csv").is_file():
        return directory
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".demo-", dir=directory.parent))
    try:
        (staging / "images").mkdir()
        (staging / "masks").mkdir()
        ids = [f"demo_{index:04d}" for index in range(samples)]
        for index, sample_id in enumerate(ids):
            image, mask = make_sample(seed * 1_000_003 + index, size)
            cv2.imwrite(str(staging / "images" / f"{sample_id}.png"), image)
            cv2.imwrite(str(staging / "masks" / f"{sample_id}.png"), mask)
        n_val = n_test = round(0.15 * samples)
        splits = ["val"] * n_val + ["test"] * n_test + ["train"] * (samples - n_val - n_test)
        pd.DataFrame({"id": ids, "split": splits}).to_csv(staging / "splits.csv", index=False)
        os.replace(staging, directory)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return directory


def demo_dataset_dir(samples: int, size: int = 128, seed: int = 0) -> Path:
    """The cache folder of the demo dataset with these settings (`$TFSEG_CACHE` or ~/.cache/tfseg)."""
    return cache_dir() / f"demo-n{samples}-s{size}-seed{seed}"
