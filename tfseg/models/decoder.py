"""The decoder base: what every model on a pretrained encoder shares (the idea of
segmentation_models.pytorch's `SegmentationModel`, in Keras' functional style).

A decoder is one function, registered with `tfseg.models.registry.register_decoder`:
`decoder(encoder, **options)` checks its options, asks `encoder.features(...)` for the
encoder features it needs (by output stride, optionally dilated) and returns its output
feature map, or a `Decoded` when that map is below full resolution. `build_on_encoder`
does the rest for every decoder: the input and the nested encoder, the final bilinear
upsampling, the 1×1 head (activation, float32) and the name `<decoder>_<encoder>`.
`decoder_builder` turns the decoder into its public `build_<decoder>`, whose signature is
the shared `input_shape, classes, activation, encoder, encoder_weights, encoder_freeze`
followed by the decoder's own options.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

import keras

from tfseg.models.blocks import segmentation_model, upsample_bilinear
from tfseg.models.encoders import EncoderSpec, encoder_input_and_features, get_spec

ENCODER_STRIDES = (2, 4, 8, 16, 32)


class Decoded(NamedTuple):
    """A decoder's output below full resolution.

    Attributes:
        x: the decoder's output feature map.
        upsampling: int. The bilinear upsampling factor to full resolution. Defaults to 1.
        upsampling_name: str. The name of that `UpSampling2D` layer. Defaults to "final_up".
    """

    x: Any
    upsampling: int = 1
    upsampling_name: str = "final_up"


@dataclass
class EncoderFeatures:
    """What a decoder is given: its model's name and the encoder, whose features it asks for.

    Attributes:
        model: str. The model's name, `<decoder>_<encoder>`, for error messages.
        name: str. The encoder, a key of `tfseg.models.encoders.ENCODERS`.
        input_shape: (height, width, channels) of the model's input.
        weights: the model's `encoder_weights`.
        freeze: bool. The model's `encoder_freeze`.
        inputs: the model's input tensor, once `features` has been called.
    """

    model: str
    name: str
    input_shape: tuple
    weights: Any
    freeze: bool
    inputs: Any = None

    @property
    def spec(self) -> EncoderSpec:
        """The encoder's `EncoderSpec`."""
        return get_spec(self.name)

    def features(self, strides=ENCODER_STRIDES, output_stride: int = 32) -> dict:
        """Makes the model's input and runs the nested encoder on it (see
        `tfseg.models.encoders.encoder_input_and_features`): a dict output stride → feature
        for each of `strides`, the encoder dilated to `output_stride` (32, 16 or 8)."""
        self.inputs, features = encoder_input_and_features(
            self.model, self.input_shape, self.name, self.weights, self.freeze, strides, output_stride
        )
        return features


def build_on_encoder(
    decoder: Callable,
    prefix: str,
    input_shape: tuple[int, int, int],
    classes: int,
    activation: str | None,
    encoder: str,
    encoder_weights,
    encoder_freeze: bool,
    **options,
) -> keras.Model:
    """The model of `decoder` (with its `options`) on `encoder`, named `<prefix>_<encoder>`:
    the decoder's output, bilinearly upsampled to full resolution when it returns a
    `Decoded`, then `segmentation_model`'s head (one per map when it returns a list)."""
    source = EncoderFeatures(f"{prefix}_{encoder}", encoder, input_shape, encoder_weights, encoder_freeze)
    decoded = decoder(source, **options)
    if not isinstance(decoded, Decoded):
        decoded = Decoded(decoded)
    x = decoded.x
    if decoded.upsampling != 1:
        x = upsample_bilinear(x, decoded.upsampling, decoded.upsampling_name)
    return segmentation_model(source.inputs, x, classes, activation, source.model)


def _shared_parameters(default_encoder: str) -> list[inspect.Parameter]:
    """The parameters every decoder's builder takes first (see `tfseg.models.build`)."""
    parameter = inspect.Parameter
    return [
        parameter("input_shape", parameter.POSITIONAL_OR_KEYWORD, annotation="tuple[int, int, int]"),
        parameter("classes", parameter.POSITIONAL_OR_KEYWORD, default=1, annotation="int"),
        parameter("activation", parameter.POSITIONAL_OR_KEYWORD, default="auto", annotation="str | None"),
        parameter("encoder", parameter.POSITIONAL_OR_KEYWORD, default=default_encoder, annotation="str"),
        parameter("encoder_weights", parameter.POSITIONAL_OR_KEYWORD, default=None, annotation="str | None"),
        parameter("encoder_freeze", parameter.POSITIONAL_OR_KEYWORD, default=False, annotation="bool"),
    ]


def decoder_builder(prefix: str, decoder: Callable, default_encoder: str) -> Callable[..., keras.Model]:
    """The public builder of `decoder`: `(input_shape, classes=1, activation="auto",
    encoder=default_encoder, encoder_weights=None, encoder_freeze=False, <the decoder's
    options>)` → `build_on_encoder(...)`, with the decoder's name and docstring."""
    own = list(inspect.signature(decoder).parameters.values())[1:]  # after `encoder`
    signature = inspect.Signature(_shared_parameters(default_encoder) + own, return_annotation="keras.Model")

    def build(*args, **kwargs) -> keras.Model:
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as error:  # as Python words it for a function with this signature
            raise TypeError(f"{build.__name__}() {error}") from None
        bound.apply_defaults()
        return build_on_encoder(decoder, prefix, **bound.arguments)

    for attribute in ("__module__", "__name__", "__qualname__", "__doc__"):
        setattr(build, attribute, getattr(decoder, attribute))
    build.__signature__ = signature
    return build
