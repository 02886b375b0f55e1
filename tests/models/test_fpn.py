"""FPN (smp.FPN): the pyramid and segmentation blocks, "add" vs "cat" merging, GroupNorm
widths, decoder parameters as smp's."""

import keras
import numpy as np
import pytest

from tfseg import models
from tfseg.errors import TfsegError

SMALL = dict(decoder_pyramid_channels=8, decoder_segmentation_channels=8)


def _trainable(weights):
    return sum(int(np.prod(weight.shape)) for weight in weights)


def test_fpn_pyramid_and_segmentation_blocks():
    model = models.build("fpn_mobilenetv2", (64, 64, 3), 1, **SMALL)
    for stride in (4, 8, 16, 32):  # the pyramid at strides 4-32, each level merged at stride 4
        assert model.get_layer(f"fpn_p{stride}_lateral").output.shape[1:] == (64 // stride, 64 // stride, 8)
        convs = [l for l in model.layers if l.name.startswith(f"fpn_s{stride}_") and l.name.endswith("_conv")]
        # 3×3 conv-GN-ReLU (+ bilinear ×2) until stride 4, one conv at stride 4
        assert len(convs) == {4: 1, 8: 1, 16: 2, 32: 3}[stride]
        assert model.get_layer(f"fpn_s{stride}_1_gn").groups == 8
    assert model.get_layer("fpn_p16_topdown").interpolation == "nearest"
    assert model.get_layer("fpn_s32_1_up").interpolation == "bilinear"
    assert model.get_layer("fpn_merge").output.shape[1:] == (16, 16, 8)
    assert model.get_layer("fpn_dropout").rate == 0.2
    assert model.get_layer("fpn_up").size == (4, 4)


def test_fpn_merge_policy_cat_concatenates_the_four_levels():
    add = models.build("fpn_mobilenetv2", (32, 32, 1), 1, **SMALL)
    cat = models.build("fpn_mobilenetv2", (32, 32, 1), 1, decoder_merge_policy="cat", **SMALL)
    assert isinstance(add.get_layer("fpn_merge"), keras.layers.Add)
    assert isinstance(cat.get_layer("fpn_merge"), keras.layers.Concatenate)
    assert add.get_layer("head_conv").kernel.shape == (1, 1, 8, 1)
    assert cat.get_layer("head_conv").kernel.shape == (1, 1, 4 * 8, 1)
    with pytest.raises(TfsegError, match="decoder_merge_policy"):
        models.build("fpn_mobilenetv2", (32, 32, 1), 1, decoder_merge_policy="sum", **SMALL)
    with pytest.raises(TfsegError, match="multiple of 32"):
        models.build("fpn_mobilenetv2", (32, 32, 1), 1, decoder_segmentation_channels=48)


def test_fpn_default_decoder_has_smps_parameters():
    # smp.FPNDecoder (pyramid 256, segmentation 128) + a 1×1 head, from the encoder's widths
    model = models.build("fpn_mobilenetv2", (32, 32, 3), 1)
    encoder = models.get_encoder(model)
    c4, c8, c16, c32 = (int(output.shape[-1]) for output in encoder.outputs[1:])
    p, s = 256, 128
    laterals = sum(c * p + p for c in (c4, c8, c16, c32))
    blocks = 4 * (p * s * 9 + 2 * s) + 3 * (s * s * 9 + 2 * s)
    head = s + 1
    assert _trainable(model.trainable_weights) - _trainable(encoder.trainable_weights) == laterals + blocks + head
    assert model.get_layer("fpn_s32_1_gn").groups == 32
