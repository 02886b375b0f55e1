import shutil

import cv2
import numpy as np
import pandas as pd
import pytest

from tfseg.config import DataConfig
from tfseg.data import assign_splits, discover_pairs, load_dataset_table, make_dataset, read_image, validate_pairs
from tfseg.errors import TfsegError


def _copy(dataset, tmp_path):
    target = tmp_path / "copy"
    shutil.copytree(dataset, target)
    return target


def test_discovery_pairs_by_stem_and_honours_splits_csv(tiny_dataset):
    table = load_dataset_table(tiny_dataset, channels=1, classes=1, val_fraction=0.15, test_fraction=0.15, seed=0)
    assert len(table) == 24
    assert (table["image_path"].str.endswith(".png")).all()
    expected = pd.read_csv(tiny_dataset / "splits.csv").set_index("id")["split"]
    assert (table.set_index("id")["split"] == expected.loc[table["id"]]).all()
    assert set(table["height"]) == {64} and set(table["width"]) == {64}


def test_seeded_split_without_splits_csv(tiny_dataset, tmp_path):
    folder = _copy(tiny_dataset, tmp_path)
    (folder / "splits.csv").unlink()
    pairs = discover_pairs(folder)
    first = assign_splits(pairs, folder, 0.15, 0.15, seed=1)
    again = assign_splits(pairs, folder, 0.15, 0.15, seed=1)
    other = assign_splits(pairs, folder, 0.15, 0.15, seed=2)
    assert first["split"].tolist() == again["split"].tolist()
    assert first["split"].tolist() != other["split"].tolist()
    assert first["split"].value_counts().to_dict() == {"train": 16, "val": 4, "test": 4}


def test_missing_images_folder(tmp_path):
    (tmp_path / "masks").mkdir()
    with pytest.raises(TfsegError, match="no images/ folder"):
        discover_pairs(tmp_path)


def test_image_without_mask_and_mask_without_image(tiny_dataset, tmp_path):
    folder = _copy(tiny_dataset, tmp_path)
    (folder / "masks" / "demo_0003.png").unlink()
    with pytest.raises(TfsegError, match=r"no mask <id>.png for image\(s\) demo_0003.png"):
        discover_pairs(folder)
    shutil.copy(folder / "masks" / "demo_0004.png", folder / "masks" / "demo_0003.png")
    (folder / "images" / "demo_0005.png").unlink()
    with pytest.raises(TfsegError, match=r"no image for mask\(s\) demo_0005.png"):
        discover_pairs(folder)


def test_unreadable_image_is_named(tiny_dataset, tmp_path):
    folder = _copy(tiny_dataset, tmp_path)
    broken = folder / "images" / "demo_0002.png"
    broken.write_bytes(broken.read_bytes()[:40])  # truncated
    with pytest.raises(TfsegError, match="demo_0002.png: cannot decode image"):
        load_dataset_table(folder, 1, 1, 0.15, 0.15, 0)


def test_mask_size_mismatch_and_bad_label_are_named(tiny_dataset, tmp_path):
    folder = _copy(tiny_dataset, tmp_path)
    cv2.imwrite(str(folder / "masks" / "demo_0001.png"), np.zeros((10, 12), np.uint8))
    with pytest.raises(TfsegError, match=r"demo_0001.png: mask is 12x10, expected the image's size 64x64"):
        validate_pairs(discover_pairs(folder), 1, 1)
    cv2.imwrite(str(folder / "masks" / "demo_0001.png"), np.full((64, 64), 7, np.uint8))
    with pytest.raises(TfsegError, match="mask value 7 found, expected labels 0..3"):
        validate_pairs(discover_pairs(folder).query("id == 'demo_0001'"), 1, 4)


def test_formats_and_channel_conversion(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    for suffix in (".png", ".jpg", ".bmp", ".tif"):
        path = tmp_path / f"a{suffix}"
        cv2.imwrite(str(path), rgb)
        assert read_image(path, 3).shape == (20, 30, 3)
        assert read_image(path, 1).shape == (20, 30, 1)
    rgba = np.dstack([rgb, np.full((20, 30), 255, np.uint8)])
    cv2.imwrite(str(tmp_path / "rgba.png"), rgba)
    np.testing.assert_array_equal(read_image(tmp_path / "rgba.png", 3), rgb[..., ::-1])  # BGR on disk → RGB


def _table(dataset):
    return load_dataset_table(dataset, 1, 1, 0.15, 0.15, 0)


def test_batches_are_shaped_and_scaled(tiny_dataset):
    data = DataConfig(dir=str(tiny_dataset), image_size=[32, 48], channels=3)
    images, masks = next(iter(make_dataset(_table(tiny_dataset), data, batch_size=5, training=True, seed=0)))
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
    data = DataConfig(dir=str(tmp_path), image_size=[64, 64], classes=4, augment="none")
    _, masks = next(iter(make_dataset(table, data, batch_size=3, training=False)))
    assert masks.shape == (3, 64, 64, 4)
    np.testing.assert_array_equal(np.argmax(masks[0], -1), labels)
    np.testing.assert_array_equal(np.sum(masks, -1), 1.0)


def test_flip_keeps_image_and_mask_aligned(tiny_dataset):
    data = DataConfig(dir=str(tiny_dataset), image_size=[64, 64], augment="flip")
    table = _table(tiny_dataset)
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
    data = DataConfig(dir=str(tiny_dataset), image_size=[32, 32])
    table = _table(tiny_dataset)
    first = next(iter(make_dataset(table, data, 8, training=True, seed=3)))[0].numpy()
    again = next(iter(make_dataset(table, data, 8, training=True, seed=3)))[0].numpy()
    np.testing.assert_array_equal(first, again)
