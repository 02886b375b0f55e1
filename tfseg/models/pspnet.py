"""PSPNet (Zhao et al. 2017, Pyramid Scene Parsing Network, https://arxiv.org/abs/1612.01105)
as segmentation_models.pytorch's `smp.PSPNet` (0.5/0.6) builds it on a pretrained encoder.

smp's defaults, followed here: the encoder cut at depth 3 (its last feature at stride 8,
`encoder_depth=3`); a pyramid pooling module on that feature with bins 1, 2, 3 and 6, each
branch an adaptive average pooling to b × b, a 1×1 conv-BN-ReLU to in_channels // 4 (the
1-bin branch without BatchNorm, as smp, so its conv has a bias) and a bilinear resize back;
the four branches and the feature concatenated, a 1×1 conv-BN-ReLU to
`psp_out_channels=512`, spatial dropout 0.2, bilinear upsampling by the feature's stride.

Where tfseg differs: the head is tfseg's 1×1 conv applied after the upsampling (smp: a 3×3
conv before it); bilinear resizing uses half-pixel centres (Keras' only mode; smp resizes
with `align_corners=True`); the final upsampling factor follows `encoder_depth` (8, 16 or
32) where smp's `upsampling=8` must be changed by hand; `psp_use_batchnorm` keeps the name
that smp 0.5 deprecated for `decoder_use_norm`. `AdaptiveAveragePooling2D` computes
PyTorch's `AdaptiveAvgPool2d` windows exactly, so any input that is a multiple of 32 works,
including bins larger than the feature map (a 32×32 input gives a 4×4 stride-8 feature).
"""

from __future__ import annotations

import keras

from tfseg.errors import TfsegError
from tfseg.models.blocks import conv_bn_relu, resize_to, static_size
from tfseg.models.decoder import Decoded, EncoderFeatures
from tfseg.models.registry import register_decoder

PSP_BINS = (1, 2, 3, 6)


def _adaptive_weights(bins: int, size, dtype):
    """(bins, size) matrix whose row i averages PyTorch's adaptive window i:
    [floor(i·size/bins), ceil((i+1)·size/bins))."""
    index = keras.ops.arange(bins)[:, None]
    position = keras.ops.arange(size)[None, :]
    start = keras.ops.floor_divide(index * size, bins)
    end = keras.ops.floor_divide((index + 1) * size + bins - 1, bins)
    inside = keras.ops.cast(keras.ops.logical_and(position >= start, position < end), dtype)
    return inside / keras.ops.sum(inside, axis=1, keepdims=True)


@keras.saving.register_keras_serializable(package="tfseg")
class AdaptiveAveragePooling2D(keras.layers.Layer):
    """Average pooling to a fixed `bins` output size, exactly as PyTorch's `AdaptiveAvgPool2d`:
    output cell (i, j) is the mean over rows [floor(i·H/bh), ceil((i+1)·H/bh)) and columns
    [floor(j·W/bw), ceil((j+1)·W/bw)). Windows overlap when the size is not a multiple of the
    bins, and repeat input cells when there are more bins than cells. Channels last.

    Args:
        bins: int or (int, int). The output height and width.
    """

    def __init__(self, bins, **kwargs):
        super().__init__(**kwargs)
        self.bins = (int(bins), int(bins)) if isinstance(bins, int) else tuple(int(b) for b in bins)

    def call(self, inputs):
        shape = keras.ops.shape(inputs)
        rows = _adaptive_weights(self.bins[0], shape[1], self.compute_dtype)
        columns = _adaptive_weights(self.bins[1], shape[2], self.compute_dtype)
        x = keras.ops.einsum("ih,nhwc->niwc", rows, inputs)
        return keras.ops.einsum("jw,niwc->nijc", columns, x)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], *self.bins, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "bins": list(self.bins)}


def pyramid_pooling_branches(x, filters: int, name: str, model: str, bins=PSP_BINS, batch_norm=lambda b: True):
    """The pyramid pooling branches: for each bin b, `AdaptiveAveragePooling2D(b)` → 1×1
    conv(-BN)-ReLU to `filters` → bilinear resize back to x's size (layers `{name}_bin{b}_*`).
    `batch_norm(b)` says whether branch b has BatchNorm."""
    size = static_size(x, model)
    branches = []
    for b in bins:
        y = AdaptiveAveragePooling2D(b, name=f"{name}_bin{b}_pool")(x)
        y = conv_bn_relu(y, filters, f"{name}_bin{b}", batch_norm=batch_norm(b), kernel_size=1)
        branches.append(resize_to(y, size, f"{name}_bin{b}_up"))
    return branches


@register_decoder(
    "pspnet", family="PSPNet", small=dict(psp_out_channels=8), peers={"sm": "PSPNet", "smp": "PSPNet"},
    when="scene-level context on large objects from a shallow, cheap encoder cut; coarse boundaries",
)
def build_pspnet(
    encoder: EncoderFeatures,
    encoder_depth: int = 3,
    psp_out_channels: int = 512,
    psp_use_batchnorm: bool = True,
    psp_dropout: float = 0.2,
) -> Decoded:
    """Builds PSPNet (pyramid pooling on the encoder's deepest used feature) as smp.PSPNet.

    Args:
        input_shape, classes, activation, encoder, encoder_weights, encoder_freeze: as in
            `tfseg.models.build`.
        encoder_depth: int. 3, 4 or 5: the encoder is cut at stride 8, 16 or 32 and the
            pyramid pooling runs there. Defaults to 3 (smp's default).
        psp_out_channels: int. Filters of the 1×1 conv after the pyramid. Defaults to 512.
        psp_use_batchnorm: bool. BatchNorm in the pyramid's convs (not in the 1-bin branch,
            as smp). Defaults to True.
        psp_dropout: float. Spatial dropout rate after the pyramid; 0 disables it.
            Defaults to 0.2.

    Returns:
        A functional `keras.Model` named "pspnet_<encoder>" with a nested "encoder" model.
    """
    name = encoder.model
    if encoder_depth not in (3, 4, 5):
        raise TfsegError(f"{name}: encoder_depth must be 3, 4 or 5 (stride 8, 16 or 32), got {encoder_depth!r}")
    stride = 2**encoder_depth
    strides = tuple(2**level for level in range(1, encoder_depth + 1))  # the encoder is cut at `stride`
    x = encoder.features(strides)[stride]
    branches = pyramid_pooling_branches(
        x, max(x.shape[-1] // len(PSP_BINS), 1), "psp", name, batch_norm=lambda b: psp_use_batchnorm and b != 1
    )
    x = keras.layers.Concatenate(name="psp_concat")([*branches, x])
    x = conv_bn_relu(x, psp_out_channels, "psp_out", batch_norm=psp_use_batchnorm, kernel_size=1)
    if psp_dropout:
        x = keras.layers.SpatialDropout2D(psp_dropout, name="psp_dropout")(x)
    return Decoded(x, upsampling=stride, upsampling_name="psp_up")
