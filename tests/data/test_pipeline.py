"""The tf.data pipeline: batches, one-hot masks, flips, seeds, crops and tiles; load_table's checks."""

import cv2
import numpy as np
import pytest

from tfseg.config import DataConfig
from tfseg.data import (
    grid_tiles, load_dataset_table, load_table, make_dataset, model_inputs, read_image, settle_data, split_rows, to_model_input,
)
from tfseg.errors import TfsegError


def _table(dataset):
    return load_dataset_table(dataset, 1, 1, 0.15, 0.15, 0)


def test_batches_are_shaped_and_scaled(tiny_dataset):
    table = _table(tiny_dataset)
    data, _ = settle_data(DataConfig(dir=str(tiny_dataset), image_size=[32, 48], channels=3), table)
    images, masks = next(iter(make_dataset(table, data, batch_size=5, training=True, seed=0)))
    assert images.shape == (5, 32, 48, 3) and images.dtype == "float32"
    assert masks.shape == (5, 32, 48, 1)
    assert 0.0 <= float(np.min(images)) and float(np.max(images)) <= 1.0
    assert set(np.unique(masks)) <= {0.0, 1.0}


def test_multiclass_masks_are_one_hot(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    labels = np.repeat(np.arange(4, dtype=np.uint8), 16)[None, :].repeat(64, 0)
    for i in range(3):
        cv2.imwrite(str(tmp_path / "images" / f"{i}.png"), labels * 60)
        cv2.imwrite(str(tmp_path / "masks" / f"{i}.png"), labels)
    table = load_dataset_table(tmp_path, 1, 4, 0.0, 0.0, 0)
    data, _ = settle_data(DataConfig(dir=str(tmp_path), image_size=[64, 64], classes=4, augment="none"), table)
    _, masks = next(iter(make_dataset(table, data, batch_size=3, training=False)))
    assert masks.shape == (3, 64, 64, 4)
    np.testing.assert_array_equal(np.argmax(masks[0], -1), labels)
    np.testing.assert_array_equal(np.sum(masks, -1), 1.0)


def test_flip_keeps_image_and_mask_aligned(tiny_dataset):
    table = _table(tiny_dataset)
    data, _ = settle_data(DataConfig(dir=str(tiny_dataset), image_size=[64, 64], augment="flip"), table)
    plain = make_dataset(table, data, batch_size=24, training=False)
    images_plain, masks_plain = next(iter(plain))
    flipped_seen = 0
    for images, masks in make_dataset(table, data, batch_size=24, training=True, seed=5).take(1):
        for image, mask in zip(images.numpy(), masks.numpy()):
            # find the same sample among the unaugmented ones, flipped or not
            for ref_image, ref_mask in zip(images_plain.numpy(), masks_plain.numpy()):
                if np.array_equal(image, ref_image):
                    np.testing.assert_array_equal(mask, ref_mask)
                    break
                if np.array_equal(image, ref_image[:, ::-1]):
                    np.testing.assert_array_equal(mask, ref_mask[:, ::-1])
                    flipped_seen += 1
                    break
            else:
                pytest.fail("augmented image matches no source image")
    assert 0 < flipped_seen < 24


def test_seeded_pipeline_is_reproducible(tiny_dataset):
    table = _table(tiny_dataset)
    data, _ = settle_data(DataConfig(dir=str(tiny_dataset), image_size=[32, 32]), table)
    first = next(iter(make_dataset(table, data, 8, training=True, seed=3)))[0].numpy()
    again = next(iter(make_dataset(table, data, 8, training=True, seed=3)))[0].numpy()
    np.testing.assert_array_equal(first, again)


def _label_dataset(folder, count=6, size=(40, 56), classes=4):
    """Images whose grey level encodes a label map with values 0..classes-1."""
    (folder / "images").mkdir(parents=True)
    (folder / "masks").mkdir()
    labels = (np.arange(size[1])[None, :] * classes // size[1]).repeat(size[0], 0).astype(np.uint8)
    for i in range(count):
        cv2.imwrite(str(folder / "images" / f"case{i}.png"), labels * 60)
        cv2.imwrite(str(folder / "masks" / f"case{i}.png"), labels)
    return folder


def test_classes_txt_threshold_and_empty_split_errors(tmp_path):
    folder = _label_dataset(tmp_path / "labels")
    (folder / "classes.txt").write_text("background\nlung\nheart\n")
    with pytest.raises(TfsegError, match=r"classes.txt: 3 class names, expected 4"):
        load_table(DataConfig(dir=str(folder), classes=4), seed=0)
    (folder / "classes.txt").write_text("background\nlung\nheart\nclavicle\n")
    table = load_table(DataConfig(dir=str(folder), classes=4, val_fraction=0.0, test_fraction=0.0), seed=0)
    with pytest.raises(TfsegError, match=r"split 'val' is empty"):
        split_rows(table, "val")
    with pytest.raises(TfsegError, match=r"classes.txt: 4 class names, expected 2 .*; for 4 names: pass --classes 4$"):
        load_table(DataConfig(dir=str(folder), classes=1), seed=0)
    with pytest.raises(TfsegError, match=r"; for 4 names: set data.classes: 4 in c.yaml$"):  # advice as the user set it
        load_table(DataConfig(dir=str(folder), classes=1), seed=0, sources={"data.classes": "config c.yaml"})
    (folder / "classes.txt").unlink()
    with pytest.raises(TfsegError, match=r"every mask is empty at data.mask_threshold 127 \(stored values found: \[0, 1, 2, 3\]\); "
                                         r"for label maps 0..3: pass --classes 4; for foreground stored as 3: pass --mask-threshold 2$"):
        load_table(DataConfig(dir=str(folder), classes=1), seed=0)


def test_crops_native_resolution_grid_validation_and_padding(tmp_path):
    folder = _label_dataset(tmp_path / "crops", count=5, size=(40, 56))
    data = DataConfig(dir=str(folder), image_size=[32, 32], crop=32, classes=4, augment="light", val_fraction=0.0, test_fraction=0.0)
    rows = load_table(data, seed=0)
    data, _ = settle_data(data, rows)
    images, masks = next(iter(make_dataset(rows, data, batch_size=5, training=True, seed=0)))
    assert images.shape == (5, 32, 32, 1) and masks.shape == (5, 32, 32, 4)
    np.testing.assert_array_equal(np.sum(masks, -1), 1.0)  # one-hot after augmenting the label map
    validation = make_dataset(rows, data, batch_size=7, training=False)
    assert int(validation.cardinality()) == 3  # known from the table: 20 tiles in batches of 7
    tiles = np.concatenate([m.numpy() for _, m in validation])
    assert len(tiles) == 5 * 4  # 56x40 covered by 2x2 overlapping 32x32 tiles per image
    labels = np.argmax(tiles[:4], -1)
    stored = cv2.imread(str(folder / "masks" / "case0.png"), cv2.IMREAD_GRAYSCALE)
    np.testing.assert_array_equal(labels[3], stored[8:40, 24:56])  # the last tile ends at the edge
    big, _ = settle_data(DataConfig(dir=str(folder), image_size=[48, 48], crop=48, classes=4, val_fraction=0.0,
                                    test_fraction=0.0), rows)
    images, _ = next(iter(make_dataset(rows, big, batch_size=2, training=True)))
    assert images.shape == (2, 48, 48, 1)  # 40 rows padded to 48
    big.pad_crops = False
    with pytest.raises(TfsegError, match=r"case0.png: image is 56x40, smaller than data.crop 48 with data.pad_crops false"):
        load_table(big, seed=0)


def test_datasets_are_those_training_fits_on(tiny_dataset):
    from tfseg import data
    from tfseg.config import make_config
    from tfseg.training import build_model

    settings = dict(image_size=[32, 32], batch_size=4, augment="none", model_options={"depth": 2, "base_filters": 4})
    train, val = data.datasets(tiny_dataset, **settings)
    config = make_config(tiny_dataset, **settings)
    table = load_table(config.data, config.train.seed)
    config.data, _ = settle_data(config.data, table)
    model = build_model(config)
    for dataset in (train, val):
        images, masks = dataset.element_spec
        assert images.shape == (None, *model.input_shape[1:]) and images.dtype == "float32"
        assert masks.shape == (None, *model.output_shape[1:]) and masks.dtype == "float32"
    assert sum(len(images) for images, _ in train) == len(split_rows(table, "train")) == 16
    expected_images, expected_masks = next(iter(make_dataset(split_rows(table, "val"), config.data, 4, training=False)))
    images, masks = next(iter(val))
    np.testing.assert_array_equal(images, expected_images)
    np.testing.assert_array_equal(masks, expected_masks)
    assert model.fit(train, validation_data=val, epochs=1, verbose=0, shuffle=False).history["val_loss"]
    _, heads = data.datasets(tiny_dataset, heads=2, **settings)
    assert len(heads.element_spec[1]) == 2


def test_datasets_of_labels_are_one_hot(tmp_path):
    from tfseg import data
    from tests.conftest import write_label_dataset

    train, _ = data.datasets(write_label_dataset(tmp_path / "labels"), classes=3, image_size=[32, 32], batch_size=2)
    images, masks = next(iter(train))
    assert images.shape == (2, 32, 32, 1) and masks.shape == (2, 32, 32, 3)
    np.testing.assert_array_equal(np.sum(masks, -1), 1.0)


def _square_dataset(folder, count=8, size=128, square=6):
    """`count` grey size x size images, each with one small bright square as its only foreground,
    and one 24x40 image (smaller than a 32 crop) with a square in a corner."""
    rng = np.random.default_rng(1)
    (folder / "images").mkdir(parents=True)
    (folder / "masks").mkdir()
    shapes = [(size, size)] * count + [(24, 40)]
    for i, shape in enumerate(shapes):
        mask = np.zeros(shape, np.uint8)
        y, x = rng.integers(0, shape[0] - square), rng.integers(0, shape[1] - square)
        mask[y : y + square, x : x + square] = 255
        cv2.imwrite(str(folder / "images" / f"s{i}.png"), mask // 2 + 40)
        cv2.imwrite(str(folder / "masks" / f"s{i}.png"), mask)
    return folder


def _crops_with_foreground(folder, share, seed=0, crops=360, **options):
    """Per crop of a seeded endless training stream of 32x32 crops: whether it holds foreground."""
    data = DataConfig(dir=str(folder), crop=32, image_size=[32, 32], augment="none", foreground_crops=share,
                      val_fraction=0.0, test_fraction=0.0, **options)
    rows = load_table(data, seed=0)
    data, _ = settle_data(data, rows)
    batches = make_dataset(rows, data, batch_size=9, training=True, seed=seed, repeat=True).take(crops // 9)
    masks = np.concatenate([masks.numpy() for _, masks in batches])
    return masks.reshape(len(masks), -1, masks.shape[-1])


@pytest.mark.slow
def test_foreground_crops_share_is_the_option_plus_the_uniform_chance(tmp_path):
    folder = _square_dataset(tmp_path / "squares")
    uniform = _crops_with_foreground(folder, 0.0).max(axis=1)[:, 0].mean()
    some = _crops_with_foreground(folder, 0.33, crops=1440).max(axis=1)[:, 0].mean()
    every = _crops_with_foreground(folder, 1.0).max(axis=1)[:, 0]
    assert 0.05 < uniform < 0.35  # a 6x6 square in a 128x128 image: rarely in a uniform 32x32 crop
    assert some == pytest.approx(0.33 + 0.67 * uniform, abs=0.035)
    assert every.all()  # each crop centred (jittered, clipped, padded small image too) on foreground


@pytest.mark.slow
def test_foreground_crops_are_deterministic_under_the_seed(tmp_path):
    folder = _square_dataset(tmp_path / "squares", count=3)
    first = _crops_with_foreground(folder, 0.5, seed=4, crops=36)
    np.testing.assert_array_equal(first, _crops_with_foreground(folder, 0.5, seed=4, crops=36))
    assert not np.array_equal(first, _crops_with_foreground(folder, 0.5, seed=5, crops=36))
    cached = _crops_with_foreground(folder, 1.0, seed=4, crops=36, cache=True)  # coordinates kept in the cache
    assert cached.shape == first.shape and cached.max(axis=1)[:, 0].all()


def test_foreground_crops_pick_a_present_class_first(tmp_path):
    """Class 1 covers most of each image, class 2 a 4x4 square: a class drawn first puts class 2
    in about half the crops, where a pixel drawn among all foreground pixels would almost never."""
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    for i in range(4):
        labels = np.ones((96, 96), np.uint8)
        labels[:8] = 0
        labels[40 + i * 10 : 44 + i * 10, 60:64] = 2
        cv2.imwrite(str(tmp_path / "images" / f"c{i}.png"), labels * 80)
        cv2.imwrite(str(tmp_path / "masks" / f"c{i}.png"), labels)
    one_hot = _crops_with_foreground(tmp_path, 1.0, classes=3)
    with_class_2 = one_hot[..., 2].max(axis=1).mean()
    assert 0.35 < with_class_2 < 0.75


def test_foreground_points_sample_each_label():
    from tfseg.data.pipeline import foreground_points

    labels = np.zeros((50, 60), np.uint8)
    labels[10:40, 5:55] = 1
    labels[45, 7] = 3
    points = foreground_points(labels, limit=100)
    assert points.dtype == np.int32 and points.shape == (101, 3)
    assert (labels[points[:, 1], points[:, 2]] == points[:, 0]).all()
    assert points[points[:, 0] == 1, 1].min() == 10 and points[points[:, 0] == 1, 1].max() == 39  # spread over the label
    assert foreground_points(np.zeros((4, 4), np.uint8)).shape == (0, 3)


def test_repeat_gives_full_fresh_batches_across_passes(tiny_dataset):
    rows = _table(tiny_dataset).head(5)
    data, _ = settle_data(DataConfig(dir=str(tiny_dataset), image_size=[16, 16], augment="none"), rows)
    batches = [images.numpy() for images, _ in make_dataset(rows, data, 4, training=True, seed=1, repeat=True).take(5)]
    assert [len(batch) for batch in batches] == [4] * 5  # 20 images: four passes over 5, no partial batch
    passes = np.concatenate(batches).reshape(4, 5, -1)
    assert not all(np.array_equal(passes[0], other) for other in passes[1:])  # reshuffled each pass
    for other in passes[1:]:  # each pass holds every image once
        assert sorted(map(bytes, passes[0])) == sorted(map(bytes, other))


def test_zscore_normalises_each_image_and_channel(tmp_path):
    """12-bit data stored as 16-bit: scale leaves it in [0, 0.0625]; zscore gives each image mean 0, std 1."""
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        image = rng.integers(200 + 500 * i, 4000, (40, 40, 3)).astype(np.uint16)
        cv2.imwrite(str(tmp_path / "images" / f"h{i}.png"), image)
        mask = np.zeros((40, 40), np.uint8)
        mask[10:20, 10:30] = 255
        cv2.imwrite(str(tmp_path / "masks" / f"h{i}.png"), mask)
    table = load_dataset_table(tmp_path, 3, 1, 0.0, 0.0, 0)
    scaled = DataConfig(dir=str(tmp_path), image_size=[32, 32], channels=3, classes=1, mask_threshold=127, augment="none")
    images, _ = next(iter(make_dataset(table, scaled, 3, training=False)))
    assert float(np.max(images)) < 4000 / 65535 + 1e-6
    zscore = DataConfig(dir=str(tmp_path), image_size=[32, 32], channels=3, classes=1, mask_threshold=127, augment="none",
                        normalize="zscore")
    images = next(iter(make_dataset(table, zscore, 3, training=False)))[0].numpy()
    np.testing.assert_allclose(images.mean(axis=(1, 2)), 0.0, atol=1e-4)
    np.testing.assert_allclose(images.std(axis=(1, 2)), 1.0, atol=1e-3)
    cropped = DataConfig(dir=str(tmp_path), image_size=[32, 32], crop=32, channels=3, classes=1, mask_threshold=127,
                         normalize="zscore")
    whole = to_model_input(read_image(table["image_path"].iloc[0], 3), (40, 40), "zscore")
    np.testing.assert_array_equal(model_inputs(table.head(1), cropped, 4), grid_tiles(whole, 32))  # whole image, then tiles
    flat = np.full((8, 8, 1), 700, np.uint16)
    np.testing.assert_array_equal(to_model_input(flat, (8, 8), "zscore"), 0.0)  # no division by zero
