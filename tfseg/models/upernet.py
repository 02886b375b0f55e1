"""UPerNet (Xiao et al. 2018, Unified Perceptual Parsing for Scene Understanding,
https://arxiv.org/abs/1807.10221): a pyramid pooling module on the deepest feature and a
feature pyramid over strides 4–32, fused at stride 4, as segmentation_models.pytorch's
`smp.UPerNet` (0.5/0.6) builds it on a pretrained encoder.

smp's structure and defaults, followed here, all convs conv(no bias)-BN-ReLU with
`decoder_channels=256`: each encoder feature at strides 4–32 is first layer-normalised over
its channels (epsilon 1e-6, smp's `feature_norms`); PPM on the stride-32 feature: bins 1,
2, 3, 6, each adaptive average pooling → 1×1 conv → bilinear resize back, concatenated with
the feature → 3×3 conv; top-down FPN: at strides 16, 8, 4 a 1×1 lateral conv plus the
bilinear ×2 upsampling of the level above, then a 3×3 conv on each of these levels (not on
the PPM output); fusion: all four levels bilinearly upsampled to stride 4, concatenated
(stride 4 first) → 3×3 conv; bilinear ×4 to the input size.

Where tfseg differs: the 1×1 head comes after the final upsampling (smp upsamples the 1×1
head's logits; the same linear map but for the corner alignment); bilinear resizing uses
half-pixel centres, as smp's UPerNet (`align_corners=False`) does. BatchNorm momentum 0.9
and epsilon 1e-3 as elsewhere in tfseg. The adaptive pooling is pspnet's
`AdaptiveAveragePooling2D` (PyTorch's windows), so any input that is a multiple of 32
works, e.g. 32×32 with a 1×1 stride-32 feature.
"""

from __future__ import annotations

import keras

from tfseg.models.blocks import conv_bn_relu, upsample_bilinear
from tfseg.models.decoder import Decoded, EncoderFeatures
from tfseg.models.pspnet import pyramid_pooling_branches
from tfseg.models.registry import register_decoder

UPERNET_STRIDES = (4, 8, 16, 32)


def upernet_decoder(features: dict, channels: int, model: str):
    """The smp UPerNet decoder on features at strides 4–32; returns the fused stride-4 map."""
    normed = {
        stride: keras.layers.LayerNormalization(epsilon=1e-6, name=f"upernet_norm{stride}")(features[stride])
        for stride in UPERNET_STRIDES
    }
    x = normed[32]
    branches = pyramid_pooling_branches(x, channels, "upernet_ppm", model)
    x = keras.layers.Concatenate(name="upernet_ppm_concat")([x, *branches])
    levels = {32: conv_bn_relu(x, channels, "upernet_ppm_out")}
    state = levels[32]
    for stride in (16, 8, 4):
        lateral = conv_bn_relu(normed[stride], channels, f"upernet_lateral{stride}", kernel_size=1)
        top = upsample_bilinear(state, 2, f"upernet_top{stride}")
        state = keras.layers.Add(name=f"upernet_add{stride}")([top, lateral])
        levels[stride] = conv_bn_relu(state, channels, f"upernet_fpn{stride}")
    fused = [levels[4]]
    for stride in (8, 16, 32):
        fused.append(upsample_bilinear(levels[stride], stride // 4, f"upernet_fuse_up{stride}"))
    x = keras.layers.Concatenate(name="upernet_fuse_concat")(fused)
    return conv_bn_relu(x, channels, "upernet_fuse")


@register_decoder(
    "upernet", family="UPerNet", small=dict(decoder_channels=8), peers={"smp": "UPerNet"},
    when="scene parsing with global context and multi-scale detail (PPM + FPN), e.g. on ConvNeXt or ResNets",
)
def build_upernet(
    encoder: EncoderFeatures,
    decoder_channels: int = 256,
) -> Decoded:
    """Builds UPerNet (PPM + FPN fused at stride 4) on a keras.applications encoder, as smp.UPerNet.

    Args:
        input_shape, classes, activation, encoder, encoder_weights, encoder_freeze: as in
            `tfseg.models.build`.
        decoder_channels: int. Channels of every decoder conv (PPM branches, pyramid,
            fusion). Defaults to 256.

    Returns:
        A functional `keras.Model` named "upernet_<encoder>" with a nested "encoder" model.
    """
    x = upernet_decoder(encoder.features(), decoder_channels, encoder.model)
    return Decoded(x, upsampling=4, upsampling_name="upernet_up")
