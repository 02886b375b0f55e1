"""The augmentation catalogue: named transforms, their parameters, and the presets.

A transform list is parsed once (`parse_transforms`) into `Transform`s (name, parameters with
their defaults filled in, probability `p`). The same list drives both engines: the batched
TF ops of `tfseg.data.augment` (default) and the albumentations bridge
(`tfseg.data.albumentations_bridge`). This module imports neither TensorFlow nor
albumentations, so configs are checked cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tfseg.errors import TfsegError, did_you_mean

# name → default parameters (every transform also takes `p`, the probability it is applied).
TRANSFORM_DEFAULTS: dict[str, dict[str, Any]] = {
    "horizontal_flip": {"p": 0.5},
    "vertical_flip": {"p": 0.5},
    "rotate90": {"p": 0.5},
    "transpose": {"p": 0.5},
    "affine": {"scale": [0.9, 1.1], "translate": [-0.0625, 0.0625], "rotate": [-15.0, 15.0], "shear": [0.0, 0.0], "p": 0.5},
    "perspective": {"scale": [0.05, 0.1], "p": 0.5},
    "random_resized_crop": {"scale": [0.5, 1.0], "ratio": [0.75, 1.3333], "p": 1.0},
    "elastic": {"alpha": 200.0, "sigma": 5.0, "p": 0.5},
    "coarse_dropout": {"holes": [1, 4], "size": [0.05, 0.1], "p": 0.5},
    "brightness_contrast": {"brightness": 0.2, "contrast": 0.2, "p": 0.5},
    "gamma": {"gamma": [80.0, 120.0], "p": 0.5},
    "gaussian_noise": {"std": [0.01, 0.05], "p": 0.5},
    "gaussian_blur": {"sigma": [0.3, 1.0], "p": 0.5},
    "clahe": {"clip_limit": [1.0, 4.0], "tile_grid": 8, "p": 0.5},
}
MATRIX_TRANSFORMS = ("horizontal_flip", "vertical_flip", "rotate90", "transpose", "affine", "perspective", "random_resized_crop")
SQUARE_ONLY = ("rotate90", "transpose")
PIXEL_TRANSFORMS = tuple(name for name in TRANSFORM_DEFAULTS if name not in MATRIX_TRANSFORMS and name != "elastic")
"""Transforms that change intensities (every one but the warps): they take images in [0, 1] and
clip to it (`data.normalize: scale`)."""

PRESETS: dict[str, list[Any]] = {
    "none": [],
    "flip": ["horizontal_flip"],
    "light": [
        {"horizontal_flip": {"p": 0.5}},
        {"affine": {"scale": [0.95, 1.05], "translate": [-0.05, 0.05], "rotate": [-10, 10], "p": 0.5}},
        {"brightness_contrast": {"brightness": 0.1, "contrast": 0.1, "p": 0.5}},
    ],
    "medium": [
        {"horizontal_flip": {"p": 0.5}},
        {"affine": {"scale": [0.9, 1.1], "translate": [-0.0625, 0.0625], "rotate": [-15, 15], "p": 0.7}},
        {"brightness_contrast": {"brightness": 0.2, "contrast": 0.2, "p": 0.5}},
        {"gamma": {"gamma": [80, 120], "p": 0.3}},
    ],
    "heavy": [
        {"horizontal_flip": {"p": 0.5}},
        {"affine": {"scale": [0.8, 1.2], "translate": [-0.1, 0.1], "rotate": [-30, 30], "shear": [-10, 10], "p": 0.8}},
        {"perspective": {"scale": [0.02, 0.06], "p": 0.3}},
        {"elastic": {"alpha": 200, "sigma": 5, "p": 0.3}},
        {"brightness_contrast": {"brightness": 0.3, "contrast": 0.3, "p": 0.7}},
        {"gamma": {"gamma": [70, 150], "p": 0.5}},
        {"gaussian_noise": {"std": [0.01, 0.04], "p": 0.3}},
        {"gaussian_blur": {"sigma": [0.3, 1.2], "p": 0.2}},
        {"coarse_dropout": {"holes": [1, 6], "size": [0.04, 0.1], "p": 0.3}},
    ],
}


@dataclass(frozen=True)
class Transform:
    """One named transform with all its parameters.

    Attributes:
        name: str. A key of `TRANSFORM_DEFAULTS`.
        params: dict. Parameters with defaults filled in, including `p`.
    """

    name: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def p(self) -> float:
        """Probability that the transform is applied to an image."""
        return float(self.params["p"])


def _check_range(where: str, value: Any, low: float, high: float) -> None:
    if not (isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value)):
        raise TfsegError(f"{where}: expected [min, max], got {value!r}")
    if not low <= value[0] <= value[1] <= high:
        raise TfsegError(f"{where}: expected {low} <= min <= max <= {high}, got {list(value)}")


_RANGE_LIMITS = {
    ("affine", "scale"): (0.01, 100.0),
    ("affine", "translate"): (-1.0, 1.0),
    ("affine", "rotate"): (-360.0, 360.0),
    ("affine", "shear"): (-80.0, 80.0),
    ("perspective", "scale"): (0.0, 0.5),
    ("random_resized_crop", "scale"): (0.01, 1.0),
    ("random_resized_crop", "ratio"): (0.01, 100.0),
    ("coarse_dropout", "holes"): (0, 1000),
    ("coarse_dropout", "size"): (0.0, 1.0),
    ("gamma", "gamma"): (1.0, 1000.0),
    ("gaussian_noise", "std"): (0.0, 1.0),
    ("gaussian_blur", "sigma"): (0.01, 20.0),
    ("clahe", "clip_limit"): (0.0, 100.0),
}


def _parse_one(where: str, entry: Any) -> Transform:
    """One YAML entry (`name` or `{name: {param: value}}`) → `Transform`."""
    if isinstance(entry, str):
        name, given = entry, {}
    elif isinstance(entry, dict) and len(entry) == 1:
        name, given = next(iter(entry.items()))
        given = given or {}
    else:
        raise TfsegError(f"{where}: expected a transform name or {{name: {{param: value}}}}, got {entry!r}")
    if name not in TRANSFORM_DEFAULTS:
        advice = did_you_mean(name, TRANSFORM_DEFAULTS, end=" ")
        raise TfsegError(f"{where}: unknown transform {name!r}; {advice}valid: {sorted(TRANSFORM_DEFAULTS)}")
    if not isinstance(given, dict):
        raise TfsegError(f"{where} ({name}): expected a mapping of parameters, got {given!r}")
    defaults = TRANSFORM_DEFAULTS[name]
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        advice = "".join(did_you_mean(str(key), defaults, end=' ') for key in unknown)
        raise TfsegError(f"{where} ({name}): unknown parameter(s) {unknown}; {advice}valid: {sorted(defaults)}")
    params = {**defaults, **given}
    if not (isinstance(params["p"], (int, float)) and 0 <= params["p"] <= 1):
        raise TfsegError(f"{where} ({name}).p: expected a probability in [0, 1], got {params['p']!r}")
    for key, value in params.items():
        if (name, key) in _RANGE_LIMITS:
            _check_range(f"{where} ({name}).{key}", value, *_RANGE_LIMITS[(name, key)])
    for key in ("brightness", "contrast"):
        if name == "brightness_contrast" and not (isinstance(params[key], (int, float)) and 0 <= params[key] <= 1):
            raise TfsegError(f"{where} ({name}).{key}: expected a limit in [0, 1], got {params[key]!r}")
    if name == "elastic" and not all(isinstance(params[k], (int, float)) and params[k] > 0 for k in ("alpha", "sigma")):
        raise TfsegError(f"{where} ({name}): alpha and sigma must be numbers > 0, got {params['alpha']!r}, {params['sigma']!r}")
    if name == "clahe" and not (isinstance(params["tile_grid"], int) and params["tile_grid"] >= 1):
        raise TfsegError(f"{where} ({name}).tile_grid: expected an int >= 1, got {params['tile_grid']!r}")
    return Transform(name, params)


def parse_transforms(augment: str | list[Any], where: str = "data.augment") -> list[Transform]:
    """Turns a preset name or a list of named transforms into `Transform`s.

    Args:
        augment: str or list. A preset (`none`, `flip`, `light`, `medium`, `heavy`) or a list
            whose entries are a transform name or `{name: {param: value, ...}}`.
        where: str. Config key for error messages. Defaults to "data.augment".

    Returns:
        The transforms in the order they are listed.

    Raises:
        TfsegError: an unknown preset, transform or parameter, or a value out of range.
    """
    if isinstance(augment, str):
        if augment not in PRESETS:
            advice = did_you_mean(augment, PRESETS, end=" ")
            raise TfsegError(f"{where}: unknown preset {augment!r}; {advice}valid: {list(PRESETS)} or a list of transforms")
        augment = PRESETS[augment]
    if not isinstance(augment, list):
        raise TfsegError(f"{where}: expected a preset name or a list of transforms, got {augment!r}")
    return [_parse_one(f"{where}[{index}]", entry) for index, entry in enumerate(augment)]
