"""Augmentation: both engines (tf and albumentations), alignment of image and mask, exactness,
seeds, and train.py with each preset. Transform parsing: tests/test_transforms.py."""

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from tfseg.cli import train_main
from tfseg.config import DataConfig
from tfseg.data import load_dataset_table, make_dataset, parse_transforms, settle_data
from tfseg.data.albumentations_bridge import AlbumentationsAugmenter
from tfseg.data.augment import augment_batch
from tfseg.transforms import MATRIX_TRANSFORMS, PRESETS, TRANSFORM_DEFAULTS

SIZE = 48
GEOMETRIC = [*MATRIX_TRANSFORMS, "elastic"]


def _shapes_batch(count: int = 4, channels: int = 1, seed: int = 0):
    """Images of a few large flat shapes (levels 0.2 / 0.8) and the label map drawn from them."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    images, labels = [], []
    for _ in range(count):
        cy, cx, radius = rng.uniform(14, 34), rng.uniform(14, 34), rng.uniform(8, 13)
        disk = (yy - cy) ** 2 + (xx - cx) ** 2 < radius**2
        bar = (yy > 36) & (xx > 6) & (xx < 30)  # an asymmetric second shape
        shape = disk | bar
        images.append(np.repeat(np.where(shape, 0.8, 0.2)[..., None], channels, -1))
        labels.append((disk * 1 + bar * 2).clip(0, 2)[..., None])
    return np.asarray(images, np.float32), np.asarray(labels, np.uint8)


def _tf_engine(images, labels, transforms, seed=(1, 2)):
    out_images, out_labels = augment_batch(tf.constant(images), tf.constant(labels), transforms, tf.constant(seed, tf.int64))
    return out_images.numpy(), out_labels.numpy()


def _albumentations_engine(images, labels, transforms, seed=7):
    augmenter = AlbumentationsAugmenter(transforms, SIZE, SIZE)
    pairs = [augmenter(image, label, np.int64(seed + i)) for i, (image, label) in enumerate(zip(images, labels))]
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])


ENGINES = {"tf": _tf_engine, "albumentations": _albumentations_engine}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", GEOMETRIC)
def test_geometry_keeps_mask_on_the_image_and_labels_valid(engine, name):
    """The label map is drawn from the image; after the transform it must still be."""
    images, labels = _shapes_batch()
    transforms = parse_transforms([{name: {"p": 1.0}}])
    out_images, out_labels = ENGINES[engine](images, labels, transforms)
    assert out_images.shape == images.shape and out_images.dtype == np.float32
    assert out_labels.shape == labels.shape and out_labels.dtype == np.uint8
    assert set(np.unique(out_labels)) <= {0, 1, 2}
    inside = out_images[..., 0] > 0.5
    drawn = out_labels[..., 0] > 0
    valid = out_images[..., 0] > 0.1  # outside the frame both are fill (0)
    agreement = np.mean(inside[valid] == drawn[valid])
    assert agreement > 0.97, f"{engine} {name}: image and mask agree on {agreement:.3f} of pixels"
    changed = np.mean(out_labels != labels)
    assert changed > 0.01, f"{engine} {name} with p=1 left the masks unchanged"


@pytest.mark.parametrize("engine", ENGINES)
def test_flips_rotate90_transpose_are_exact(engine):
    images, labels = _shapes_batch(count=3, channels=3)
    images = images + np.random.default_rng(0).uniform(0, 0.1, images.shape).astype(np.float32)  # texture
    references = {
        "horizontal_flip": [lambda a: a[:, ::-1]],
        "vertical_flip": [lambda a: a[::-1]],
        "transpose": [lambda a: np.swapaxes(a, 0, 1)],
        "rotate90": [lambda a, k=k: np.rot90(a, k) for k in range(4)],
    }
    for name, candidates in references.items():
        out_images, out_labels = ENGINES[engine](images, labels, parse_transforms([{name: {"p": 1.0}}]))
        for image, label, out_image, out_label in zip(images, labels, out_images, out_labels):
            matches = [f for f in candidates if np.array_equal(f(image), out_image) and np.array_equal(f(label), out_label)]
            assert matches, f"{engine} {name} is not an exact flip/rotation of image and mask together"


def test_pixel_transforms_leave_the_mask_and_stay_in_range():
    images, labels = _shapes_batch(channels=3)
    pixel = [n for n in TRANSFORM_DEFAULTS if n not in GEOMETRIC]
    for engine in ENGINES:
        for name in pixel:
            out_images, out_labels = ENGINES[engine](images, labels, parse_transforms([{name: {"p": 1.0}}]))
            assert np.array_equal(out_labels, labels), f"{engine} {name} changed the mask"
            assert 0.0 <= out_images.min() and out_images.max() <= 1.0, f"{engine} {name} left [0, 1]"
            assert not np.allclose(out_images, images), f"{engine} {name} with p=1 changed nothing"


def test_probability_zero_is_identity_and_seed_fixes_the_batch():
    images, labels = _shapes_batch(count=6)
    off = parse_transforms([{name: {"p": 0.0}} for name in TRANSFORM_DEFAULTS if name not in ("rotate90", "transpose")])
    out_images, out_labels = _tf_engine(images, labels, off)
    np.testing.assert_allclose(out_images, images, atol=1e-6)
    np.testing.assert_array_equal(out_labels, labels)
    heavy = parse_transforms("heavy")
    first, again, other = (_tf_engine(images, labels, heavy, seed)[0] for seed in [(3, 4), (3, 4), (5, 6)])
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def _graph_engine(transforms):
    """augment_batch traced into one graph, as tf.data runs it (its kernels may differ from eager)."""
    compiled = tf.function(lambda images, labels, seed: augment_batch(images, labels, transforms, seed))
    return lambda images, labels, seed: [t.numpy() for t in compiled(tf.constant(images), tf.constant(labels), tf.constant(seed, tf.int64))]


def _unchanged(images, labels, out_images, out_labels):
    """(B,) bool: which images (and their label maps) came out exactly as they went in."""
    return np.array([np.array_equal(a, b) and np.array_equal(c, d) for a, b, c, d in zip(images, out_images, labels, out_labels)])


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("name", list(TRANSFORM_DEFAULTS))
def test_each_transform_handles_none_some_and_all_of_a_batch_drawn(name, batch):
    """p = 0 is the identity, p = 1 changes every image, and p = 0.3 over many seeds draws batches
    with no image, some and (batch 1) every image, each image either exact or changed; in eager mode
    and in a graph. An empty draw once reached a depthwise convolution with zero channels."""
    images, labels = _shapes_batch(count=batch, channels=3)
    images = images + np.random.default_rng(batch).uniform(0, 0.1, images.shape).astype(np.float32)  # texture
    for p in (0.0, 1.0):
        out_images, out_labels = _tf_engine(images, labels, parse_transforms([{name: {"p": p}}]))
        unchanged = _unchanged(images, labels, out_images, out_labels)
        if p == 0.0:
            assert unchanged.all(), f"{name} with p=0 changed an image of a batch of {batch}"
        elif name != "rotate90":  # a drawn rotate90 may turn by 0 quarters
            assert not unchanged.any(), f"{name} with p=1 left an image of a batch of {batch} unchanged"
    graph = _graph_engine(parse_transforms([{name: {"p": 0.3}}]))
    drawn_counts = []
    for seed in range(24):
        out_images, out_labels = graph(images, labels, (seed, 7))
        assert out_images.shape == images.shape and out_labels.shape == labels.shape
        assert 0.0 <= out_images.min() and out_images.max() <= 1.0
        assert set(np.unique(out_labels)) <= {0, 1, 2}
        drawn_counts.append(int((~_unchanged(images, labels, out_images, out_labels)).sum()))
    assert 0 in drawn_counts, f"{name}: no seed of 24 drew an empty batch of {batch}; the case is not exercised"
    assert max(drawn_counts) > 0, f"{name} with p=0.3 never changed an image in 24 batches"


@pytest.fixture(scope="module")
def tiny_table(tiny_dataset):
    return load_dataset_table(tiny_dataset, 3, 1, 0.15, 0.15, 0)


@pytest.mark.parametrize("engine", ENGINES)
def test_heavy_preset_in_the_pipeline_gives_configured_shapes(tiny_dataset, tiny_table, engine):
    data, _ = settle_data(DataConfig(dir=str(tiny_dataset), image_size=[32, 48], channels=3, augment="heavy", engine=engine),
                          tiny_table)
    dataset = make_dataset(tiny_table, data, batch_size=6, training=True, seed=1)
    assert [spec.shape.as_list() for spec in dataset.element_spec] == [[None, 32, 48, 3], [None, 32, 48, 1]]  # static
    images, masks = next(iter(dataset))
    assert images.shape == (6, 32, 48, 3) and images.dtype == tf.float32
    assert masks.shape == (6, 32, 48, 1) and masks.dtype == tf.float32
    assert set(np.unique(masks)) <= {0.0, 1.0}
    assert 0.0 <= float(tf.reduce_min(images)) and float(tf.reduce_max(images)) <= 1.0


@pytest.mark.parametrize("engine", ENGINES)
def test_seeded_augmented_pipeline_repeats(tiny_dataset, tiny_table, engine):
    data, _ = settle_data(DataConfig(dir=str(tiny_dataset), image_size=[32, 32], augment="medium", engine=engine), tiny_table)
    rows = tiny_table[tiny_table["split"] == "train"]

    def first_batch(seed):
        return next(iter(make_dataset(rows, data, 8, training=True, seed=seed)))[0].numpy()

    np.testing.assert_array_equal(first_batch(3), first_batch(3))
    assert not np.array_equal(first_batch(3), first_batch(4))


@pytest.mark.slow
@pytest.mark.parametrize("preset", list(PRESETS))
def test_train_py_trains_with_each_preset(preset, tiny_dataset, tmp_path):
    """train.py's command line (in this process), one epoch of batches of 2 (heavy's elastic, p 0.3, draws no
    image in about half of them)."""
    options = tmp_path / "tiny.yaml"
    options.write_text("model:\n  options: {depth: 2, base_filters: 4}\ntrain:\n  tensorboard_images: 0\n")
    run_dir = tmp_path / "run"
    assert train_main(["--model", "unet", "--config", str(options), "--data", str(tiny_dataset), "--channels", "1",
                       "--image-size", "32", "32", "--epochs", "1", "--batch-size", "2", "--augment", preset,
                       "--run-dir", str(run_dir)]) == 0
    assert pd.read_csv(run_dir / "history.csv")["epoch"].tolist() == [1]


@pytest.mark.parametrize("engine", ENGINES)
def test_geometric_transforms_keep_z_scored_intensities(engine):
    """`data.normalize: zscore` inputs (negative and above 1) are moved, not clipped to [0, 1]."""
    images, labels = _shapes_batch(count=2)
    zscored = (images - 0.5) * 4  # -1.2 and 1.2
    transforms = parse_transforms([{"horizontal_flip": {"p": 1.0}}])
    if engine == "albumentations":
        augmenter = AlbumentationsAugmenter(transforms, SIZE, SIZE, clip=False)
        out = np.stack([augmenter(image, label, np.int64(3))[0] for image, label in zip(zscored, labels)])
    else:
        out, _ = _tf_engine(zscored, labels, transforms)
    np.testing.assert_allclose(out, zscored[:, :, ::-1], atol=1e-6)
