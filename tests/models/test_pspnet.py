"""PSPNet (smp.PSPNet): `AdaptiveAveragePooling2D` against PyTorch's `AdaptiveAvgPool2d`
windows, the pyramid pooling module and the encoder cut, decoder parameters as smp's."""

import math

import keras
import numpy as np
import pytest

from tfseg import models
from tfseg.errors import TfsegError
from tfseg.models.pspnet import AdaptiveAveragePooling2D

SMALL = dict(psp_out_channels=8)


def _trainable(weights):
    return sum(int(np.prod(weight.shape)) for weight in weights)


def _pool(x, bins):
    return keras.ops.convert_to_numpy(AdaptiveAveragePooling2D(bins)(np.asarray(x, "float32")))


def test_adaptive_average_pooling_matches_pytorch_windows():
    # PyTorch AdaptiveAvgPool2d: cell i averages [floor(i*H/b), ceil((i+1)*H/b)).
    grid = np.arange(9.0).reshape(1, 3, 3, 1)  # 3 → 2 bins: overlapping windows [0, 2) and [1, 3)
    np.testing.assert_allclose(_pool(grid, 2)[0, ..., 0], [[2, 3], [5, 6]])
    small = np.arange(4.0).reshape(1, 2, 2, 1)  # 2 → 3 bins: windows [0, 1), [0, 2), [1, 2)
    np.testing.assert_allclose(_pool(small, 3)[0, ..., 0], [[0, 0.5, 1], [1, 1.5, 2], [2, 2.5, 3]])
    one = np.full((2, 1, 1, 3), 7.0)  # more bins than cells: the cell repeated
    np.testing.assert_allclose(_pool(one, 6), np.full((2, 6, 6, 3), 7.0))
    x = np.random.default_rng(0).random((2, 5, 7, 3))
    expected = np.zeros((2, 3, 6, 3))
    for i in range(3):
        for j in range(6):
            rows = slice(i * 5 // 3, math.ceil((i + 1) * 5 / 3))
            cols = slice(j * 7 // 6, math.ceil((j + 1) * 7 / 6))
            expected[:, i, j] = x[:, rows, cols].mean(axis=(1, 2))
    np.testing.assert_allclose(_pool(x, (3, 6)), expected, atol=1e-6)
    np.testing.assert_allclose(_pool(x, 1), x.mean(axis=(1, 2), keepdims=True), atol=1e-6)


def test_pspnet_pyramid_on_the_stride_8_feature():
    model = models.build("pspnet_mobilenetv2", (32, 32, 3), 1, **SMALL)
    encoder = models.get_encoder(model)
    assert tuple(encoder.outputs[-1].shape[1:3]) == (4, 4)  # encoder cut at stride 8 (encoder_depth=3)
    channels = int(encoder.outputs[-1].shape[-1])
    for b in (1, 2, 3, 6):
        assert model.get_layer(f"psp_bin{b}_pool").output.shape[1:3] == (b, b)
        assert model.get_layer(f"psp_bin{b}_conv").filters == channels // 4
        assert model.get_layer(f"psp_bin{b}_up").output.shape[1:] == (4, 4, channels // 4)
    layer_names = {layer.name for layer in model.layers}
    assert "psp_bin1_bn" not in layer_names and model.get_layer("psp_bin1_conv").use_bias  # as smp: no BN on 1×1
    assert "psp_bin6_bn" in layer_names
    assert model.get_layer("psp_concat").output.shape[-1] == 2 * channels
    assert model.get_layer("psp_out_conv").kernel.shape == (1, 1, 2 * channels, 8)
    assert model.get_layer("psp_dropout").rate == 0.2 and model.get_layer("psp_up").size == (8, 8)
    deep = models.build("pspnet_mobilenetv2", (32, 32, 3), 1, encoder_depth=5, **SMALL)
    assert tuple(models.get_encoder(deep).outputs[-1].shape[1:3]) == (1, 1)
    assert deep.get_layer("psp_up").size == (32, 32) and deep.output_shape == (None, 32, 32, 1)
    with pytest.raises(TfsegError, match="encoder_depth"):
        models.build("pspnet_mobilenetv2", (32, 32, 3), 1, encoder_depth=2, **SMALL)


def test_pspnet_default_decoder_has_smps_parameters():
    # smp.PSPDecoder (bins 1, 2, 3, 6; out 512) + a 1×1 head on the stride-8 feature
    model = models.build("pspnet_mobilenetv2", (32, 32, 3), 1)
    encoder = models.get_encoder(model)
    c = int(encoder.outputs[-1].shape[-1])
    b = c // 4
    decoder = (c * b + b) + 3 * (c * b + 2 * b) + (2 * c * 512 + 2 * 512)
    assert _trainable(model.trainable_weights) - _trainable(encoder.trainable_weights) == decoder + 512 + 1
