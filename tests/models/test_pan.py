"""PAN (smp.PAN): the FPA attention on tiny and odd-sized maps, the GAU chain, decoder
parameters as smp's."""

import numpy as np
import pytest

from tfseg import models
from tfseg.errors import TfsegError

SMALL = dict(decoder_channels=8)


def _trainable(weights):
    return sum(int(np.prod(weight.shape)) for weight in weights)


def test_pan_attention_shapes_on_a_1x1_map():
    # 32×32 input, undilated encoder: the stride-32 map is 1×1, where smp's FPA (unpadded
    # 2×2 max-pools) fails
    model = models.build("pan_mobilenetv2", (32, 32, 3), 1, encoder_output_stride=32, **SMALL)
    for layer in ("pan_fpa_down1_relu", "pan_fpa_down2_relu", "pan_fpa_down3b_relu", "pan_fpa_up1"):
        assert model.get_layer(layer).output.shape[1:] == (1, 1, 1)  # the one-channel pyramid
    assert model.get_layer("pan_fpa_attend").output.shape[1:] == (1, 1, 8)  # 1-channel map × middle branch
    assert model.get_layer("pan_fpa_out").output.shape[1:] == (1, 1, 8)
    for stride in (16, 8, 4):  # GAU: channel attention from the coarser map, output at this stride
        assert model.get_layer(f"pan_gau{stride}_gate_sigmoid").output.shape[1:] == (1, 1, 8)
        assert model.get_layer(f"pan_gau{stride}_out").output.shape[1:] == (32 // stride, 32 // stride, 8)
    assert model.get_layer("pan_up").size == (4, 4)


def test_pan_fpa_pyramid_rounds_up_and_resizes_back():
    # a 10×10 stride-32 map: max-pools give 5, 3, 2 ("same" padding); each level is resized
    # to the exact size of the finer one, and the attention map back to 10×10
    model = models.build("pan_mobilenetv2", (320, 320, 3), 1, encoder_output_stride=32, **SMALL)
    sizes = {name: model.get_layer(name).output.shape[1:3] for name in (
        "pan_fpa_down1_pool", "pan_fpa_down2_pool", "pan_fpa_down3_pool", "pan_fpa_up3", "pan_fpa_up2", "pan_fpa_up1")}
    assert sizes == {"pan_fpa_down1_pool": (5, 5), "pan_fpa_down2_pool": (3, 3), "pan_fpa_down3_pool": (2, 2),
                     "pan_fpa_up3": (3, 3), "pan_fpa_up2": (5, 5), "pan_fpa_up1": (10, 10)}
    kernels = [model.get_layer(f"pan_fpa_{n}_conv").kernel_size for n in ("down1", "down2", "down3a", "conv2", "conv1")]
    assert kernels == [(7, 7), (5, 5), (3, 3), (5, 5), (7, 7)]
    shallow = models.build("pan_mobilenetv2", (64, 64, 3), 1, encoder_depth=3, **SMALL)
    assert shallow.get_layer("pan_fpa_out").output.shape[1:] == (8, 8, 8)  # FPA at stride 8, one GAU
    assert [layer.name for layer in shallow.layers if layer.name.endswith("_gate_sigmoid")] == ["pan_gau4_gate_sigmoid"]
    with pytest.raises(TfsegError, match="encoder_depth"):
        models.build("pan_mobilenetv2", (64, 64, 3), 1, encoder_depth=6, **SMALL)


def test_pan_dilated_encoder_runs_the_fpa_at_stride_16():
    # smp's default encoder_output_stride=16: the last stage is dilated, and the first GAU
    # fuses two stride-16 features
    model = models.build("pan_mobilenetv2", (64, 64, 3), 1, **SMALL)
    deepest = models.get_encoder(model).outputs[-1]
    assert tuple(deepest.shape[1:3]) == (4, 4)
    assert model.get_layer("pan_fpa_out").output.shape[1:] == (4, 4, 8)
    assert model.get_layer("pan_gau16_up").output.shape[1:] == (4, 4, 8)
    assert model.get_layer("pan_gau4_out").output.shape[1:] == (16, 16, 8)
    with pytest.raises(TfsegError, match="encoder_output_stride"):
        models.build("pan_mobilenetv2", (64, 64, 3), 1, encoder_output_stride=8, **SMALL)


def test_pan_default_decoder_has_smps_parameters():
    # smp.PANDecoder (decoder_channels 32; its ConvBnRelu convs have biases) + a 1×1 head
    model = models.build("pan_mobilenetv2", (32, 32, 3), 1)
    encoder = models.get_encoder(model)
    c4, c8, c16, c32 = (int(output.shape[-1]) for output in encoder.outputs[1:])
    d = 32

    def cbr(cin, cout, k):
        return cin * cout * k * k + cout + 2 * cout

    fpa = 2 * cbr(c32, d, 1) + cbr(c32, 1, 7) + cbr(1, 1, 5) + 2 * cbr(1, 1, 3) + cbr(1, 1, 5) + cbr(1, 1, 7)
    gau = sum(cbr(c, d, 3) + cbr(d, d, 1) for c in (c16, c8, c4))
    assert _trainable(model.trainable_weights) - _trainable(encoder.trainable_weights) == fpa + gau + d + 1
