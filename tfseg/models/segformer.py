"""The SegFormer all-MLP decoder head on a pretrained encoder: Xie et al. 2021, "SegFormer:
Simple and Efficient Design for Semantic Segmentation with Transformers",
https://arxiv.org/abs/2105.15203.

Follows segmentation_models.pytorch (smp 0.5) `Segformer`, which puts the head on any
encoder (it is the decoder, not the MiT transformer encoder), with its default
`decoder_segmentation_channels=256`: each of the stride 32, 16, 8 and 4 features → a
per-position linear layer (1×1 conv with bias) to `decoder_segmentation_channels` →
bilinear up to stride 4; concatenated (deepest first) → 1×1 conv-BN-ReLU fuse →
bilinear ×4 → 1×1 head.

Where tfseg differs from smp: the final bilinear upsampling comes before the 1×1 head
convolution (smp upsamples the logits; the same linear map up to the corner alignment)
and uses half-pixel centres (`UpSampling2D`; smp's head aligns corners). As smp, no dropout
before the head (the paper's MiT head has 0.1). BatchNorm momentum is 0.9 as elsewhere in
tfseg.
"""

from __future__ import annotations

import keras

from tfseg.models.blocks import conv_bn_relu, upsample_bilinear
from tfseg.models.decoder import Decoded, EncoderFeatures
from tfseg.models.registry import register_decoder

SEGFORMER_STRIDES = (32, 16, 8, 4)


def segformer_head(features: dict, channels: int):
    """The all-MLP decoder: `mlp{stride}` (1×1 conv to `channels`) and `mlp{stride}_up`
    (bilinear to stride 4) per stride of `SEGFORMER_STRIDES`, `fuse_concat`, then `fuse`
    (1×1 conv-BN-ReLU to `channels`). Returns the stride-4 tensor."""
    levels = []
    for stride in SEGFORMER_STRIDES:
        x = keras.layers.Conv2D(channels, 1, name=f"mlp{stride}")(features[stride])
        if stride != 4:
            x = upsample_bilinear(x, stride // 4, f"mlp{stride}_up")
        levels.append(x)
    x = keras.layers.Concatenate(name="fuse_concat")(levels)
    return conv_bn_relu(x, channels, "fuse", kernel_size=1)


@register_decoder(
    "segformer", family="SegFormer", small=dict(decoder_segmentation_channels=8), peers={"smp": "Segformer"},
    when="a light, fast head fusing all scales at stride 4; cheap on large images",
)
def build_segformer(
    encoder: EncoderFeatures,
    decoder_segmentation_channels: int = 256,
) -> Decoded:
    """Builds the SegFormer all-MLP head (smp `Segformer`) on a keras.applications encoder.

    Args:
        input_shape, classes, activation, encoder, encoder_weights, encoder_freeze: as in
            `tfseg.models.build`.
        decoder_segmentation_channels: int. Channels of each level's linear layer and of the
            fused feature. Defaults to 256.

    Returns:
        A functional `keras.Model` named "segformer_<encoder>" with a nested "encoder" model.
    """
    return Decoded(segformer_head(encoder.features(), decoder_segmentation_channels), upsampling=4)
