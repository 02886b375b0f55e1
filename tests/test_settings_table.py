"""The settings table `tfseg train` prints before the first epoch: each setting that matters and where it came from."""

import json
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from tfseg.config import load_config
from tfseg.data import load_table, settle_data
from tfseg.settings_table import settings_table


def write_rgb_dataset(folder, count=12):
    """`count` RGB images 48 wide and 32 high (dermoscopy-like: a dark disc on skin colour),
    masks stored as 0/1, a classes.txt of two names, splits.csv (8 train, 2 val, 2 test)."""
    rng = np.random.default_rng(0)
    (folder / "images").mkdir(parents=True)
    (folder / "masks").mkdir()
    rows, columns = np.mgrid[:32, :48]
    for i in range(count):
        disc = (rows - rng.integers(10, 22)) ** 2 + (columns - rng.integers(14, 34)) ** 2 < rng.integers(30, 90)
        image = np.where(disc[..., None], [60, 40, 30], [200, 150, 130]) + rng.integers(0, 30, (32, 48, 3))
        cv2.imwrite(str(folder / "images" / f"case{i:02d}.png"), image.astype(np.uint8)[..., ::-1])
        cv2.imwrite(str(folder / "masks" / f"case{i:02d}.png"), disc.astype(np.uint8))
    (folder / "classes.txt").write_text("background\nlesion\n")
    splits = ["train"] * (count - 4) + ["val"] * 2 + ["test"] * 2
    pd.DataFrame({"id": [f"case{i:02d}" for i in range(count)], "split": splits}).to_csv(folder / "splits.csv", index=False)
    return folder


def _table_of(config):
    """The settings table of `config` after the data settled what it leaves to the data, as train prints it."""
    table = load_table(config.data, config.train.seed, config.sources)
    config.data, decided = settle_data(config.data, table)
    config.sources.update(decided)
    return settings_table(config, table)


def _row(text, name):
    """(value, source) of the row `name`: columns split by two or more spaces."""
    line = next(line for line in text.splitlines() if line.startswith(f"  {name}  "))
    value, source = [part for part in line[2 + len(name):].split("  ") if part][-2:]
    return value.strip(), source.strip()


def test_each_setting_says_where_it_came_from(tmp_path):
    data = write_rgb_dataset(tmp_path / "rgb")
    config_file = tmp_path / "c.yaml"
    config_file.write_text("model:\n  options: {depth: 2, base_filters: 4}\ntrain:\n  lr: 0.01\n  schedule: cosine\n")
    config = load_config(config_file, {"data.dir": str(data), "data.image_size": [32, 32], "train.epochs": 1})
    text = _table_of(config)
    lines = text.splitlines()
    assert lines[0] == "tfseg: settings, and where each came from:" and 12 <= len(lines) <= 16
    assert _row(text, "data") == (f"{data} (8 train, 2 val, 2 test)", "flag --data")
    assert _row(text, "model") == ("unet (depth 2, base_filters 4)", f"config {config_file}")
    assert _row(text, "encoder") == ("no pretrained encoder: random init", "default")
    assert _row(text, "channels") == ("3 (RGB)", "images (RGB)")
    assert _row(text, "geometry") == ("48x32 → 32x32 (aspect ratio changes 1.50 → 1.00)", "flag --image-size")
    assert _row(text, "classes") == ("1: binary (background, lesion)", "classes.txt (2 names)")
    assert _row(text, "mask reading") == ("masks hold 0/1: foreground is 1", "masks (0/1 values)")
    assert _row(text, "loss") == ("bce+dice", "default")
    assert _row(text, "epochs") == ("1", "flag --epochs")
    assert _row(text, "batch size") == ("8", "default")
    assert _row(text, "learning rate") == ("0.01 (adam, cosine schedule)", f"config {config_file}")
    assert _row(text, "augmentation") == ("flip", "default")
    assert _row(text, "precision")[1] == "default" and _row(text, "precision")[0].startswith("auto: ")
    crop = _table_of(load_config(None, {"data.dir": str(data), "data.crop": 16, "data.channels": 1,
                                        "data.mask_threshold": 0, "train.precision": "float32"}))
    assert _row(crop, "geometry") == ("48x32 → random 16x16 crops at native resolution (validation: a grid of crops)",
                                      "flag --crop")
    assert _row(crop, "channels") == ("1 (grey)", "flag --channels")  # an explicit setting wins over the images
    assert _row(crop, "mask reading") == ("foreground is a stored value > 0", "flag --mask-threshold")
    assert _row(crop, "precision") == ("float32", "flag --precision")


def test_the_encoder_row_says_how_the_encoder_starts(tmp_path):
    data = write_rgb_dataset(tmp_path / "rgb")
    random = _table_of(load_config(None, {"data.dir": str(data), "model.name": "unet_resnet34"}))
    assert _row(random, "encoder") == (
        "resnet34 encoder: random init; pass --encoder-weights imagenet for ImageNet weights", "default")
    config_file = tmp_path / "c.yaml"
    config_file.write_text("model:\n  name: fpn_resnet34\n  options: {encoder_weights: none}\n")
    from_file = _table_of(load_config(config_file, {"data.dir": str(data)}))
    assert _row(from_file, "encoder") == (
        f"resnet34 encoder: random init; set model.options.encoder_weights: imagenet in {config_file} for ImageNet "
        "weights", f"config {config_file}")
    imagenet = _table_of(load_config(None, {"data.dir": str(data), "model.name": "unet_resnet34",
                                            "model.options.encoder_weights": "imagenet", "train.freeze_encoder_epochs": 2}))
    assert _row(imagenet, "encoder") == ("resnet34 encoder: ImageNet weights, frozen for 2 epochs",
                                         "flag --encoder-weights, flag --freeze-encoder-epochs")


@pytest.mark.slow
def test_tfseg_train_prints_the_settings_before_the_first_epoch(tmp_path, capsys):
    from tfseg.cli import main

    data = write_rgb_dataset(tmp_path / "rgb")
    run = tmp_path / "run"
    assert main(["train", "--data", str(data), "--config", str(Path(__file__).parent / "tiny_unet.yaml"), "--image-size", "32", "32",
                 "--epochs", "1", "--batch-size", "4", "--augment", "none", "--run-dir", str(run)]) == 0
    out = capsys.readouterr().out
    table = out.index("tfseg: settings, and where each came from:")
    assert table < out.index("tfseg: training unet on 8 images") < out.index("tfseg: run written to")
    assert "\n  channels       3 (RGB)" in out and "  model          unet (depth 2, base_filters 4)" in out
    saved = (run / "config.yaml").read_text()
    assert "channels: 3\n" in saved and "classes: 1\n" in saved and "mask_threshold: 0\n" in saved
    card = json.loads((run / "export" / "model_card.json").read_text())
    assert card["input"]["shape"] == [None, 32, 32, 3] and card["class_names"] == ["background", "lesion"]
