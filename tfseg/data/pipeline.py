"""tf.data pipelines: parallel decode → [cache] → resize or crop → augment → batch → prefetch."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import tensorflow as tf

from tfseg.config import DATA_DECIDED_KEYS, Config, DataConfig, make_config
from tfseg.data.augment import augment_batch
from tfseg.data.discovery import (
    check_crop_fits, decide_channels, decide_classes, decide_mask_threshold, load_dataset_table, mask_reader,
)
from tfseg.data.io import COLOUR_TABLE, LOSSY_SUFFIXES, MaskReader, read_image, resize_labels, to_model_input
from tfseg.transforms import parse_transforms
from tfseg.data.synthetic import demo_dataset_dir, write_demo_dataset
from tfseg.errors import TfsegError


def resolve_data_dir(data: DataConfig) -> Path:
    """The dataset folder of a config: `data.dir`, or the demo dataset (written if needed)."""
    if data.dir is not None:
        return Path(data.dir)
    size = max(data.image_size)
    return write_demo_dataset(demo_dataset_dir(data.demo_samples, size), samples=data.demo_samples, size=size)


def check_settled(data: DataConfig, keys: tuple[str, ...] = DATA_DECIDED_KEYS) -> None:
    """Raises `TfsegError` when a setting of `keys` left to the data (null) has not been
    decided (`settle_data`)."""
    unsettled = [key for key in keys if getattr(data, key.split(".")[1]) is None]
    if unsettled:
        raise TfsegError(f"{', '.join(unsettled)}: null, not decided yet; settle_data(data, load_table(data, seed)) "
                         "decides them from the dataset")


def masks_of(data: DataConfig) -> MaskReader:
    """How the config's dataset stores its masks (classes, threshold, classes.txt colours)."""
    check_settled(data)
    return mask_reader(resolve_data_dir(data), data.classes, data.mask_threshold)


def settle_data(data: DataConfig, table: pd.DataFrame) -> tuple[DataConfig, dict[str, str]]:
    """Decides the settings a config leaves to its dataset (null `DATA_DECIDED_KEYS`):
    channels from the images, classes from classes.txt, the mask threshold from the masks.

    Args:
        data: DataConfig. Its values set by the user stay.
        table: DataFrame. Its dataset's table (`load_table`).

    Returns:
        (a copy of `data` with every setting decided, {dotted key: where its decided value
        came from, e.g. `images (RGB)`, `classes.txt (4 names)`, `masks (0/1 values)`}).
    """
    decided = {}
    if data.channels is None:
        decided["channels"] = decide_channels(table)
    if data.classes is None:
        decided["classes"] = decide_classes(data.dir)
    if data.mask_threshold is None:
        decided["mask_threshold"] = decide_mask_threshold(table)
    settled = dataclasses.replace(data, **{key: value for key, (value, _) in decided.items()})
    return settled, {f"data.{key}": source for key, (_, source) in decided.items()}


_LOSSY_NOTED: set[str] = set()


def load_table(data: DataConfig, seed: int, sources: dict[str, str] | None = None) -> pd.DataFrame:
    """Discovers, splits and validates the dataset of a config, before anything trains.

    Besides `load_dataset_table`'s checks: `classes.txt` (if present) must name every class,
    and with `crop` and `pad_crops: false` every image must be at least the crop size. Says
    once per dataset and process when masks were read from a lossy format. Settings left
    to the data (null) are decided for the checks; `settle_data` gives them.

    Args:
        data: DataConfig. The data section.
        seed: int. Seed of a random split.
        sources: dict. Where each option's value came from (`tfseg.config.Config.sources`),
            so that advice is worded as the user sets options. Defaults to None.
    """
    source = resolve_data_dir(data)
    table = load_dataset_table(
        source,
        data.channels,
        data.classes,
        data.val_fraction,
        data.test_fraction,
        seed,
        mask_threshold=data.mask_threshold,
        mask_suffix=data.mask_suffix,
        stratify=data.stratify,
        folds=data.folds,
        fold=data.fold,
        sources=sources,
    )
    check_crop_fits(table, data.crop, data.pad_crops)
    data, _ = settle_data(data, table)
    lossy = table["mask_path"].str.lower().str.endswith(LOSSY_SUFFIXES)
    if lossy.any() and str(source) not in _LOSSY_NOTED:
        _LOSSY_NOTED.add(str(source))
        if (table.loc[lossy, "mask_encoding"] == COLOUR_TABLE).all():
            reading = "each pixel takes the label of the nearest classes.txt colour"
        elif data.classes == 1:
            reading = f"read as grey, foreground where the value is > {data.mask_threshold} (data.mask_threshold)"
        else:
            reading = "read as grey, the values as labels"
        print(f"tfseg: {int(lossy.sum())} of {len(table)} masks are JPEG, a lossy format: {reading}")
    return table


