import shutil

import cv2
import numpy as np
import pandas as pd
import pytest

from tfseg.config import DataConfig
from tfseg.data import (
    assign_splits,
    discover_pairs,
    load_dataset_table,
    load_table,
    make_dataset,
    read_image,
    split_rows,
    validate_pairs,
)
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


# --- manifests, stratified splits, folds, classes.txt, crops, inspect, preview -------------------------


def _label_dataset(folder, count=6, size=(40, 56), classes=4):
    """Images whose grey level encodes a label map with values 0..classes-1."""
    (folder / "images").mkdir(parents=True)
    (folder / "masks").mkdir()
    labels = (np.arange(size[1])[None, :] * classes // size[1]).repeat(size[0], 0).astype(np.uint8)
    for i in range(count):
        cv2.imwrite(str(folder / "images" / f"case{i}.png"), labels * 60)
        cv2.imwrite(str(folder / "masks" / f"case{i}.png"), labels)
    return folder


def test_csv_manifest_with_relative_paths_and_split_column(tiny_dataset, tmp_path):
    splits = pd.read_csv(tiny_dataset / "splits.csv")
    manifest = pd.DataFrame({
        "image": [f"{tiny_dataset.name}/images/{i}.png" for i in splits["id"]],
        "mask": [f"{tiny_dataset.name}/masks/{i}.png" for i in splits["id"]],
        "split": splits["split"],
        "site": ["a", "b"] * 12,
    })
    csv = tiny_dataset.parent / "manifest.csv"
    manifest.to_csv(csv, index=False)
    table = load_dataset_table(csv, 1, 1, 0.15, 0.15, 0)
    assert sorted(table["id"]) == sorted(splits["id"])
    assert table.set_index("id")["split"].to_dict() == splits.set_index("id")["split"].to_dict()
    assert "site" in table.columns
    manifest.loc[3, "mask"] = "nowhere.png"
    bad = tmp_path / "bad.csv"
    manifest.to_csv(bad, index=False)
    bad_copy = tiny_dataset.parent / "bad.csv"
    shutil.copy(bad, bad_copy)
    with pytest.raises(TfsegError, match=r"bad.csv line 5: mask file .*nowhere.png does not exist"):
        discover_pairs(bad_copy)
    (tmp_path / "cols.csv").write_text("img,msk\na.png,b.png\n")
    with pytest.raises(TfsegError, match=r"expected columns image,mask\[,split\]"):
        discover_pairs(tmp_path / "cols.csv")


def test_stratified_split_and_k_folds(tiny_dataset, tmp_path):
    folder = _copy(tiny_dataset, tmp_path)
    (folder / "splits.csv").unlink()
    pairs = discover_pairs(folder)
    groups = ["A"] * 16 + ["B"] * 8
    pd.DataFrame({"id": pairs["id"], "site": groups}).to_csv(folder / "labels.csv", index=False)
    split = assign_splits(pairs, folder, 0.25, 0.25, seed=0, stratify="site")
    by_group = pd.crosstab(pd.Series(groups, name="site"), split["split"].to_numpy())
    assert by_group.loc["A"].to_dict() == {"test": 4, "train": 8, "val": 4}
    assert by_group.loc["B"].to_dict() == {"test": 2, "train": 4, "val": 2}
    validated = []
    for fold in range(4):
        folded = assign_splits(pairs, folder, 0.15, 0.25, seed=0, stratify="site", folds=4, fold=fold)
        assert (folded["split"] == "test").sum() == 6  # test is held out the same way in every fold
        np.testing.assert_array_equal(folded["split"] == "test", split["split"] == "test")
        validated += folded.loc[folded["split"] == "val", "id"].tolist()
        per_group = pd.Series(groups)[(folded["split"] == "val").to_numpy()].value_counts()
        assert per_group["A"] == 3 and per_group["B"] in (1, 2)  # 12 A and 6 B ids dealt into 4 folds
    non_test = pairs.loc[split["split"] != "test", "id"]
    assert sorted(validated) == sorted(non_test)  # every non-test id validates exactly once
    with pytest.raises(TfsegError, match="no column 'scanner'"):
        assign_splits(pairs, folder.parent, 0.15, 0.15, seed=0, stratify="scanner")
    prefix = assign_splits(pairs.assign(id=[f"{g}x_{i}" for i, g in enumerate(groups)]), folder, 0.25, 0.25, 0, stratify="prefix")
    assert prefix["split"].value_counts().to_dict() == {"train": 12, "val": 6, "test": 6}


def test_classes_txt_threshold_and_empty_split_errors(tmp_path):
    folder = _label_dataset(tmp_path / "labels")
    (folder / "classes.txt").write_text("background\nlung\nheart\n")
    with pytest.raises(TfsegError, match=r"classes.txt: 3 class names, expected 4"):
        load_table(DataConfig(dir=str(folder), classes=4), seed=0)
    (folder / "classes.txt").write_text("background\nlung\nheart\nclavicle\n")
    table = load_table(DataConfig(dir=str(folder), classes=4, val_fraction=0.0, test_fraction=0.0), seed=0)
    with pytest.raises(TfsegError, match=r"split 'val' is empty"):
        split_rows(table, "val")
    with pytest.raises(TfsegError, match=r"every mask is empty at data.mask_threshold 127 \(stored values found: \[0, 1, 2, 3\]\)"):
        load_table(DataConfig(dir=str(folder), classes=1), seed=0)


def test_crops_native_resolution_grid_validation_and_padding(tmp_path):
    folder = _label_dataset(tmp_path / "crops", count=5, size=(40, 56))
    data = DataConfig(dir=str(folder), image_size=[32, 32], crop=32, classes=4, augment="light", val_fraction=0.0, test_fraction=0.0)
    rows = load_table(data, seed=0)
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
    big = DataConfig(dir=str(folder), image_size=[48, 48], crop=48, classes=4, val_fraction=0.0, test_fraction=0.0)
    images, _ = next(iter(make_dataset(rows, big, batch_size=2, training=True)))
    assert images.shape == (2, 48, 48, 1)  # 40 rows padded to 48
    big.pad_crops = False
    with pytest.raises(TfsegError, match=r"case0.png: image is 56x40, smaller than data.crop 48 with data.pad_crops false"):
        load_table(big, seed=0)


def test_config_checks_crop_and_folds():
    from tfseg.config import load_config

    with pytest.raises(TfsegError, match=r"data.image_size \(the model input\) must be \[64, 64\]"):
        load_config(None, {"data.crop": 64})
    with pytest.raises(TfsegError, match="data.folds: expected 0"):
        load_config(None, {"data.folds": 1})
    with pytest.raises(TfsegError, match=r"data.fold: expected 0..4"):
        load_config(None, {"data.folds": 5, "data.fold": 5})


def test_inspect_and_preview_from_the_command_line(tiny_dataset, tmp_path, capsys):
    from tfseg.cli import train_main

    png = tmp_path / "grid.png"
    argv = ["--data", str(tiny_dataset), "--image-size", "32", "32", "--augment", "medium"]
    assert train_main([*argv, "--inspect", "--preview", "3", "--preview-path", str(png)]) == 0
    out = capsys.readouterr().out
    assert "24 image/mask pairs" in out and "train        16" in out and "image sizes (W x H): 64x64 (24)" in out
    assert "mask values (masks containing each): 0 (24), 255 (24)" in out and "no problems found" in out
    picture = cv2.imread(str(png))
    assert picture is not None and picture.shape[1] > picture.shape[0]
    broken = _copy(tiny_dataset, tmp_path)
    (broken / "masks" / "demo_0007.png").write_bytes(b"not a png")
    assert train_main(["--data", str(broken), "--inspect"]) == 2
    assert "demo_0007.png: cannot decode image" in capsys.readouterr().err


def test_inspect_real_multiclass_dataset():
    from tfseg.config import load_config
    from tfseg.data import dataset_summary

    from conftest import shared_dataset

    folder = shared_dataset("jsrt-multiclass")
    text = dataset_summary(load_config(None, {"data.dir": str(folder), "data.classes": 4}))
    assert "247 image/mask pairs" in text
    assert "class names (classes.txt): 0 background, 1 lung, 2 heart, 3 clavicle" in text
    assert "mask values (masks containing each): 0 (247), 1 (247), 2 (247), 3 (247)" in text
