"""The dataset fingerprint (tfseg.data.fingerprint) on datasets with known objects, its cache,
and `tfseg inspect` writing it."""

import json
import os

import cv2
import numpy as np
import pandas as pd
import pytest

from tfseg.config import load_config
from tfseg.data import fingerprint, fingerprint_file

from tests.conftest import shared_dataset, write_label_dataset
from tests.data.test_masks import write_palette_png

SIDE = 512
OBJECTS = {  # (top, left, height, width); a nearest-neighbour resize by 1/k keeps rows and columns 0, k, 2k, …
    "squares": [(100, 100, 16, 16), (100, 200, 16, 16), (200, 100, 16, 16)],
    "line": [(304, 100, 1, 100)],  # one pixel wide on a row every resize keeps
    "speck": [(9, 9, 3, 3)],  # rows and columns 9..11: none a multiple of 4 or 8, so it is gone at 1/4 and 1/8
    "close pair": [(400, 40, 20, 20), (400, 62, 20, 20)],  # 2 px apart: kept columns 56 and 64 end up side by side at 1/8
}


def _objects_mask() -> np.ndarray:
    """A SIDE x SIDE 0/255 mask of OBJECTS."""
    mask = np.zeros((SIDE, SIDE), np.uint8)
    for top, left, height, width in (box for boxes in OBJECTS.values() for box in boxes):
        mask[top : top + height, left : left + width] = 255
    return mask


def _write_dataset(folder, images, masks, write_mask=lambda path, mask: cv2.imwrite(str(path), mask)):
    """images/<id>.png and masks/<id>.png, and a splits.csv: the first two train, then val, the rest test."""
    (folder / "images").mkdir(parents=True)
    (folder / "masks").mkdir()
    ids = [f"case{i}" for i in range(len(images))]
    for sample_id, image, mask in zip(ids, images, masks):
        cv2.imwrite(str(folder / "images" / f"{sample_id}.png"), image)
        write_mask(folder / "masks" / f"{sample_id}.png", mask)
    splits = ["train", "train", "val"] + ["test"] * (len(ids) - 3)
    pd.DataFrame({"id": ids, "split": splits}).to_csv(folder / "splits.csv", index=False)
    return folder


@pytest.fixture
def objects_dataset(tmp_path):
    """4 grey 512x512 images, background 50 and objects 200, each with the 7 OBJECTS in its 0/255 mask."""
    mask = _objects_mask()
    image = np.where(mask > 0, 200, 50).astype(np.uint8)
    return _write_dataset(tmp_path / "objects", [image] * 4, [mask] * 4)


def test_fingerprint_counts_measures_and_resizes_known_objects(objects_dataset):
    result = fingerprint(objects_dataset)
    assert result["version"] == 1 and result["dataset"] == str(objects_dataset.resolve())
    assert result["images"]["count"] == 4 and result["images"]["splits"] == {"train": 2, "val": 1, "test": 1}
    assert result["images"]["modes"] == {"L": 4} and result["images"]["bit_depth"] == {"8": 4}
    assert result["images"]["stored_channels"] == {"1": 4}
    assert result["images"]["height"]["median"] == SIDE and result["images"]["aspect"] == {
        "median": 1, "percentile_10": 1, "percentile_90": 1, "min": 1, "max": 1}
    grey = result["intensity"]["channels"][0]
    assert grey["channel"] == "grey" and grey["foreground"]["mean"] == grey["foreground"]["percentile_00_5"] == 200
    assert grey["all"]["min"] == 50 and grey["all"]["median"] == 50 and grey["all"]["max"] == 200
    assert result["masks"]["encoding"] == "0/255" and result["masks"]["values"] == {"0": 4, "255": 4}
    assert result["masks"]["class_names"] is None
    [objects] = result["classes"]
    area = 3 * 16 * 16 + 100 + 9 + 2 * 400
    assert objects["label"] == 1 and objects["images_with_class"] == 4 and objects["objects"] == 28
    assert objects["foreground_fraction"]["mean"] == pytest.approx(area / SIDE**2, rel=1e-5)
    assert objects["objects_per_image"]["median"] == objects["objects_per_image"]["percentile_90"] == 7
    assert objects["object_size"]["pixels"] == {
        "median": 256, "percentile_10": 9, "percentile_90": 400, "min": 9, "max": 400}
    assert objects["object_size"]["fraction"]["min"] == pytest.approx(9 / SIDE**2, rel=1e-5)
    assert objects["width_px"]["min"] == 1  # the line
    assert objects["width_px"]["max"] >= 15  # the squares
    resize = {entry["size"]: entry for entry in objects["resize"]}
    assert sorted(resize) == [64, 128, 256]  # not 512, the native size
    assert resize[64] == {"size": 64, "images": 4, "objects": 28, "vanished": pytest.approx(1 / 7, rel=1e-5),
                          "merged": pytest.approx(2 / 7, rel=1e-5), "split": 0}
    assert resize[128]["vanished"] == pytest.approx(1 / 7, rel=1e-5) and resize[128]["merged"] == 0
    assert resize[256]["vanished"] == resize[256]["merged"] == 0
    assert json.loads(json.dumps(result)) == result  # plain JSON types only


def test_line_is_thinner_than_square(tmp_path):
    def dataset(name, box):
        top, left, height, width = box
        mask = np.zeros((64, 64), np.uint8)
        mask[top : top + height, left : left + width] = 255
        return _write_dataset(tmp_path / name, [mask] * 3, [mask] * 3)

    line = fingerprint(dataset("line", (10, 5, 2, 50)))["classes"][0]
    square = fingerprint(dataset("square", (10, 10, 20, 20)))["classes"][0]
    assert line["width_px"]["median"] < 3 < 15 < square["width_px"]["median"] < 25
    assert line["resize"] == square["resize"] == []  # 64 px: no smaller target


