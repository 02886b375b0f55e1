"""DeepLabV3 and DeepLabV3+ on a pretrained encoder, sharing one ASPP.

Papers: DeepLabV3, Chen et al. 2017, "Rethinking Atrous Convolution for Semantic Image
Segmentation", https://arxiv.org/abs/1706.05587; DeepLabV3+, Chen et al. 2018,
"Encoder-Decoder with Atrous Separable Convolution for Semantic Image Segmentation",
https://arxiv.org/abs/1802.02611.

Follows segmentation_models.pytorch (smp 0.5) `DeepLabV3` and `DeepLabV3Plus`, with their
defaults: `decoder_channels=256`, `decoder_atrous_rates=(12, 24, 36)`,
`decoder_aspp_dropout=0.5`; `encoder_output_stride=8` and plain ASPP convolutions for
DeepLabV3, `encoder_output_stride=16` and depthwise-separable ASPP convolutions for
DeepLabV3+. The encoder is dilated to the output stride (its last stages keep their
resolution with atrous convolutions), as smp does.

ASPP (smp `ASPP`): on the deepest feature, five branches of `decoder_channels` each: a
1×1 conv-BN-ReLU, three 3×3 atrous (optionally separable) conv-BN-ReLU at the atrous
rates, and image pooling (global average pool → 1×1 conv-BN-ReLU → back to the feature's
size); concatenated → 1×1 conv-BN-ReLU → dropout.
DeepLabV3 (smp `DeepLabV3Decoder`): ASPP → 3×3 conv-BN-ReLU → bilinear ×output stride.
DeepLabV3+ (smp `DeepLabV3PlusDecoder`): ASPP → 3×3 separable conv-BN-ReLU → bilinear up to
stride 4 → concatenated with the stride-4 feature reduced to 48 channels (1×1 conv-BN-ReLU)
→ 3×3 separable conv-BN-ReLU → bilinear ×4.

Where tfseg differs from smp: the final bilinear upsampling comes before the 1×1 head
convolution (smp upsamples the logits; the two are the same linear map up to the corner
alignment) and uses half-pixel centres (`UpSampling2D`; smp's `UpsamplingBilinear2d` aligns
corners); the image-pooling branch is broadcast back with nearest upsampling (the same
values as smp's bilinear resize of a 1×1 map). BatchNorm momentum is 0.9 as elsewhere in
tfseg. The input height and width must be fixed (the pooling branch is resized to them).
"""

from __future__ import annotations

import keras

from tfseg.errors import TfsegError
from tfseg.models.blocks import check_fixed_size, conv_bn_relu, upsample_bilinear
from tfseg.models.decoder import Decoded, EncoderFeatures
from tfseg.models.registry import register_decoder

DEEPLAB_OUTPUT_STRIDES = (8, 16)


def aspp(x, filters: int, atrous_rates, separable: bool, dropout: float, name: str = "aspp"):
    """Atrous Spatial Pyramid Pooling (smp `ASPP`).

    Branches `{name}_0` (1×1 conv-BN-ReLU), `{name}_1..3` (3×3 atrous conv-BN-ReLU at the
    three `atrous_rates`, separable if `separable`) and `{name}_pool` (global average pool
    → 1×1 conv-BN-ReLU → back to the input's size), each `filters` channels, concatenated
    (`{name}_concat`) → 1×1 conv-BN-ReLU (`{name}_project`) → `{name}_dropout`.
    """
    height, width = x.shape[1:3]
    branches = [conv_bn_relu(x, filters, f"{name}_0", kernel_size=1)]
    for index, rate in enumerate(atrous_rates, start=1):
        branches.append(conv_bn_relu(x, filters, f"{name}_{index}", dilation=rate, separable=separable))
    pooled = keras.layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_pool_gap")(x)
    pooled = conv_bn_relu(pooled, filters, f"{name}_pool", kernel_size=1)
    pooled = keras.layers.UpSampling2D((height, width), interpolation="nearest", name=f"{name}_pool_up")(pooled)
    branches.append(pooled)
    x = keras.layers.Concatenate(name=f"{name}_concat")(branches)
    x = conv_bn_relu(x, filters, f"{name}_project", kernel_size=1)
    return keras.layers.Dropout(dropout, name=f"{name}_dropout")(x)


