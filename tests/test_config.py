"""Configs: YAML files and overrides, the shipped configs, and the checks that name the key."""

from pathlib import Path

import pytest

from tfseg.config import Config, config_from_dict, load_config
from tfseg.errors import TfsegError
from tfseg.transforms import parse_transforms

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


def test_yaml_then_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model:\n  name: unet\n  options: {base_filters: 8}\ntrain:\n  epochs: 3\n  lr: 1\n")
    config = load_config(path, {"train.epochs": 5, "train.batch_size": None, "data.image_size": (64, 32)})
    assert config.train.epochs == 5  # the override wins
    assert config.train.batch_size == 8  # None leaves the default
    assert config.train.lr == 1.0 and isinstance(config.train.lr, float)
    assert config.model.options == {"base_filters": 8}
    assert config.data.image_size == [64, 32]


def test_saved_config_round_trips(tmp_path):
    config = load_config(None, {"train.loss": "dice:1.0,bce:0.8", "data.channels": 3})
    config.save(tmp_path / "config.yaml")
    assert load_config(tmp_path / "config.yaml") == config


@pytest.mark.parametrize(
    "text, message",
    [
        ("train:\n  epoch: 3\n", "unknown key"),
        ("trian: {}\n", r"unknown section\(s\) \['trian'\]; did you mean train\? valid: "),
        ("data:\n  imagesize: [64, 64]\n", r"unknown key\(s\) data.\['imagesize'\]; did you mean data.image_size\? valid: "),
        ("train:\n  image_size: [64, 64]\n", r"unknown key\(s\) train.\['image_size'\]; did you mean data.image_size,"),
        ("train:\n  epochs: three\n", "train.epochs: expected int"),
        ("data:\n  channels: 2\n", "data.channels"),
        ("train: [1, 2\n", "not valid YAML"),
    ],
)
def test_bad_config_names_the_key(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(TfsegError, match=message):
        load_config(path)


def test_missing_config_file(tmp_path):
    with pytest.raises(TfsegError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_load(path):
    load_config(path)


def test_default_yaml_equals_defaults():
    assert load_config(Path(__file__).resolve().parents[1] / "configs" / "default.yaml") == Config()


def test_config_accepts_a_transform_list_and_checks_square_transforms(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("data:\n  augment:\n    - horizontal_flip\n    - affine: {rotate: [-5, 5], p: 1.0}\n")
    assert [t.name for t in parse_transforms(load_config(path).data.augment)] == ["horizontal_flip", "affine"]
    with pytest.raises(TfsegError, match=r"\['rotate90'\] need square images"):
        load_config(None, {"data.augment": ["rotate90"], "data.image_size": [32, 64]})
    with pytest.raises(TfsegError, match="data.engine"):
        load_config(None, {"data.engine": "cv2"})


def test_config_checks_crop_and_folds():
    with pytest.raises(TfsegError, match=r"data.image_size \(the model input\) must be \[64, 64\]"):
        load_config(None, {"data.crop": 64, "data.image_size": [32, 32]})
    with pytest.raises(TfsegError, match="data.folds: expected 0"):
        load_config(None, {"data.folds": 1})
    with pytest.raises(TfsegError, match=r"data.fold: expected 0..4"):
        load_config(None, {"data.folds": 5, "data.fold": 5})


def test_config_checks_the_training_recipe_options():
    with pytest.raises(TfsegError, match=r"data.foreground_crops: 0.33 chooses where random crops are taken, so it needs data.crop"):
        load_config(None, {"data.foreground_crops": 0.33})
    with pytest.raises(TfsegError, match=r"data.foreground_crops: expected a value >= 0 and <= 1, got 1.5"):
        load_config(None, {"data.foreground_crops": 1.5, "data.crop": 32})
    with pytest.raises(TfsegError, match=r"data.augment: \['brightness_contrast'\] change intensities .* got data.normalize zscore"):
        load_config(None, {"data.normalize": "zscore", "data.augment": "light"})
    with pytest.raises(TfsegError, match="train.export: a bioimage.io package takes 8-bit images"):
        load_config(None, {"data.normalize": "zscore", "train.export": ["bioimageio"]})
    with pytest.raises(TfsegError, match="train.steps_per_epoch: expected a value >= 0"):
        load_config(None, {"train.steps_per_epoch": -1})
    config = load_config(None, {"data.crop": 32, "data.foreground_crops": 0.33, "data.normalize": "zscore",
                                "train.steps_per_epoch": 250})
    assert (config.data.foreground_crops, config.data.normalize, config.train.steps_per_epoch) == (0.33, "zscore", 250)


@pytest.mark.parametrize(
    "train_options, message",
    [
        ({"optimizer": "lamb"}, "train.optimizer: expected one of"),
        ({"precision": "float16"}, "train.precision: expected one of"),
        ({"export": ["coreml"]}, "train.export: expected one of"),
        ({"schedule": "cosine", "warmup_epochs": 10, "epochs": 5}, "train.warmup_epochs"),
        ({"monitor": "iou"}, "train.monitor"),
    ],
)
def test_bad_train_options_name_the_key(train_options, message):
    with pytest.raises(TfsegError, match=message):
        config_from_dict({"train": train_options})


def test_crop_sets_the_model_input_in_yaml_and_on_the_command_line(tmp_path):
    path = tmp_path / "crop.yaml"
    path.write_text("data: {crop: 48}\n")
    assert load_config(path).data.image_size == [48, 48]
    assert load_config(None, {"data.crop": 40, "data.image_size": None}).data.image_size == [40, 40]
    path.write_text("data: {crop: 48, image_size: [64, 64]}\n")
    assert load_config(path, {"data.crop": 32}).data.image_size == [32, 32]  # the flag's crop wins
    with pytest.raises(TfsegError, match=r"must be \[48, 48\], got \[64, 64\]"):
        load_config(path)


def test_geometry_says_how_the_model_sees_an_image_height_first():
    resized, cropped = Config().data, Config().data
    resized.image_size, cropped.image_size, cropped.crop = [48, 64], [32, 32], 32
    assert not resized.is_crop_trained() and cropped.is_crop_trained()
    assert resized.describe_geometry().startswith("resize to 48x64 (height x width")
    assert cropped.describe_geometry().startswith("sliding window of 32x32 (height x width) windows at native resolution")