def test_rgb_images_and_masks_of_zeros_and_ones(tmp_path):
    image = np.zeros((48, 64, 3), np.uint8)
    image[...] = (30, 20, 10)  # OpenCV writes BGR: red 10, green 20, blue 30
    mask = np.zeros((48, 64), np.uint8)
    mask[10:30, 10:30] = 1
    folder = _write_dataset(tmp_path / "rgb", [image] * 3, [mask] * 3)
    result = fingerprint(load_config(None, {"data.dir": str(folder), "data.channels": 3, "data.mask_threshold": 0}))
    assert result["images"]["modes"] == {"RGB": 3} and result["images"]["stored_channels"] == {"3": 3}
    assert [(c["channel"], c["all"]["mean"]) for c in result["intensity"]["channels"]] == [
        ("red", 10), ("green", 20), ("blue", 30)]
    assert result["images"]["aspect"]["median"] == pytest.approx(64 / 48, rel=1e-5)
    assert result["masks"]["encoding"] == "0/1" and result["options"]["data.mask_threshold"] == 0


def test_16_bit_images_with_palette_masks(tmp_path):
    image = np.full((32, 32), 1000, np.uint16)
    image[8:24, 8:24] = 40000
    mask = (image > 1000).astype(np.uint8)
    folder = _write_dataset(tmp_path / "deep", [image] * 3, [mask] * 3,
                            lambda path, labels: write_palette_png(path, labels, [(0, 0, 0), (255, 0, 0)]))
    result = fingerprint(folder)
    assert result["images"]["bit_depth"] == {"16": 3} and result["images"]["modes"] == {"I;16": 3}
    grey = result["intensity"]["channels"][0]
    assert grey["foreground"]["mean"] == 40000 and grey["all"]["min"] == 1000
    assert result["masks"]["encoding"] == "palette" and result["masks"]["modes"] == {"P": 3}


def test_label_maps_give_one_entry_per_foreground_class(tmp_path):
    folder = write_label_dataset(tmp_path / "labels")
    (folder / "classes.txt").write_text("background\nleft\nright\n")
    result = fingerprint(load_config(None, {"data.dir": str(folder), "data.classes": 3}))
    assert result["masks"]["encoding"] == "labels" and result["masks"]["class_names"] == ["background", "left", "right"]
    assert [(entry["label"], entry["name"], entry["images_with_class"]) for entry in result["classes"]] == [
        (1, "left", 8), (2, "right", 8)]


def test_fingerprint_is_cached_until_a_file_or_an_option_changes(objects_dataset, tmp_path):
    assert os.environ["TFSEG_CACHE"] == str(tmp_path / "cache")
    config = load_config(None, {"data.dir": str(objects_dataset)})
    path = fingerprint_file(config)
    assert path.parent == tmp_path / "cache" / "fingerprints" and path.suffix == ".json"
    written = path.stat().st_mtime_ns
    assert fingerprint_file(config) == path and path.stat().st_mtime_ns == written  # read, not computed again
    assert not list(objects_dataset.rglob("*.json"))  # nothing written beside the data
    other = fingerprint_file(load_config(None, {"data.dir": str(objects_dataset), "data.mask_threshold": 100}))
    assert other != path
    mask = _objects_mask()
    mask[9:12, 9:12] = 0  # case0 loses its speck
    cv2.imwrite(str(objects_dataset / "masks" / "case0.png"), mask)
    changed = fingerprint_file(config)
    assert changed != path and path.stat().st_mtime_ns == written
    assert json.loads(changed.read_text())["classes"][0]["objects"] == 27
    assert json.loads(path.read_text())["classes"][0]["objects"] == 28


def test_tfseg_inspect_writes_the_fingerprint(objects_dataset, tmp_path, capsys):
    from tfseg.cli import main, train_main

    copy = tmp_path / "out" / "fingerprint.json"
    assert main(["inspect", str(objects_dataset), "--fingerprint", str(copy)]) == 0
    out = capsys.readouterr().out
    cached = next((tmp_path / "cache" / "fingerprints").glob("*.json"))
    assert f"fingerprint: {cached} (computed in " in out and f"fingerprint: copied to {copy}" in out
    assert "fingerprint: class 1: 7 object(s) per image (median)" in out
    assert "objects lost / merged resized to 256: 0.0% / 0.0%, 128: 14.3% / 0.0%, 64: 14.3% / 28.6%" in out
    assert json.loads(copy.read_text()) == json.loads(cached.read_text())
    assert train_main(["--data", str(objects_dataset), "--inspect"]) == 0
    assert f"fingerprint: {cached} (cached)" in capsys.readouterr().out
    assert main(["inspect", str(objects_dataset), "--fingerprint", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: --fingerprint {tmp_path}: a folder, expected the path of a JSON file to write")


@pytest.mark.slow
def test_fingerprint_of_the_lung_x_rays():
    result = fingerprint(shared_dataset("lung-cxr"), progress=False)
    [lungs] = result["classes"]
    assert result["images"]["count"] == 704 and result["masks"]["encoding"] == "0/255"
    assert lungs["objects_per_image"]["median"] == 2
    assert 0.2 < lungs["foreground_fraction"]["mean"] < 0.35
    assert 0.05 < lungs["object_size"]["fraction"]["median"] < 0.2
    assert [entry["size"] for entry in lungs["resize"]] == [64, 128]
    assert all(entry["vanished"] < 0.02 for entry in lungs["resize"])
