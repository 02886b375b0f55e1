"""The model card: what a runtime needs to reproduce predict.py with an export."""

from tests.conftest import run_config
from tfseg.config import Config
from tfseg.export.card import model_card


def _config(crop: int = 0, size=(48, 64)) -> Config:
    config = run_config()
    config.data.image_size, config.data.crop = list(size), crop
    return config


def test_the_model_card_says_how_the_model_sees_an_image():
    resized, cropped = _config(size=(48, 64)), _config(crop=32, size=(32, 32))
    resize_card, crop_card = model_card(resized, "val_iou", 0.9, 3), model_card(cropped, "val_iou", 0.9, 3)
    assert resized.data.describe_geometry() in resize_card["preprocessing"]
    assert cropped.data.describe_geometry() in crop_card["preprocessing"]
    assert "resize to" not in crop_card["preprocessing"]  # the card once said "resize to" for crop-trained runs
    assert resize_card["input"]["shape"] == [None, 48, 64, 1]
    assert resize_card["geometry"] == {"mode": "resize", "size": [48, 64], "overlap": None}
    assert crop_card["geometry"] == {"mode": "sliding_window", "size": [32, 32], "overlap": 0.5}
