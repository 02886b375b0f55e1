"""FPN: the semantic segmentation branch of Panoptic FPN (Kirillov et al. 2019, Panoptic
Feature Pyramid Networks, https://arxiv.org/abs/1901.02446) on a feature pyramid (Lin et al.
2017, https://arxiv.org/abs/1612.03144), as segmentation_models.pytorch's `smp.FPN`
(0.5/0.6) builds it on a pretrained encoder.

smp's defaults, followed here: 1×1 lateral convs (with bias) take the encoder features at
strides 4–32 to `decoder_pyramid_channels=256`; top-down, each level is the nearest ×2
upsampling of the one above plus its lateral; each pyramid level goes through a
segmentation block, a 3×3 conv (no bias) → GroupNorm(32) → ReLU → bilinear ×2 repeated
until stride 4 (one conv without upsampling at stride 4), to
`decoder_segmentation_channels=128`; the four blocks are merged by "add" (or "cat", four
times the channels), spatial dropout 0.2, bilinear ×4 to the input size.

Where tfseg differs: the 1×1 head comes after the final upsampling (smp upsamples the 1×1
head's logits; the two are the same linear map but for the corner alignment); bilinear
resizing uses half-pixel centres (Keras' only mode; smp's uses `align_corners=True`);
GroupNorm has min(32, channels) groups so that narrow test decoders work (smp: always 32),
epsilon 1e-5 as PyTorch. smp's `encoder_depth` option is not offered: the pyramid always
uses strides 4–32.
"""

from __future__ import annotations

import keras

from tfseg.errors import TfsegError
from tfseg.models.blocks import upsample_bilinear
from tfseg.models.decoder import Decoded, EncoderFeatures
from tfseg.models.registry import register_decoder

FPN_STRIDES = (32, 16, 8, 4)


def conv_gn_relu(x, filters: int, name: str):
    """3×3 conv (no bias) → GroupNorm(min(32, filters)) → ReLU, layers `{name}_conv|gn|relu`."""
    groups = min(32, filters)
    x = keras.layers.Conv2D(
        filters, 3, padding="same", use_bias=False, kernel_initializer="he_normal", name=f"{name}_conv"
    )(x)
    x = keras.layers.GroupNormalization(groups, epsilon=1e-5, name=f"{name}_gn")(x)
    return keras.layers.Activation("relu", name=f"{name}_relu")(x)


def fpn_decoder(
    features: dict,
    pyramid_channels: int,
    segmentation_channels: int,
    merge_policy: str,
    dropout: float,
    interpolation: str = "nearest",
):
    """The smp FPN decoder on features at strides 4–32; returns the merged stride-4 map."""
    pyramid = {32: keras.layers.Conv2D(pyramid_channels, 1, name="fpn_p32_lateral")(features[32])}
    for stride in FPN_STRIDES[1:]:
        up = keras.layers.UpSampling2D(2, interpolation=interpolation, name=f"fpn_p{stride}_topdown")
        top = up(pyramid[2 * stride])
        lateral = keras.layers.Conv2D(pyramid_channels, 1, name=f"fpn_p{stride}_lateral")(features[stride])
        pyramid[stride] = keras.layers.Add(name=f"fpn_p{stride}_add")([top, lateral])
    levels = []
    for stride in FPN_STRIDES:
        x = pyramid[stride]
        steps = max(stride.bit_length() - 3, 0)  # log2(stride / 4) upsamplings
        for step in range(max(steps, 1)):
            x = conv_gn_relu(x, segmentation_channels, f"fpn_s{stride}_{step + 1}")
            if steps:
                x = upsample_bilinear(x, 2, f"fpn_s{stride}_{step + 1}_up")
        levels.append(x)
    if merge_policy == "add":
        x = keras.layers.Add(name="fpn_merge")(levels)
    else:
        x = keras.layers.Concatenate(name="fpn_merge")(levels)
    if dropout:
        x = keras.layers.SpatialDropout2D(dropout, name="fpn_dropout")(x)
    return x


@register_decoder(
    "fpn", family="FPN", small=dict(decoder_pyramid_channels=8, decoder_segmentation_channels=8),
    peers={"sm": "FPN", "smp": "FPN"},
    when="objects at many scales: a light multi-scale pyramid merged at stride 4",
)
def build_fpn(
    encoder: EncoderFeatures,
    decoder_pyramid_channels: int = 256,
    decoder_segmentation_channels: int = 128,
    decoder_merge_policy: str = "add",
    decoder_dropout: float = 0.2,
    decoder_interpolation: str = "nearest",
) -> Decoded:
    """Builds the Panoptic-FPN semantic head on a keras.applications encoder, as smp.FPN.

    Args:
        input_shape, classes, activation, encoder, encoder_weights, encoder_freeze: as in
            `tfseg.models.build`.
        decoder_pyramid_channels: int. Channels of the pyramid (lateral convs). Defaults to 256.
        decoder_segmentation_channels: int. Channels of the segmentation blocks; must be
            ≤ 32 or a multiple of 32 (GroupNorm groups). Defaults to 128.
        decoder_merge_policy: str. "add" (sum of the four levels) or "cat" (concatenation,
            4 × decoder_segmentation_channels). Defaults to "add".
        decoder_dropout: float. Spatial dropout rate after merging; 0 disables it.
            Defaults to 0.2.
        decoder_interpolation: str. Top-down upsampling, "nearest" or "bilinear".
            Defaults to "nearest".

    Returns:
        A functional `keras.Model` named "fpn_<encoder>" with a nested "encoder" model.
    """
    name = encoder.model
    if decoder_merge_policy not in ("add", "cat"):
        raise TfsegError(f"{name}: decoder_merge_policy must be 'add' or 'cat', got {decoder_merge_policy!r}")
    if decoder_interpolation not in ("nearest", "bilinear"):
        raise TfsegError(
            f"{name}: decoder_interpolation must be 'nearest' or 'bilinear', got {decoder_interpolation!r}"
        )
    if decoder_segmentation_channels % min(32, decoder_segmentation_channels):
        raise TfsegError(
            f"{name}: decoder_segmentation_channels must be at most 32 or a multiple of 32 "
            f"(GroupNorm with 32 groups), got {decoder_segmentation_channels}"
        )
    x = fpn_decoder(
        encoder.features(), decoder_pyramid_channels, decoder_segmentation_channels, decoder_merge_policy,
        decoder_dropout, decoder_interpolation,
    )
    return Decoded(x, upsampling=4, upsampling_name="fpn_up")
