"""UPerNet (smp.UPerNet): the PPM and the four fused levels, decoder parameters as smp's."""

import numpy as np

from tfseg import models
from tfseg.models.pspnet import AdaptiveAveragePooling2D

SMALL = dict(decoder_channels=8)


def _trainable(weights):
    return sum(int(np.prod(weight.shape)) for weight in weights)


def test_upernet_ppm_and_fusion_of_four_levels():
    model = models.build("upernet_mobilenetv2", (64, 64, 3), 1, **SMALL)
    deepest = int(models.get_encoder(model).outputs[-1].shape[-1])
    for b in (1, 2, 3, 6):  # PPM on the stride-32 (2×2) feature, every branch with BN as smp
        assert isinstance(model.get_layer(f"upernet_ppm_bin{b}_pool"), AdaptiveAveragePooling2D)
        assert model.get_layer(f"upernet_ppm_bin{b}_up").output.shape[1:] == (2, 2, 8)
        assert model.get_layer(f"upernet_ppm_bin{b}_bn")
    assert model.get_layer("upernet_ppm_concat").output.shape[-1] == deepest + 4 * 8
    assert model.get_layer("upernet_ppm_out_conv").kernel_size == (3, 3)
    for stride in (4, 8, 16):
        assert model.get_layer(f"upernet_lateral{stride}_conv").kernel_size == (1, 1)
        assert model.get_layer(f"upernet_fpn{stride}_conv").kernel_size == (3, 3)
    fuse = model.get_layer("upernet_fuse_concat")
    assert len(fuse.input) == 4  # strides 4, 8, 16, 32 (the PPM output)
    assert [tuple(t.shape[1:]) for t in fuse.input] == [(16, 16, 8)] * 4
    assert fuse.output.shape[-1] == 4 * 8
    assert model.get_layer("upernet_fuse_conv").kernel.shape == (3, 3, 32, 8)
    assert model.get_layer("upernet_up").size == (4, 4)


def test_upernet_default_decoder_has_smps_parameters():
    # smp.UPerNetDecoder (decoder_channels 256, LayerNorm on the features) + a 1×1 head
    model = models.build("upernet_mobilenetv2", (32, 32, 3), 1)
    encoder = models.get_encoder(model)
    c4, c8, c16, c32 = (int(output.shape[-1]) for output in encoder.outputs[1:])
    d = 256
    norms = 2 * (c4 + c8 + c16 + c32)
    ppm = 4 * (c32 * d + 2 * d) + (c32 + 4 * d) * d * 9 + 2 * d
    fpn = sum(c * d + 2 * d for c in (c4, c8, c16)) + 3 * (d * d * 9 + 2 * d)
    fusion = 4 * d * d * 9 + 2 * d
    head = d + 1
    decoder = _trainable(model.trainable_weights) - _trainable(encoder.trainable_weights)
    assert decoder == norms + ppm + fpn + fusion + head
