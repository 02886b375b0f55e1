"""Transform lists and presets: parsing and the errors that name the bad entry."""

import pytest

from tfseg.errors import TfsegError
from tfseg.transforms import PRESETS, parse_transforms


@pytest.mark.parametrize(
    "augment, message",
    [
        ("strong", "unknown preset 'strong'"),
        ("lite", r"unknown preset 'lite'; did you mean light\? valid: "),
        (["HorizontalFlip"], r"unknown transform 'HorizontalFlip'; did you mean horizontal_flip\? valid: "),
        ([{"affine": {"rotation": [-5, 5]}}], r"unknown parameter\(s\) \['rotation'\]; did you mean rotate\? valid: "),
        (["hflip"], r"data.augment\[0\]: unknown transform 'hflip'"),
        ([{"affine": {"angle": 3}}], r"\(affine\): unknown parameter\(s\) \['angle'\]"),
        ([{"gamma": {"p": 2}}], r"\(gamma\).p: expected a probability"),
        ([{"affine": {"rotate": [20, -20]}}], r"\(affine\).rotate: expected -360.0 <= min <= max"),
        ([{"affine": {}, "gamma": {}}], "expected a transform name or"),
    ],
)
def test_bad_transform_lists_name_the_entry(augment, message):
    with pytest.raises(TfsegError, match=message):
        parse_transforms(augment)


def test_every_preset_parses():
    assert {name: len(parse_transforms(name)) for name in PRESETS} == {
        "none": 0, "flip": 1, "light": 3, "medium": 4, "heavy": 9
    }
