"""Mask encodings as annotation tools and public datasets write them: palette PNGs, RGB colour
tables, grey RGB, JPEG masks, suffix-named masks, and a splits.csv written by a spreadsheet."""

import json
import re
import shutil

import cv2
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from tfseg.cli import evaluate_main, train_main
from tfseg.config import DataConfig
from tfseg.data import MaskReader, load_table, masks_of, read_mask, settle_data
from tfseg.data.io import COLOUR_TABLE, GREY, PALETTE
from tfseg.errors import TfsegError

from tests.conftest import shared_dataset

VOC = [(0, 0, 0), (128, 0, 0), (0, 128, 0), (128, 128, 0)]
"""The PASCAL VOC colours of labels 0..3."""


def tiny_flags(tmp_path):
    """train.py flags of a one-epoch 32x32 two-level U-Net into tmp_path/run."""
    config = tmp_path / "tiny.yaml"
    config.write_text("model:\n  options: {depth: 2, base_filters: 4}\n")
    return ["--config", str(config), "--image-size", "32", "32", "--batch-size", "4", "--augment", "none",
            "--epochs", "1", "--run-dir", str(tmp_path / "run")]


def write_palette_png(path, labels, colours):
    """Writes `labels` as a palette PNG (mode P) whose index i is drawn in colours[i]."""
    image = Image.fromarray(labels.astype(np.uint8), "P")
    image.putpalette([channel for colour in colours for channel in colour])
    image.save(path)


def _copy_with_masks(source, target, write):
    """A copy of `source` whose masks are rewritten by write(labels, target/masks, id)."""
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("masks"))
    (target / "masks").mkdir()
    for path in sorted((source / "masks").glob("*.png")):
        write(cv2.imread(str(path), cv2.IMREAD_GRAYSCALE), target / "masks", path.stem)
    return target


def _binary(mask):
    return (mask > 127).astype(np.uint8)


def test_palette_masks_are_read_as_indices_whatever_their_colours(tmp_path):
    labels = np.zeros((6, 8), np.uint8)
    labels[2:5, 3:7] = 1
    for colour in [(255, 0, 0), (0, 255, 0), (0, 0, 255)]:  # the blue channel of red is 0
        path = tmp_path / "mask.png"
        write_palette_png(path, labels, [(0, 0, 0), colour])
        values, encoding = read_mask(path)
        assert encoding == PALETTE
        np.testing.assert_array_equal(values, labels)
        np.testing.assert_array_equal(MaskReader(threshold=127).labels(path), labels)
    multi = np.arange(4, dtype=np.uint8).repeat(2)[None].repeat(3, 0)
    write_palette_png(tmp_path / "voc.png", multi, VOC)
    np.testing.assert_array_equal(MaskReader(classes=4).labels(tmp_path / "voc.png"), multi)
    grey = np.array([[0, 100, 200, 255]], np.uint8)  # a grey image stored with a grey-ramp palette
    write_palette_png(tmp_path / "ramp.png", grey, [(i, i, i) for i in range(256)])
    assert read_mask(tmp_path / "ramp.png")[1] == GREY
    np.testing.assert_array_equal(MaskReader(threshold=127).labels(tmp_path / "ramp.png"), [[0, 0, 1, 1]])


def test_rgb_masks_are_grey_or_mapped_by_the_classes_txt_colour_table(tmp_path):
    labels = np.arange(4, dtype=np.uint8).repeat(3)[None].repeat(4, 0)
    table = [(0, 0, 0), (255, 0, 0), (0, 255, 0), (0, 0, 255)]
    rgb = np.array(table, np.uint8)[labels]
    cv2.imwrite(str(tmp_path / "colour.png"), rgb[..., ::-1])
    values, encoding = read_mask(tmp_path / "colour.png", tuple(table))
    assert encoding == COLOUR_TABLE
    np.testing.assert_array_equal(values, labels)
    with pytest.raises(TfsegError, match=r"colour.png: RGB mask in colour \(4 colours: \(0, 0, 0\), \(0, 0, 255\), .*classes.txt"):
        read_mask(tmp_path / "colour.png")
    with pytest.raises(TfsegError, match=r"colour.png: mask colour\(s\) \(0, 0, 255\) not in the colour table of classes.txt"):
        read_mask(tmp_path / "colour.png", tuple(table[:3]) + ((9, 9, 9),))
    cv2.imwrite(str(tmp_path / "grey.png"), np.dstack([labels * 80] * 3))  # grey stored as RGB
    values, encoding = read_mask(tmp_path / "grey.png")
    assert encoding == GREY
    np.testing.assert_array_equal(values, labels * 80)


