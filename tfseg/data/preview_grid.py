"""`tfseg.data.preview` / `train.py --preview N`: a PNG of what the model is fed."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from tfseg.config import Config  # noqa: E402
from tfseg.data.io import to_display  # noqa: E402
from tfseg.data.pipeline import load_table, make_dataset, settle_data, split_rows  # noqa: E402
from tfseg.errors import TfsegError  # noqa: E402
from tfseg.files import atomic_path  # noqa: E402

PAIRS_PER_ROW = 4


def preview(config: Config, n: int, path: str | Path = "preview.png") -> Path:
    """Writes a PNG grid of `n` augmented training pairs, as the training pipeline makes them.

    Each pair is the image and the same image with its mask drawn over it (colour fill and
    outline; one colour per class), so a misaligned mask or a wrong label is visible.

    Args:
        config: Config. Data section (augmentation, crop, size, engine) and train.seed.
        n: int. Number of pairs (at most the number of training images).
        path: str or Path. PNG to write. Defaults to "preview.png".

    Returns:
        The path written.
    """
    if n < 1:
        raise TfsegError(f"--preview {n}: expected a number of pairs >= 1")
    table = load_table(config.data, config.train.seed, config.sources)
    data, _ = settle_data(config.data, table)
    dataset = make_dataset(split_rows(table, "train"), data, batch_size=n, training=True, seed=config.train.seed)
    images, masks = (np.asarray(t) for t in next(iter(dataset)))
    images = to_display(images)
    labels = masks[..., 0].astype(int) if masks.shape[-1] == 1 else np.argmax(masks, axis=-1)
    count = len(images)
    grid_rows = math.ceil(count / PAIRS_PER_ROW)
    columns = 2 * min(count, PAIRS_PER_ROW)
    height, width = images.shape[1:3]
    figure, axes = plt.subplots(
        grid_rows, columns, figsize=(columns * 2.2 * width / max(height, width), grid_rows * 2.2 * height / max(height, width)),
        squeeze=False,
    )
    colours = plt.get_cmap("tab10")
    for axis in axes.ravel():
        axis.axis("off")
    for index in range(count):
        row, column = divmod(index, PAIRS_PER_ROW)
        image = images[index, ..., 0] if images.shape[-1] == 1 else images[index]
        axes[row, 2 * column].imshow(image, cmap="gray", vmin=0, vmax=1)
        axes[row, 2 * column].set_title(f"#{index}", fontsize=7)
        overlay = axes[row, 2 * column + 1]
        overlay.imshow(image, cmap="gray", vmin=0, vmax=1)
        for label in np.unique(labels[index]):
            if label == 0:
                continue
            region = labels[index] == label
            colour = colours((int(label) - 1) % 10)
            overlay.imshow(np.ma.masked_where(~region, region), cmap=matplotlib.colors.ListedColormap([colour]), alpha=0.35)
            overlay.contour(region, levels=[0.5], colors=[colour], linewidths=0.7)
        overlay.set_title("mask", fontsize=7)
    augment = config.data.augment if isinstance(config.data.augment, str) else "custom list"
    figure.suptitle(f"augment: {augment} ({config.data.engine}), seed {config.train.seed}", fontsize=8)
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=120)
    plt.close(figure)
    return path
