"""U-Net (Ronneberger et al. 2015, https://arxiv.org/abs/1505.04597): the original, two
variants of its down/up-sampling, and the U-Net decoder on a pretrained encoder."""

from __future__ import annotations

import keras

from tfseg.models.blocks import check_five_strides, check_input_shape, conv_bn_relu, double_conv, segmentation_model
from tfseg.models.decoder import EncoderFeatures
from tfseg.models.registry import register_decoder, register_model


def _unet_variant(name: str, downsampling: str, upsampling: str, summary: str):
    """The builder of U-Net variant `name`: `downsampling` is "maxpool" or "conv",
    `upsampling` is "transpose" or "nearest"; `summary` opens its docstring."""

    def build(
        input_shape: tuple[int, int, int],
        classes: int = 1,
        activation: str | None = "auto",
        depth: int = 4,
        base_filters: int = 16,
        batch_norm: bool = True,
        dropout: float = 0.0,
    ) -> keras.Model:
        check_input_shape(input_shape, 2**depth, name)
        inputs = keras.Input(input_shape, name="image")
        x = inputs
        skips = []
        for level in range(depth):
            filters = base_filters * 2**level
            x = double_conv(x, filters, f"enc{level + 1}", batch_norm)
            skips.append(x)
            if downsampling == "maxpool":
                x = keras.layers.MaxPooling2D(2, name=f"enc{level + 1}_pool")(x)
            else:
                x = conv_bn_relu(x, filters, f"enc{level + 1}_down", batch_norm, strides=2)
        x = double_conv(x, base_filters * 2**depth, "bottleneck", batch_norm)
        if dropout:
            x = keras.layers.Dropout(dropout, name="bottleneck_dropout")(x)
        for level in reversed(range(depth)):
            filters = base_filters * 2**level
            if upsampling == "transpose":
                x = keras.layers.Conv2DTranspose(filters, 2, strides=2, name=f"dec{level + 1}_up")(x)
            else:
                x = keras.layers.UpSampling2D(2, interpolation="nearest", name=f"dec{level + 1}_up")(x)
                x = conv_bn_relu(x, filters, f"dec{level + 1}_upconv", batch_norm, kernel_size=2)
            x = keras.layers.Concatenate(name=f"dec{level + 1}_concat")([x, skips[level]])
            x = double_conv(x, filters, f"dec{level + 1}", batch_norm)
        return segmentation_model(inputs, x, classes, activation, name)

    build.__name__ = build.__qualname__ = f"build_{name}"
    build.__doc__ = f"""{summary}

    Args:
        input_shape: (height, width, channels). Height and width must be multiples of 2**depth.
        classes, activation: as in `tfseg.models.build`.
        depth: int. Number of downsampling stages. Defaults to 4 (as in the paper).
        base_filters: int. Filters of the first level, doubled at each level. The paper
            used 64 (16x the compute); 16 trains on a laptop CPU. Defaults to 16.
        batch_norm: bool. BatchNorm after every conv. Defaults to True.
        dropout: float. Dropout rate at the end of the contracting path (the paper's 0.5);
            0 disables it. Defaults to 0.0.

    Returns:
        A functional `keras.Model` named "{name}".
    """
    return build


build_unet = register_model(
    "unet", family="U-Net", small=dict(depth=2, base_filters=4),
    when="the baseline: small data, training from scratch, any input size that is a multiple of 2**depth",
)(_unet_variant(
    "unet", "maxpool", "transpose",
    "Builds the original U-Net: two 3×3 convs per level, max-pooling down, 2×2 transposed\n"
    "    convolutions up, skip concatenation.",
))

build_unet_upsample = register_model(
    "unet_upsample", family="U-Net", small=dict(depth=2, base_filters=4),
    when="U-Net without the checkerboard artefacts of transposed convolutions",
)(_unet_variant(
    "unet_upsample", "maxpool", "nearest",
    "Builds U-Net with nearest-neighbour UpSampling2D followed by a 2×2 conv in place of\n"
    "    the transposed convolutions (no checkerboard artefacts); max-pooling down.",
))

build_unet_convpool = register_model(
    "unet_convpool", family="U-Net", small=dict(depth=2, base_filters=4),
    when="U-Net that learns its downsampling (strided convolutions instead of max-pooling)",
)(_unet_variant(
    "unet_convpool", "conv", "transpose",
    "Builds U-Net with a strided 3×3 conv (stride 2) in place of each max-pooling; 2×2\n"
    "    transposed convolutions up.",
))


@register_decoder(
    "unet", family="U-Net", small=dict(decoder_filters=(8, 8, 4, 4, 4)), peers={"sm": "Unet", "smp": "Unet"},
    when="the default with a pretrained encoder: fine boundaries from skips at every stride",
    default_encoder="effb3",
)
def build_unet_with_encoder(
    encoder: EncoderFeatures,
    decoder_filters: tuple[int, ...] = (256, 128, 64, 32, 16),
) -> keras.KerasTensor:
    """Builds a U-Net decoder on a keras.applications encoder (as segmentation_models):
    from stride 32, five blocks of nearest ×2 upsampling → concatenation with the
    encoder feature of that stride (at stride 1 only VGG has one) → two 3×3 conv-BN-ReLU.
    On VGG, whose stride-32 feature is the last max-pooling, a centre block (two 3×3
    conv-BN-ReLU, 512 filters) comes first.

    Args:
        input_shape, classes, activation, encoder, encoder_weights, encoder_freeze: as in
            `tfseg.models.build`.
        decoder_filters: five ints, the filters of the decoder blocks from stride 16 to 1.
            Defaults to (256, 128, 64, 32, 16).

    Returns:
        A functional `keras.Model` named "unet_<encoder>" with a nested "encoder" model.
    """
    check_five_strides(decoder_filters, "decoder_filters", encoder.model)
    features = encoder.features()
    x = features[32]
    if encoder.spec.pooled_bottom:
        x = double_conv(x, 512, "center")
    for stride, filters in zip((16, 8, 4, 2, 1), decoder_filters):
        x = keras.layers.UpSampling2D(2, name=f"dec{stride}_up")(x)
        if stride in features:
            x = keras.layers.Concatenate(name=f"dec{stride}_concat")([x, features[stride]])
        x = double_conv(x, filters, f"dec{stride}")
    return x
