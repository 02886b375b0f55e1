"""Plans of datasets made here (small sparse objects, thin curves, 16-bit, RGB) and of the shared
ones, the plan as a config file, timing real steps, and `tfseg plan` end to end into train.py."""

import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import yaml

from tfseg.config import load_config
from tfseg.data import fingerprint
from tfseg.plan import StepTiming, plan, plan_data, time_training_steps
from tfseg.transforms import PIXEL_TRANSFORMS, parse_transforms

from tests.conftest import shared_dataset, tiny_config
from tests.plan.conftest import CPU, fixed_timing, make_fingerprint, object_class

ROOT = Path(__file__).resolve().parents[2]


def write_dataset(folder: Path, images: list[np.ndarray], masks: list[np.ndarray]) -> Path:
    """images/ and masks/ as PNG and a splits.csv: the last image test, the one before val, the rest train."""
    (folder / "images").mkdir(parents=True)
    (folder / "masks").mkdir()
    ids = [f"case{index}" for index in range(len(images))]
    for sample_id, image, mask in zip(ids, images, masks):
        cv2.imwrite(str(folder / "images" / f"{sample_id}.png"), image)
        cv2.imwrite(str(folder / "masks" / f"{sample_id}.png"), mask)
    splits = ["train"] * (len(ids) - 2) + ["val", "test"]
    pd.DataFrame({"id": ids, "split": splits}).to_csv(folder / "splits.csv", index=False)
    return folder


def noisy(shape, mean, spread, rng, dtype=np.uint8):
    return np.clip(rng.normal(mean, spread, shape), 0, np.iinfo(dtype).max).astype(dtype)


@pytest.fixture
def sparse_objects(tmp_path):
    """4 grey 1024x1024 images, each with 4 objects of 6x6 px (0.014% of the image)."""
    rng = np.random.default_rng(0)
    images, masks = [], []
    for _ in range(4):
        mask = np.zeros((1024, 1024), np.uint8)
        for top, left in rng.integers(20, 1000, (4, 2)):
            mask[top : top + 6, left : left + 6] = 255
        images.append(np.where(mask > 0, 250, noisy(mask.shape, 100, 40, rng)).astype(np.uint8))
        masks.append(mask)
    return write_dataset(tmp_path / "sparse", images, masks)


@pytest.fixture
def thin_curves(tmp_path):
    """6 grey 256x256 images of three 1 px wide sine curves each, like vessels."""
    rng = np.random.default_rng(1)
    images, masks = [], []
    for _ in range(6):
        mask = np.zeros((256, 256), np.uint8)
        for _ in range(3):
            x = np.arange(10, 246)
            y = 128 + rng.uniform(30, 90) * np.sin(x / rng.uniform(15, 40) + rng.uniform(0, 6))
            cv2.polylines(mask, [np.stack([x, y], 1).astype(np.int32)], False, 255, thickness=1)
        images.append(np.where(mask > 0, 40, noisy(mask.shape, 150, 15, rng)).astype(np.uint8))
        masks.append(mask)
    return write_dataset(tmp_path / "curves", images, masks)


@pytest.fixture
def sixteen_bit(tmp_path):
    """6 single-channel 16-bit 64x64 images holding 12-bit values (as many scanners store them)."""
    rng = np.random.default_rng(2)
    images, masks = [], []
    for _ in range(6):
        mask = np.zeros((64, 64), np.uint8)
        top, left = rng.integers(4, 40, 2)
        mask[top : top + 20, left : left + 20] = 255
        images.append(np.where(mask > 0, 3000, noisy(mask.shape, 1000, 200, rng, np.uint16)).astype(np.uint16))
        masks.append(mask)
    return write_dataset(tmp_path / "deep", images, masks)


@pytest.fixture
def rgb_images(tmp_path):
    """6 RGB 64x96 images with a 20x20 red square."""
    rng = np.random.default_rng(3)
    images, masks = [], []
    for _ in range(6):
        mask = np.zeros((64, 96), np.uint8)
        top, left = rng.integers(4, 40, 2)
        mask[top : top + 20, left : left + 20] = 255
        image = noisy((64, 96, 3), 120, 20, rng)
        image[mask > 0] = (30, 30, 220)  # BGR
        images.append(image)
        masks.append(mask)
    return write_dataset(tmp_path / "rgb", images, masks)


