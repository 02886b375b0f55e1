"""LinkNet (Chaurasia & Culurciello 2017, https://arxiv.org/abs/1707.03718): a ResNet-18-style
encoder, or a pretrained one, with light decoder blocks whose outputs are added to the
encoder features of the same stride."""

from __future__ import annotations

import keras

from tfseg.models.blocks import check_input_shape, conv_bn_relu, segmentation_model
from tfseg.models.decoder import EncoderFeatures
from tfseg.models.registry import register_decoder, register_model

LINKNET_STRIDE = 32


def linknet_decoder_block(x, filters: int, name: str):
    """1×1 conv to a quarter of the input channels → 3×3 transposed conv, stride 2 →
    1×1 conv to `filters`; each with BatchNorm and ReLU (layers `{name}_reduce|up|expand`)."""
    quarter = max(x.shape[-1] // 4, 1)
    x = conv_bn_relu(x, quarter, f"{name}_reduce", kernel_size=1)
    x = keras.layers.Conv2DTranspose(quarter, 3, strides=2, padding="same", use_bias=False, name=f"{name}_up_conv")(x)
    x = keras.layers.BatchNormalization(momentum=0.9, name=f"{name}_up_bn")(x)
    x = keras.layers.Activation("relu", name=f"{name}_up_relu")(x)
    return conv_bn_relu(x, filters, f"{name}_expand", kernel_size=1)


def linknet_decoder(features: dict, final_filters: int):
    """Decodes features at strides 2–32 to stride 1: a decoder block per stride, its output
    added to the encoder feature of the next stride, a last block to full resolution."""
    x = features[32]
    for stride in (16, 8, 4, 2):
        x = linknet_decoder_block(x, features[stride].shape[-1], f"dec{stride}")
        x = keras.layers.Add(name=f"dec{stride}_add")([x, features[stride]])
    return linknet_decoder_block(x, final_filters, "dec1")


def _basic_block(x, filters: int, strides: int, name: str):
    """ResNet basic block: two 3×3 convs with BatchNorm, identity (or 1×1 projection) shortcut."""
    shortcut = x
    if strides != 1 or x.shape[-1] != filters:
        shortcut = keras.layers.Conv2D(filters, 1, strides=strides, use_bias=False, name=f"{name}_proj_conv")(x)
        shortcut = keras.layers.BatchNormalization(momentum=0.9, name=f"{name}_proj_bn")(shortcut)
    x = conv_bn_relu(x, filters, f"{name}_1", strides=strides)
    x = conv_bn_relu(x, filters, f"{name}_2", relu=False)
    x = keras.layers.Add(name=f"{name}_add")([x, shortcut])
    return keras.layers.Activation("relu", name=f"{name}_out")(x)


@register_model(
    "linknet", family="LinkNet", small=dict(base_filters=4),
    when="fast and light: additive skips keep the decoder cheap",
)
def build_linknet(
    input_shape: tuple[int, int, int],
    classes: int = 1,
    activation: str | None = "auto",
    base_filters: int = 16,
) -> keras.Model:
    """Builds LinkNet with its own ResNet-18-style encoder (random initialisation).

    Encoder: 7×7 conv stride 2 → 3×3 max-pool stride 2 → four stages of two basic blocks
    (base_filters × 1, 2, 4, 8; stride 1, 2, 2, 2). Decoder: `linknet_decoder`.

    Args:
        input_shape: (height, width, channels); height and width must be multiples of 32.
        classes, activation: as in `tfseg.models.build`.
        base_filters: int. Filters of the stem and first stage; the paper (ResNet-18) used
            64. Defaults to 16.

    Returns:
        A functional `keras.Model` named "linknet".
    """
    check_input_shape(input_shape, LINKNET_STRIDE, "linknet")
    inputs = keras.Input(input_shape, name="image")
    stem = conv_bn_relu(inputs, base_filters, "stem", kernel_size=7, strides=2)
    x = keras.layers.MaxPooling2D(3, strides=2, padding="same", name="stem_pool")(stem)
    features = {2: stem}
    for stage, stride in enumerate((4, 8, 16, 32)):
        filters = base_filters * 2**stage
        x = _basic_block(x, filters, 1 if stage == 0 else 2, f"enc{stage + 1}_block1")
        x = _basic_block(x, filters, 1, f"enc{stage + 1}_block2")
        features[stride] = x
    x = linknet_decoder(features, base_filters)
    return segmentation_model(inputs, x, classes, activation, "linknet")


@register_decoder(
    "linknet", family="LinkNet", small=dict(final_filters=4), peers={"sm": "Linknet", "smp": "Linknet"},
    when="the fastest decoder on a pretrained encoder, for real-time or large images",
    default_encoder="effb3",
)
def build_linknet_with_encoder(
    encoder: EncoderFeatures,
    final_filters: int = 32,
) -> keras.KerasTensor:
    """Builds the LinkNet decoder (`linknet_decoder`) on a keras.applications encoder.

    Args:
        input_shape, classes, activation, encoder, encoder_weights, encoder_freeze: as in
            `tfseg.models.build`.
        final_filters: int. Filters of the last decoder block (full resolution). Defaults to 32.

    Returns:
        A functional `keras.Model` named "linknet_<encoder>" with a nested "encoder" model.
    """
    return linknet_decoder(encoder.features(), final_filters)
