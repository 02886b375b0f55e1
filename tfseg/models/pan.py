"""PAN (Li et al. 2018, Pyramid Attention Network for Semantic Segmentation,
https://arxiv.org/abs/1805.10180): feature pyramid attention (FPA) on the deepest feature
and global attention upsample (GAU) blocks up to stride 4, as segmentation_models.pytorch's
`smp.PAN` (0.5/0.6) builds it on a pretrained encoder.

smp's structure and defaults, followed here, with `decoder_channels=32` and every conv a
conv (with bias, as smp's `ConvBnRelu`) → BatchNorm (→ ReLU):
FPA on the deepest feature: a global branch (global average pool → 1×1 conv-BN-ReLU,
broadcast back), a middle branch (1×1 conv-BN-ReLU) and a one-channel pyramid: 2×2
max-pool → 7×7 conv, max-pool → 5×5 conv, max-pool → two 3×3 convs; from the coarsest,
each level is bilinearly upsampled and added to the next finer one after its own 7×7 /
5×5 conv; the pyramid's one-channel map multiplies the middle branch and the global branch
is added. GAU (low x, high y): 3×3 conv-BN-ReLU of x times a channel attention from y
(global average pool → 1×1 conv-BN → sigmoid), plus y bilinearly upsampled to x's size.
GAUs at strides 16, 8, 4 (`encoder_depth=5`; 4: FPA at stride 16, GAUs at 8, 4; 3: FPA
at 8, GAU at 4); bilinear ×4 to the input size.

Where tfseg differs: smp's FPA needs the deepest map to be at least 8×8; here its
max-pools use "same" padding (sizes round up) and each upsampling resizes to the exact size
of the finer level, so any input that is a multiple of 32 works (a 32×32 input gives a
2×2 map at stride 16, 1×1 with `encoder_output_stride=32`); on maps that are multiples of 8
this is exactly smp's FPA. The encoder is dilated to `encoder_output_stride=16` as in smp
(tfseg's `encoders.dilate`, which also takes the VGG and DenseNet encoders that smp's
refuses); with 16 the first GAU fuses two stride-16 features, with 32 it upsamples ×2; the
parameter count is the same. The head is tfseg's 1×1 conv after the upsampling (smp: a 3×3
conv before it); bilinear resizing uses half-pixel centres (smp: `align_corners=True`).
"""

from __future__ import annotations

import keras

from tfseg.errors import TfsegError
from tfseg.models.blocks import conv_bn_relu, resize_to, static_size
from tfseg.models.decoder import Decoded, EncoderFeatures
from tfseg.models.registry import register_decoder


def conv_bias_bn(x, filters: int, kernel_size: int, name: str, relu: bool = True):
    """smp's PAN `ConvBnRelu`: `conv_bn_relu` with a bias in the conv (layers `{name}_conv|bn|relu`)."""
    return conv_bn_relu(x, filters, name, kernel_size=kernel_size, use_bias=True, relu=relu)


def feature_pyramid_attention(x, channels: int, name: str, model: str):
    """smp's `FPABlock`: (global branch) + (middle branch × one-channel pyramid attention)."""
    size = static_size(x, model)
    glob = keras.layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_global_pool")(x)
    glob = conv_bias_bn(glob, channels, 1, f"{name}_global")
    glob = keras.layers.UpSampling2D(size, name=f"{name}_global_up")(glob)  # 1×1 → H×W: a broadcast
    middle = conv_bias_bn(x, channels, 1, f"{name}_mid")
    down1 = keras.layers.MaxPooling2D(2, padding="same", name=f"{name}_down1_pool")(x)
    down1 = conv_bias_bn(down1, 1, 7, f"{name}_down1")
    down2 = keras.layers.MaxPooling2D(2, padding="same", name=f"{name}_down2_pool")(down1)
    down2 = conv_bias_bn(down2, 1, 5, f"{name}_down2")
    down3 = keras.layers.MaxPooling2D(2, padding="same", name=f"{name}_down3_pool")(down2)
    down3 = conv_bias_bn(down3, 1, 3, f"{name}_down3a")
    down3 = conv_bias_bn(down3, 1, 3, f"{name}_down3b")
    attention = resize_to(down3, static_size(down2, model), f"{name}_up3")
    attention = keras.layers.Add(name=f"{name}_add2")([conv_bias_bn(down2, 1, 5, f"{name}_conv2"), attention])
    attention = resize_to(attention, static_size(down1, model), f"{name}_up2")
    attention = keras.layers.Add(name=f"{name}_add1")([attention, conv_bias_bn(down1, 1, 7, f"{name}_conv1")])
    attention = resize_to(attention, size, f"{name}_up1")
    x = keras.layers.Multiply(name=f"{name}_attend")([attention, middle])
    return keras.layers.Add(name=f"{name}_out")([x, glob])


