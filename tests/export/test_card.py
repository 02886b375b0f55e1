"""The model card: what a runtime needs to reproduce predict.py with an export."""

from tests.conftest import run_config
from tfseg.config import Config
from tfseg.export.card import card_normalize, model_card


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


def test_the_model_card_says_how_pixel_values_are_normalised():
    scaled, zscored = _config(), _config()
    zscored.data.normalize = "zscore"
    scaled_card, zscore_card = model_card(scaled, "val_iou", 0.9, 3), model_card(zscored, "val_iou", 0.9, 3)
    assert scaled_card["normalize"] == "scale" and scaled_card["scale"] == {"uint8": 255, "uint16": 65535}
    assert "scale to [0, 1]" in scaled_card["preprocessing"]
    assert zscore_card["normalize"] == "zscore" and "scale" not in zscore_card and zscore_card["zscore_eps"] == 1e-8
    assert "z-score each channel over the whole image" in zscore_card["preprocessing"]
    assert [card_normalize(card) for card in (zscore_card, scaled_card, {"threshold": 0.5}, None)] == [
        "zscore", "scale", "scale", "scale"]  # a card from before the option, or none: scale
