"""tf.data pipelines: parallel decode → resize → augment → batch → prefetch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import tensorflow as tf

from tfseg.config import DataConfig
from tfseg.data.discovery import load_dataset_table
from tfseg.data.io import read_image, read_mask, to_model_input, to_model_target
from tfseg.data.synthetic import demo_dataset_dir, write_demo_dataset
from tfseg.errors import TfsegError


def resolve_data_dir(data: DataConfig) -> Path:
    """The dataset folder of a config: `data.dir`, or the demo dataset (written if needed)."""
    if data.dir is not None:
        return Path(data.dir)
    size = max(data.image_size)
    return write_demo_dataset(demo_dataset_dir(data.demo_samples, size), samples=data.demo_samples, size=size)


def load_table(data: DataConfig, seed: int) -> pd.DataFrame:
    """Discovers, splits and validates the dataset of a config (see `load_dataset_table`)."""
    return load_dataset_table(
        resolve_data_dir(data), data.channels, data.classes, data.val_fraction, data.test_fraction, seed
    )


def split_rows(table: pd.DataFrame, split: str) -> pd.DataFrame:
    """The rows of one split; raises if it is empty."""
    rows = table[table["split"] == split]
    if rows.empty:
        counts = table["split"].value_counts().to_dict()
        raise TfsegError(f"split {split!r} is empty (ids per split: {counts})")
    return rows.reset_index(drop=True)


def _random_flip(image: tf.Tensor, mask: tf.Tensor, seed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Flips image and mask left-right together with probability 1/2."""
    flip = tf.random.stateless_uniform([], seed=seed) < 0.5
    image = tf.where(flip, tf.reverse(image, axis=[1]), image)
    mask = tf.where(flip, tf.reverse(mask, axis=[1]), mask)
    return image, mask


def make_dataset(
    rows: pd.DataFrame, data: DataConfig, batch_size: int, training: bool, seed: int = 0
) -> tf.data.Dataset:
    """Builds the tf.data pipeline of (image, mask) batches for the given rows.

    Images are float32 in [0, 1] of shape (H, W, channels); masks float32 (H, W, 1) in
    {0, 1} for binary or one-hot (H, W, classes).

    Args:
        rows: DataFrame with image_path and mask_path columns.
        data: DataConfig. Size, channels, classes, threshold, augmentation.
        batch_size: int. Batch size.
        training: bool. Shuffle and augment (each epoch differently) when True.
        seed: int. Seed of the shuffle order and the augmentation. Defaults to 0.
    """
    size = tuple(data.image_size)
    target_channels = 1 if data.classes == 1 else data.classes

    def load(image_path: bytes, mask_path: bytes) -> tuple[np.ndarray, np.ndarray]:
        image = to_model_input(read_image(image_path.decode(), data.channels), size)
        mask = to_model_target(read_mask(mask_path.decode()), size, data.classes, data.mask_threshold)
        return image, mask

    def load_pair(image_path: tf.Tensor, mask_path: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        image, mask = tf.numpy_function(load, [image_path, mask_path], [tf.float32, tf.float32])
        image.set_shape((*size, data.channels))
        mask.set_shape((*size, target_channels))
        return image, mask

    paths = tf.data.Dataset.from_tensor_slices((rows["image_path"].tolist(), rows["mask_path"].tolist()))
    if training:
        paths = paths.shuffle(len(rows), seed=seed, reshuffle_each_iteration=True)
    dataset = paths.map(load_pair, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if training and data.augment == "flip":
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        dataset = tf.data.Dataset.zip((dataset, seeds)).map(
            lambda pair, pair_seed: _random_flip(*pair, pair_seed), num_parallel_calls=tf.data.AUTOTUNE
        )
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)