def _label_dataset(folder, write_mask, count=6):
    """Images with a 4-label map (vertical stripes), masks written by write_mask(labels, path_stem)."""
    (folder / "images").mkdir(parents=True)
    (folder / "masks").mkdir()
    labels = (np.arange(32)[None, :] * 4 // 32).repeat(24, 0).astype(np.uint8)
    for i in range(count):
        cv2.imwrite(str(folder / "images" / f"case{i}.png"), labels * 60)
        write_mask(labels, folder / "masks" / f"case{i}")
    return folder


def test_colour_coded_label_maps_train_data_and_inspect(tmp_path, capsys):
    table = [(0, 0, 0), (255, 0, 0), (0, 255, 0), (0, 0, 255)]
    folder = _label_dataset(
        tmp_path / "rgb", lambda labels, stem: cv2.imwrite(f"{stem}.png", np.array(table, np.uint8)[labels][..., ::-1]))
    with pytest.raises(TfsegError, match=r"case0.png: RGB mask in colour \(4 colours"):
        load_table(DataConfig(dir=str(folder), classes=4), seed=0)
    (folder / "classes.txt").write_text("".join(f"{name} {r} {g} {b}\n" for name, (r, g, b) in
                                                zip(["background", "left lung", "heart", "clavicle"], table)))
    rows = load_table(DataConfig(dir=str(folder), classes=4), seed=0)
    assert set(rows["mask_encoding"]) == {COLOUR_TABLE} and set(rows["mask_values"]) == {"0 1 2 3"}
    assert train_main(["--data", str(folder), "--classes", "4", "--inspect"]) == 0
    out = capsys.readouterr().out
    assert "mask encoding: RGB colour table (6): each colour is the label of its classes.txt line: (0, 0, 0) -> 0, (255, 0, 0) -> 1" in out
    assert "class names (classes.txt): 0 background, 1 left lung, 2 heart, 3 clavicle" in out
    (folder / "classes.txt").write_text("background 0 0 0\nleft lung\nheart 0 255 0\nclavicle 0 0 255\n")
    with pytest.raises(TfsegError, match=r"classes.txt: 3 of 4 lines give a colour"):
        load_table(DataConfig(dir=str(folder), classes=4), seed=0)


@pytest.mark.slow
def test_train_py_inspects_trains_and_evaluates_on_palette_masks(tiny_dataset, tmp_path, capsys):
    def palette(mask, folder, sample_id):
        write_palette_png(folder / f"{sample_id}.png", _binary(mask), [(0, 0, 0), (255, 0, 0)])

    folder = _copy_with_masks(tiny_dataset, tmp_path / "palette", palette)
    assert train_main(["--data", str(folder), "--inspect"]) == 0
    out = capsys.readouterr().out
    assert "stored modes P (24)" in out
    assert "mask encoding: palette indices (24): the index is the label, whatever its colour; foreground is index > 0" in out
    grey_rows = load_table(DataConfig(dir=str(tiny_dataset)), seed=0)
    palette_rows = load_table(DataConfig(dir=str(folder)), seed=0)
    np.testing.assert_array_equal(palette_rows["foreground"], grey_rows["foreground"])
    run = tmp_path / "run"
    assert train_main(["--data", str(folder), *tiny_flags(tmp_path)]) == 0
    assert evaluate_main([str(run), "--split", "test"]) == 0
    assert evaluate_main([str(run), "--split", "test", "--data", str(tiny_dataset), "--out", str(tmp_path / "grey")]) == 0
    on_palette = pd.read_csv(run / "eval" / "test" / "per_image.csv")
    on_grey = pd.read_csv(tmp_path / "grey" / "per_image.csv")
    pd.testing.assert_frame_equal(on_palette, on_grey)  # the indices are scored, as the grey masks are


@pytest.mark.slow
def test_jpeg_masks_named_with_a_suffix(tiny_dataset, tmp_path, capsys):
    def jpeg(mask, folder, sample_id):
        cv2.imwrite(str(folder / f"{sample_id}_segmentation.jpg"), mask, [cv2.IMWRITE_JPEG_QUALITY, 90])

    folder = _copy_with_masks(tiny_dataset, tmp_path / "jpeg", jpeg)
    assert train_main(["--data", str(folder), "--inspect"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert err.endswith("the masks are named <id>_segmentation: pass --mask-suffix _segmentation (data.mask_suffix in YAML)")
    assert train_main(["--data", str(folder), "--mask-suffix", "_segmentation", "--inspect"]) == 0
    out = capsys.readouterr().out
    assert "mask files: masks/<id>_segmentation.<ext> (data.mask_suffix '_segmentation')" in out
    assert "24 mask(s) in a lossy format (JPEG)" in out
    assert "24 of 24 masks are JPEG, a lossy format: read as grey, foreground where the value is > 127" in out
    assert "mask encoding: grey levels (24): foreground is a stored value > 127 (data.mask_threshold)" in out
    jpeg_rows = load_table(DataConfig(dir=str(folder), mask_suffix="_segmentation"), seed=0)
    grey_rows = load_table(DataConfig(dir=str(tiny_dataset)), seed=0)
    np.testing.assert_allclose(jpeg_rows["foreground"], grey_rows["foreground"], atol=0.01)
    run = tmp_path / "run"
    assert train_main(["--data", str(folder), "--mask-suffix", "_segmentation", *tiny_flags(tmp_path)]) == 0
    assert "suffix" not in capsys.readouterr().err
    config = (run / "config.yaml").read_text()
    assert "mask_suffix: _segmentation" in config


def test_lossy_masks_are_announced_once_per_dataset(tmp_path, capsys):
    folder = _label_dataset(tmp_path / "jpeg", lambda labels, stem: cv2.imwrite(f"{stem}.jpg", (labels > 1) * 255))
    for _ in range(2):
        load_table(DataConfig(dir=str(folder)), seed=0)
    assert capsys.readouterr().out.count("6 of 6 masks are JPEG, a lossy format") == 1
    with pytest.raises(TfsegError, match=r"case0.jpg: mask value \d+ found, .*a lossy JPEG mask cannot hold exact labels"):
        load_table(DataConfig(dir=str(folder), classes=4), seed=0)


def test_splits_csv_written_by_a_spreadsheet(tiny_dataset, tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(tiny_dataset, folder)
    splits = pd.read_csv(tiny_dataset / "splits.csv", dtype=str)
    text = "id , split\r\n" + "".join(f"{i}, {split} \r\n" for i, split in zip(splits["id"], splits["split"]))
    (folder / "splits.csv").write_bytes(b"\xef\xbb\xbf" + text.encode())
    rows = load_table(DataConfig(dir=str(folder)), seed=0).set_index("id")
    assert rows.loc[splits["id"], "split"].tolist() == splits["split"].tolist()


def test_real_multiclass_masks_as_palette_pngs_read_as_the_grey_labels(tmp_path):
    source = shared_dataset("jsrt-multiclass")
    for path in sorted((source / "masks").glob("*.png"))[:8]:
        labels = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        write_palette_png(tmp_path / path.name, labels, VOC)
        assert Image.open(tmp_path / path.name).mode == "P"
        np.testing.assert_array_equal(MaskReader(classes=4).labels(tmp_path / path.name), labels)


def _zero_one(mask, folder, sample_id):
    cv2.imwrite(str(folder / f"{sample_id}.png"), _binary(mask))


def test_masks_stored_as_0_1_are_read_with_foreground_1(tiny_dataset, tmp_path, capsys):
    folder = _copy_with_masks(tiny_dataset, tmp_path / "zero-one", _zero_one)
    data = DataConfig(dir=str(folder))
    rows = load_table(data, seed=0)
    settled, decided = settle_data(data, rows)
    assert settled.mask_threshold == 0 and decided["data.mask_threshold"] == "masks (0/1 values)"
    grey_rows = load_table(DataConfig(dir=str(tiny_dataset)), seed=0)
    np.testing.assert_array_equal(rows["foreground"], grey_rows["foreground"])
    stored = cv2.imread(str(tiny_dataset / "masks" / "demo_0000.png"), cv2.IMREAD_GRAYSCALE)
    np.testing.assert_array_equal(masks_of(settled).labels(folder / "masks" / "demo_0000.png"), _binary(stored))
    assert train_main(["--data", str(folder), "--inspect"]) == 0
    assert "mask encoding: grey levels (24): masks hold 0/1: foreground is 1" in capsys.readouterr().out
    # a threshold the user set stays, and the advice takes the form they set it in
    assert train_main(["--data", str(folder), "--mask-threshold", "127", "--inspect"]) == 2
    error = capsys.readouterr().err.strip()
    assert error == ("error: every mask is empty at data.mask_threshold 127 (stored values found: [0, 1]); "
                     "the masks hold 0/1: pass --mask-threshold 0, or leave it unset")
    config = tmp_path / "threshold.yaml"
    config.write_text("data:\n  mask_threshold: 127\n")
    assert train_main(["--data", str(folder), "--config", str(config), "--inspect"]) == 2
    assert capsys.readouterr().err.strip().endswith(f"the masks hold 0/1: set data.mask_threshold: 0 in {config}, "
                                                    "or leave it unset")


@pytest.mark.slow
def test_train_and_evaluate_on_masks_stored_as_0_1(tiny_dataset, tmp_path, capsys):
    folder = _copy_with_masks(tiny_dataset, tmp_path / "zero-one", _zero_one)
    run = tmp_path / "run"
    assert train_main(["--data", str(folder), *tiny_flags(tmp_path)]) == 0
    assert re.search(r"\n  mask reading +masks hold 0/1: foreground is 1 +masks \(0/1 values\)\n", capsys.readouterr().out)
    assert "mask_threshold: 0\n" in (run / "config.yaml").read_text()  # what evaluation rebuilds from
    assert evaluate_main([str(run), "--split", "test"]) == 0
    assert evaluate_main([str(run), "--split", "test", "--data", str(tiny_dataset), "--out", str(tmp_path / "grey")]) == 0
    on_zero_one = pd.read_csv(run / "eval" / "test" / "per_image.csv")
    pd.testing.assert_frame_equal(on_zero_one, pd.read_csv(tmp_path / "grey" / "per_image.csv"))  # 0/1 read as 0/255 are


def _voc_label_dataset(folder):
    """The 4-label stripes of `_label_dataset` as palette PNGs in the PASCAL VOC colours, with a classes.txt."""
    folder = _label_dataset(folder, lambda labels, stem: write_palette_png(f"{stem}.png", labels, VOC))
    (folder / "classes.txt").write_text("background\nleft lung\nheart\nclavicle\n")
    return folder


def test_classes_txt_sets_the_number_of_classes(tmp_path):
    folder = _voc_label_dataset(tmp_path / "voc")
    data = DataConfig(dir=str(folder))
    settled, decided = settle_data(data, load_table(data, seed=0))
    assert settled.classes == 4 and decided["data.classes"] == "classes.txt (4 names)"
    with pytest.raises(TfsegError, match=r"classes.txt: 4 class names, expected 3 \(.*\); for 4 names: pass --classes 4$"):
        load_table(DataConfig(dir=str(folder), classes=3), seed=0)  # an explicit setting that disagrees
    (folder / "classes.txt").write_text("background\nlesion\n")  # two names: binary, every index > 0 foreground
    settled, decided = settle_data(data, load_table(data, seed=0))
    assert settled.classes == 1 and decided["data.classes"] == "classes.txt (2 names)"
    (folder / "classes.txt").write_text("background\n")
    with pytest.raises(TfsegError, match=r"classes.txt: 1 class name\(s\), expected one per label from 0: at least 2"):
        load_table(data, seed=0)


@pytest.mark.slow
def test_train_takes_the_classes_from_classes_txt(tmp_path, capsys):
    folder = _voc_label_dataset(tmp_path / "voc")
    assert train_main(["--data", str(folder), *tiny_flags(tmp_path)]) == 0
    assert re.search(r"\n  classes +4: background, left lung, heart, clavicle +classes.txt \(4 names\)\n",
                     capsys.readouterr().out)
    assert "classes: 4\n" in (tmp_path / "run" / "config.yaml").read_text()
    card = json.loads((tmp_path / "run" / "export" / "model_card.json").read_text())
    assert card["classes"] == 4 and card["class_names"] == ["background", "left lung", "heart", "clavicle"]


def test_jsrt_classes_txt_gives_its_four_classes():
    from tfseg.data.discovery import decide_classes

    assert decide_classes(shared_dataset("jsrt-multiclass")) == (4, "classes.txt (4 names)")