def global_attention_upsample(low, high, channels: int, name: str, model: str):
    """smp's `GAUBlock`: conv3×3(low) × sigmoid(BN(conv1×1(GAP(high)))) + upsampled high."""
    high_up = resize_to(high, static_size(low, model), f"{name}_up")
    low = conv_bias_bn(low, channels, 3, f"{name}_low")
    gate = keras.layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_gate_pool")(high)
    gate = conv_bias_bn(gate, channels, 1, f"{name}_gate", relu=False)
    gate = keras.layers.Activation("sigmoid", name=f"{name}_gate_sigmoid")(gate)
    x = keras.layers.Multiply(name=f"{name}_attend")([low, gate])
    return keras.layers.Add(name=f"{name}_out")([high_up, x])


@register_decoder(
    "pan", family="PAN", small=dict(decoder_channels=8), peers={"smp": "PAN"},
    when="a very light attention decoder (32 channels) with global context, when memory is tight",
)
def build_pan(
    encoder: EncoderFeatures,
    encoder_depth: int = 5,
    encoder_output_stride: int = 16,
    decoder_channels: int = 32,
) -> Decoded:
    """Builds PAN (FPA + GAU decoder) on a keras.applications encoder, as smp.PAN.

    Args:
        input_shape, classes, activation, encoder, encoder_weights, encoder_freeze: as in
            `tfseg.models.build`.
        encoder_depth: int. 3, 4 or 5: the encoder is cut at stride 8, 16 or 32, where the
            FPA runs; GAU blocks follow at each stride down to 4. Defaults to 5.
        encoder_output_stride: int. 16: the encoder's last stage is dilated (no stride 2)
            so the FPA runs at stride 16, as smp; 32: the plain encoder, cheaper.
            Defaults to 16.
        decoder_channels: int. Channels of the FPA output and of every GAU. Defaults to 32.

    Returns:
        A functional `keras.Model` named "pan_<encoder>" with a nested "encoder" model.
    """
    name = encoder.model
    if encoder_depth not in (3, 4, 5):
        raise TfsegError(f"{name}: encoder_depth must be 3, 4 or 5 (stride 8, 16 or 32), got {encoder_depth!r}")
    if encoder_output_stride not in (16, 32):
        raise TfsegError(f"{name}: encoder_output_stride must be 16 or 32, got {encoder_output_stride!r}")
    deepest = 2**encoder_depth
    strides = tuple(2**level for level in range(1, encoder_depth + 1))
    output_stride = encoder_output_stride if encoder_output_stride < deepest else 32  # 32: no dilation needed
    features = encoder.features(strides, output_stride=output_stride)
    x = feature_pyramid_attention(features[deepest], decoder_channels, "pan_fpa", name)
    stride = deepest // 2
    while stride >= 4:
        x = global_attention_upsample(features[stride], x, decoder_channels, f"pan_gau{stride}", name)
        stride //= 2
    return Decoded(x, upsampling=4, upsampling_name="pan_up")
