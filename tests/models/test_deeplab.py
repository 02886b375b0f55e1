"""DeepLabV3 and DeepLabV3+: the ASPP's branches and rates, the dilated encoder's output
stride, the 48-channel stride-4 skip of V3+, option errors."""

import keras
import pytest

from tfseg import models
from tfseg.errors import TfsegError

SMALL = dict(decoder_channels=8)


@pytest.mark.parametrize("decoder, stride, conv_type", [
    ("deeplabv3", 8, keras.layers.Conv2D), ("deeplabv3plus", 16, keras.layers.SeparableConv2D),
])
def test_aspp_has_five_branches_with_the_atrous_rates_at_the_output_stride(decoder, stride, conv_type):
    model = models.build(f"{decoder}_mobilenetv2", (64, 64, 3), 1, **SMALL)
    deepest = 64 // stride  # smp's default output stride: 8 for V3, 16 for V3+
    assert model.get_layer("aspp_0_conv").input.shape[1:3] == (deepest, deepest)
    assert model.get_layer("aspp_0_conv").kernel_size == (1, 1)
    for index, rate in enumerate((12, 24, 36), start=1):
        conv = model.get_layer(f"aspp_{index}_conv")
        assert type(conv) is conv_type and conv.kernel_size == (3, 3) and conv.dilation_rate == (rate, rate)
    assert model.get_layer("aspp_pool_gap").output.shape[1:3] == (1, 1)
    assert model.get_layer("aspp_pool_up").output.shape[1:] == (deepest, deepest, 8)
    assert model.get_layer("aspp_concat").output.shape[-1] == 5 * 8
    assert model.get_layer("aspp_project_conv").kernel_size == (1, 1)
    assert model.get_layer("aspp_dropout").rate == 0.5
    custom = models.build(f"{decoder}_mobilenetv2", (64, 64, 3), 1, decoder_channels=8, decoder_atrous_rates=(1, 2, 3),
                          decoder_aspp_separable=conv_type is keras.layers.Conv2D)
    assert custom.get_layer("aspp_3_conv").dilation_rate == (3, 3)
    assert type(custom.get_layer("aspp_3_conv")) is not conv_type


def test_deeplabv3_upsamples_by_the_output_stride():
    model = models.build("deeplabv3_mobilenetv2", (64, 64, 3), 1, encoder_output_stride=16, **SMALL)
    assert model.get_layer("decoder_conv").kernel_size == (3, 3)
    up = model.get_layer("decoder_up")
    assert up.size == (16, 16) and up.interpolation == "bilinear" and up.input.shape[1:3] == (4, 4)


@pytest.mark.parametrize("output_stride", [16, 8])
def test_deeplabv3plus_fuses_a_48_channel_stride4_projection(output_stride):
    model = models.build("deeplabv3plus_mobilenetv2", (64, 64, 3), 1, encoder_output_stride=output_stride, **SMALL)
    assert isinstance(model.get_layer("aspp_out_conv"), keras.layers.SeparableConv2D)
    assert model.get_layer("decoder_up").size == (output_stride // 4,) * 2
    highres = model.get_layer("decoder_highres_conv")
    assert highres.filters == 48 and highres.kernel_size == (1, 1) and highres.input.shape[1:3] == (16, 16)
    assert [tuple(t.shape[1:]) for t in model.get_layer("decoder_concat").input] == [(16, 16, 8), (16, 16, 48)]
    fuse = model.get_layer("decoder_fuse_conv")
    assert isinstance(fuse, keras.layers.SeparableConv2D) and fuse.kernel_size == (3, 3) and fuse.filters == 8
    assert model.get_layer("final_up").size == (4, 4)


@pytest.mark.parametrize("decoder", ["deeplabv3", "deeplabv3plus"])
def test_deeplab_option_errors(decoder):
    with pytest.raises(TfsegError, match=r"encoder_output_stride must be 8 or 16, got 4"):
        models.build(f"{decoder}_mobilenetv2", (32, 32, 3), 1, encoder_output_stride=4, **SMALL)
    with pytest.raises(TfsegError, match="decoder_atrous_rates needs 3"):
        models.build(f"{decoder}_mobilenetv2", (32, 32, 3), 1, decoder_atrous_rates=(6, 12), **SMALL)