def bottleneck(config) -> int:
    """The shorter side of the U-Net's bottleneck, in pixels."""
    return min(config.data.image_size) // 2 ** config.model.options["depth"]


def test_small_sparse_objects_in_large_images_train_on_patches(sparse_objects):
    result = plan(fingerprint(sparse_objects), 600, CPU, fixed_timing)
    config = result.config()
    assert config.data.crop == 256 and config.data.image_size == [256, 256]  # not a resize
    assert config.data.foreground_crops == 0.33 and config.train.loss == "bce+dice"
    assert 4 <= bottleneck(config) <= 8 and config.model.options["depth"] == 5
    assert config.train.batch_size == 2 and config.data.normalize == "scale"


def test_thin_curves_keep_their_native_resolution(thin_curves):
    config = plan(fingerprint(thin_curves), 600, CPU, fixed_timing).config()
    assert config.data.image_size == [256, 256] and config.data.crop == 0
    assert 4 <= bottleneck(config) <= 8
    content = fingerprint(thin_curves)["classes"][0]
    assert content["width_px"]["percentile_10"] < 2


def test_16_bit_images_are_z_scored_with_geometric_augmentation(sixteen_bit):
    result = plan(fingerprint(sixteen_bit), 600, CPU, fixed_timing)
    config = result.config()
    assert config.data.channels == 1 and config.data.normalize == "zscore"
    names = {transform.name for transform in parse_transforms(config.data.augment)}
    assert names and not names & set(PIXEL_TRANSFORMS)
    assert "16-bit images" in result.settings()["data.normalize"].reason
    assert config.data.image_size == [64, 64] and 4 <= bottleneck(config) <= 8


def test_rgb_images_keep_their_colour_and_aspect(rgb_images):
    result = plan_data(rgb_images, 600, CPU, fixed_timing)  # the fingerprint reads colour images in colour
    config = result.config()
    assert config.data.channels == 3 and config.data.augment == "medium"
    assert config.data.image_size == [64, 96] and bottleneck(config) == 8
    assert fingerprint(config)["intensity"]["channels"][2]["channel"] == "blue"


def test_the_plan_is_a_config_file_with_its_reasons(sparse_objects, tmp_path):
    result = plan(fingerprint(sparse_objects), 600, CPU, fixed_timing)
    path = result.save(tmp_path / "plan.yaml")
    text = path.read_text()
    assert yaml.safe_load(text) == result.config_dict()
    assert load_config(path) == result.config()
    assert text.startswith(f"# tfseg plan for {sparse_objects.resolve()}: a training budget of 10 min on this CPU")
    for choice in result.settings().values():
        assert f"# {choice.reason}\n" in text
    lines = result.table().splitlines()
    assert lines[0].startswith("data.dir ") and lines[0].endswith("  the dataset")
    assert any(re.match(r"data\.crop, image_size +256, \[256, 256\] +patches of 256x256 at native", line) for line in lines)
    assert sum(line.startswith("train.optimizer, lr, weight_decay") for line in lines) == 1


def test_the_plan_lists_the_mask_threshold_of_binary_masks_only():
    binary = plan(make_fingerprint(), 1800, CPU, fixed_timing).settings()
    labels = plan(make_fingerprint(classes=[object_class(1), object_class(2)], encoding="labels"), 1800, CPU,
                  fixed_timing).settings()
    assert binary["data.mask_threshold"].value == 127 and binary["data.mask_threshold"].reason == (
        "as the fingerprint read the data")
    assert labels["data.classes"].value == 3 and "data.mask_threshold" not in labels


