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


def test_make_config_takes_the_flags_as_keywords(tmp_path):
    from tfseg.config import KEYWORDS, make_config

    config = make_config(model="unet_resnet34", epochs=2, batch_size=4, image_size=(64, 32), data="some/folder",
                         model_options={"decoder_filters": [8, 8, 4, 4, 4]}, encoder_weights="none")
    assert (config.model.name, config.train.epochs, config.train.batch_size) == ("unet_resnet34", 2, 4)
    assert config.data.image_size == [64, 32] and config.data.dir == "some/folder"
    assert config.model.options == {"decoder_filters": [8, 8, 4, 4, 4], "encoder_weights": "none"}
    assert KEYWORDS["early_stopping"] == "train.early_stopping_patience"  # the flag's name, not the key's
    assert make_config().data.dir is None  # the demo data
    # a Config is copied, a folder is data.dir, a YAML file is read; None leaves a value alone
    assert make_config(config, epochs=3, batch_size=None).train.epochs == 3 and config.train.epochs == 2
    loaded = load_config(None, {"train.epochs": 5})
    again = make_config(loaded, batch_size=4)  # where each value came from is kept, the keyword's added
    assert again.sources == {"train.epochs": "flag --epochs", "train.batch_size": "flag --batch-size"}
    assert make_config(config).train.batch_size == 4
    assert make_config(tmp_path, crop=32).data.dir == str(tmp_path)
    assert make_config(tmp_path, crop=32).data.image_size == [32, 32]
    (tmp_path / "c.yaml").write_text("train: {epochs: 7}\n")
    assert make_config(tmp_path / "c.yaml", lr=0.1).train.epochs == 7
    with pytest.raises(TfsegError, match=r"unknown setting\(s\) \['batchsize'\]; did you mean batch_size\?"):
        make_config(batchsize=4)
    with pytest.raises(TfsegError, match="train.epochs: expected a value >= 1, got 0"):
        make_config(epochs=0)


def test_set_values_go_over_the_file_and_under_the_flags(tmp_path):
    """`--set` (load_config's settings): defaults < --config file < --set < flags; a builder
    option joins the file's; null sets null; a crop sets the model input as in YAML."""
    path = tmp_path / "c.yaml"
    path.write_text("data: {dir: somewhere, image_size: [64, 64]}\nmodel:\n  options: {depth: 2, base_filters: 8}\n"
                    "train: {epochs: 3, lr: 0.01}\n")
    settings = {"model.options.base_filters": 4, "train.epochs": 2, "train.lr": 3e-4, "data.dir": None, "data.crop": 32}
    config = load_config(path, {"train.epochs": 1, "train.batch_size": None}, settings)
    assert config.model.options == {"depth": 2, "base_filters": 4}
    assert config.train.epochs == 1 and config.train.lr == 3e-4 and config.train.batch_size == 8
    assert config.data.dir is None and config.data.image_size == [32, 32]


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"train.epoch": 3}, r"--set train.epoch: unknown config key; did you mean train.epochs, .*docs/options.md"),
        ({"model.option.depth": 3}, r"--set model.option.depth: unknown config key; did you mean model.options"),
        ({"model.options.": 3}, "--set model.options.: unknown config key"),
        ({"train.epochs": "ten"}, "config key train.epochs: expected int, got 'ten'"),
        ({"train.optimizer": "lamb"}, r"train.optimizer: expected one of \['adam', 'adamw', 'sgd', 'rmsprop'\], got 'lamb'"),
    ],
)
def test_a_bad_set_value_names_the_key_as_a_yaml_file_would(settings, message):
    with pytest.raises(TfsegError, match=message):
        load_config(None, None, settings)


def test_yaml_reads_exponents_as_numbers(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train: {lr: 3e-4, min_lr: 1E-6}\n")  # YAML 1.1 (PyYAML's safe_load) reads strings here
    config = load_config(path)
    assert config.train.lr == 3e-4 and config.train.min_lr == 1e-6


def test_sources_say_where_each_value_came_from(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("data:\n  crop: 64\nmodel:\n  options: {base_filters: 8}\ntrain:\n  epochs: 3\n  lr: 0.01\n")
    config = load_config(path, {"train.epochs": 5, "train.batch_size": None, "model.options.encoder_weights": "imagenet"})
    assert config.source_of("train.epochs") == "flag --epochs"  # the flag wins over the file
    assert config.source_of("train.lr") == f"config {path}"
    assert config.source_of("model.options.base_filters") == f"config {path}"
    assert config.source_of("model.options.encoder_weights") == "flag --encoder-weights"
    assert config.source_of("train.batch_size") == "default"  # an unset flag leaves the default
    assert config.source_of("data.image_size") == f"config {path}"  # set by the file's crop
    assert config.data.image_size == [64, 64]
    by_flags = load_config(path, {"data.crop": 32})
    assert by_flags.data.image_size == [32, 32] and by_flags.source_of("data.image_size") == "flag --crop"
    assert load_config(None).sources == {}
    assert config_from_dict({"train": {"seed": 1}}, "study.yaml: cell a").source_of("train.seed") == "config study.yaml: cell a"
    config.save(tmp_path / "saved.yaml")
    assert "sources" not in (tmp_path / "saved.yaml").read_text()  # where values came from is not a setting


def test_setting_advice_takes_the_form_the_value_was_given_in():
    from tfseg.config import setting_advice

    assert setting_advice("data.mask_threshold", 0, "default") == "pass --mask-threshold 0"
    assert setting_advice("data.mask_threshold", 0, "flag --mask-threshold") == "pass --mask-threshold 0"
    assert setting_advice("data.mask_threshold", 0, "config c.yaml") == "set data.mask_threshold: 0 in c.yaml"
    assert setting_advice("data.pad_crops", False, "default") == "pass --no-pad-crops"
    assert setting_advice("data.pad_crops", False, "config c.yaml") == "set data.pad_crops: false in c.yaml"
    assert setting_advice("model.options", {}, "default") == "set model.options: {}"  # YAML only


def test_data_settings_default_to_null_meaning_decided_by_the_data(tiny_dataset):
    from tfseg.config import DATA_DECIDED_KEYS
    from tfseg.data import load_table, settle_data

    data = Config().data
    assert (data.channels, data.classes, data.mask_threshold) == (None, None, None)
    data.dir = str(tiny_dataset)
    settled, decided = settle_data(data, load_table(data, 0))
    assert sorted(decided) == sorted(DATA_DECIDED_KEYS)  # each null one is decided, by the data
    assert (settled.channels, settled.classes, settled.mask_threshold) == (1, 1, 127)
    assert load_config(None, {"data.channels": 3}).data.channels == 3  # an explicit value stays
    with pytest.raises(TfsegError, match=r"data.channels: expected one of \[1, 3\], got 2"):
        load_config(None, {"data.channels": 2})
