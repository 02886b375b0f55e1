"""The tf.data pipeline: batches, one-hot masks, flips, seeds, crops and tiles; load_table's checks."""

import cv2
import numpy as np
import pytest

from tfseg.config import DataConfig
from tfseg.data import load_dataset_table, load_table, make_dataset, settle_data, split_rows
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
