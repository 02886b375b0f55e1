"""SegFormer all-MLP head: four levels fused at stride 4."""

from tfseg import models

SMALL = dict(decoder_segmentation_channels=8)


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
