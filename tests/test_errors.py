"""tfseg/errors.py: the "did you mean" advice for misspelt names."""

import pytest

from tfseg.errors import close_names, did_you_mean, normalise_name


@pytest.mark.parametrize(
    "given, expected",
    [
        ("efficientnet-b3", "effb3"),
        ("timm-efficientnet-b3", "effb3"),
        ("efficientnet_b3", "effb3"),
        ("efficientnetv2-s", "effv2s"),
        ("mobilenet_v2", "mobilenetv2"),
        ("mobilenet_v3_large", "mobilenetv3large"),
        ("timm-regnety_002", "regnety002"),
        ("UnetPlusPlus", "unetpp"),
        ("Unet", "unet"),
        ("unet_efficientnet-b3", "uneteffb3"),
        ("HorizontalFlip", "horizontalflip"),
        ("image_size", "imagesize"),
    ],
)
def test_normalise_name_maps_smp_spellings(given, expected):
    assert normalise_name(given) == expected


def test_close_names_prefers_a_spelling_match_then_difflib():
    valid = ["unet", "unetpp", "unet_resnet34", "unet_resnet50", "unet_effb3", "linknet"]
    assert close_names("Unet", valid) == ["unet"]
    assert close_names("unet_efficientnet-b3", valid) == ["unet_effb3"]
    assert close_names("unet_resnet43", valid)[0] == "unet_resnet34"
    assert close_names("xyz", valid) == []


def test_did_you_mean_phrases():
    assert did_you_mean("Unet", ["unet", "linknet"]) == "did you mean unet?"
    assert did_you_mean("--image-sise", ["--image-size", "--batch-size", "--model"]) == "did you mean --image-size?"
    assert did_you_mean("unte", ["unet", "unetpp", "unet3p"]) == "did you mean unet, unet3p or unetpp?"
    assert did_you_mean("xyz", ["unet"]) == ""


def test_close_names_breaks_ties_by_common_prefix():
    assert close_names("resnet35", ["resnet50", "resnet34", "resnet18"])[0] == "resnet34"
