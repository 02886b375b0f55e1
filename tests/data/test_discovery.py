"""Dataset discovery: image/mask pairs, manifests, splits, stratification and folds, validation."""

import shutil

import cv2
import numpy as np
import pandas as pd
import pytest

from tests.data.conftest import _copy
from tfseg.data import MaskReader, assign_splits, discover_pairs, load_dataset_table, validate_pairs
from tfseg.errors import TfsegError


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
    with pytest.raises(TfsegError, match=r"no mask <id>\.<png\|jpg\|\.\.\.> for image\(s\) demo_0003.png"):
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
        validate_pairs(discover_pairs(folder), 1, MaskReader())
    cv2.imwrite(str(folder / "masks" / "demo_0001.png"), np.full((64, 64), 7, np.uint8))
    with pytest.raises(TfsegError, match="mask value 7 found, expected labels 0..3"):
        validate_pairs(discover_pairs(folder).query("id == 'demo_0001'"), 1, MaskReader(classes=4))


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


def _images_of_modes(folder, modes):
    """A dataset of 16x24 images stored in the given PIL modes, with binary masks."""
    from PIL import Image

    (folder / "images").mkdir(parents=True)
    (folder / "masks").mkdir()
    grey = (np.arange(16 * 24).reshape(16, 24) % 256).astype(np.uint8)
    for i, mode in enumerate(modes):
        if mode == "RGB":
            image = Image.fromarray(np.dstack([grey, grey[::-1], grey[:, ::-1]]), "RGB")
        elif mode == "I;16":
            image = Image.fromarray(grey.astype(np.uint16) * 257)
        elif mode.startswith("P"):  # "P grey": a grey ramp palette; "P colour": one entry is red
            image = Image.fromarray(grey, "L").convert("P")
            palette = [value for level in range(256) for value in (level, level, level)]
            image.putpalette(palette if mode == "P grey" else [255, 0, 0] + palette[3:])
        else:
            image = Image.fromarray(grey, mode)
        image.save(folder / "images" / f"{i}.png")
        cv2.imwrite(str(folder / "masks" / f"{i}.png"), (grey > 127).astype(np.uint8) * 255)
    return folder


@pytest.mark.parametrize("modes, channels, source", [
    (["L", "L"], 1, "images (grey)"),
    (["I;16"], 1, "images (grey)"),
    (["P grey"], 1, "images (grey)"),
    (["RGB", "RGB"], 3, "images (RGB)"),
    (["P colour"], 3, "images (colour palette)"),
    (["L", "RGB", "L"], 3, "images (2 grey, 1 RGB: grey and colour, read as colour)"),
])
def test_channels_default_to_what_the_images_are(tmp_path, modes, channels, source):
    from tfseg.config import DataConfig
    from tfseg.data import load_table, settle_data

    data = DataConfig(dir=str(_images_of_modes(tmp_path / "data", modes)), val_fraction=0.0, test_fraction=0.0)
    table = load_table(data, seed=0)
    settled, decided = settle_data(data, table)
    assert (settled.channels, decided["data.channels"]) == (channels, source)
    explicit, decided = settle_data(DataConfig(dir=data.dir, channels=1), table)
    assert explicit.channels == 1 and "data.channels" not in decided  # an explicit setting wins


@pytest.mark.slow
def test_ph2_dermoscopy_is_read_in_colour(capsys):
    from tests.conftest import shared_dataset
    from tfseg.cli import main

    assert main(["inspect", str(shared_dataset("ph2-skin"))]) == 0
    assert "stored image modes: RGB (200); read as 3 channel(s) [images (RGB)]" in capsys.readouterr().out