def split_rows(table: pd.DataFrame, split: str) -> pd.DataFrame:
    """The rows of one split; raises if it is empty."""
    rows = table[table["split"] == split]
    if rows.empty:
        counts = table["split"].value_counts().to_dict()
        raise TfsegError(f"split {split!r} is empty (ids per split: {counts})")
    return rows.reset_index(drop=True)


def grid_tiles(image: np.ndarray, crop: int) -> np.ndarray:
    """Covers an (H, W, C) image with crop x crop tiles: (N, crop, crop, C).

    Tiles start every `crop` pixels; the last row and column of tiles end at the image's
    edge (overlapping their neighbour) so no padding is needed. An image smaller than the
    crop is first zero-padded, centred, to the crop size.
    """
    image = pad_to_crop(image, crop)
    height, width = image.shape[:2]
    starts_y = sorted({*range(0, height - crop, crop), height - crop})
    starts_x = sorted({*range(0, width - crop, crop), width - crop})
    return np.stack([image[y : y + crop, x : x + crop] for y in starts_y for x in starts_x])


def _tile_count(length: int, crop: int) -> int:
    """Tiles `grid_tiles` places along one side of `length` pixels."""
    return max(1, -(-int(length) // crop))


def pad_to_crop(image: np.ndarray, crop: int) -> np.ndarray:
    """Zero-pads an (H, W, C) array, centred, to at least crop x crop."""
    pad_y, pad_x = max(0, crop - image.shape[0]), max(0, crop - image.shape[1])
    if not pad_y and not pad_x:
        return image
    return np.pad(image, [(pad_y // 2, pad_y - pad_y // 2), (pad_x // 2, pad_x - pad_x // 2), (0, 0)])


FOREGROUND_POINTS = 1000
"""Pixels of each foreground label that an image keeps for `data.foreground_crops` to centre crops on."""


def foreground_points(labels: np.ndarray, limit: int = FOREGROUND_POINTS) -> np.ndarray:
    """Up to `limit` pixels of each foreground label (> 0) of a label map, spread evenly
    over the label's pixels in raster order.

    Args:
        labels: (H, W) or (H, W, 1) integer label map.
        limit: int. Pixels kept per label. Defaults to `FOREGROUND_POINTS`.

    Returns:
        (P, 3) int32 rows (label, y, x); (0, 3) when the map holds no foreground.
    """
    labels = labels.reshape(labels.shape[:2])
    rows = []
    for label in np.flatnonzero(np.bincount(labels.ravel())[1:]) + 1:  # the labels present, as np.unique but faster
        ys, xs = np.nonzero(labels == label)
        keep = np.linspace(0, len(ys) - 1, min(limit, len(ys))).round().astype(int)
        rows.append(np.stack([np.full(len(keep), label), ys[keep], xs[keep]], axis=1))
    return np.concatenate(rows).astype(np.int32) if rows else np.zeros((0, 3), np.int32)


def _foreground_corner(
    points: tf.Tensor, limits: tf.Tensor, crop: int, share: float, seed: tf.Tensor, uniform: tuple[tf.Tensor, tf.Tensor]
) -> tuple[tf.Tensor, tf.Tensor]:
    """The top-left corner of a training crop: with probability `share` (when `points` holds
    any) one that centres the crop, jittered by up to crop / 4, on a pixel of a foreground label
    drawn at random among those present, then a pixel of it (nnU-Net's oversampling), clipped
    to `limits` (the largest corner, y and x); otherwise the `uniform` corner."""
    seeds = tf.random.experimental.stateless_split(seed, 5)

    def draw(index: int, low: int | tf.Tensor, high: int | tf.Tensor) -> tf.Tensor:
        return tf.random.stateless_uniform([], seeds[index], minval=low, maxval=high, dtype=tf.int32)

    def centred() -> tuple[tf.Tensor, tf.Tensor]:
        present, _ = tf.unique(points[:, 0])
        label = present[draw(1, 0, tf.size(present))]
        candidates = tf.boolean_mask(points, tf.equal(points[:, 0], label))
        point = candidates[draw(2, 0, tf.shape(candidates)[0])]
        reach = crop // 4  # the pixel stays inside the crop after jitter and clipping
        y = tf.clip_by_value(point[1] - crop // 2 + draw(3, -reach, reach + 1), 0, limits[0])
        x = tf.clip_by_value(point[2] - crop // 2 + draw(4, -reach, reach + 1), 0, limits[1])
        return y, x

    wanted = tf.random.stateless_uniform([], seeds[0]) < share
    return tf.cond(tf.logical_and(wanted, tf.shape(points)[0] > 0), centred, lambda: uniform)


def _random_crop(
    image: tf.Tensor, labels: tf.Tensor, crop: int, seed: tf.Tensor, points: tf.Tensor | None = None,
    foreground_share: float = 0.0,
) -> tuple[tf.Tensor, tf.Tensor]:
    """The same random crop x crop window of image and labels (padded first if smaller);
    with `points` (`foreground_points` of the labels), `foreground_share` of the crops are
    centred on foreground (`_foreground_corner`)."""
    height, width = tf.shape(image)[0], tf.shape(image)[1]
    padded_h, padded_w = tf.maximum(height, crop), tf.maximum(width, crop)
    top, left = (padded_h - height) // 2, (padded_w - width) // 2
    image = tf.image.pad_to_bounding_box(image, top, left, padded_h, padded_w)
    labels = tf.image.pad_to_bounding_box(labels, top, left, padded_h, padded_w)
    offsets = tf.random.stateless_uniform([2], seed=seed, minval=0, maxval=2**30, dtype=tf.int32)
    y = offsets[0] % (padded_h - crop + 1)
    x = offsets[1] % (padded_w - crop + 1)
    if points is not None:
        shifted = points + tf.stack([0, top, left])
        limits = tf.stack([padded_h - crop, padded_w - crop])
        y, x = _foreground_corner(shifted, limits, crop, foreground_share, seed, (y, x))
    image = tf.ensure_shape(image[y : y + crop, x : x + crop], (crop, crop, image.shape[-1]))
    return image, tf.ensure_shape(labels[y : y + crop, x : x + crop], (crop, crop, 1))


def _seeds(seed: int, pairs: bool) -> tf.data.Dataset:
    """An endless stream of random seeds (shape (2,) when `pairs`), new each epoch."""
    stream = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
    return stream.batch(2) if pairs else stream


def make_dataset(
    rows: pd.DataFrame, data: DataConfig, batch_size: int, training: bool, seed: int = 0, repeat: bool = False
) -> tf.data.Dataset:
    """Builds the tf.data pipeline of (image, mask) batches for the given rows.

    decode (parallel) → [cache] → [shuffle] → [repeat] → resize, or random crop (a share
    centred on foreground) / grid of crops → augment (TF engine: whole batches;
    albumentations: per image) → one-hot → prefetch.

    Images are float32 of shape (H, W, channels), H x W = `image_size` (or the crop), normalised
    as `data.normalize` says (`to_model_input`); masks float32 (H, W, 1) in {0, 1} for binary or
    one-hot (H, W, classes).

    Args:
        rows: DataFrame with image_path and mask_path columns.
        data: DataConfig. Size or crop, channels, classes, threshold, augmentation, engine,
            cache, determinism.
        batch_size: int. Batch size.
        training: bool. Shuffle, crop at random and augment (each epoch differently) when
            True; otherwise the rows in order, resized or as a grid of crops, unaugmented.
        seed: int. Seed of the shuffle order, the crops and the augmentation. Defaults to 0.
        repeat: bool. Training only: an endless stream of full batches, reshuffled at each pass over
            the rows, for a fixed number of steps per epoch (`train.steps_per_epoch`). Defaults to False.
    """
    size = tuple(data.image_size)
    crop, normalize = data.crop, data.normalize
    channels, masks = data.channels, masks_of(data)  # masks_of checks that the settings are decided
    transforms = parse_transforms(data.augment) if training else []
    with_points = bool(crop and training and data.foreground_crops)  # foreground pixels to centre crops on
    parallel = {"num_parallel_calls": tf.data.AUTOTUNE, "deterministic": data.deterministic}
    points_of: dict[str, np.ndarray] = {}  # each mask's foreground points, found on its first read only

    def load(image_path: bytes, mask_path: bytes) -> tuple[np.ndarray, ...]:
        image = read_image(image_path.decode(), channels)
        labels = masks.labels(mask_path.decode())
        if not crop:
            return to_model_input(image, size, normalize), resize_labels(labels, size)
        image = to_model_input(image, image.shape[:2], normalize)
        if with_points:
            path = mask_path.decode()
            if path not in points_of:
                points_of[path] = foreground_points(labels)
            return image, labels[..., None], points_of[path]
        if training:
            return image, labels[..., None]
        return grid_tiles(image, crop), grid_tiles(labels[..., None], crop)

    def load_pair(image_path: tf.Tensor, mask_path: tf.Tensor) -> tuple[tf.Tensor, ...]:
        types = [tf.float32, tf.uint8] + [tf.int32] * with_points
        image, labels, *points = tf.numpy_function(load, [image_path, mask_path], types, stateful=False)
        if not crop:
            shape = size
        elif training:
            shape = (None, None)
        else:
            shape = (None, crop, crop)
        image.set_shape((*shape, channels))
        labels.set_shape((*shape, 1))
        for found in points:
            found.set_shape((None, 3))
        return image, labels, *points

    def shuffled(dataset: tf.data.Dataset) -> tf.data.Dataset:
        dataset = dataset.shuffle(len(rows), seed=seed, reshuffle_each_iteration=True)
        return dataset.repeat() if repeat else dataset

    paths = tf.data.Dataset.from_tensor_slices((rows["image_path"].tolist(), rows["mask_path"].tolist()))
    if training and not data.cache:
        paths = shuffled(paths)
    dataset = paths.map(load_pair, **parallel)
    if data.cache:
        dataset = dataset.cache()
        if training:
            dataset = shuffled(dataset)
    if crop and training:
        dataset = tf.data.Dataset.zip((dataset, _seeds(seed + 1, pairs=True))).map(
            lambda loaded, crop_seed: _random_crop(
                *loaded[:2], crop, crop_seed, points=loaded[2] if with_points else None,
                foreground_share=data.foreground_crops,
            ),
            **parallel,
        )
    elif crop:
        dataset = dataset.unbatch()
        if {"height", "width"} <= set(rows.columns):  # a known length lets Keras size validation
            tiles = sum(_tile_count(h, crop) * _tile_count(w, crop) for h, w in zip(rows["height"], rows["width"]))
            dataset = dataset.apply(tf.data.experimental.assert_cardinality(tiles))
    if transforms and data.engine == "albumentations":
        from tfseg.data.albumentations_bridge import AlbumentationsAugmenter

        augmenter = AlbumentationsAugmenter(transforms, *size, clip=normalize == "scale")

        def augment_pair(pair: tuple[tf.Tensor, tf.Tensor], pair_seed: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            image, labels = tf.numpy_function(augmenter, [*pair, pair_seed], [tf.float32, tf.uint8], stateful=False)
            return tf.ensure_shape(image, pair[0].shape), tf.ensure_shape(labels, pair[1].shape)

        dataset = tf.data.Dataset.zip((dataset, _seeds(seed, pairs=False))).map(augment_pair, **parallel)
    dataset = dataset.batch(batch_size)
    if transforms and data.engine == "tf":
        dataset = tf.data.Dataset.zip((dataset, _seeds(seed, pairs=True))).map(
            lambda batch, batch_seed: augment_batch(*batch, transforms, batch_seed), **parallel
        )

    def to_targets(images: tf.Tensor, labels: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        if data.classes == 1:
            return images, tf.cast(labels, tf.float32)
        return images, tf.one_hot(tf.cast(labels[..., 0], tf.int32), data.classes, dtype=tf.float32)

    dataset = dataset.map(to_targets, **parallel)
    options = tf.data.Options()
    options.deterministic = data.deterministic
    return dataset.with_options(options).prefetch(tf.data.AUTOTUNE)


def model_inputs(rows: pd.DataFrame, data: DataConfig, count: int) -> list[np.ndarray]:
    """The first `count` model inputs of `rows` as the model sees them in validation:
    (H, W, C) float32 normalised as `data.normalize` says, resized to the input, or the grid
    of crops of a crop-trained run."""
    dataset = make_dataset(rows, data, batch_size=1, training=False).unbatch().take(count)
    return [image.numpy() for image, _ in dataset]


def targets_per_head(dataset: tf.data.Dataset, heads: int) -> tf.data.Dataset:
    """(image, mask) batches as (image, (mask,) * heads) for a model with `heads`
    outputs; unchanged for one."""
    if heads == 1:
        return dataset
    return dataset.map(lambda image, mask: (image, (mask,) * heads), num_parallel_calls=tf.data.AUTOTUNE)


def _shard_by_data(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """Multi-worker input: each worker takes every N-th batch (the file list is not sharded)."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def make_training_data(
    config: Config, train_rows: pd.DataFrame, val_rows: pd.DataFrame, heads: int
) -> tuple[tf.data.Dataset, tf.data.Dataset]:
    """The training and validation datasets, with one target per output head, sharded by data.
    With `train.steps_per_epoch` the training data repeats endlessly (the epoch is that many batches)."""
    settings = config.train
    train_data = make_dataset(train_rows, config.data, settings.batch_size, training=True, seed=settings.seed,
                              repeat=bool(settings.steps_per_epoch))
    val_data = make_dataset(val_rows, config.data, settings.batch_size, training=False)
    return tuple(_shard_by_data(targets_per_head(data, heads)) for data in (train_data, val_data))


def datasets(
    source: Config | str | Path | None = None, heads: int = 1, **settings
) -> tuple[tf.data.Dataset, tf.data.Dataset]:
    """The (train, val) datasets that `tfseg.train` fits on, to fit a model yourself:
    `model.fit(train, validation_data=val)`.

    Batches of `train.batch_size` as `make_dataset` makes them: images float32
    (batch, H, W, channels), normalised as `data.normalize` says (`to_model_input`); masks float32 (batch, H, W, 1) in {0, 1}, or one-hot
    (batch, H, W, classes). The train split is shuffled and augmented anew each epoch
    (seeded by `train.seed`), the val split in order and unaugmented.

    Args:
        source: a `Config`, a YAML config file, a dataset folder or CSV manifest, or None
            (the built-in demo data); see `tfseg.config.make_config`. Defaults to None.
        heads: int. Outputs of the model to fit: a deep-supervised U-Net++ takes the
            mask once per head. Defaults to 1.
        **settings: options by keyword, e.g. `image_size=[128, 128]`, `batch_size=16`,
            `augment="light"` (`tfseg.config.make_config`).

    Returns:
        (train, val): two `tf.data.Dataset`s of (images, masks) batches.
    """
    config = make_config(source, **settings)
    table = load_table(config.data, config.train.seed, config.sources)
    config.data, _ = settle_data(config.data, table)
    return make_training_data(config, split_rows(table, "train"), split_rows(table, "val"), heads)
