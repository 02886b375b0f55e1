"""SegFormer all-MLP head: shapes, four levels fused at stride 4, `.keras` round trip."""

import numpy as np
import pytest

from tests.models.conftest import _batch
from tfseg import models

SMALL = dict(decoder_segmentation_channels=8)


@pytest.mark.parametrize("shape, classes", [((64, 64, 3), 4), ((32, 32, 1), 1)], ids=["rgb-4class", "grey-binary"])
def test_segformer_shapes_and_float32_head(shape, classes):
    assert models.entry("segformer_mobilenetv2").architecture.small == SMALL
    model = models.build("segformer_mobilenetv2", shape, classes, **SMALL)
    assert model.name == "segformer_mobilenetv2"
    assert model.output_shape == (None, *shape[:2], classes)
    assert model.layers[-1].dtype_policy.name == "float32"
    out = model.predict_on_batch(_batch(shape, classes)[0])
    assert out.shape == (2, *shape[:2], classes) and np.isfinite(out).all()


def test_segformer_fuses_four_levels_at_stride_4():
    model = models.build("segformer_mobilenetv2", (64, 64, 3), 1, **SMALL)
    features = dict(zip((2, 4, 8, 16, 32), models.get_encoder(model).outputs))
    for stride in (32, 16, 8, 4):
        mlp = model.get_layer(f"mlp{stride}")
        assert mlp.kernel_size == (1, 1) and mlp.filters == 8 and mlp.use_bias
        assert mlp.input.shape[1:] == features[stride].shape[1:]
        assert mlp.input.shape[1:3] == (64 // stride, 64 // stride)
    assert model.get_layer("mlp32_up").size == (8, 8) and model.get_layer("mlp32_up").interpolation == "bilinear"
    assert [tuple(t.shape[1:]) for t in model.get_layer("fuse_concat").input] == [(16, 16, 8)] * 4
    assert model.get_layer("fuse_conv").kernel_size == (1, 1) and model.get_layer("fuse_conv").input.shape[-1] == 32
    assert model.get_layer("final_up").size == (4, 4) and model.get_layer("final_up").output.shape[1:3] == (64, 64)
