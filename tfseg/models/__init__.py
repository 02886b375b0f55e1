"""Model builders behind one registry: `build(name, ...)` and `names()`.

Every builder takes `(input_shape, classes, activation, **options)` and returns a plain
functional `keras.Model` whose last layer is float32. Models take images scaled to
[0, 1] and, by default, output probabilities (sigmoid for one class, softmax for K).
Pretrained-encoder models (`<decoder>_<encoder>`, e.g. `unet_effb3`) hold their
keras.applications backbone as one nested model named "encoder" (`get_encoder`,
`set_encoder_trainable`) and their ImageNet preprocessing as a layer in front of it.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable

import keras

from tfseg.errors import TfsegError
from tfseg.models.encoders import ENCODERS, get_encoder, set_encoder_trainable
from tfseg.models.linknet import build_linknet, build_linknet_with_encoder
from tfseg.models.segnet import build_segnet, build_segnet_vgg16
from tfseg.models.unet import build_unet, build_unet_convpool, build_unet_upsample, build_unet_with_encoder
from tfseg.models.unetpp import build_unetpp, build_unetpp_with_encoder

__all__ = ["build", "names", "final_head", "get_encoder", "set_encoder_trainable"]

_REGISTRY: dict[str, Callable[..., keras.Model]] = {
    "unet": build_unet,
    "unet_upsample": build_unet_upsample,
    "unet_convpool": build_unet_convpool,
    "unetpp": build_unetpp,
    "segnet": build_segnet,
    "segnet_vgg16": build_segnet_vgg16,
    "linknet": build_linknet,
}
_ENCODER_DECODERS = {
    "unet": build_unet_with_encoder,
    "unetpp": build_unetpp_with_encoder,
    "linknet": build_linknet_with_encoder,
}
for _decoder, _builder in _ENCODER_DECODERS.items():
    for _encoder in ENCODERS:
        _REGISTRY[f"{_decoder}_{_encoder}"] = partial(_builder, encoder=_encoder)


def names() -> list[str]:
    """The registered model names, sorted."""
    return sorted(_REGISTRY)


def build(name: str, input_shape: tuple[int, int, int], classes: int = 1, **options: Any) -> keras.Model:
    """Builds the registered model `name`.

    Args:
        name: str. One of `names()`.
        input_shape: (height, width, channels).
        classes: int. 1 for binary, K for K classes. Defaults to 1.
        **options: the builder's keyword arguments (see each `build_*` docstring).

    Raises:
        TfsegError: unknown name (the message lists the valid ones) or unknown option.
    """
    if name not in _REGISTRY:
        raise TfsegError(f"unknown model {name!r}; valid: {', '.join(names())}")
    builder = _REGISTRY[name]
    try:
        return builder(tuple(input_shape), classes, **options)
    except TypeError as error:
        if "unexpected keyword argument" in str(error):
            raise TfsegError(f"model {name!r}: {error}") from None
        raise


def final_head(model: keras.Model) -> keras.Model:
    """The model that predicts: `model` itself when it has one output; for a
    deep-supervised model (one output per head, e.g. `unetpp` with
    `deep_supervision=True`), a model of the same layers and weights with only the last,
    full-depth output."""
    if len(model.outputs) == 1:
        return model
    return keras.Model(model.input, model.outputs[-1], name=model.name)