@pytest.mark.slow
def test_time_training_steps_measures_real_steps(tiny_dataset, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    timing = time_training_steps(tiny_config(tiny_dataset), steps=3)
    assert isinstance(timing, StepTiming) and timing.steps == 3
    assert timing.train_seconds > 0 and timing.epoch_seconds > 0
    assert timing.start_seconds > timing.train_seconds
    assert timing.what.startswith("batch 4 of 32x32x1, ")
    assert not list(tmp_path.iterdir())  # nothing written


@pytest.mark.slow
def test_a_planned_patch_recipe_trains(sparse_objects, tmp_path):
    plan(fingerprint(sparse_objects), 600, CPU, fixed_timing).save(tmp_path / "plan.yaml")
    result = subprocess.run(
        [sys.executable, str(ROOT / "train.py"), "--config", str(tmp_path / "plan.yaml"), "--epochs", "1",
         "--steps-per-epoch", "2", "--set", "model.options.base_filters=4", "--run-dir", str(tmp_path / "run")],
        capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    saved = load_config(tmp_path / "run" / "config.yaml")
    assert saved.data.crop == 256 and saved.data.foreground_crops == 0.33 and (tmp_path / "run" / "best.keras").is_file()
    planned = load_config(tmp_path / "plan.yaml").model.options
    assert saved.model.options == {**planned, "base_filters": 4}  # the plan's depth; few filters keep the test quick


@pytest.mark.slow
def test_tfseg_plan_writes_a_plan_that_train_py_trains(tmp_path, capsys):
    from tfseg.cli import main
    from tfseg.data.synthetic import write_demo_dataset

    data = write_demo_dataset(tmp_path / "small", samples=24, size=32, seed=3)
    out = tmp_path / "plan.yaml"
    # 10 s: about the least budget that affords resizing to 32x32 (MIN_SAMPLES at the CPU prior); less plans patches
    assert main(["plan", str(data), "--budget", "10s", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f"plan for {data.resolve()}, a budget of 10s on this CPU (")
    assert "data.image_size" in printed and "s/step on this CPU" in printed and "timed after the first (batch 2 of 32x32x1" in printed
    assert f"plan: written to {out}; train it with: python train.py --config {out}" in printed
    planned = load_config(out)
    assert planned.data.image_size == [32, 32] and planned.train.epochs >= 5
    result = subprocess.run([sys.executable, str(ROOT / "train.py"), "--config", str(out), "--run-dir",
                             str(tmp_path / "run")], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert load_config(tmp_path / "run" / "config.yaml").train.steps_per_epoch == planned.train.steps_per_epoch
    history = pd.read_csv(tmp_path / "run" / "history.csv")
    assert len(history) == planned.train.epochs and (tmp_path / "run" / "export").is_dir()


def test_a_bad_budget_is_one_line_naming_the_flag(tiny_dataset, capsys):
    from tfseg.cli import main

    assert main(["plan", str(tiny_dataset), "--budget", "3x"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: --budget '3x': expected a duration such as 90s, 30m, 2h or 1h30m"]


@pytest.mark.parametrize("text, seconds", [("90s", 90), ("30m", 1800), ("2h", 7200), ("1h30m", 5400), ("1.5h", 5400)])
def test_budgets_read_as_durations(text, seconds):
    from tfseg.text import parse_budget

    assert parse_budget(text) == seconds


@pytest.mark.parametrize("text", ["", "3x", "m", "30", "0s", "1h-5m"])
def test_other_budgets_are_rejected(text):
    from tfseg.text import parse_budget
    from tfseg.errors import TfsegError

    with pytest.raises(TfsegError, match=r"^--budget .*: expected a duration"):
        parse_budget(text)


@pytest.mark.slow
@pytest.mark.parametrize("name, options, expected", [
    ("ph2-skin", {}, {"data.channels": 3, "data.image_size": [96, 128], "model.options.depth": 4, "data.augment": "medium"}),
    ("jsrt-multiclass", {}, {"data.classes": 4, "data.image_size": [256, 256], "train.loss": "ce+dice"}),
    ("lung-cxr", {}, {"data.image_size": [256, 256], "model.options.depth": 5, "data.augment": "light"}),
    ("isbi-em", {}, {"data.crop": 384, "model.options.depth": 6, "data.foreground_crops": 0.0}),
])
def test_plans_of_the_shared_datasets(name, options, expected):
    """PH2, JSRT and lung-cxr get the input size of their best recipe in RESULTS.md; ISBI EM patches."""
    config = load_config(None, {"data.dir": str(shared_dataset(name)), **options})
    result = plan_data(config, 1800, CPU, fixed_timing)
    settings = {key: choice.value for key, choice in result.settings().items()}
    assert {key: settings[key] for key in expected} == expected
