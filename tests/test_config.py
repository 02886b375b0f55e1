import pytest

from tfseg.config import load_config
from tfseg.errors import TfsegError


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
        ("trian: {}\n", "unknown section"),
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
