"""U-Net++ (Zhou et al. 2018, https://arxiv.org/abs/1807.10165): U-Net with nested, densely
connected skip pathways and optional deep supervision.

Node X(i, j) (level i, column j) is two 3×3 conv-BN-ReLU over the concatenation of
X(i, 0..j-1) and the upsampled X(i+1, j-1). With `deep_supervision=True` the model has one
output per top-row node X(0, 1..depth), in that order: train with the same target for
each output and loss weights 1/depth (the mean of their losses); predict with the last
output (the full-depth head), as the paper's "accurate mode". `train.py` does both
(`tfseg.training.build_model`, `tfseg.models.final_head`).
"""

from __future__ import annotations

import keras

from tfseg.models.blocks import check_five_strides, check_input_shape, double_conv, segmentation_model
from tfseg.models.decoder import EncoderFeatures
from tfseg.models.registry import register_decoder, register_model


def _nested_decoder(rows: list, filters: list[int], upsample):
    """Fills the nested grid from its first column `rows` (one tensor per level, finest
    first). `upsample(x, filters, name)` doubles the resolution. Returns the top row
    X(0, 1..depth)."""
    depth = len(rows) - 1
    grid = [[row] for row in rows]
    for column in range(1, depth + 1):
        for level in range(depth - column + 1):
            name = f"x{level}{column}"
            up = upsample(grid[level + 1][column - 1], filters[level], f"{name}_up")
            x = keras.layers.Concatenate(name=f"{name}_concat")([*grid[level], up])
            grid[level].append(double_conv(x, filters[level], name))
    return grid[0][1:]


def _outputs(top_row: list, deep_supervision: bool, finish=lambda x, j: x):
    """The maps the heads go on: the last top-row node's, or with deep supervision every
    top-row node's, each through `finish(x, column)`."""
    if not deep_supervision:
        return finish(top_row[-1], len(top_row))
    return [finish(x, j) for j, x in enumerate(top_row, 1)]


@register_model(
    "unetpp", family="U-Net++", small=dict(depth=2, base_filters=4),
    when="U-Net with denser skips; deep supervision lets you prune it at inference",
)
def build_unetpp(
    input_shape: tuple[int, int, int],
    classes: int = 1,
    activation: str | None = "auto",
    depth: int = 4,
    base_filters: int = 16,
    deep_supervision: bool = False,
) -> keras.Model:
    """Builds U-Net++ with its own VGG-style encoder (two 3×3 convs per level, max-pooling)
    and 2×2 transposed convolutions up.

    Args:
        input_shape: (height, width, channels); height and width must be multiples of 2**depth.
        classes, activation: as in `tfseg.models.build`.
        depth: int. Number of pooling stages. Defaults to 4 (as in the paper).
        base_filters: int. Filters of level 0, doubled per level (the paper used 32).
            Defaults to 16.
        deep_supervision: bool. One output per top-row node `X(0, j)`, j = 1..depth (named
            `head{j}_*`, the last is the full model); otherwise one output. Defaults to False.

    Returns:
        A functional `keras.Model` named "unetpp".
    """
    check_input_shape(input_shape, 2**depth, "unetpp")
    filters = [base_filters * 2**level for level in range(depth + 1)]
    inputs = keras.Input(input_shape, name="image")
    rows, x = [], inputs
    for level in range(depth + 1):
        if level:
            x = keras.layers.MaxPooling2D(2, name=f"x{level}0_pool")(x)
        x = double_conv(x, filters[level], f"x{level}0")
        rows.append(x)

    def upsample(x, filters, name):
        return keras.layers.Conv2DTranspose(filters, 2, strides=2, name=name)(x)

    top_row = _nested_decoder(rows, filters, upsample)
    return segmentation_model(inputs, _outputs(top_row, deep_supervision), classes, activation, "unetpp")


@register_decoder(
    "unetpp", family="U-Net++", small=dict(decoder_filters=(8, 8, 4, 4, 4)), peers={"smp": "UnetPlusPlus"},
    when="U-Net++ on a pretrained encoder: often a little better than U-Net, slower to train",
    default_encoder="effb3",
)
def build_unetpp_with_encoder(
    encoder: EncoderFeatures,
    decoder_filters: tuple[int, ...] = (256, 128, 64, 32, 16),
    deep_supervision: bool = False,
) -> keras.KerasTensor | list:
    """Builds the U-Net++ nested decoder on a keras.applications encoder: levels at
    strides 2–32 with nearest ×2 upsampling, then a block to full resolution before each
    head, as segmentation_models.pytorch's UnetPlusPlus, except that every node of a
    level has that level's filters (smp gives intermediate nodes the encoder's width).

    Args:
        input_shape, classes, activation, encoder, encoder_weights, encoder_freeze: as in
            `tfseg.models.build`.
        decoder_filters: five ints: the filters of the levels at strides 16, 8, 4, 2 and of
            the full-resolution block. Defaults to (256, 128, 64, 32, 16).
        deep_supervision: bool. One output per top-row node (see the module docstring).
            Defaults to False.

    Returns:
        A functional `keras.Model` named "unetpp_<encoder>" with a nested "encoder" model.
    """
    check_five_strides(decoder_filters, "decoder_filters", encoder.model)
    features = encoder.features()
    rows = [features[stride] for stride in (2, 4, 8, 16, 32)]
    filters = [decoder_filters[3], decoder_filters[2], decoder_filters[1], decoder_filters[0]]

    def upsample(x, filters, name):
        return keras.layers.UpSampling2D(2, name=name)(x)

    def to_full_resolution(x, column):
        x = keras.layers.UpSampling2D(2, name=f"final{column}_up")(x)
        return double_conv(x, decoder_filters[4], f"final{column}")

    return _outputs(_nested_decoder(rows, filters, upsample), deep_supervision, to_full_resolution)
