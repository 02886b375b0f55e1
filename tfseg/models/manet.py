"""MA-Net on a pretrained encoder: Fan et al. 2020, "MA-Net: A Multi-Scale Attention Network
for Liver and Tumor Segmentation", IEEE Access 8, https://ieeexplore.ieee.org/document/9201310
(position attention as in DANet, Fu et al. 2019, https://arxiv.org/abs/1809.02983).

Follows segmentation_models.pytorch (smp 0.5) `MAnet` with its defaults:
`decoder_channels=(256, 128, 64, 32, 16)`, `decoder_pab_channels=64`, SE reduction 16.

Centre, on the stride-32 feature (smp `PABBlock`): position-wise attention: query and key
1×1 convs to `decoder_pab_channels`, value 3×3 conv (all with bias), attention over the
H×W positions, added to the input, then a 3×3 conv. Decoder, strides 16, 8, 4, 2 (smp
`MFABBlock`): 3×3 conv-BN-ReLU → 1×1 conv-BN-ReLU to the skip's channels → nearest ×2; a
channel attention (squeeze-excitation: global pool → 1×1 conv → ReLU → 1×1 conv →
sigmoid) of the upsampled feature plus one of the skip scales the upsampled feature, which
is concatenated with the skip → two 3×3 conv-BN-ReLU. The last block, to stride 1, has no
skip (smp `DecoderBlock`): nearest ×2 → two 3×3 conv-BN-ReLU.

Where tfseg differs from smp: the attention softmax runs over the keys of each query
position (DANet's and the paper's formula, `keras.layers.Attention`); smp normalises one
softmax over all (H·W)² pairs of an image and reshapes its (H·W, C) result to (C, H, W)
without a transpose. The head is tfseg's 1×1 convolution (smp's MAnet head is 3×3).
BatchNorm momentum is 0.9 as elsewhere in tfseg. The input height and width must be fixed
(the attention is reshaped back to them).
"""

from __future__ import annotations

import keras

from tfseg.models.blocks import check_five_strides, check_fixed_size, conv_bn_relu, double_conv
from tfseg.models.decoder import EncoderFeatures
from tfseg.models.registry import register_decoder

MANET_SE_REDUCTION = 16


def position_attention_block(x, pab_channels: int, name: str = "pab"):
    """Position-wise attention block (smp `PABBlock`, DANet's position attention).

    Query `{name}_query` and key `{name}_key` (1×1 convs to `pab_channels`) and value
    `{name}_value` (3×3 conv to the input's channels) at every position; each position's
    output is the softmax(query · keys)-weighted sum of the values (`{name}_attention`),
    added to the input (`{name}_add`) → 3×3 conv `{name}_out_conv`. Output: the input's shape.
    """
    height, width, channels = x.shape[1:]
    query = keras.layers.Conv2D(pab_channels, 1, name=f"{name}_query")(x)
    key = keras.layers.Conv2D(pab_channels, 1, name=f"{name}_key")(x)
    value = keras.layers.Conv2D(channels, 3, padding="same", name=f"{name}_value")(x)
    query = keras.layers.Reshape((height * width, pab_channels), name=f"{name}_query_flat")(query)
    key = keras.layers.Reshape((height * width, pab_channels), name=f"{name}_key_flat")(key)
    value = keras.layers.Reshape((height * width, channels), name=f"{name}_value_flat")(value)
    attended = keras.layers.Attention(score_mode="dot", name=f"{name}_attention")([query, value, key])
    attended = keras.layers.Reshape((height, width, channels), name=f"{name}_attention_map")(attended)
    x = keras.layers.Add(name=f"{name}_add")([x, attended])
    return keras.layers.Conv2D(channels, 3, padding="same", name=f"{name}_out_conv")(x)


def channel_attention(x, channels: int, reduction: int, name: str):
    """Squeeze-excitation weights (smp `MFABBlock.SE_*`): global average pool → 1×1 conv
    to channels // reduction → ReLU → 1×1 conv to `channels` → sigmoid; shape (1, 1, C)."""
    reduced = max(1, channels // reduction)
    x = keras.layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_pool")(x)
    x = keras.layers.Conv2D(reduced, 1, name=f"{name}_reduce")(x)
    x = keras.layers.Activation("relu", name=f"{name}_relu")(x)
    x = keras.layers.Conv2D(channels, 1, name=f"{name}_expand")(x)
    return keras.layers.Activation("sigmoid", name=f"{name}_sigmoid")(x)


def mfab_block(x, skip, filters: int, name: str, reduction: int = MANET_SE_REDUCTION):
    """Multi-scale fusion attention block (smp `MFABBlock`), layers `{name}_*`."""
    skip_channels = skip.shape[-1]
    x = conv_bn_relu(x, x.shape[-1], f"{name}_hl_1")
    x = conv_bn_relu(x, skip_channels, f"{name}_hl_2", kernel_size=1)
    x = keras.layers.UpSampling2D(2, interpolation="nearest", name=f"{name}_up")(x)
    attention_hl = channel_attention(x, skip_channels, reduction, f"{name}_se_hl")
    attention_ll = channel_attention(skip, skip_channels, reduction, f"{name}_se_ll")
    attention = keras.layers.Add(name=f"{name}_attention")([attention_hl, attention_ll])
    x = keras.layers.Multiply(name=f"{name}_scale")([x, attention])
    x = keras.layers.Concatenate(name=f"{name}_concat")([x, skip])
    return double_conv(x, filters, name)


@register_decoder(
    "manet", family="MA-Net", small=dict(decoder_channels=(16, 16, 8, 8, 8), decoder_pab_channels=8),
    peers={"smp": "MAnet"},
    when="U-Net-like skips with global position attention and channel attention, e.g. organs and lesions",
)
def build_manet(
    encoder: EncoderFeatures,
    decoder_channels: tuple[int, ...] = (256, 128, 64, 32, 16),
    decoder_pab_channels: int = 64,
) -> keras.KerasTensor:
    """Builds MA-Net (smp `MAnet`): a position attention block on the stride-32 feature,
    four multi-scale fusion attention blocks with the skips at strides 16 to 2, a last
    decoder block to full resolution and a 1×1 head.

    Args:
        input_shape, classes, activation, encoder, encoder_weights, encoder_freeze: as in
            `tfseg.models.build`.
        decoder_channels: five ints, the filters of the decoder blocks from stride 16 to 1.
            Defaults to (256, 128, 64, 32, 16).
        decoder_pab_channels: int. Query and key channels of the position attention.
            Defaults to 64.

    Returns:
        A functional `keras.Model` named "manet_<encoder>" with a nested "encoder" model.

    Raises:
        TfsegError: decoder_channels not five values, or an input size that is not fixed.
    """
    check_five_strides(decoder_channels, "decoder_channels", encoder.model)
    check_fixed_size(encoder.input_shape, encoder.model)
    features = encoder.features()
    x = position_attention_block(features[32], decoder_pab_channels)
    for stride, filters in zip((16, 8, 4, 2), decoder_channels):
        x = mfab_block(x, features[stride], filters, f"dec{stride}")
    x = keras.layers.UpSampling2D(2, interpolation="nearest", name="dec1_up")(x)
    return double_conv(x, decoder_channels[-1], "dec1")
