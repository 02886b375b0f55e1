"""SegNet (Badrinarayanan et al. 2017, https://arxiv.org/abs/1511.00561): a VGG16-style
encoder and a mirrored decoder that upsamples by unpooling to the max-pooling positions.

The unpooling is written with `keras.ops` only (no `tf.nn.max_pool_with_argmax`), so it
runs on any Keras backend: `MaxUnpooling2D` recomputes, from the encoder tensor before
pooling, which position of each 2×2 window held the maximum (the first one on ties) and
places the decoder value there, zeros elsewhere.
"""

from __future__ import annotations

import keras

from tfseg.models.blocks import check_input_shape, conv_bn_relu, segmentation_model
from tfseg.models.decoder import EncoderFeatures, build_on_encoder
from tfseg.models.registry import register_model

SEGNET_STRIDE = 32
# Convolutions per VGG16 stage and its filters relative to the first stage.
_STAGE_CONVS = (2, 2, 3, 3, 3)
_STAGE_WIDTHS = (1, 2, 4, 8, 8)


@keras.saving.register_keras_serializable(package="tfseg")
class MaxUnpooling2D(keras.layers.Layer):
    """Unpools `[before_pool, pooled]` 2×: each value of `pooled` goes to the position
    of the maximum of its 2×2 window in `before_pool` (first in row-major order on ties),
    zeros elsewhere. `before_pool` is (B, 2H, 2W, C), `pooled` is (B, H, W, C)."""

    def call(self, inputs):
        before_pool, pooled = inputs
        shape = keras.ops.shape(before_pool)  # static where known; tensors where a traced batch's size is not
        height, width, channels = shape[1], shape[2], before_pool.shape[3]
        # (B, H, 2, W, 2, C) → (B, H, W, C, 4): the four positions of each window, row-major.
        windows = keras.ops.reshape(before_pool, (-1, height // 2, 2, width // 2, 2, channels))
        windows = keras.ops.reshape(keras.ops.transpose(windows, (0, 1, 3, 5, 2, 4)), (-1, height // 2, width // 2, channels, 4))
        is_max = keras.ops.cast(windows >= keras.ops.max(windows, axis=-1, keepdims=True), "int32")
        first_max = keras.ops.cast(is_max * keras.ops.cast(keras.ops.cumsum(is_max, axis=-1) == 1, "int32"), pooled.dtype)
        placed = first_max * keras.ops.expand_dims(pooled, -1)
        placed = keras.ops.transpose(keras.ops.reshape(placed, (-1, height // 2, width // 2, channels, 2, 2)), (0, 1, 4, 2, 5, 3))
        return keras.ops.reshape(placed, (-1, height, width, channels))

    def compute_output_shape(self, input_shapes):
        return input_shapes[0]


def segnet_decoder(x, before_pool: list, stage_convs=_STAGE_CONVS):
    """Mirrors the encoder: per stage, deepest first, unpool with that stage's
    pre-pooling tensor, then its convs; the last conv of a stage narrows to the filters of
    the stage above (the first stage keeps its own)."""
    for stage in reversed(range(len(before_pool))):
        x = MaxUnpooling2D(name=f"dec{stage + 1}_unpool")([before_pool[stage], x])
        filters = before_pool[stage].shape[-1]
        next_filters = before_pool[stage - 1].shape[-1] if stage else filters
        for index in range(stage_convs[stage]):
            last = index == stage_convs[stage] - 1
            x = conv_bn_relu(x, next_filters if last else filters, f"dec{stage + 1}_{index + 1}")
    return x


@register_model(
    "segnet", family="SegNet", small=dict(base_filters=4),
    when="memory-light decoder that unpools to the max positions; the classic baseline of the seed studies",
)
def build_segnet(
    input_shape: tuple[int, int, int],
    classes: int = 1,
    activation: str | None = "auto",
    base_filters: int = 16,
) -> keras.Model:
    """Builds SegNet: the 13 convolutions of VGG16 (conv-BN-ReLU, 5 stages of 2, 2, 3, 3, 3)
    with 2×2 max-pooling, and a mirrored decoder that unpools with the pooling indices.

    Args:
        input_shape: (height, width, channels); height and width must be multiples of 32.
        classes, activation: as in `tfseg.models.build`.
        base_filters: int. Filters of the first stage (stages: ×1, 2, 4, 8, 8); the paper
            used 64. Defaults to 16.

    Returns:
        A functional `keras.Model` named "segnet".
    """
    check_input_shape(input_shape, SEGNET_STRIDE, "segnet")
    inputs = keras.Input(input_shape, name="image")
    x, before_pool = inputs, []
    for stage, (convs, width) in enumerate(zip(_STAGE_CONVS, _STAGE_WIDTHS)):
        for index in range(convs):
            x = conv_bn_relu(x, base_filters * width, f"enc{stage + 1}_{index + 1}")
        before_pool.append(x)
        x = keras.layers.MaxPooling2D(2, name=f"enc{stage + 1}_pool")(x)
    x = segnet_decoder(x, before_pool)
    return segmentation_model(inputs, x, classes, activation, "segnet")


@register_model(
    "segnet_vgg16", family="SegNet",
    when="SegNet on the ImageNet VGG16 encoder (the paper's setting)",
)
def build_segnet_vgg16(
    input_shape: tuple[int, int, int],
    classes: int = 1,
    activation: str | None = "auto",
    encoder_weights: str | None = None,
    encoder_freeze: bool = False,
) -> keras.Model:
    """Builds SegNet on the keras.applications VGG16 encoder (its 13 convs, as in the
    paper, which initialised them from ImageNet), with the mirrored unpooling decoder.

    Args:
        input_shape, classes, activation, encoder_weights, encoder_freeze: as in
            `tfseg.models.build`.

    Returns:
        A functional `keras.Model` named "segnet_vgg16" with a nested "encoder" model.
    """
    return build_on_encoder(
        _segnet_on_encoder, "segnet", input_shape, classes, activation, "vgg16", encoder_weights, encoder_freeze
    )


def _segnet_on_encoder(encoder: EncoderFeatures):
    """The SegNet decoder on the features at strides 1–32 of `encoder` (VGG16)."""
    strides = (1, 2, 4, 8, 16, 32)
    features = encoder.features(strides)
    return segnet_decoder(features[32], [features[stride] for stride in strides[:-1]])