def _deeplab_aspp(encoder: EncoderFeatures, output_stride, channels, atrous_rates, separable, dropout):
    """Checks the DeepLab options, then builds the dilated encoder and the ASPP on its
    deepest feature: (features, ASPP output)."""
    name = encoder.model
    if output_stride not in DEEPLAB_OUTPUT_STRIDES:
        raise TfsegError(f"{name}: encoder_output_stride must be 8 or 16, got {output_stride!r}")
    rates = tuple(atrous_rates)
    if len(rates) != 3 or not all(isinstance(rate, int) and rate >= 1 for rate in rates):
        raise TfsegError(f"{name}: decoder_atrous_rates needs 3 positive integers, got {list(rates)}")
    if not 0 <= dropout < 1:
        raise TfsegError(f"{name}: decoder_aspp_dropout must be in [0, 1), got {dropout!r}")
    check_fixed_size(encoder.input_shape, name)
    features = encoder.features(output_stride=output_stride)
    return features, aspp(features[32], channels, atrous_rates, separable, dropout)


@register_decoder(
    "deeplabv3", family="DeepLabV3", small=dict(decoder_channels=8), peers={"smp": "DeepLabV3"},
    when="large objects and context: multi-scale atrous pyramid at stride 8, coarse boundaries",
)
def build_deeplabv3(
    encoder: EncoderFeatures,
    encoder_output_stride: int = 8,
    decoder_channels: int = 256,
    decoder_atrous_rates: tuple[int, int, int] = (12, 24, 36),
    decoder_aspp_separable: bool = False,
    decoder_aspp_dropout: float = 0.5,
) -> Decoded:
    """Builds DeepLabV3 (smp `DeepLabV3`): ASPP on the dilated encoder's deepest feature →
    3×3 conv-BN-ReLU → bilinear upsampling by the output stride → 1×1 head.

    Args:
        input_shape, classes, activation, encoder, encoder_weights, encoder_freeze: as in
            `tfseg.models.build`.
        encoder_output_stride: 8 or 16. Stride of the dilated encoder's deepest feature.
            Defaults to 8 (smp).
        decoder_channels: int. Channels of every ASPP branch and of the decoder. Defaults to 256.
        decoder_atrous_rates: three ints, the dilation rates of the atrous ASPP branches.
            Defaults to (12, 24, 36).
        decoder_aspp_separable: bool. Depthwise-separable atrous convolutions. Defaults to False.
        decoder_aspp_dropout: float. Dropout after the ASPP projection. Defaults to 0.5.

    Returns:
        A functional `keras.Model` named "deeplabv3_<encoder>" with a nested "encoder" model.

    Raises:
        TfsegError: encoder_output_stride not 8 or 16, bad atrous rates or dropout.
    """
    _, x = _deeplab_aspp(
        encoder, encoder_output_stride, decoder_channels, decoder_atrous_rates, decoder_aspp_separable,
        decoder_aspp_dropout,
    )
    x = conv_bn_relu(x, decoder_channels, "decoder")
    return Decoded(x, upsampling=encoder_output_stride, upsampling_name="decoder_up")


@register_decoder(
    "deeplabv3plus", family="DeepLabV3+", small=dict(decoder_channels=8), peers={"smp": "DeepLabV3Plus"},
    when="context of DeepLabV3 with sharper boundaries from a stride-4 skip; a strong general default",
)
def build_deeplabv3plus(
    encoder: EncoderFeatures,
    encoder_output_stride: int = 16,
    decoder_channels: int = 256,
    decoder_atrous_rates: tuple[int, int, int] = (12, 24, 36),
    decoder_aspp_separable: bool = True,
    decoder_aspp_dropout: float = 0.5,
) -> Decoded:
    """Builds DeepLabV3+ (smp `DeepLabV3Plus`): ASPP on the dilated encoder's deepest
    feature → 3×3 separable conv-BN-ReLU → bilinear up to stride 4 → concatenation with
    the stride-4 feature reduced to 48 channels (1×1 conv-BN-ReLU) → 3×3 separable
    conv-BN-ReLU → bilinear ×4 → 1×1 head.

    Args: as `build_deeplabv3`, but `encoder_output_stride` defaults to 16 and
    `decoder_aspp_separable` to True (smp).

    Returns:
        A functional `keras.Model` named "deeplabv3plus_<encoder>" with a nested "encoder" model.
    """
    features, x = _deeplab_aspp(
        encoder, encoder_output_stride, decoder_channels, decoder_atrous_rates, decoder_aspp_separable,
        decoder_aspp_dropout,
    )
    x = conv_bn_relu(x, decoder_channels, "aspp_out", separable=True)
    x = upsample_bilinear(x, encoder_output_stride // 4, "decoder_up")
    high_res = conv_bn_relu(features[4], 48, "decoder_highres", kernel_size=1)  # 48: the paper's choice
    x = keras.layers.Concatenate(name="decoder_concat")([x, high_res])
    x = conv_bn_relu(x, decoder_channels, "decoder_fuse", separable=True)
    return Decoded(x, upsampling=4)
